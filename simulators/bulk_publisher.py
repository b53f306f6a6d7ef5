"""A publisher for many QoS 1 messages a second: paho-mqtt's own network thread, a deep in-flight
window, and back-pressure on unacknowledged messages instead of an unbounded queue.

The server's consumers use aiomqtt (`telemetry.mqtt`); load generators and the simulated fleet
use this, because awaiting each publish would make them the bottleneck of what they measure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from telemetry.mqtt import broker_address, broker_login

MAX_OUTSTANDING = 5000


class BulkPublisher:
    def __init__(
        self,
        url: str,
        client_id: str,
        *,
        max_outstanding: int = MAX_OUTSTANDING,
        on_message: Callable[[str, bytes], tuple[str, bytes] | None] | None = None,
        subscriptions: list[str] | None = None,
    ) -> None:
        """`on_message(topic, payload)` runs on paho's network thread for messages on
        `subscriptions` (QoS 1, subscribed again after every reconnect); a (topic, payload) it
        returns is published as the reply."""
        self.max_outstanding = max_outstanding
        self.sent = 0
        self.failed = 0
        self._acked = 0
        self._lock = threading.Lock()
        self._subscriptions = subscriptions or []
        host, port = broker_address(url)
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
        user, password = broker_login(url)
        if user:
            client.username_pw_set(user, password)
        client.max_inflight_messages_set(max_outstanding)
        client.max_queued_messages_set(0)
        client.on_publish = self._on_publish
        client.on_connect = self._on_connect
        if on_message is not None:

            def received(_client: paho.Client, _userdata: object, msg: paho.MQTTMessage) -> None:
                reply = on_message(msg.topic, bytes(msg.payload))
                if reply is not None:
                    client.publish(*reply, qos=1)

            client.on_message = received
        client.connect(host, port, keepalive=60)
        client.loop_start()
        self.client = client

    def _on_publish(self, *_args: object) -> None:
        with self._lock:
            self._acked += 1

    def _on_connect(self, client: paho.Client, *_args: object) -> None:
        for topic in self._subscriptions:
            client.subscribe(topic, qos=1)

    @property
    def acked(self) -> int:
        with self._lock:
            return self._acked

    def publish(self, topic: str, payload: bytes) -> None:
        """QoS 1; waits while `max_outstanding` messages are unacknowledged."""
        while self.sent - self.acked >= self.max_outstanding:
            time.sleep(0.001)
        info = self.client.publish(topic, payload, qos=1)
        self.sent += 1
        if info.rc != paho.MQTT_ERR_SUCCESS:
            self.failed += 1

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait for the broker to acknowledge everything sent; False when it did not in time."""
        deadline = time.monotonic() + timeout_s
        while self.acked < self.sent - self.failed and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.acked >= self.sent - self.failed

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
