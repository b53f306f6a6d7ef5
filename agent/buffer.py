"""The agent's store-and-forward buffer: every sample is on disk before it is uploaded.

SQLite (the standard library's) in WAL mode with `synchronous=FULL`: a committed write survives
power loss, and a half-written one is rolled back at the next open. Rows keep the order they were
taken in (`seq`); uploads take them from the head and delete them only once the broker has
acknowledged the message that carried them (the acknowledged offset), so a reboot in the middle of
an upload sends the unacknowledged rows again, and the server's idempotent storage keeps one copy.

Bounded: past `max_samples` the oldest rows are dropped first, and the lifetime count of dropped
rows is kept here so the next upload reports it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts INTEGER NOT NULL,          -- epoch ms
    path TEXT NOT NULL,           -- VSS path
    value REAL,                   -- numbers, booleans as 0/1
    codes TEXT                    -- a DTC list, as JSON
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Sample:
    ts: int
    path: str
    value: float | None = None
    codes: tuple[str, ...] | None = None  # Vehicle.Diagnostics.DTCList


@dataclass(frozen=True, slots=True)
class Stored:
    seq: int
    sample: Sample


class Buffer:
    """Thread-safe: sources append from their threads, the uploader reads and acknowledges."""

    def __init__(self, file: Path, max_samples: int) -> None:
        file.parent.mkdir(parents=True, exist_ok=True)
        self.max_samples = max_samples
        self._lock = threading.Lock()
        self._db = sqlite3.connect(file, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._dropped = self._counter("dropped")  # kept in memory too: the uplink asks before every message

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def append(self, samples: Iterable[Sample]) -> int:
        """Store samples (one transaction); drop the oldest beyond the bound. Returns how many were dropped."""
        rows = [(s.ts, s.path, s.value, None if s.codes is None else orjson.dumps(list(s.codes)).decode())
                for s in samples]  # fmt: skip
        if not rows:
            return 0
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT INTO samples (ts, path, value, codes) VALUES (?, ?, ?, ?)", rows)
            return self._trim()

    def _trim(self) -> int:
        first, last = self._db.execute("SELECT min(seq), max(seq) FROM samples").fetchone()
        excess = 0 if first is None else (last - first + 1) - self.max_samples
        if excess <= 0:
            return 0
        self._db.execute("DELETE FROM samples WHERE seq < ?", (first + excess,))
        self._add("dropped", excess)
        self._dropped += int(excess)
        return int(excess)

    def _add(self, name: str, amount: int) -> None:
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            (name, amount),
        )

    def head(self, limit: int) -> list[Stored]:
        """The oldest `limit` rows still to upload, in the order they were taken."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, ts, path, value, codes FROM samples ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [
            Stored(seq, Sample(ts, path, value, None if codes is None else tuple(orjson.loads(codes))))
            for seq, ts, path, value, codes in rows
        ]

    def acknowledge(self, upto_seq: int) -> None:
        """The broker has every row up to `upto_seq`: forget them."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM samples WHERE seq <= ?", (upto_seq,))

    def waiting(self) -> int:
        with self._lock:
            first, last = self._db.execute("SELECT min(seq), max(seq) FROM samples").fetchone()
        return 0 if first is None else int(last - first + 1)

    def _counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return 0 if row is None else int(row[0])

    def next_message_seq(self) -> int:
        """The `seq` of the next message (persistent, so it never goes backwards across reboots)."""
        with self._lock, self._db:
            self._add("message_seq", 1)
            return self._counter("message_seq")

    def dropped(self) -> int:
        """Samples dropped when full, in all (since the buffer was made)."""
        return self._dropped


def split_codes(rows: Sequence[Stored]) -> tuple[list[Stored], list[Stored]]:
    """(numeric rows, DTC-list rows): Arrow carries numbers only, DTC lists travel as JSON."""
    numbers = [r for r in rows if r.sample.codes is None]
    lists = [r for r in rows if r.sample.codes is not None]
    return numbers, lists
