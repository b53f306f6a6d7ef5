"""Vehicle identification numbers (ISO 3779)."""

from __future__ import annotations

import re

VIN_PATTERN = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
_TRANSLIT = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def is_valid_vin(vin: str) -> bool:
    """17 characters of the VIN alphabet (no I, O or Q)."""
    return bool(VIN_PATTERN.match(vin))


def check_digit(vin: str) -> str:
    """The North American check digit (position 9) the VIN should carry."""
    total = sum(_TRANSLIT[c] * w for c, w in zip(vin, _WEIGHTS, strict=True))
    rem = total % 11
    return "X" if rem == 10 else str(rem)


def with_check_digit(vin: str) -> str:
    return vin[:8] + check_digit(vin) + vin[9:]


def uses_check_digit(vin: str) -> bool:
    """North America (world manufacturer identifiers 1-5) and China (L) make position 9 a check
    digit; elsewhere it is the manufacturer's to use."""
    return vin[:1] in "12345L"


def vin_problem(vin: str) -> str | None:
    """Why a VIN cannot be registered, or None."""
    if not is_valid_vin(vin):
        return f"VIN {vin!r} is not 17 characters of the VIN alphabet (digits and A-Z without I, O, Q)"
    if uses_check_digit(vin) and vin[8] != check_digit(vin):
        return f"VIN {vin}: check digit (position 9) is {vin[8]}, should be {check_digit(vin)}"
    return None
