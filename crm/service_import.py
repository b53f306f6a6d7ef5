"""Service history from a dealer management system's CSV export: parsed line by line, so that
a bad line is reported with its number and reason and every good line is still imported.

The header names the columns (any order, case-insensitive, common synonyms accepted):

- `vin`, `date` (ISO 8601, or DD.MM.YYYY), `odometer_km`, `invoice_number`: required;
- `kind` (scheduled, repair, inspection, tyres, recall; default scheduled), `operations`
  (separated by `|`), `parts` (`number*quantity` items separated by `|`), `amount` (a dot or a
  decimal comma), `currency`, `branch` (the branch code), `recall_code`, `description`.

Comma, semicolon and tab delimiters are recognised (the one the header uses most). A date
without a time is taken at 12:00 UTC, which is the same calendar day from UTC-11 to UTC+11.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from telemetry.bounds import day_problem, past_moment_problem

KINDS = ("scheduled", "repair", "inspection", "tyres", "recall")
_SYNONYMS = {
    "vin": ("vin", "fin", "chassis", "vehicle_vin"),
    "date": ("date", "performed_at", "service_date", "invoice_date", "datum"),
    "odometer_km": ("odometer_km", "odometer", "mileage", "km", "kilometres", "kilometers", "km_stand"),
    "invoice_number": ("invoice_number", "invoice", "invoice_no", "rechnungsnummer"),
    "kind": ("kind", "type", "job_type"),
    "operations": ("operations", "labour", "labor", "jobs"),
    "parts": ("parts", "part_numbers"),
    "amount": ("amount", "total", "invoice_total", "betrag"),
    "currency": ("currency",),
    "branch": ("branch", "branch_code", "site"),
    "recall_code": ("recall_code", "recall", "campaign"),
    "description": ("description", "remarks", "notes"),
}
REQUIRED = ("vin", "date", "odometer_km", "invoice_number")
MAX_LINES = 100_000


@dataclass(frozen=True)
class ServiceLine:
    line: int
    vin: str
    performed_at: datetime
    odometer_km: float
    invoice_number: str
    kind: str = "scheduled"
    operations: list[str] = field(default_factory=list)
    parts: list[dict[str, object]] = field(default_factory=list)
    amount: Decimal | None = None
    currency: str | None = None
    branch: str | None = None
    recall_code: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class LineError:
    line: int
    error: str


class ImportFormatError(ValueError):
    """The file as a whole cannot be read (no header, a required column missing)."""


def parse(text: str) -> list[ServiceLine | LineError]:
    """Each data line as a ServiceLine or the reason it cannot be one. Line numbers count the
    header as line 1, as a spreadsheet shows them."""
    if not text.strip():
        raise ImportFormatError("the file is empty")
    first_line = text.splitlines()[0]
    delimiter = max(",;\t", key=first_line.count)  # the header's separator: names hold none
    reader = csv.reader(io.StringIO(text, newline=None), delimiter=delimiter)  # \r, \n, \r\n end a line
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise ImportFormatError(f"line {reader.line_num}: {exc}") from exc
    columns = _columns(rows[0])
    out: list[ServiceLine | LineError] = []
    for number, cells in enumerate(rows[1:], start=2):
        if number > MAX_LINES + 1:
            raise ImportFormatError(f"more than {MAX_LINES} lines; split the file")
        if not any(c.strip() for c in cells):
            continue
        values = {name: cells[i].strip() if i < len(cells) else "" for name, i in columns.items()}
        try:
            out.append(_line(number, values))
        except ValueError as exc:
            out.append(LineError(number, str(exc)))
    return out


def _columns(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    names = [h.strip().lower().replace(" ", "_").replace("-", "_") for h in header]
    for column, synonyms in _SYNONYMS.items():
        for i, name in enumerate(names):
            if name in synonyms:
                found.setdefault(column, i)
    missing = [c for c in REQUIRED if c not in found]
    if missing:
        raise ImportFormatError(f"the header has no {', '.join(missing)} column (found: {', '.join(header)})")
    return found


def _line(number: int, v: dict[str, str]) -> ServiceLine:
    for name in REQUIRED:
        if not v.get(name):
            raise ValueError(f"{name} is empty")
    kind = (v.get("kind") or "scheduled").lower()
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    currency = (v.get("currency") or "").upper() or None
    if currency is not None and not (len(currency) == 3 and currency.isalpha()):
        raise ValueError(f"currency {currency!r} is not an ISO 4217 code")
    return ServiceLine(
        line=number,
        vin=v["vin"].upper().replace(" ", ""),
        performed_at=_when(v["date"]),
        odometer_km=_odometer(v["odometer_km"]),
        invoice_number=v["invoice_number"],
        kind=kind,
        operations=[op.strip() for op in (v.get("operations") or "").split("|") if op.strip()],
        parts=[_part(p) for p in (v.get("parts") or "").split("|") if p.strip()],
        amount=_amount(v["amount"]) if v.get("amount") else None,
        currency=currency,
        branch=v.get("branch") or None,
        recall_code=v.get("recall_code") or None,
        description=v.get("description") or None,
    )


def _when(text: str) -> datetime:
    """The visit's time; a date alone is taken at 12:00 UTC and may be today in any time zone."""
    moment, day = _parse_when(text)
    if day is not None:
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
        problem = day_problem(day) or ("is in the future" if day > tomorrow else None)
    else:
        problem = past_moment_problem(moment)
    if problem:
        raise ValueError(f"date {text!r} {problem}")
    return moment


def _parse_when(text: str) -> tuple[datetime, date | None]:
    """(the time, the day when only a day was given)."""
    try:
        if "." in text and text.count(".") == 2 and len(text) <= 10:
            d, m, y = (int(x) for x in text.split("."))
            day = date(y, m, d)
        elif len(text) <= 10:
            day = date.fromisoformat(text)
        else:
            moment = datetime.fromisoformat(text)
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), None
    except ValueError:
        raise ValueError(f"date {text!r} is neither ISO 8601 nor DD.MM.YYYY") from None
    return datetime.combine(day, time(12), UTC), day


_GROUPED = re.compile(r"^\d{1,3}([.,])\d{3}(\1\d{3})*$")


def _number(text: str, what: str) -> Decimal:
    """A number written with a decimal point or comma, thousands separated or not. Digits in
    groups of three after one kind of separator ("12.345", "1,234,567") are thousands: neither
    odometers nor amounts are written with three decimals."""
    cleaned = text.replace(" ", "").replace("\u00a0", "")
    if _GROUPED.match(cleaned):
        cleaned = cleaned.replace(".", "").replace(",", "")
    elif "," in cleaned and "." in cleaned:  # the later one is the decimal separator
        thousands = "." if cleaned.rfind(",") > cleaned.rfind(".") else ","
        cleaned = cleaned.replace(thousands, "")
    cleaned = cleaned.replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{what} {text!r} is not a number")
    return value


def _odometer(text: str) -> float:
    km = float(_number(text, "odometer_km"))
    if not 0 <= km <= 5_000_000:
        raise ValueError(f"odometer {text!r} km is out of range")
    return km


def _amount(text: str) -> Decimal:
    amount = _number(text, "amount").quantize(Decimal("0.01"))
    if amount < 0:
        raise ValueError(f"amount {text!r} is negative (credit notes are not service visits)")
    return amount


def _part(text: str) -> dict[str, object]:
    number, _, quantity = text.strip().partition("*")
    if not number.strip():
        raise ValueError(f"part {text!r} has no part number")
    amount = float(_number(quantity, "part quantity")) if quantity.strip() else 1.0
    return {"number": number.strip(), "quantity": amount}
