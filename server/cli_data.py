"""`telemetry db|export|retention`: the database and what it holds."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from telemetry.settings import Settings

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
top = typer.Typer()  # its commands are top-level ones


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (also done at start by `serve` and `demo`)."""
    from telemetry.storage.migrate import upgrade

    applied = asyncio.run(upgrade(Settings()))
    typer.echo(f"applied migrations {applied}" if applied else "database is up to date")


@top.command("export")
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


@top.command("retention")
def retention() -> None:
    """Drop samples older than TELEMETRY_RETENTION_DAYS (exported first to TELEMETRY_RETENTION_EXPORT_DIR)."""
    from telemetry.storage.retention import run_retention

    dropped = run_retention(Settings())
    typer.echo(f"dropped {len(dropped)} day(s): {', '.join(map(str, dropped))}" if dropped else "nothing to drop")
