"""Vehicle accounts on the broker's device listener, kept in Mosquitto's dynamic-security plugin.

Why not the password and ACL files: Mosquitto 2.0's `acl_file` never checks a SUBSCRIBE, only the
delivery, so a vehicle could join the ingest workers' shared subscription (`$share/...`) and take
every other message of the fleet that the broker then refuses to hand it. The plugin checks each
subscription. Each vehicle gets a client and a role of its own naming its four topics literally
(the plugin of Debian's Mosquitto 2.0.11 has no `%u` patterns), and every change takes effect at
once: deleting a client disconnects it, no reload needed.

The plugin is driven over MQTT: JSON commands on `$CONTROL/dynamic-security/v1`, answers on
`.../response`, sent by the account that `mosquitto_ctrl dynsec init` created.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import ssl
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path

import aiomqtt

from server.credentials import check_vin
from telemetry.errors import ConfigError, ConflictError, NotFoundError
from telemetry.mqtt import make_client, payload_bytes
from telemetry.topics import COMMAND_ACKS, COMMANDS, TELEMETRY, TELEMETRY_ARROW, vehicle_topic

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
ROLE_PREFIX = "vehicle-"
ANSWER_TIMEOUT_S = 10.0


def vehicle_acls(vin: str, prefix: str = "") -> list[dict[str, object]]:
    """What one vehicle may do: publish its telemetry and acks, subscribe to its commands. Nothing
    else, no wildcard and no `$share`: the plugin's default denies every other subscription."""

    def topic(kind: str) -> str:
        return vehicle_topic(prefix, vin, kind)

    return [
        {"acltype": "publishClientSend", "topic": topic(TELEMETRY), "allow": True},
        {"acltype": "publishClientSend", "topic": topic(TELEMETRY_ARROW), "allow": True},
        {"acltype": "publishClientSend", "topic": topic(COMMAND_ACKS), "allow": True},
        {"acltype": "subscribeLiteral", "topic": topic(COMMANDS), "allow": True},
        {"acltype": "publishClientReceive", "topic": topic(COMMANDS), "allow": True},
    ]


def init_device_store(config_file: Path, admin: str) -> str:
    """Create the plugin's file with its admin account (`mosquitto_ctrl dynsec init`), readable by
    its owner only; returns the admin's password (shown once). An existing file is left alone."""
    if config_file.exists():
        raise ConflictError(f"{config_file} exists already: its admin account stays as it is")
    tool = shutil.which("mosquitto_ctrl")
    if tool is None:
        raise ConfigError("mosquitto_ctrl is not installed (Debian: apt-get install mosquitto)")
    password = secrets.token_urlsafe(24)
    config_file.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [tool, "dynsec", "init", str(config_file), admin, password], capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or not config_file.exists():
        raise ConfigError(f"mosquitto_ctrl dynsec init failed: {result.stderr.strip() or result.stdout.strip()}")
    config_file.chmod(0o600)
    return password


class DeviceAccounts:
    """Create, rotate and revoke vehicle accounts through the plugin's control topic."""

    def __init__(self, admin_url: str, *, ca_file: str | None = None, prefix: str = "") -> None:
        self.admin_url, self.ca_file, self.prefix = admin_url, ca_file, prefix

    async def _run(self, commands: Sequence[dict[str, object]]) -> list[dict[str, object]]:
        """Send commands in one control message; return the plugin's answer to each."""
        tls = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None
        client = make_client(self.admin_url, f"telemetry-admin-{uuid.uuid4().hex[:8]}", persistent=False, tls=tls)
        try:
            async with client:
                await client.subscribe(RESPONSE_TOPIC, qos=1)
                await client.publish(CONTROL_TOPIC, json.dumps({"commands": list(commands)}), qos=1)
                async with asyncio.timeout(ANSWER_TIMEOUT_S):
                    async for message in client.messages:
                        answers = json.loads(payload_bytes(message)).get("responses", [])
                        if [a.get("command") for a in answers] == [c["command"] for c in commands]:
                            return list(answers)
        except (aiomqtt.MqttError, TimeoutError) as failed:
            raise ConfigError(f"the broker's device accounts cannot be changed: {failed or 'no answer'}") from failed
        raise ConfigError("the broker closed the control session without an answer")

    async def exists(self, vin: str) -> bool:
        [answer] = await self._run([{"command": "getClient", "username": vin}])
        return "error" not in answer

    async def create(self, vin: str, *, rotate: bool = False) -> str:
        """A new password for the vehicle's account (shown once). Without `rotate` an existing
        account is a conflict; with it, the password is replaced and open sessions are ended."""
        check_vin(vin)
        password = secrets.token_urlsafe(24)
        role = ROLE_PREFIX + vin
        if await self.exists(vin):
            if not rotate:
                raise ConflictError(f"vehicle {vin} has a broker account already: --rotate replaces its password")
            await self._checked(  # disable + enable ends the sessions opened with the old password
                [
                    {"command": "setClientPassword", "username": vin, "password": password},
                    {"command": "disableClient", "username": vin},
                    {"command": "enableClient", "username": vin},
                ]
            )
            return password
        await self._checked(
            [
                {"command": "deleteRole", "rolename": role},  # a leftover of a half-finished revoke
                {"command": "createRole", "rolename": role, "acls": vehicle_acls(vin, self.prefix)},
                {"command": "createClient", "username": vin, "password": password, "roles": [{"rolename": role}]},
            ],
            tolerate=("deleteRole",),
        )
        return password

    async def revoke(self, vin: str) -> None:
        """Delete the account; the broker disconnects the vehicle at once."""
        answers = await self._run(
            [{"command": "deleteClient", "username": vin}, {"command": "deleteRole", "rolename": ROLE_PREFIX + vin}]
        )
        if "error" in answers[0]:
            raise NotFoundError(f"vehicle {vin} has no broker account")

    async def _checked(self, commands: Sequence[dict[str, object]], *, tolerate: Sequence[str] = ()) -> None:
        for answer in await self._run(commands):
            if "error" in answer and answer.get("command") not in tolerate:
                raise ConfigError(f"the broker refused {answer.get('command')}: {answer['error']}")
