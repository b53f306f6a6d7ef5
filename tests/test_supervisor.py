"""What `telemetry serve` hands its children."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from server.supervisor import GRACE_S, child_env, plan
from telemetry.settings import Settings
from tests.fix_server import start_server, stop_server, wait_for


def test_children_get_secrets_in_clear_not_their_mask() -> None:
    env = child_env(Settings(command_secret="s3cret", api_key="k3y", database_url="postgresql://x/y"))
    assert env["TELEMETRY_COMMAND_SECRET"] == "s3cret"
    assert env["TELEMETRY_API_KEY"] == "k3y"


def test_the_command_dispatcher_runs_only_when_commands_can_be_signed() -> None:
    assert "commands" not in [c.name for c in plan(1, 1, 16)]
    assert [c.name for c in plan(1, 1, 16, commands=True)][:3] == ["api", "webhooks", "commands"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_serve_stops_it_and_every_child_within_the_grace_period(settings: Settings, signum: int) -> None:
    """What systemd or `kill` does: the signal goes to the supervisor alone, not to its group."""
    proc = start_server(settings)
    try:
        wait_for(lambda: _healthy(settings), timeout=60)  # every child up and working
        children = _children(proc.pid)
        assert len(children) >= 4
        os.kill(proc.pid, signum)
        assert proc.wait(GRACE_S + 5) == 0
        still = [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        assert still == [], "children outlived the supervisor"
    finally:
        stop_server(proc)


def _healthy(settings: Settings) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{settings.api_port}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_the_installed_command_ends_an_error_in_one_line(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "telemetry"
    result = subprocess.run(
        [str(command), "vehicles", "revoke", "1HGCM82633A004352", "--password-file", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: 1HGCM82633A004352 has no account in {tmp_path / 'none'}"]


def test_a_setting_out_of_range_ends_the_installed_command_in_one_line() -> None:
    command = Path(sys.executable).parent / "telemetry"
    env = {**os.environ, "TELEMETRY_HOURLY_ROLLUP_INTERVAL_S": "0"}
    result = subprocess.run([str(command), "db", "upgrade"], capture_output=True, text=True, check=False, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: TELEMETRY_HOURLY_ROLLUP_INTERVAL_S: Input should be greater than 0"
    ]
