"""The vehicle side of commands: check the signature, apply, acknowledge.

A redelivered command (QoS 1) is acknowledged again with the same answer and applied once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from commands.signing import Ack, Command, check, command_id, vehicle_key
from telemetry.topics import COMMAND_ACKS, COMMANDS, parse_vehicle_topic, vehicle_topic


@dataclass
class VehicleFeatures:
    """What the simulated vehicles have switched on, and the answers they gave (by command id)."""

    enabled: dict[str, dict[str, int | None]] = field(default_factory=dict)  # vin -> feature -> expiry
    answers: dict[tuple[str, str], Ack] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def apply(self, vin: str, command: Command) -> None:
        features = self.enabled.setdefault(vin, {})
        if command.action == "enable":
            features[command.feature] = command.expires_ms
        else:
            features.pop(command.feature, None)


class CommandResponder:
    """The vehicles of a publishing process: `handle` answers each command with its ack."""

    def __init__(self, prefix: str, vins: list[str], secret: bytes | None) -> None:
        self.prefix = prefix
        self.keys = {vin: vehicle_key(secret, vin) if secret else None for vin in vins}
        self.state = VehicleFeatures()

    def topics(self) -> list[str]:
        return [vehicle_topic(self.prefix, vin, COMMANDS) for vin in self.keys]

    def handle(self, topic: str, payload: bytes) -> tuple[str, bytes] | None:
        """The acknowledgement to publish (topic, payload) for a command to one of the vehicles."""
        parsed = parse_vehicle_topic(self.prefix, topic)
        if parsed is None or parsed[1] != COMMANDS or parsed[0] not in self.keys:
            return None
        vin = parsed[0]
        now = time.time_ns() // 1_000_000
        result = check(payload, self.keys[vin], now)
        with self.state.lock:
            if isinstance(result, Command):
                ack = self.state.answers.get((vin, result.id))
                if ack is None:
                    self.state.apply(vin, result)
                    ack = Ack(result.id, "accepted", None, now)
                    self.state.answers[(vin, result.id)] = ack
            else:
                ack = Ack(command_id(payload), "rejected", result, now)
        return vehicle_topic(self.prefix, vin, COMMAND_ACKS), ack.payload()
