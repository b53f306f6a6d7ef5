"""aiomqtt clients as the server uses them: MQTT v5, persistent sessions, acks after commit.

aiomqtt 2.x acknowledges a QoS 1 message as soon as it is queued for the application; paho-mqtt,
underneath, can leave that to the application (aiomqtt issue #345, PR #346 not merged). We switch
paho to manual acks so that a message is acknowledged only once what it carries is committed; if
the process dies first, the broker redelivers it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import unquote, urlsplit

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from telemetry.errors import ConfigError
from telemetry.metrics import BROKER_CONNECTED

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 24 * 3600  # the broker keeps a consumer's queue for a week of downtime
RECEIVE_MAXIMUM = 65535  # unacknowledged QoS 1 messages the broker may have in flight to us


def broker_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp", "mqtts") or not parts.hostname:
        raise ConfigError(f"broker URL {url!r} must look like mqtt[s]://[user:password@]host:port")
    return parts.hostname, parts.port or (8883 if parts.scheme == "mqtts" else 1883)


def redacted(url: str) -> str:
    """The broker URL without its password, for logs and status pages."""
    host, port = broker_address(url)
    user, _ = broker_login(url)
    return f"{urlsplit(url).scheme}://{user + '@' if user else ''}{host}:{port}"


def broker_login(url: str) -> tuple[str | None, str | None]:
    parts = urlsplit(url)
    return (unquote(parts.username) if parts.username else None, unquote(parts.password) if parts.password else None)


def make_client(
    url: str,
    identifier: str,
    *,
    persistent: bool = True,
    manual_ack: bool = False,
    keepalive: int = 30,
    receive_maximum: int = RECEIVE_MAXIMUM,
    tls: ssl.SSLContext | None = None,
) -> aiomqtt.Client:
    """An MQTT v5 client; `receive_maximum` caps the unacknowledged QoS 1 messages the broker
    sends us, which bounds what a manual-ack consumer holds in memory. An `mqtts://` URL speaks
    TLS, verified against the system's CAs unless `tls` brings a context of its own."""
    host, port = broker_address(url)
    username, password = broker_login(url)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho: untyped constructor
    props.ReceiveMaximum = receive_maximum
    if persistent:
        props.SessionExpiryInterval = SESSION_EXPIRY_S
    client = aiomqtt.Client(
        host,
        port,
        identifier=identifier,
        username=username,
        password=password,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=not persistent,
        properties=props,
        keepalive=keepalive,
        timeout=10,
        tls_context=tls if tls is not None else (ssl.create_default_context() if url.startswith("mqtts") else None),
    )
    if manual_ack:
        client._client.manual_ack_set(True)
    return client


def payload_bytes(message: aiomqtt.Message) -> bytes:
    """A message's payload as bytes, whatever type aiomqtt handed over."""
    return message.payload if isinstance(message.payload, bytes) else bytes(message.payload or b"")


def ack(client: aiomqtt.Client, message: aiomqtt.Message) -> None:
    """Acknowledge a message received on a manual-ack client (QoS 0 needs none)."""
    ack_delivery(client, message.mid, message.qos)


def ack_delivery(client: aiomqtt.Client, mid: int, qos: int) -> None:
    """`ack` by message id, for consumers that acknowledge long after they let go of the message."""
    if qos > 0:
        client._client.ack(mid, qos)


class Backoff:
    """Exponential backoff with full jitter, reset after a success."""

    def __init__(self, base: float = 0.2, cap: float = 15.0) -> None:
        self.base, self.cap, self.attempt = base, cap, 0

    def reset(self) -> None:
        self.attempt = 0

    async def wait(self) -> None:
        delay = random.uniform(0, min(self.cap, self.base * 2**self.attempt))  # noqa: S311 - jitter
        self.attempt += 1
        await asyncio.sleep(delay)


async def run_forever(
    name: str, connect: Callable[[], aiomqtt.Client], session: Callable[[aiomqtt.Client], Awaitable[None]]
) -> None:
    """Run `session` on a connected client; reconnect with backoff whenever the broker goes away."""
    backoff = Backoff()
    while True:
        client = connect()
        try:
            async with client:
                log.info("%s: connected to the broker", name)
                BROKER_CONNECTED.labels(name).set(1)
                backoff.reset()
                await session(client)
                return
        except* aiomqtt.MqttError as lost:  # sessions run task groups: the error may come grouped
            reason = lost.exceptions[0]
        BROKER_CONNECTED.labels(name).set(0)
        log.warning("%s: broker connection lost (%s); reconnecting", name, reason)
        await backoff.wait()


@asynccontextmanager
async def publisher(url: str, identifier: str) -> AsyncIterator[aiomqtt.Client]:
    """A short-lived, clean-session client for publishing."""
    async with make_client(url, identifier, persistent=False) as client:
        yield client
