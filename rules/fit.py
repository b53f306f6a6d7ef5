"""Fitting a residual model: what a healthy vehicle's signal is, given its inputs, per model.

Least squares over stored samples of the vehicles in the window (pick healthy ones), one fit per
model plus a `default` over all; the result pastes into a rule's `residual.coefficients`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from psycopg import sql

from rules.model import Gate
from telemetry.catalog import Signal
from telemetry.errors import InvalidRequestError
from telemetry.storage.db import SyncConn

MIN_ROWS = 50


@dataclass(frozen=True)
class Fit:
    model: str
    coefficients: tuple[float, ...]  # intercept, then one per input
    rows: int
    rmse: float


def fit_residual(
    conn: SyncConn,
    target: Signal,
    inputs: list[Signal],
    *,
    start: datetime,
    end: datetime,
    gate: Gate | None = None,
) -> list[Fit]:
    """One fit per model with at least MIN_ROWS complete rows, then `default` over every row."""
    columns = [target, *inputs, *([gate.signal] if gate else [])]
    query = sql.SQL(
        "SELECT v.model, {cols} FROM samples s JOIN vehicles v ON v.id = s.vehicle_id"
        " WHERE s.ts >= %s AND s.ts < %s AND {complete}"
    ).format(
        cols=sql.SQL(", ").join(sql.Identifier("s", c.column) for c in columns),
        complete=sql.SQL(" AND ").join(
            sql.SQL("{} IS NOT NULL").format(sql.Identifier("s", c.column)) for c in columns
        ),
    )
    rows = conn.execute(query, (start, end)).fetchall()
    if not rows:
        raise InvalidRequestError("no stored samples hold the target and every input in that window")
    models = np.array([r["model"] for r in rows])
    table = np.array([[r[c.column] for c in columns] for r in rows], dtype=np.float64)
    if gate is not None:
        keep = gate.passes(table[:, -1])
        models, table = models[keep], table[keep, :-1]
    fits = [_fit(str(m), table[models == m]) for m in sorted(set(models.tolist()))]
    fits = [f for f in fits if f.rows >= MIN_ROWS]
    if len(table) < MIN_ROWS:
        raise InvalidRequestError(f"only {len(table)} complete rows; at least {MIN_ROWS} are needed")
    return [*fits, _fit("default", table)]


def _fit(model: str, table: np.ndarray) -> Fit:
    y = table[:, 0]
    x = np.column_stack([np.ones(len(table)), table[:, 1:]])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    rmse = float(np.sqrt(np.mean((y - x @ coef) ** 2))) if len(table) else float("nan")
    return Fit(model, tuple(float(c) for c in coef), len(table), rmse)


def as_toml(fits: list[Fit]) -> str:
    """The `coefficients` table of a rule's residual."""
    parts = [f"{_key(f.model)} = [{', '.join(f'{c:.6g}' for c in f.coefficients)}]" for f in fits]
    return "coefficients = { " + ", ".join(parts) + " }"


def _key(model: str) -> str:
    return model if model.replace("_", "").replace("-", "").isalnum() else f'"{model}"'
