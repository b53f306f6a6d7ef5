"""OBD-II trouble codes as numbers, so that rule kernels can work on them in numpy arrays.

"P0217" -> 0 * 65536 + 0x0217; the letter (P, C, B, U) selects the 65536-wide block.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from telemetry.vocabulary import System

LETTERS = "PCBU"
CODE_PATTERN = re.compile(r"^[PCBU][0-3][0-9A-F]{3}$")  # SAE J2012: two bytes, first digit 0-3


def encode(code: str) -> float:
    return float(LETTERS.index(code[0]) * 65536 + int(code[1:], 16))


def decode(value: float) -> str:
    n = int(value)
    return f"{LETTERS[n // 65536]}{n % 65536:04X}"


@dataclass(frozen=True, slots=True)
class CodeInfo:
    code: str
    severity: str
    description: str
    system: str
    component: str = ""


# SAE J2012 groups of the generic powertrain codes (P0xxx, P2xxx) by their third character.
_POWERTRAIN_GROUPS = {
    **dict.fromkeys("0123", System.ENGINE),  # fuel and air metering, injectors, ignition, misfire
    "4": System.EMISSIONS,
    "5": System.ENGINE,  # vehicle speed, idle control, auxiliary inputs
    "6": System.DIAGNOSTICS,  # computer and output circuits
    **dict.fromkeys("789", System.TRANSMISSION),
    **dict.fromkeys("ABC", System.TRACTION_BATTERY),  # hybrid and electric propulsion
}


def system_by_structure(code: str) -> System:
    """The system a code's structure names: the letter, then for generic powertrain codes the group."""
    if code[0] != "P":
        return {"B": System.BODY, "C": System.CHASSIS, "U": System.NETWORK}[code[0]]
    if code[1] in "13":  # manufacturer-specific: nothing more is known from the code alone
        return System.DIAGNOSTICS
    return _POWERTRAIN_GROUPS[code[2]]


@lru_cache(maxsize=1)
def obd2_table() -> dict[str, CodeInfo]:
    """The packaged table of standard OBD-II codes: severity and readable description."""
    text = resources.files("telemetry.catalog").joinpath("obd2.toml").read_text("utf-8")
    return {
        code: CodeInfo(
            code,
            entry["severity"],
            entry["description"],
            System(entry.get("system", system_by_structure(code))),
            entry.get("component", ""),
        )
        for code, entry in tomllib.loads(text)["codes"].items()
    }


def describe(code: str) -> CodeInfo:
    """What a code means; a code outside the table is a warning described by its code alone."""
    return obd2_table().get(code) or CodeInfo(
        code, "warning", f"Diagnostic trouble code {code}", system_by_structure(code)
    )


def is_valid(code: object) -> bool:
    return isinstance(code, str) and CODE_PATTERN.match(code) is not None
