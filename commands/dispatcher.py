"""`telemetry commands`: the server side of talking to vehicles.

- Sends queued commands on `vehicles/{vin}/commands` (QoS 1), signed with the vehicle's key.
- Applies acknowledgements from `vehicles/+/commands/ack` (a persistent session, so acks that
  arrive while it is down are kept by the broker).
- Times out unanswered commands and sends them again (`storage/vehicle_commands.py`).
- Ends trials and subscriptions whose time is up, which queues their disable command.

It wakes on `NOTIFY <schema>.commands` (a new command) and otherwise every TICK_S.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import aiomqtt
import orjson
from psycopg import sql

from commands import vehicle_commands
from commands.signing import sign, vehicle_key
from crm import entitlements
from telemetry.errors import ConfigError
from telemetry.mqtt import make_client, payload_bytes, run_forever
from telemetry.settings import Settings
from telemetry.storage.db import Conn, connect, schema_name
from telemetry.timeutil import to_epoch_ms
from telemetry.topics import COMMAND_ACKS, COMMANDS, parse_vehicle_topic, vehicle_filter, vehicle_topic

log = logging.getLogger(__name__)
TICK_S = 1.0
BATCH = 200


def client_id(stem: str) -> str:
    return f"{stem}-commands"


def command_payload(command: vehicle_commands.Outgoing, secret: bytes) -> bytes:
    fields = {
        "id": command.id,
        "feature": command.feature_code,
        "action": command.action,
        "expires": to_epoch_ms(command.expires_at) if command.expires_at else None,
    }
    return orjson.dumps(sign(fields, vehicle_key(secret, command.vin)))


class Dispatcher:
    def __init__(self, settings: Settings) -> None:
        if settings.command_secret is None:
            raise ConfigError("TELEMETRY_COMMAND_SECRET is not set: commands to vehicles cannot be signed")
        self.settings = settings
        self.secret = settings.command_secret.get_secret_value().encode()
        self.ack_timeout = timedelta(seconds=settings.command_ack_timeout_s)
        self.retry_base = timedelta(seconds=settings.command_retry_base_s)
        self.retry_cap = timedelta(seconds=settings.command_retry_cap_s)

    async def run(self) -> None:
        name = client_id(self.settings.mqtt_client_id)
        await run_forever(name, lambda: make_client(self.settings.require_mqtt_url(), name), self._session)

    async def _session(self, client: aiomqtt.Client) -> None:
        prefix = self.settings.mqtt_topic_prefix
        await client.subscribe(vehicle_filter(prefix, COMMAND_ACKS), qos=1)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._acks(client))
            tasks.create_task(self._sends(client))

    async def _acks(self, client: aiomqtt.Client) -> None:
        prefix = self.settings.mqtt_topic_prefix
        async with await connect(self.settings, autocommit=True) as conn:
            async for message in client.messages:
                parsed = parse_vehicle_topic(prefix, str(message.topic))
                if parsed is None or parsed[1] != COMMAND_ACKS:
                    continue
                async with conn.transaction():
                    outcome = await vehicle_commands.apply_ack(conn, vin=parsed[0], payload=payload_bytes(message))
                log.info("ack from %s: %s", parsed[0], outcome)

    async def _sends(self, client: aiomqtt.Client) -> None:
        async with (
            await connect(self.settings, autocommit=True) as listener,
            await connect(self.settings, autocommit=True) as conn,
        ):
            channel = f"{schema_name(self.settings)}.commands"
            await listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            while True:
                sent = await self.tick(conn, client)
                if sent < BATCH:
                    async for _ in listener.notifies(timeout=TICK_S, stop_after=1):
                        pass

    async def tick(self, conn: Conn, client: aiomqtt.Client) -> int:
        """One round: expire, time out, send what is due. Returns the commands sent."""
        now = datetime.now(UTC)
        async with conn.transaction():
            expired = await entitlements.expire_due(conn, now=now)
            await vehicle_commands.time_out(conn, now=now, retry_base=self.retry_base, retry_cap=self.retry_cap)
            due = await vehicle_commands.claim_due(conn, now=now, ack_timeout=self.ack_timeout, limit=BATCH)
        if expired:
            log.info("ended %d expired entitlement(s)", len(expired))
        for command in due:  # marked sent first: a publish lost here times out and goes again
            topic = vehicle_topic(self.settings.mqtt_topic_prefix, command.vin, COMMANDS)
            await client.publish(topic, command_payload(command, self.secret), qos=1)
            log.info("sent %s %s to %s (%s, attempt %d)", command.action, command.feature_code, command.vin,
                     command.id, command.attempts)  # fmt: skip
        return len(due)
