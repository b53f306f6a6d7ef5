"""OBD-II trouble codes as numbers, so that rule kernels can work on them in numpy arrays.

"P0217" -> 0 * 65536 + 0x0217; the letter (P, C, B, U) selects the 65536-wide block.
"""

from __future__ import annotations

LETTERS = "PCBU"


def encode(code: str) -> float:
    return float(LETTERS.index(code[0]) * 65536 + int(code[1:], 16))


def decode(value: float) -> str:
    n = int(value)
    return f"{LETTERS[n // 65536]}{n % 65536:04X}"
