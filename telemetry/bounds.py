"""The ranges every date and time a person or a vehicle gives must fall in (docs/security.md).

Checked at the edges (API bodies and queries, the DMS import), so that nothing stored can make a
view fail later: 9999-12-31 plus a service interval does not fit in a date.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

EARLIEST_DAY = date(1950, 1, 1)  # older than any vehicle a telematics unit can be fitted to
LATEST_DAY = date(2100, 12, 31)  # far enough for warranties and plans, far from date overflow
FUTURE_SKEW = timedelta(minutes=5)  # clocks of people's devices and of DMS exports drift

SOFTWARE_VERSION = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,6}){0,5}$")  # what a vehicle says it runs: 2.4.1
MAX_DROPPED_SAMPLES = 2**53 - 1  # a vehicle's lifetime count of samples its buffer dropped; JSON-safe


def day_problem(value: date) -> str | None:
    if not EARLIEST_DAY <= value <= LATEST_DAY:
        return f"must be between {EARLIEST_DAY} and {LATEST_DAY}"
    return None


def moment_problem(value: datetime) -> str | None:
    """Any point in time: the same range as days."""
    return day_problem(value.astimezone(UTC).date())


def past_moment_problem(value: datetime, now: datetime | None = None) -> str | None:
    """Something that happened (a service, a consent, a contact): not in the future beyond clock skew."""
    problem = moment_problem(value)
    if problem:
        return problem
    latest = (now or datetime.now(UTC)) + FUTURE_SKEW
    if value > latest:
        return f"is in the future: at most {int(FUTURE_SKEW.total_seconds() // 60)} minutes after now"
    return None
