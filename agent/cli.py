"""`telemetry-agent run|check --config FILE`: the agent's command (a systemd service in a car).

A broken configuration ends it with exit status 2 and one line naming the problem; logs go to
stderr, prefixed with their syslog priority when journald reads them (`<3>` error ... `<7>` debug).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from agent.config import AgentConfig, load_config
from telemetry.errors import ConfigError
from telemetry.mqtt import redacted

EXIT_CONFIG = 2
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    """`<priority>logger: message`: journald files each line under its priority."""

    def format(self, record: logging.LogRecord) -> str:
        return f"<{_PRIORITY.get(record.levelno, 6)}>{record.name}: {super().format(record)}"


def setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)
    logging.getLogger("obd").setLevel(logging.WARNING if not verbose else logging.DEBUG)  # python-OBD is chatty
    logging.getLogger("pint").setLevel(logging.ERROR)  # python-OBD redefines units at import


def check(config: AgentConfig) -> int:
    """What the configuration reaches: the car's OBD-II PIDs, the CAN mappings. 0 when all answer."""
    from agent.can_source import CanSource
    from agent.obd_source import ObdSource

    print(f"vin {config.vin}; broker {redacted(config.broker.url)}; buffer {config.buffer_file}")
    status = 0
    if config.obd is not None:
        source = ObdSource(config.obd, config.vin, lambda _samples: None)
        connection = source.connect()
        if connection is None:
            print(f"OBD-II: no car answers on {config.obd.port}")
            status = 1
        else:
            try:
                source.inspect(connection)
            finally:
                connection.close()
            report = source.report
            print(f"OBD-II: {report.protocol}; car VIN {report.vin or 'not given'}")
            print(f"  supported: {', '.join(report.supported) or 'none'}")
            print(f"  not supported (skipped): {', '.join(report.unsupported) or 'none'}")
    for can_config in config.can:
        can_source = CanSource(can_config, lambda _samples: None)
        can_source.open()
        can_source.stop()
        print(f"CAN {can_config.interface}:{can_config.channel} with {can_config.dbc.name}:")
        for entry in can_config.signals:
            print(f"  {entry.message}.{entry.signal} -> {entry.path} every {entry.every_s:g} s")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="telemetry-agent", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run", "check"])
    parser.add_argument("-c", "--config", type=Path, default=Path("/etc/telemetry-agent/agent.toml"))
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        config = load_config(args.config)
        if args.command == "check":
            return check(config)
        from agent.runner import serve

        asyncio.run(serve(config))
    except ConfigError as exc:
        print(f"telemetry-agent: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


if __name__ == "__main__":
    sys.exit(main())
