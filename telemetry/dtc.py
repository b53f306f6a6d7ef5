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
    system: System
    component: str = ""
    in_table: bool = True  # False: described from the code's structure alone


_LETTERS = {"P": "powertrain", "C": "chassis", "B": "body", "U": "network"}
_POWERTRAIN_SUBSYSTEMS = {
    **dict.fromkeys("01", "fuel and air metering"),
    "2": "fuel and air metering (injector circuit)",
    "3": "ignition system or misfire",
    "4": "auxiliary emission controls",
    "5": "vehicle speed, idle control and auxiliary inputs",
    "6": "computer and output circuits",
    **dict.fromkeys("789", "transmission"),
    **dict.fromkeys("ABC", "hybrid or electric propulsion"),
}


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
    if code[1] == "2" and code[2] in "ABC":  # P2Axx: fuel and air metering and emission controls
        return System.EMISSIONS
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


def structure(code: str) -> str:
    """What SAE J2012 says of a code from its characters: system letter, generic or manufacturer
    specific, and for generic powertrain codes the subsystem group."""
    generic = code[1] in "02" or (code[0] == "U" and code[1] == "3")
    origin = "generic" if generic else "manufacturer-specific"
    subsystem = _POWERTRAIN_SUBSYSTEMS[code[2]]
    if code[1] == "2" and code[2] in "ABC":
        subsystem = "fuel and air metering and auxiliary emission controls"
    group = f", {subsystem}" if code[0] == "P" and generic else ""
    return f"{origin} {_LETTERS[code[0]]} code{group}"


def describe(code: str) -> CodeInfo:
    """What a code means. A code outside the table is a warning, described from its structure and
    marked as such (`in_table` False)."""
    known = obd2_table().get(code)
    if known is not None:
        return known
    description = f"{structure(code)} (not in the server's code table: ask the manufacturer's documentation)"
    return CodeInfo(code, "warning", description[0].upper() + description[1:], system_by_structure(code), "", False)


def is_valid(code: object) -> bool:
    return isinstance(code, str) and CODE_PATTERN.match(code) is not None
