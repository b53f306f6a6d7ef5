"""Contact pressure: whether a customer may be contacted now for a purpose, rule by rule, each
with the sentence an advisor reads. Pure: the facts come in, the verdicts go out; the storage
layer gathers the facts (`telemetry/storage/recommendations.py`).

Purposes, strongest first:
- `safety`: a critical alert or an open recall. Always allowed; the other rules are reported
  but do not block.
- `service`: a warning or info alert (the maintenance plan's included). Needs the customer's
  consent to maintenance alerts (the offer comes from connected-vehicle data), and no service
  visit of the vehicle in the last `quiet_after_service_days`.
- `marketing`: offers (extended warranty, software trials). Needs marketing consent, and at
  most `marketing_max` marketing contacts in the household over `marketing_window_days`.
Any purpose but safety waits `repeat_after_days` after the last contact about the vehicle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from telemetry.vocabulary import ContactPurpose

PURPOSES = tuple(ContactPurpose)


@dataclass(frozen=True, slots=True)
class Policy:
    marketing_max: int = 1
    marketing_window_days: int = 91
    quiet_after_service_days: int = 30
    repeat_after_days: int = 7


@dataclass(frozen=True, slots=True)
class Facts:
    """What is known about the customer and vehicle on `today`."""

    today: date
    consents: frozenset[str]  # purposes granted now
    last_service_on: date | None  # the vehicle's last service visit
    household_marketing_on: tuple[date, ...]  # marketing contacts of anyone in the household
    last_contact_on: date | None  # the last contact with the customer about this vehicle


@dataclass(frozen=True, slots=True)
class Verdict:
    rule: str
    passed: bool
    explanation: str


def evaluate(purpose: str, facts: Facts, policy: Policy) -> list[Verdict]:
    """Every rule that applies to the purpose, passed or not."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; one of {', '.join(PURPOSES)}")
    verdicts = []
    if purpose == "safety":
        verdicts.append(Verdict("safety_always", True, "safety-critical: contact pressure does not hold it back"))
        return verdicts
    if purpose == "service":
        granted = "maintenance_alerts" in facts.consents
        verdicts.append(
            Verdict(
                "maintenance_consent",
                granted,
                "the customer allows maintenance alerts from vehicle data"
                if granted
                else "no consent to maintenance alerts from vehicle data",
            )
        )
        verdicts.append(_after_service(facts, policy))
    if purpose == "marketing":
        granted = "marketing" in facts.consents
        verdicts.append(
            Verdict("marketing_consent", granted, "marketing allowed" if granted else "no consent to marketing")
        )
        verdicts.append(_marketing_pressure(facts, policy))
    verdicts.append(_repeat(facts, policy))
    return verdicts


def allowed(verdicts: list[Verdict]) -> bool:
    return any(v.rule == "safety_always" for v in verdicts) or all(v.passed for v in verdicts)


def _after_service(facts: Facts, policy: Policy) -> Verdict:
    last = facts.last_service_on
    quiet = policy.quiet_after_service_days
    if last is not None and (facts.today - last).days < quiet:
        free_on = last + timedelta(days=quiet)
        return Verdict(
            "quiet_after_service", False, f"serviced on {last}: no service offer before {free_on} ({quiet} days)"
        )
    return Verdict(
        "quiet_after_service",
        True,
        f"last service on {last}, more than {quiet} days ago" if last else "no service visit on record",
    )


def _marketing_pressure(facts: Facts, policy: Policy) -> Verdict:
    since = facts.today - timedelta(days=policy.marketing_window_days)
    recent = sorted(d for d in facts.household_marketing_on if d > since)
    if len(recent) >= policy.marketing_max:
        free_on = recent[-policy.marketing_max] + timedelta(days=policy.marketing_window_days)
        return Verdict(
            "marketing_per_quarter",
            False,
            f"the household had {len(recent)} marketing contact(s) since {since} (last on {recent[-1]});"
            f" at most {policy.marketing_max} per {policy.marketing_window_days} days: next from {free_on}",
        )
    return Verdict(
        "marketing_per_quarter",
        True,
        f"{len(recent)} marketing contact(s) in the household in the last {policy.marketing_window_days} days"
        f" (at most {policy.marketing_max})",
    )


def _repeat(facts: Facts, policy: Policy) -> Verdict:
    last = facts.last_contact_on
    if last is not None and (facts.today - last).days < policy.repeat_after_days:
        return Verdict(
            "not_again_so_soon",
            False,
            f"contacted about this vehicle on {last}; again from {last + timedelta(days=policy.repeat_after_days)}",
        )
    return Verdict(
        "not_again_so_soon",
        True,
        f"last contact about this vehicle on {last}" if last else "not contacted about this vehicle before",
    )
