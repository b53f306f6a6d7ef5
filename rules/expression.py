"""Compound conditions: `and`, `or`, `not` and parentheses over named conditions.

Parsed with Python's own expression grammar and checked node by node, so a rule file can never
run code: only names, the three operators and parentheses are accepted.

Three-valued (Kleene) logic: a condition over a signal the vehicle has not sent is unknown
(None), `not unknown` is unknown, `false and unknown` is false, `true or unknown` is true. Only a
definite true fires a rule.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

import numpy as np

from telemetry.errors import RuleDefinitionError


class Expression:
    def __init__(self, text: str, known: set[str], where: str) -> None:
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise RuleDefinitionError(f"{where}: condition {text!r} does not parse: {exc.msg}") from exc
        self.text = text
        self.names: set[str] = set()
        self._check(tree.body, known, where)
        self._tree = tree.body

    def _check(self, node: ast.expr, known: set[str], where: str) -> None:
        if isinstance(node, ast.BoolOp):
            for value in node.values:
                self._check(value, known, where)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self._check(node.operand, known, where)
        elif isinstance(node, ast.Name):
            if node.id not in known:
                raise RuleDefinitionError(
                    f"{where}: condition {self.text!r} names {node.id!r}, which is not one of {sorted(known)}"
                )
            self.names.add(node.id)
        else:
            raise RuleDefinitionError(
                f"{where}: condition {self.text!r} may only combine names with and, or, not and parentheses"
            )

    def __call__(self, active: Mapping[str, bool]) -> bool:
        return _evaluate(self._tree, active)

    def kleene(self, values: Mapping[str, bool | None]) -> bool | None:
        """The expression when some conditions are unknown (None)."""
        return _kleene(self._tree, values)

    def kleene_table(self, names: list[str]) -> np.ndarray:
        """The expression for every state of `names`, vectorised: entry sum(d_i * 3**i) with
        d_i = 0 false, 1 unknown, 2 true; values in the same code. In that order Kleene's `and`
        is min, `or` max and `not` 2 - x (`kleene` is the reference it is tested against)."""
        index = np.arange(3 ** len(names))
        digits = {n: (index // 3**i) % 3 for i, n in enumerate(names)}
        return _ordered(self._tree, digits).astype(np.int8)


def _evaluate(node: ast.expr, active: Mapping[str, bool]) -> bool:
    if isinstance(node, ast.BoolOp):
        results = (_evaluate(v, active) for v in node.values)
        return all(results) if isinstance(node.op, ast.And) else any(results)
    if isinstance(node, ast.UnaryOp):
        return not _evaluate(node.operand, active)
    assert isinstance(node, ast.Name)
    return active[node.id]


def _kleene(node: ast.expr, values: Mapping[str, bool | None]) -> bool | None:
    if isinstance(node, ast.BoolOp):
        results = [_kleene(v, values) for v in node.values]
        decisive = isinstance(node.op, ast.Or)  # true decides an `or`, false an `and`
        if decisive in results:
            return decisive
        return None if None in results else not decisive
    if isinstance(node, ast.UnaryOp):
        inner = _kleene(node.operand, values)
        return None if inner is None else not inner
    assert isinstance(node, ast.Name)
    return values[node.id]


def _ordered(node: ast.expr, digits: Mapping[str, np.ndarray]) -> np.ndarray:
    if isinstance(node, ast.BoolOp):
        parts = [_ordered(v, digits) for v in node.values]
        combine = np.minimum if isinstance(node.op, ast.And) else np.maximum
        out = parts[0]
        for part in parts[1:]:
            out = combine(out, part)
        return out
    if isinstance(node, ast.UnaryOp):
        return 2 - _ordered(node.operand, digits)
    assert isinstance(node, ast.Name)
    return digits[node.id]
