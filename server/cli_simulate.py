"""`telemetry simulate|evaluate|record|replay`: the simulated fleet and its scorecard."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from telemetry.settings import Settings

top = typer.Typer()  # its commands are top-level ones


ScenarioOption = Annotated[
    str,
    typer.Option(
        "--scenario", help="key=value pairs (vehicles, days, seed, faults, ...) or a TOML file (docs/simulator.md)"
    ),
]


@top.command()
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


@top.command()
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
    by_rule = result.card.unattributed_false
    if by_rule:
        typer.echo("false alerts by rule: " + ", ".join(f"{k} {v}" for k, v in sorted(by_rule.items())))
    if labels is not None:
        write_labels(labels, result.labels)
    if as_json:
        typer.echo(json.dumps({"scenario": scenario, **card}))


@top.command()
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


@top.command()
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
