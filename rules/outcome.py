"""What the rule engine takes about a vehicle and gives back: an alert's outcome, explained."""

from __future__ import annotations

from dataclasses import dataclass, field

from rules.explain import explain
from rules.model import Condition, Rule, humanize_ms


@dataclass(frozen=True, slots=True)
class VehicleInfo:
    vehicle_id: int
    powertrain: str
    make: str
    model: str


@dataclass(frozen=True, slots=True)
class Outcome:
    rule: Rule
    condition: Condition  # the condition whose transition caused this
    vehicle_id: int
    fired: bool  # False: cleared
    severity: str
    ts: int
    since: int
    value: float
    detail: float
    context: dict[str, float] = field(default_factory=dict)
    escalated: bool = False
    plan: tuple[float, float] | None = None

    def explanation(self) -> str:
        text = explain(
            self.rule,
            self.condition,
            ts=self.ts,
            since=self.since,
            value=self.value,
            detail=self.detail,
            context=self.context,
            plan=self.plan,
        )
        if self.escalated:
            text += f" (still active after {humanize_ms(self.rule.escalate_after_ms or 0)}: escalated)"
        return text
