"""A rule's own per-vehicle state and the tables its fold reads: the two-valued truth table of
its expression and, for compound rules, the three-valued (Kleene) one."""

from __future__ import annotations

import numpy as np

from rules.kernels.base import Spec
from rules.model import Rule

RULE_STATE: Spec = {
    "mask": (np.int64, 0, ()),  # bit i: condition i is active
    "active": (np.int8, 0, ()),
    "level": (np.int8, 0, ()),  # 0: the rule's severity, 1: hard level or escalated
    "since": (np.int64, -1, ()),
}


def rule_state_spec(rule: Rule) -> Spec:
    """A rule's own per-vehicle state; a compound rule also keeps when each condition was sampled."""
    if rule.kind != "compound":
        return RULE_STATE
    n_main = len(rule.conditions) - (rule.hard is not None)
    return {**RULE_STATE, "seen": (np.int64, -1, (n_main,))}


def kleene_table(rule: Rule) -> np.ndarray:
    names = [c.name for c in rule.conditions[: len(rule.conditions) - (rule.hard is not None)]]
    return rule.expression.kleene_table(names)


def clock_conditions(rule: Rule) -> int:
    """Conditions without a signal (silence, the calendar) are always known."""
    return sum(1 << i for i, c in enumerate(rule.conditions) if c.signal is None)


def truth_table(rule: Rule) -> np.ndarray:
    """The rule's expression for every combination of its main conditions (bit i: condition i)."""
    names = [c.name for c in rule.conditions[: len(rule.conditions) - (rule.hard is not None)]]
    return np.array(
        [rule.expression({n: bool(m >> i & 1) for i, n in enumerate(names)}) for m in range(1 << len(names))],
        dtype=np.bool_,
    )
