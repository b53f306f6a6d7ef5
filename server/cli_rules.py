"""`telemetry rules run|backtest|fit-residual|performance`: the rule engine, live and over stored
samples, and what the field's outcomes say of each rule."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from telemetry.settings import Settings

rules_app = typer.Typer(help="The rule engine.", no_args_is_help=True)


def parse_partitions(text: str | None) -> list[int] | None:
    if not text:
        return None
    return [int(p) for p in text.split(",") if p.strip()]


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
    main(Settings(), parse_partitions(partitions), index)


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
        began = f"  since {iso(o.since)}" if o.since >= 0 else ""
        why = f"  {o.severity}: {o.explanation()}" if o.fired else ""
        typer.echo(f"{iso(o.ts)}  {what} {o.rule.id:<24} {result.vin_of[o.vehicle_id]}{began}{why}")
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

    from rules.fit import as_toml, fit_residual
    from rules.model import Gate
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


@rules_app.command("performance")
def rules_performance(
    dealer: Annotated[int | None, typer.Option(help="Only this dealer's vehicles")] = None,
) -> None:
    """Per rule and model: incidents, confirmed (repaired), refuted (no fault found), field
    precision, median lead time to the repair; '!' marks rules below TELEMETRY_RULE_PRECISION_FLOOR."""
    import asyncio

    from crm.incident_outcomes import performance
    from telemetry.storage.db import connect

    settings = Settings()

    async def read() -> list[dict[str, object]]:
        async with await connect(settings) as conn:
            return await performance(
                conn,
                dealer_id=dealer,
                precision_floor=settings.rule_precision_floor,
                min_outcomes=settings.rule_precision_min_outcomes,
            )

    rows = asyncio.run(read())
    typer.echo(
        f"{'rule':<36} {'model':<16} {'incidents':>9} {'confirmed':>9} {'refuted':>7} {'precision':>9} {'lead d':>6}"
    )
    for r in rows:
        precision = "-" if r["field_precision"] is None else f"{r['field_precision']:.3f}"
        lead = "-" if r["median_lead_days"] is None else f"{r['median_lead_days']:.1f}"
        flag = " !" if r["flagged"] else ""
        typer.echo(
            f"{r['rule_id']:<36} {r['model']:<16} {r['incidents']:>9} {r['confirmed']:>9} {r['refuted']:>7}"
            f" {precision:>9} {lead:>6}{flag}"
        )
    if not rows:
        typer.echo("no incidents yet")
