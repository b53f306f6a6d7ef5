"""What the engine derives from its rules once: a rule's own per-vehicle state, the tables its
fold reads (the two-valued truth table of its expression and, for compound rules, the
three-valued one), which conditions take the same samples, and which signals anyone reads."""

from __future__ import annotations

import numpy as np

from rules.kernels.base import Spec
from rules.model import Condition, Residual, Rule

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


def residual_key(residual: Residual) -> tuple[object, ...]:
    """Residual models with the same inputs and coefficients are one model (rules on a signal
    often share theirs): its per-slot coefficients are kept, and its residuals computed, once."""
    coefficients = tuple(sorted((model, tuple(c)) for model, c in residual.coefficients.items()))
    return tuple(s.id for s in residual.inputs), coefficients


def selection_key(rule: Rule, c: Condition) -> tuple[object, ...]:
    """What decides the samples a condition takes from a batch (`RuleEngine._rows`)."""
    gate = (c.gate.signal.id, c.gate.above, c.gate.below) if c.gate is not None else None
    residual = residual_key(c.residual) if c.residual is not None else None
    return c.signal.id if c.signal is not None else None, rule.scope, gate, residual


def signals_read(rules: list[Rule]) -> np.ndarray | None:
    """Per signal id, whether a rule reads it (a condition, gate, residual input or context);
    None when a condition takes every signal (silence)."""
    ids: set[int] = set()
    for rule in rules:
        ids.update(signal.id for _, signal in rule.context)
        for c in rule.conditions:
            if c.signal is None:
                return None
            ids.add(c.signal.id)
            if c.gate is not None:
                ids.add(c.gate.signal.id)
            if c.residual is not None:
                ids.update(signal.id for signal in c.residual.inputs)
    reads = np.zeros(max(ids, default=-1) + 1, dtype=bool)
    reads[list(ids)] = True
    return reads
