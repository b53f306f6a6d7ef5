"""Timestamps on the wire are epoch milliseconds or RFC 3339 strings; inside, epoch ms (int)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

MS_PER_DAY = 86_400_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_ts(value: object) -> int | None:
    """Epoch ms from an integer or an RFC 3339 string with an offset; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and len(value) <= 40 and ("T" in value or " " in value):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None
        return int(parsed.timestamp() * 1000)
    return None


def iso(ts_ms: int) -> str:
    """RFC 3339 with millisecond precision, for messages people read."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_datetime(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC)


def to_epoch_ms(value: datetime) -> int:
    """Epoch ms of an aware datetime (a naive one is taken as UTC)."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)
