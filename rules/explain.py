"""Human-readable explanations: the numbers behind an alert, in the rule's own words.

Each kind offers its own variables to the rule's `explanation` template (docs/rules.md); context
signals (`context = { rpm = "...Engine.Speed" }`) add their value at the moment of the event.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from rules.kernels.service import DAY_MS
from rules.model import Condition, Rule, humanize_ms, unit_symbol


class Number(float):
    """A float that prints "n/a" when it is unknown (NaN), whatever the format."""

    def __format__(self, spec: str) -> str:
        return "n/a" if math.isnan(self) else format(float(self), spec)


def variables(
    rule: Rule,
    condition: Condition,
    *,
    ts: int,
    since: int,
    value: float,
    detail: float,
    context: dict[str, float],
    plan: tuple[float, float] | None = None,
) -> dict[str, object]:
    signal = condition.signal
    out: dict[str, object] = {
        "title": rule.title,
        "signal": signal.path.rsplit(".", 1)[-1] if signal else "telemetry",
        "unit": unit_symbol(signal.unit if signal else None),
        "duration": humanize_ms(max(ts - since, 0)),
        "value": Number(value),
        "threshold": Number(condition.limit),
        "limit": Number(condition.limit),
    }
    kind = condition.kind
    if kind == "threshold":
        out["peak"] = Number(value)
    elif kind == "rate":
        out |= {"rate": Number(value), "now": Number(detail)}
    elif kind == "anomaly":
        out |= {"z": Number(value), "mean": Number(detail)}
    elif kind == "trend":
        days = (detail - ts) / DAY_MS if math.isfinite(detail) else math.inf
        date = datetime.fromtimestamp(detail / 1000, UTC).date().isoformat() if math.isfinite(detail) else "never"
        out |= {"level": Number(value), "days_left": Number(max(days, 0.0)), "projected_date": date}
    elif kind == "episodes":
        window = condition.kernel.window_ms  # type: ignore[attr-defined]
        out |= {
            "count": Number(value),
            "window": f"{window // DAY_MS} days" if window % DAY_MS == 0 else humanize_ms(window),
        }
    elif kind == "stale":
        out["silence"] = humanize_ms(value)
    elif kind == "dtc" and condition.code is not None:
        out |= {"code": condition.code.code, "description": condition.code.description}
    elif kind == "service_plan":
        km, months = plan or (math.nan, math.nan)
        out |= {"days": Number(value), "km": Number(detail)}
        out |= {"interval_km": Number(km), "interval_months": Number(months)}
    out |= {name: Number(v) for name, v in context.items()}
    return out


def sample_variables(rule: Rule, condition: Condition) -> dict[str, object]:
    """Variables with made-up numbers, to check a template when the rule is loaded."""
    return variables(
        rule,
        condition,
        ts=3_600_000,
        since=0,
        value=1.0,
        detail=90 * DAY_MS,
        context={name: 1.0 for name, _ in rule.context},
        plan=(15000.0, 12.0),
    )


def explain(rule: Rule, condition: Condition, **kwargs: object) -> str:
    return rule.explanation.format(**variables(rule, condition, **kwargs))  # type: ignore[arg-type]
