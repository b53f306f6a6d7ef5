"""The car's side of software options: signed commands checked, applied once, remembered on disk.

The state file holds the options switched on (with their expiry) and the answer given to every
command id. A command is applied at most once: a QoS 1 redelivery, or an attacker replaying a
captured command after it was disabled, gets the first answer again and changes nothing. A command
that reuses an applied id with other contents is refused as `replayed`. Forged (`bad signature`)
and `expired` commands are refused as `commands/signing.py` says.

The optional hook is what makes an option real on the car (a script that flips a setting): it runs
before the state is written; if it fails, the command is refused with its exit status.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import orjson

from commands.signing import Ack, Command, check, command_id
from telemetry.errors import ConfigError

log = logging.getLogger(__name__)
HOOK_TIMEOUT_S = 60.0


@dataclass
class Answer:
    status: str
    reason: str | None
    digest: str  # of the command's payload: tells a redelivery from a reused id


class Features:
    """The options this car has switched on; thread-safe, persisted after every change."""

    def __init__(self, state_file: Path, key: bytes | None, hook: Path | None = None) -> None:
        self.state_file, self.key, self.hook = state_file, key, hook
        self._lock = threading.Lock()
        self.enabled: dict[str, int | None] = {}  # feature -> expiry (epoch ms) or None
        self.answers: dict[str, Answer] = {}
        if state_file.exists():
            try:
                doc = orjson.loads(state_file.read_bytes())
                self.enabled = dict(doc.get("enabled", {}))
                self.answers = {k: Answer(**v) for k, v in doc.get("answers", {}).items()}
            except (orjson.JSONDecodeError, AttributeError, TypeError) as exc:
                raise ConfigError(f"{state_file}: not a state file this agent wrote ({exc})") from None

    def handle(self, payload: bytes, now_ms: int) -> Ack:
        """The acknowledgement for one command payload (applied first when it is to be)."""
        result = check(payload, self.key, now_ms)
        if not isinstance(result, Command):
            log.warning("command refused: %s", result)
            return Ack(command_id(payload), "rejected", result, now_ms)
        digest = hashlib.sha256(payload).hexdigest()
        with self._lock:
            known = self.answers.get(result.id)
            if known is not None:
                if known.digest != digest:
                    return Ack(result.id, "rejected", f"replayed: command id {result.id} was used already", now_ms)
                return Ack(result.id, known.status, known.reason, now_ms)
            failure = self._run_hook(result.feature, result.action, result.expires_ms)
            if failure is None:
                self._apply(result)
                answer = Answer("accepted", None, digest)
            else:
                answer = Answer("rejected", failure, digest)
            self.answers[result.id] = answer
            self._save()
        log.info("command %s (%s %s): %s", result.id, result.action, result.feature, answer.reason or answer.status)
        return Ack(result.id, answer.status, answer.reason, now_ms)

    def expire(self, now_ms: int) -> list[str]:
        """Switch off the options whose time is up; returns them."""
        with self._lock:
            ended = [f for f, until in self.enabled.items() if until is not None and until <= now_ms]
            for feature in ended:
                self._run_hook(feature, "expire", self.enabled[feature])
                del self.enabled[feature]
            if ended:
                self._save()
        for feature in ended:
            log.info("option %s expired", feature)
        return ended

    def _apply(self, command: Command) -> None:
        if command.action == "enable":
            self.enabled[command.feature] = command.expires_ms
        else:
            self.enabled.pop(command.feature, None)

    def _run_hook(self, feature: str, action: str, expires_ms: int | None) -> str | None:
        """None when the hook succeeded (or there is none), else why the command is refused."""
        if self.hook is None:
            return None
        args = [str(self.hook), feature, action, "" if expires_ms is None else str(expires_ms)]
        try:
            done = subprocess.run(args, capture_output=True, timeout=HOOK_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"hook failed: {exc}"
        if done.returncode != 0:
            detail = done.stderr.decode(errors="replace").strip().splitlines()
            return f"hook failed (exit {done.returncode})" + (f": {detail[-1][:200]}" if detail else "")
        return None

    def _save(self) -> None:
        """Write the state atomically (a temporary file renamed over the old one, both synced)."""
        doc = {"enabled": self.enabled, "answers": {k: vars(a) for k, a in self.answers.items()}}
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.state_file.parent, prefix=".features-")
        with os.fdopen(fd, "wb") as out:
            out.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.state_file)
        dir_fd = os.open(self.state_file.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
