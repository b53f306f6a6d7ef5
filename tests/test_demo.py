"""`telemetry demo`, the main job: it comes up, registers its fleet, publishes, and shows a key
that works, then stops by itself."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
import pytest

from server.localservices import free_port
from server.supervisor import child_env
from telemetry.settings import Settings
from tests.fix_services import drop_schema, make_settings


@pytest.mark.slow
def test_demo_runs_publishes_and_hands_out_a_working_key(database_url: str, mqtt_url: str) -> None:
    settings: Settings = make_settings(database_url, mqtt_url, api_port=free_port())
    try:
        lines: list[str] = []
        checked = False
        with subprocess.Popen(
            [sys.executable, "-m", "server.cli", "demo", "--vehicles", "4", "--duration", "25"],
            env=child_env(settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ) as proc:  # fmt: skip
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                match = re.search(r"curl -H 'Authorization: Bearer (\S+)' '(\S+)'", line)
                if match and not checked:
                    key, url = match.groups()
                    assert httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=10).status_code == 200
                    assert httpx.get(url, timeout=10).status_code == 401
                    checked = True
            assert proc.wait(timeout=120) == 0, "".join(lines)
        assert checked, "".join(lines)
        assert any("Server up" in line for line in lines)
    finally:
        drop_schema(settings)
