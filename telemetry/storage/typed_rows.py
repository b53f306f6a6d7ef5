"""Typed rows at the storage boundary: a query's row as a frozen dataclass, its words as the
vocabulary's enums. Readers get attributes with types (`alert.vin`, `alert.severity`) instead of
a dict whose values they cast; API schemas are derived from the same classes (api/schemas)."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from psycopg import sql
from psycopg.abc import Params
from psycopg.rows import BaseRowFactory, kwargs_row

from telemetry.errors import NotFoundError
from telemetry.storage.db import Conn, SyncConn

T = TypeVar("T")
Query = str | sql.SQL | sql.Composed  # what a cursor executes


def typed_row(cls: type[T]) -> BaseRowFactory[T]:
    """A psycopg row factory making `cls` (a dataclass whose fields are the query's columns) from
    each row; a column whose field is an enum (or an optional one) becomes that enum."""
    maker = _MAKERS.get(cls)
    if maker is None:
        maker = _MAKERS[cls] = _maker(cls)
    return kwargs_row(maker)


_MAKERS: dict[type, Callable[..., Any]] = {}  # per row class, its fields' enums read once


def _maker(cls: type[T]) -> Callable[..., T]:
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]  # a dataclass, by contract
    enums = {f.name: e for f in fields if (e := _enum_of(hints[f.name])) is not None}

    def make(**values: Any) -> T:
        for name, kind in enums.items():
            if values[name] is not None:
                values[name] = kind(values[name])
        return cls(**values)

    return make


def _enum_of(hint: object) -> type[enum.Enum] | None:
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        arms = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(arms) == 1:
            return _enum_of(arms[0])
    return None


def select_list(cls: type, alias: str, **elsewhere: str) -> str:
    """The row class's fields as a SELECT list, each a column of table `alias` unless `elsewhere`
    says where it comes from (`vin="v.vin"`): the class is the one list of its query's columns."""
    fields = dataclasses.fields(cls)
    return ", ".join(f"{elsewhere[f.name]} AS {f.name}" if f.name in elsewhere else f"{alias}.{f.name}" for f in fields)


def widened(row: object, cls: type[T], **more: object) -> T:
    """The row as `cls`, a subclass of its class with the fields `more` adds (a segment with its
    size, a campaign with its progress); a shallow copy, unlike `dataclasses.asdict`."""
    fields = dataclasses.fields(row)  # type: ignore[arg-type]  # a dataclass, by contract
    return cls(**{f.name: getattr(row, f.name) for f in fields}, **more)


def insert_sql(table: str, columns: Iterable[str], returning: str) -> sql.Composed:
    """INSERT INTO table (columns) VALUES (a placeholder each) RETURNING ...: each column is named
    once, beside its value, by the caller."""
    names = list(columns)
    return sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(sql.Placeholder() * len(names)),
        sql.SQL(returning),
    )


async def insert_one(conn: Conn, cls: type[T], table: str, values: Mapping[str, object]) -> T:
    """Insert one row of `values` (column -> value) into `table`; the new row as `cls`, whose
    fields are the table's columns."""
    query = insert_sql(table, values, select_list(cls, table))
    return await fetch_one(conn, cls, query, list(values.values()), missing=f"no {table} row returned")


async def insert_id(conn: Conn, table: str, values: Mapping[str, object]) -> int:
    """Insert one row of `values` into `table`; its id (for a row read back through a join)."""
    cur = await conn.execute(insert_sql(table, values, "id"), list(values.values()))
    row = await cur.fetchone()
    assert row is not None  # an INSERT without ON CONFLICT returns its row or raises
    return int(row["id"])


async def fetch_one(conn: Conn, cls: type[T], query: Query, params: Params | None = None, *, missing: str) -> T:
    """The query's row as `cls`; no row is `NotFoundError(missing)`, what the caller answers as 404."""
    async with conn.cursor(row_factory=typed_row(cls)) as cur:
        await cur.execute(query, params)
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(missing)
    return row


async def fetch_all(conn: Conn, cls: type[T], query: Query, params: Params | None = None) -> list[T]:
    async with conn.cursor(row_factory=typed_row(cls)) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


def fetch_one_sync(conn: SyncConn, cls: type[T], query: Query, params: Params | None = None, *, missing: str) -> T:
    """`fetch_one` for the command line's synchronous connections."""
    with conn.cursor(row_factory=typed_row(cls)) as cur:
        row = cur.execute(query, params).fetchone()
    if row is None:
        raise NotFoundError(missing)
    return row


def fetch_all_sync(conn: SyncConn, cls: type[T], query: Query, params: Params | None = None) -> list[T]:
    with conn.cursor(row_factory=typed_row(cls)) as cur:
        return cur.execute(query, params).fetchall()
