"""`telemetry serve` as a real process tree (API, ingest worker, rule worker) for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import httpx
import pytest

from server.supervisor import child_env
from telemetry.settings import Settings
from tests.fix_services import drop_schema, make_key, make_settings

T = TypeVar("T")


@dataclass
class Server:
    settings: Settings
    api: httpx.Client  # sends `key`, an admin key
    proc: subprocess.Popen[bytes]
    key: str


def wait_for(predicate: Callable[[], T], timeout: float = 20.0, interval: float = 0.1) -> T:
    """Poll until `predicate()` returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


def start_server(settings: Settings, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", *args],
        env=child_env(settings),
        start_new_session=True,
    )


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """The server and anything left of its process group (nothing, when it stopped by itself)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        proc.wait()
        return
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def serving(settings: Settings) -> Iterator[Server]:
    """`telemetry serve` with these settings until the block ends; the schema is dropped after."""
    proc = start_server(settings)
    api = httpx.Client(base_url=f"http://127.0.0.1:{settings.api_port}", timeout=10)

    def healthy() -> bool:
        try:
            return api.get("/health").json().get("status") == "ok"
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, timeout=60)
        key = make_key(settings)
        api.headers["Authorization"] = f"Bearer {key}"
        yield Server(settings, api, proc, key)
    finally:
        api.close()
        stop_server(proc)
        drop_schema(settings)


@pytest.fixture(scope="module")
def server(database_url: str, mqtt_url: str) -> Iterator[Server]:
    with serving(make_settings(database_url, mqtt_url)) as running:
        yield running
