"""`telemetry serve`: the API, ingest workers and rule workers as supervised child processes.

Each child is this package's own CLI (`telemetry api|ingest|rules`), so a component runs the same
way alone or under the supervisor. A child that dies is restarted after a short pause.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg
from pydantic import SecretStr

from telemetry.metrics import MULTIPROC_ENV, forget_process, prepare_directory
from telemetry.mqtt import make_client
from telemetry.settings import Settings
from telemetry.storage import sessions
from telemetry.storage.db import connect_sync
from telemetry.storage.retention import run_retention
from telemetry.topics import (
    ingest_client_id,
    ingest_subscriptions,
    partitions_of,
    rules_client_id,
    rules_topic,
)
from webhooks import outbox

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
        if isinstance(value, SecretStr):  # str() of a secret is its mask, not its value
            value = value.get_secret_value()
        if value is not None:
            env[f"TELEMETRY_{name.upper()}"] = str(value)
    return env


RULE_WORKER_NICE = 5


def plan(
    ingest_workers: int, rule_workers: int, partitions: int, *, api: bool = True, commands: bool = False
) -> list[Child]:
    """The server's processes; the command dispatcher when commands can be signed (`commands`).

    Rule workers run at a lower CPU priority: when the machine is saturated, storing what arrives
    comes first and the alerts a few milliseconds later (the engine needs ~2 ms a batch); with
    spare CPU the priority makes no difference."""
    children = [Child("api", ["api"]), Child("webhooks", ["webhooks"])] if api else []
    children += [Child("commands", ["commands"])] if commands else []
    shared = ["--shared"] if ingest_workers > 1 else []
    children += [Child(f"ingest-{i}", ["ingest", "--index", str(i), *shared]) for i in range(ingest_workers)]
    for i in range(rule_workers):
        owned = partitions_of(i, rule_workers, partitions)
        children.append(
            Child(
                f"rules-{i}",
                [
                    "rules",
                    "run",
                    "--index",
                    str(i),
                    "--partitions",
                    ",".join(map(str, owned)),
                    "--nice",
                    str(RULE_WORKER_NICE),
                ],
            )
        )
    return children


STALE_SESSIONS_CHECKED = 32


async def prepare_broker_sessions(settings: Settings, ingest_workers: int, rule_workers: int) -> None:
    """Create the workers' persistent sessions before the workers start.

    A broker drops QoS 1 messages that match no subscription; until a worker has subscribed
    once, its session does not exist. Subscribing on its behalf first means nothing published
    from now on is lost, even if a worker starts late. Sessions of rule workers that no longer
    exist (fewer workers than last time) are removed so they stop collecting messages.
    Connecting as a worker may be handed messages queued for it: manual acks, never sent, leave
    them with the broker for the worker itself.
    """
    url, stem, prefix = settings.require_mqtt_url(), settings.mqtt_client_id, settings.mqtt_topic_prefix
    shared = ingest_workers > 1
    for i in range(ingest_workers):
        async with make_client(url, ingest_client_id(stem, i), manual_ack=True) as client:
            for topic in ingest_subscriptions(prefix, shared=not shared):  # the other form would double-deliver
                await client.unsubscribe(topic)
            for topic in ingest_subscriptions(prefix, shared=shared):
                await client.subscribe(topic, qos=1)
    for i in range(rule_workers):
        owned = set(partitions_of(i, rule_workers, settings.rule_partitions))
        async with make_client(url, rules_client_id(stem, i), manual_ack=True) as client:
            for p in range(settings.rule_partitions):
                if p in owned:
                    await client.subscribe(rules_topic(prefix, p), qos=1)
                else:
                    await client.unsubscribe(rules_topic(prefix, p))
    for i in range(rule_workers, rule_workers + STALE_SESSIONS_CHECKED):
        async with make_client(url, rules_client_id(stem, i), persistent=False):
            pass


class StopRequested(Exception):  # noqa: N818 - a request, not an error
    """SIGTERM or SIGINT reached the supervisor: stop the children, then exit."""


def request_stop(signum: int, _frame: object) -> None:
    raise StopRequested(signal.Signals(signum).name)


GRACE_S = 10.0  # a child that has not exited this long after SIGTERM is killed


class Supervisor:
    def __init__(self, settings: Settings, children: list[Child]) -> None:
        self.settings = settings
        self.env = child_env(settings)
        self.metrics_dir = prepare_directory(settings.data_dir.resolve() / f"metrics-{os.getpid()}")
        self.env[MULTIPROC_ENV] = str(self.metrics_dir)
        self.children = children
        self.stopping = False

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        child.proc = subprocess.Popen([sys.executable, "-m", "server.cli", *child.args], env=self.env)
        child.started_at = time.monotonic()
        log.info("started %s (pid %d)", child.name, child.proc.pid)

    def poll(self) -> None:
        """Restart children that exited; call regularly."""
        for child in self.children:
            if child.proc is not None and child.proc.poll() is not None and not self.stopping:
                log.warning("%s exited with %s; restarting", child.name, child.proc.returncode)
                forget_process(child.proc.pid)
                child.restarts += 1
                time.sleep(min(5.0, 0.5 * child.restarts))
                self._spawn(child)

    def stop(self) -> None:
        """SIGTERM to every child, then wait for all of them within one grace period (a second
        signal meanwhile changes nothing); what is still running after it is killed."""
        self.stopping = True
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)
        for child in self.children:
            if child.proc and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + GRACE_S
        for child in self.children:
            if child.proc:
                try:
                    child.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop within %.0f s; killing it", child.name, GRACE_S)
                    child.proc.kill()
                    child.proc.wait()
        shutil.rmtree(self.metrics_dir, ignore_errors=True)

    def run_forever(self) -> None:
        """Until SIGTERM or SIGINT (which stop the children too, like any service manager expects)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, request_stop)
        try:
            self.start()
            next_maintenance = time.monotonic()
            while True:
                self.poll()
                if time.monotonic() >= next_maintenance:
                    maintain(self.settings)
                    next_maintenance = time.monotonic() + MAINTENANCE_INTERVAL_S
                time.sleep(0.5)
        except StopRequested as stop:
            log.info("%s: stopping the server", stop)
        finally:
            self.stop()


MAINTENANCE_INTERVAL_S = 3600


def maintain(settings: Settings) -> None:
    """Hourly: retention (export, then drop old days), delivered webhook events older than
    TELEMETRY_WEBHOOK_KEEP_DAYS and expired console sessions forgotten. Failures are logged, never fatal."""
    try:
        run_retention(settings)
    except (psycopg.Error, OSError) as exc:
        log.warning("retention failed (%s); will try again in an hour", exc)
    try:
        with connect_sync(settings, autocommit=True) as conn:
            gone = outbox.prune_sync(conn, older_than=timedelta(days=settings.webhook_keep_days))
            sessions.forget_expired_sync(conn)
        if gone:
            log.info("forgot %d delivered webhook event(s)", gone)
    except psycopg.Error as exc:
        log.warning("webhook event pruning failed (%s); will try again in an hour", exc)
