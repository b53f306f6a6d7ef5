"""What `telemetry serve` hands its children."""

from __future__ import annotations

from telemetry.settings import Settings
from telemetry.supervisor import child_env, plan


def test_children_get_secrets_in_clear_not_their_mask() -> None:
    env = child_env(Settings(command_secret="s3cret", api_key="k3y", database_url="postgresql://x/y"))
    assert env["TELEMETRY_COMMAND_SECRET"] == "s3cret"
    assert env["TELEMETRY_API_KEY"] == "k3y"


def test_the_command_dispatcher_runs_only_when_commands_can_be_signed() -> None:
    assert "commands" not in [c.name for c in plan(1, 1, 16)]
    assert [c.name for c in plan(1, 1, 16, commands=True)][:3] == ["api", "webhooks", "commands"]
