"""Daily range partitions of `samples` on native PostgreSQL, created ahead and on demand.

TimescaleDB creates its chunks itself; there `ensure` only records the days as known.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from psycopg import sql

from telemetry.storage.db import Conn
from telemetry.storage.layout import NATIVE, samples_layout
from telemetry.timeutil import MS_PER_DAY

_LOCK_KEY = 0x7E1E_5A3B  # advisory lock: one partition creator at a time per database


def day_of(ts_ms: int) -> int:
    return ts_ms // MS_PER_DAY


def partition_name(day: int) -> str:
    return "samples_p" + (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)).strftime("%Y%m%d")


class PartitionManager:
    """Remembers which days have a partition so the hot path asks the database only for new days."""

    def __init__(self) -> None:
        self._known: set[int] = set()
        self._layout: str | None = None

    async def ensure(self, conn: Conn, days: set[int]) -> list[str]:
        """Create missing day partitions in their own transaction; returns the names created."""
        missing = days - self._known
        if not missing:
            return []
        if self._layout is None:
            self._layout = await samples_layout(conn)
        created: list[str] = []
        if self._layout == NATIVE:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                for day in sorted(missing):
                    name = partition_name(day)
                    cur = await conn.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (name,))
                    row = await cur.fetchone()
                    present = row is not None and row["present"]
                    if not present:
                        start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)
                        await conn.execute(
                            sql.SQL("CREATE TABLE {} PARTITION OF samples FOR VALUES FROM ({}) TO ({})").format(
                                sql.Identifier(name),
                                sql.Literal(start.isoformat()),
                                sql.Literal((start + timedelta(days=1)).isoformat()),
                            )
                        )
                        created.append(name)
        self._known |= missing
        return created

    async def ensure_ahead(self, conn: Conn, now_ms: int, days_ahead: int = 2) -> list[str]:
        today = day_of(now_ms)
        return await self.ensure(conn, {today + i for i in range(-1, days_ahead + 1)})
