"""Writing and reading samples.

Write path: pivot a batch's (vehicle, ts, signal, value) columns into wide rows in numpy, encode
them as a binary COPY stream in numpy (no per-value Python), COPY into a session-local stage
table, then merge into `samples` with ON CONFLICT: the first value stored for a (vehicle, signal,
time) is kept, a redelivered message changes nothing, and new signals fill empty columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from telemetry.catalog import Catalog, Signal
from telemetry.storage import hourly
from telemetry.storage.db import Conn
from telemetry.storage.layout import samples_layout

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)


@dataclass
class WideRows:
    """One row per (vehicle, ts): `values[:, j]` is numeric column j, NaN where absent."""

    vehicle_id: np.ndarray
    ts: np.ndarray
    values: np.ndarray
    dtc: list[tuple[int, int, tuple[str, ...]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ts)


class SampleWriter:
    """Knows the catalog's columns; holds no connection. With `mark_hours` (the native layout), a
    write also marks the hours it touched for the hourly rollup (`telemetry.storage.hourly`)."""

    def __init__(self, catalog: Catalog, *, mark_hours: bool = False) -> None:
        self.catalog = catalog
        self.mark_hours = mark_hours
        self.numeric = catalog.numeric
        self.column_of_signal = np.full(len(catalog.signals), -1, dtype=np.int64)
        for j, s in enumerate(self.numeric):
            self.column_of_signal[s.id] = j
        dtc = [s for s in catalog.signals if s.kind == "string_list"]
        self.dtc_column = dtc[0].column if dtc else None
        self._stage_ddl, self._merge, self._dtc_merge = self._statements()

    def _statements(self) -> tuple[sql.Composed, sql.Composed, sql.Composed]:
        cols = [sql.Identifier(s.column) for s in self.numeric]
        col_list = sql.SQL(", ").join(cols)
        stage = sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS samples_stage (vehicle_id integer, ts_ms bigint, {defs})"
            " ON COMMIT DELETE ROWS"
        ).format(defs=sql.SQL(", ").join(sql.SQL("{} double precision").format(c) for c in cols))
        fill = sql.SQL(", ").join(sql.SQL("{c} = COALESCE(s.{c}, EXCLUDED.{c})").format(c=c) for c in cols)
        changed = sql.SQL(" OR ").join(
            sql.SQL("(s.{c} IS NULL AND EXCLUDED.{c} IS NOT NULL)").format(c=c) for c in cols
        )
        merge = sql.SQL(
            "INSERT INTO samples AS s (vehicle_id, ts, {cols})"
            " SELECT vehicle_id, timestamptz 'epoch' + ts_ms * interval '1 millisecond', {cols}"
            " FROM samples_stage"
            " ON CONFLICT (vehicle_id, ts) DO UPDATE SET {fill} WHERE {changed}"
            " RETURNING s.vehicle_id, (extract(epoch FROM s.ts) * 1000)::bigint AS ts_ms"
        ).format(cols=col_list, fill=fill, changed=changed)
        dtc_col = sql.Identifier(self.dtc_column or "dtc_list")
        dtc_merge = sql.SQL(
            "INSERT INTO samples AS s (vehicle_id, ts, {c})"
            " SELECT v, timestamptz 'epoch' + t * interval '1 millisecond', string_to_array(codes, ',')"
            " FROM unnest(%s::integer[], %s::bigint[], %s::text[]) AS u(v, t, codes)"
            " ON CONFLICT (vehicle_id, ts) DO UPDATE SET {c} = EXCLUDED.{c} WHERE s.{c} IS NULL"
            " RETURNING s.vehicle_id, (extract(epoch FROM s.ts) * 1000)::bigint AS ts_ms"
        ).format(c=dtc_col)
        return stage, merge, dtc_merge

    def pivot(
        self,
        vehicle_id: np.ndarray,
        ts: np.ndarray,
        signal: np.ndarray,
        value: np.ndarray,
        dtc: list[tuple[int, int, tuple[str, ...]]] | None = None,
    ) -> WideRows:
        """Long columns to wide rows; within the batch the first value of a cell wins."""
        ncols = len(self.numeric)
        if len(ts) == 0:
            rows = WideRows(np.empty(0, np.int32), np.empty(0, np.int64), np.empty((0, ncols)))
        else:
            order = np.lexsort((ts, vehicle_id))  # stable: arrival order kept among equal keys
            v, t = vehicle_id[order], ts[order]
            starts = np.empty(len(t), dtype=bool)
            starts[0] = True
            starts[1:] = (v[1:] != v[:-1]) | (t[1:] != t[:-1])
            row = np.cumsum(starts) - 1
            cell = row * ncols + self.column_of_signal[signal[order]]
            cells, first = np.unique(cell, return_index=True)
            values = np.full(int(row[-1] + 1) * ncols, np.nan)
            values[cells] = value[order][first]
            rows = WideRows(v[starts].astype(np.int32), t[starts].astype(np.int64), values.reshape(-1, ncols))
        seen: set[tuple[int, int]] = set()
        for vid, t_ms, codes in dtc or ():
            if (vid, t_ms) not in seen:
                seen.add((vid, t_ms))
                rows.dtc.append((vid, t_ms, codes))
        return rows

    def encode_copy(self, rows: WideRows) -> bytes:
        """The binary COPY stream for `samples_stage`, built with numpy (NaN becomes NULL)."""
        n, ncols = rows.values.shape
        record = np.dtype(
            [
                ("nf", ">i2"),
                ("l1", ">i4"),
                ("vid", ">i4"),
                ("l2", ">i4"),
                ("ts", ">i8"),
                ("cells", [("len", ">i4"), ("val", ">f8")], (ncols,)),
            ]
        )
        out = np.empty(n, dtype=record)
        out["nf"], out["l1"], out["vid"], out["l2"], out["ts"] = 2 + ncols, 4, rows.vehicle_id, 8, rows.ts
        absent = np.isnan(rows.values)
        out["cells"]["len"] = np.where(absent, -1, 8)
        out["cells"]["val"] = rows.values
        raw = out.view(np.uint8).reshape(n, record.itemsize)
        keep = np.ones((n, record.itemsize), dtype=bool)
        value_bytes = 22 + np.arange(ncols)[:, None] * 12 + 4 + np.arange(8)[None, :]
        keep[:, value_bytes.ravel()] = np.repeat(~absent, 8, axis=1)
        return _COPY_HEADER + raw[keep].tobytes() + _COPY_TRAILER

    async def write(self, conn: Conn, rows: WideRows) -> set[tuple[int, int]]:
        """Stage and merge inside the caller's transaction; returns the (vehicle, ts ms) rows that
        were inserted or gained values. A redelivered batch returns an empty set."""
        changed: set[tuple[int, int]] = set()
        if len(rows):
            await conn.execute(self._stage_ddl)
            async with conn.cursor(row_factory=psycopg.rows.tuple_row) as cur:
                async with cur.copy("COPY samples_stage FROM STDIN (FORMAT BINARY)") as copy:
                    await copy.write(self.encode_copy(rows))
                await cur.execute(self._merge)
                changed.update(await cur.fetchall())
        if rows.dtc:
            async with conn.cursor(row_factory=psycopg.rows.tuple_row) as cur:
                await cur.execute(
                    self._dtc_merge,
                    (
                        [d[0] for d in rows.dtc],
                        [d[1] for d in rows.dtc],
                        [",".join(d[2]) for d in rows.dtc],
                    ),
                )
                changed.update(await cur.fetchall())
        if self.mark_hours:
            await hourly.mark(conn, changed)
        return changed


Value = float | bool | list[str]  # what a signal's column holds: a number, a flag, a list of words


async def read_series(
    conn: Conn,
    *,
    vehicle_id: int,
    signal: Signal,
    start: datetime,
    end: datetime,
    limit: int,
) -> list[tuple[datetime, Value]]:
    """Stored values of one signal for one vehicle, in time order."""
    query = sql.SQL(
        "SELECT ts, {c} AS value FROM samples WHERE vehicle_id = %s AND ts >= %s AND ts < %s"
        " AND {c} IS NOT NULL ORDER BY ts LIMIT %s"
    ).format(c=sql.Identifier(signal.column))
    cur = await conn.execute(query, (vehicle_id, start, end, limit))
    return [(r["ts"], r["value"]) for r in await cur.fetchall()]


async def latest_value(
    conn: Conn, *, vehicle_id: int, signal: Signal, since: datetime
) -> tuple[datetime, Value] | None:
    """The newest stored value of one signal for one vehicle since `since`, with its time."""
    query = sql.SQL(
        "SELECT ts, {c} AS value FROM samples WHERE vehicle_id = %s AND ts >= %s AND {c} IS NOT NULL"
        " ORDER BY ts DESC LIMIT 1"
    ).format(c=sql.Identifier(signal.column))
    cur = await conn.execute(query, (vehicle_id, since))
    row = await cur.fetchone()
    return None if row is None else (row["ts"], row["value"])


async def last_sample_at(conn: Conn, *, vehicle_id: int, since: datetime) -> datetime | None:
    """When the vehicle last sent anything at all since `since` (the primary key's order: one probe)."""
    cur = await conn.execute(
        "SELECT ts FROM samples WHERE vehicle_id = %s AND ts >= %s ORDER BY ts DESC LIMIT 1", (vehicle_id, since)
    )
    row = await cur.fetchone()
    return None if row is None else row["ts"]


async def signals_held(conn: Conn, *, vehicle_id: int, columns: list[str]) -> dict[str, dict[str, Any]]:
    """Per stored column: how many values, first and last time (what a data export lists)."""
    parts = sql.SQL(", ").join(
        sql.SQL(
            "count({c}) AS {n}, min(ts) FILTER (WHERE {c} IS NOT NULL) AS {f},"
            " max(ts) FILTER (WHERE {c} IS NOT NULL) AS {z}"
        ).format(c=sql.Identifier(c), n=sql.Identifier(f"n{i}"), f=sql.Identifier(f"f{i}"), z=sql.Identifier(f"l{i}"))
        for i, c in enumerate(columns)
    )
    cur = await conn.execute(
        sql.SQL("SELECT {parts} FROM samples WHERE vehicle_id = %s").format(parts=parts), (vehicle_id,)
    )
    row = await cur.fetchone()
    if row is None:
        return {}
    return {
        c: {"values": row[f"n{i}"], "first": row[f"f{i}"], "last": row[f"l{i}"]}
        for i, c in enumerate(columns)
        if row[f"n{i}"]
    }


async def read_buckets(
    conn: Conn, *, vehicle_id: int, signal: Signal, start: datetime, end: datetime, buckets: int
) -> tuple[float, list[dict[str, object]]]:
    """One signal downsampled for a chart: the window cut into at most `buckets` equal buckets,
    each with its min, max, mean and count (min and max keep the peaks a mean would hide).
    Returns the bucket width in seconds and the non-empty buckets in time order. Buckets of an
    hour or more come from `samples_hourly`, aligned to whole UTC hours."""
    width = max((end - start).total_seconds() / buckets, 1.0)
    if width >= hourly.HOUR_S:
        layout = await samples_layout(conn)
        start, width, rows = await hourly.read_hourly_buckets(
            conn, layout, vehicle_id=vehicle_id, signal=signal, start=start, end=end, buckets=buckets
        )
    else:
        rows = await read_raw_buckets(conn, vehicle_id=vehicle_id, signal=signal, start=start, end=end, width=width)
    out = [
        {"ts": start + timedelta(seconds=(r["b"] + 0.5) * width), "min": r["min"], "max": r["max"],
         "mean": r["mean"], "n": r["n"]}
        for r in rows
    ]  # fmt: skip
    return width, out


async def read_raw_buckets(
    conn: Conn, *, vehicle_id: int, signal: Signal, start: datetime, end: datetime, width: float
) -> list[dict[str, Any]]:
    """Buckets of `width` seconds straight from the raw samples: (bucket index, min, max, mean, n)."""
    query = sql.SQL(
        "SELECT floor(date_part('epoch', ts - %(start)s) / %(width)s)::bigint AS b, min({c}) AS min,"
        " max({c}) AS max, avg({c}) AS mean, count({c}) AS n FROM samples WHERE vehicle_id = %(v)s"
        " AND ts >= %(start)s AND ts < %(end)s AND {c} IS NOT NULL GROUP BY 1 ORDER BY 1"
    ).format(c=sql.Identifier(signal.column))
    cur = await conn.execute(query, {"v": vehicle_id, "start": start, "end": end, "width": width})
    return await cur.fetchall()
