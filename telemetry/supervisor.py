"""`telemetry serve`: the API, ingest workers and rule workers as supervised child processes.

Each child is this package's own CLI (`telemetry api|ingest|rules`), so a component runs the same
way alone or under the supervisor. A child that dies is restarted after a short pause.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from telemetry.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Child:
    name: str
    args: list[str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)


def child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"TELEMETRY_{name.upper()}"] = str(value)
    return env


def plan(ingest_workers: int, rule_workers: int, partitions: int, *, api: bool = True) -> list[Child]:
    children = [Child("api", ["api"])] if api else []
    children += [Child(f"ingest-{i}", ["ingest", "--index", str(i)]) for i in range(ingest_workers)]
    for i in range(rule_workers):
        owned = [p for p in range(partitions) if p % rule_workers == i]
        children.append(
            Child(f"rules-{i}", ["rules", "run", "--index", str(i), "--partitions", ",".join(map(str, owned))])
        )
    return children


class Supervisor:
    def __init__(self, settings: Settings, children: list[Child]) -> None:
        self.env = child_env(settings)
        self.children = children
        self.stopping = False

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        child.proc = subprocess.Popen([sys.executable, "-m", "telemetry.cli", *child.args], env=self.env)
        child.started_at = time.monotonic()
        log.info("started %s (pid %d)", child.name, child.proc.pid)

    def poll(self) -> None:
        """Restart children that exited; call regularly."""
        for child in self.children:
            if child.proc is not None and child.proc.poll() is not None and not self.stopping:
                log.warning("%s exited with %s; restarting", child.name, child.proc.returncode)
                child.restarts += 1
                time.sleep(min(5.0, 0.5 * child.restarts))
                self._spawn(child)

    def stop(self) -> None:
        self.stopping = True
        for child in self.children:
            if child.proc and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in self.children:
            if child.proc:
                try:
                    child.proc.wait(10)
                except subprocess.TimeoutExpired:
                    child.proc.kill()

    def run_forever(self) -> None:
        self.start()
        try:
            while True:
                self.poll()
                time.sleep(0.5)
        finally:
            self.stop()
