"""Compound conditions: `and`, `or`, `not` and parentheses over named conditions.

Parsed with Python's own expression grammar and checked node by node, so a rule file can never
run code: only names, the three operators and parentheses are accepted.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

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


def _evaluate(node: ast.expr, active: Mapping[str, bool]) -> bool:
    if isinstance(node, ast.BoolOp):
        results = (_evaluate(v, active) for v in node.values)
        return all(results) if isinstance(node.op, ast.And) else any(results)
    if isinstance(node, ast.UnaryOp):
        return not _evaluate(node.operand, active)
    assert isinstance(node, ast.Name)
    return active[node.id]
