"""A dealer's alert queue: the open work on its customers' vehicles, in the order an advisor
takes it, with who has each alert and the notes made along the way.

An alert is due on the date its trend projects (pads at the limit, a tyre too soft) or, without
a projection, a time after it was raised that depends on its severity: a day for critical, a
week for warning, a month for info.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from telemetry.storage.alerts import ALERT_COLUMNS, Alert, get, hand_to
from telemetry.storage.db import Conn
from telemetry.storage.incidents import INCIDENT_COLUMNS, Incident
from telemetry.storage.typed_rows import fetch_all, insert_one, select_list
from telemetry.vocabulary import severity_rank_sql

DUE = (
    "COALESCE((a.evidence->>'projected')::timestamptz, a.first_seen + CASE a.severity"
    " WHEN 'critical' THEN interval '1 day' WHEN 'warning' THEN interval '7 days' ELSE interval '30 days' END)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedAlert(Alert):
    """An alert in the queue: when it is due, whose vehicle it is on, which model."""

    due_at: datetime  # the trend's projected date, or raised + 1 day / 7 days / 30 days by severity
    customer_id: int | None
    customer_name: str | None
    model: str


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedIncident(Incident):
    """An incident in the queue: due when its most pressing alert is, with how many alerts."""

    due_at: datetime  # the earliest due date of its alerts
    alert_count: int
    customer_id: int | None
    customer_name: str | None
    model: str


@dataclass(frozen=True, slots=True)
class Note:
    id: int
    alert_id: int
    author: str
    text: str
    created_at: datetime


_NOTE_COLUMNS = select_list(Note, "alert_notes")


@dataclass(frozen=True)
class QueueView:
    """Which part of a dealer's queue to read; the same words for its alerts and its incidents."""

    dealer_id: int
    states: Sequence[str]
    sort: str = "severity"  # severity, due or age
    assigned_to: str | None = None  # only this advisor's
    limit: int = 200
    only_id: int | None = None  # only this alert or incident, if it is in the queue

    def where(self, alias: str) -> tuple[str, tuple[object, ...]]:
        """The query's filter, order and limit over `alias` (a: alerts, i: incidents), and its params."""
        rank = severity_rank_sql(f"{alias}.severity")
        order = {
            "severity": f"{rank}, due_at, {alias}.id",
            "due": f"due_at, {rank}, {alias}.id",
            "age": f"{alias}.first_seen, {alias}.id",
        }[self.sort]
        return (
            f" WHERE v.dealer_id = %s AND {alias}.state = ANY(%s) AND (%s::text IS NULL OR {alias}.assigned_to = %s)"
            f" AND (%s::bigint IS NULL OR {alias}.id = %s) ORDER BY {order} LIMIT %s",
            (self.dealer_id, list(self.states), self.assigned_to, self.assigned_to, self.only_id, self.only_id,
             self.limit),
        )  # fmt: skip


_VEHICLE_AND_CUSTOMER = (
    "JOIN vehicles v ON v.id = {alias}.vehicle_id LEFT JOIN customers c ON c.id = v.owner_customer_id"
)


async def queue(conn: Conn, view: QueueView) -> list[QueuedAlert]:
    """Alerts on the vehicles whose dealer this is, with due date and customer, in the view's order."""
    where, params = view.where("a")
    return await fetch_all(
        conn,
        QueuedAlert,
        f"SELECT {ALERT_COLUMNS}, {DUE} AS due_at, c.id AS customer_id, c.name AS customer_name, v.model"
        f" FROM alerts a {_VEHICLE_AND_CUSTOMER.format(alias='a')}{where}",
        params,
    )


async def incident_queue(conn: Conn, view: QueueView) -> list[QueuedIncident]:
    """Incidents on the vehicles whose dealer this is: one row per problem, due when its most
    pressing alert is, with the customer and the number of alerts behind it."""
    where, params = view.where("i")
    return await fetch_all(
        conn,
        QueuedIncident,
        f"SELECT {INCIDENT_COLUMNS}, d.due_at, d.alert_count, c.id AS customer_id, c.name AS customer_name, v.model"
        f" FROM incidents i {_VEHICLE_AND_CUSTOMER.format(alias='i')}"
        f" CROSS JOIN LATERAL (SELECT COALESCE(min({DUE}), i.first_seen) AS due_at, count(*) AS alert_count"
        f"   FROM alerts a WHERE a.incident_id = i.id) d{where}",
        params,
    )


async def assign(conn: Conn, *, alert_id: int, to: str | None) -> Alert:
    """Give the alert to an advisor (None: back to the queue)."""
    await hand_to(conn, "alerts", alert_id, to=to)
    return await get(conn, alert_id=alert_id)


async def add_note(conn: Conn, *, alert_id: int, author: str, text: str) -> Note:
    await get(conn, alert_id=alert_id)
    return await insert_one(conn, Note, "alert_notes", {"alert_id": alert_id, "author": author, "text": text})


async def notes(conn: Conn, *, alert_id: int) -> list[Note]:
    query = f"SELECT {_NOTE_COLUMNS} FROM alert_notes WHERE alert_id = %s ORDER BY id"
    return await fetch_all(conn, Note, query, (alert_id,))
