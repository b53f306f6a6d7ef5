"""Trouble codes outside the packaged table: every code a car reports reaches the advisor.

The library's DTC rule (`codes = "all"`) is one rule per code of `telemetry/catalog/obd2.toml`.
A code outside that table (P0135, a manufacturer's P1xxx, any B, C or U code) gets a rule of its
own the first time a worker meets it, made like the library's: the same id stem and clearing
(`clear_after`), a warning, and a description from the code's SAE J2012 structure that says the
code is not in the table. Workers also recreate the rules of such codes whose alerts are still
being worked when they start, so that those alerts can clear.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np

from rules.kernels.dtc import DtcParams
from rules.model import DTC_SIGNAL, Rule
from telemetry import dtc
from telemetry.catalog import Catalog
from telemetry.rulebatch import RuleBatch


def covered(rules: list[Rule]) -> set[str]:
    """The codes some DTC rule watches."""
    return {c.code.code for r in rules if r.kind == "dtc" for c in r.conditions if c.code is not None}


def reported(batch: RuleBatch, catalog: Catalog) -> set[str]:
    """The valid codes a batch carries."""
    values = batch.value[batch.signal == catalog[DTC_SIGNAL].id]
    codes = {dtc.decode(v) for v in np.unique(values[~np.isnan(values)]).tolist()}
    return {c for c in codes if dtc.is_valid(c)}


def _template(rules: list[Rule]) -> Rule | None:
    """The library's DTC rule, whose ids are `{stem}.{code}`."""
    return next((r for r in rules if r.kind == "dtc"), None)


def rules_for(rules: list[Rule], codes: Iterable[str]) -> list[Rule]:
    """A rule for each code no rule watches yet, made like the library's DTC rule; none without one."""
    template = _template(rules)
    if template is None:
        return []
    stem = template.id.rsplit(".", 1)[0]
    main = template.conditions[0]
    assert isinstance(main.kernel, DtcParams)
    made = []
    for code in sorted(set(codes) - covered(rules)):
        info = dtc.describe(code)
        condition = dataclasses.replace(main, kernel=DtcParams(dtc.encode(code), main.kernel.clear_after), code=info)
        made.append(
            dataclasses.replace(
                template,
                id=f"{stem}.{code}",
                title=f"{code}: {info.description}",
                severity=info.severity,
                system=info.system,
                component=info.component,
                conditions=(condition,),
            )
        )
    return made


def stem_of(rules: list[Rule]) -> str | None:
    """The id stem of the library's DTC rules ("dtc"), whose alerts name their code after a dot."""
    template = _template(rules)
    return None if template is None else template.id.rsplit(".", 1)[0]
