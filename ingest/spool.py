"""A local disk spool for batches that cannot reach the database.

After the database has refused a batch for `spool_after_s`, the batch's raw messages are written
to one Arrow IPC file (fsync, then an atomic rename), and only then acknowledged to the broker,
so a long outage does not overflow the broker's queues. Files are replayed oldest first, through
the same validation and idempotent storage as live messages, once the database answers again.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa

from ingest.pipeline import Received

SCHEMA = pa.schema(
    [("topic", pa.string()), ("payload", pa.binary()), ("received_ms", pa.int64()), ("over_rate", pa.bool_())]
)


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._seq = 0

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("*.arrow"))

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files())

    def has_room(self) -> bool:
        return self.size_bytes() < self.max_bytes

    def write(self, received: list[Received]) -> Path:
        """Durably store one batch; returns its file."""
        self._seq += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}.arrow"
        final, partial = self.directory / name, self.directory / (name + ".partial")
        table = pa.table(
            {
                "topic": [r.topic for r in received],
                "payload": [r.payload for r in received],
                "received_ms": [r.received_ms for r in received],
                "over_rate": [r.over_rate for r in received],
            },
            schema=SCHEMA,
        )
        with open(partial, "wb") as raw:
            with pa.ipc.new_file(raw, SCHEMA) as writer:
                writer.write_table(table)
            raw.flush()
            os.fsync(raw.fileno())
        partial.rename(final)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a crash
        finally:
            os.close(directory)
        return final

    @staticmethod
    def read(path: Path) -> list[Received]:
        table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
        return [
            Received(*row)
            for row in zip(
                table.column("topic").to_pylist(),
                table.column("payload").to_pylist(),
                table.column("received_ms").to_pylist(),
                table.column("over_rate").to_pylist(),
                strict=True,
            )
        ]
