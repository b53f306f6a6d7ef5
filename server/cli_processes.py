"""`telemetry serve|api|webhooks|commands|ingest|demo`: the server's processes, alone or supervised."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from telemetry.settings import Settings

STREAMS_CLOSE_AFTER_S = 3

top = typer.Typer()  # its commands are top-level ones


@top.command()
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


@top.command()
def webhooks() -> None:
    """Run the webhook sender: outbox events to the CRM endpoints."""
    from webhooks.sender import main

    main(Settings())


@top.command()
def commands() -> None:
    """Run the command dispatcher (commands to vehicles, their acks, expiring options) and the
    campaign runner, which releases campaigns' vehicles at their rates."""
    from commands.dispatcher import Dispatcher
    from oem.campaigns import keep_releasing

    settings = Settings()

    async def dispatch_and_release() -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(Dispatcher(settings).run())
            tasks.create_task(keep_releasing(settings))

    asyncio.run(dispatch_and_release())


@top.command()
def ingest(
    index: Annotated[int, typer.Option(help="Worker number, part of its MQTT client id")] = 0,
    shared: Annotated[bool, typer.Option(help="Share the fleet with other ingest workers ($share)")] = False,
) -> None:
    """Run one ingest worker."""
    from ingest.worker import main

    main(Settings(), index, shared)


@top.command()
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


@top.command()
def demo(
    vehicles: Annotated[int, typer.Option(min=1)] = 12,
    faults: str = "overheating:2@0.002",
    duration: Annotated[float, typer.Option(help="Seconds; 0 runs until Ctrl-C")] = 0,
) -> None:
    """Everything on this machine: database, broker, server and a simulated fleet with alerts."""
    from server.demo import run_demo

    run_demo(Settings(), vehicles=vehicles, faults=faults, duration=duration or None)
