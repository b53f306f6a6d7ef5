"""`--smoke` for every benchmark: the same code path at tiny sizes, in seconds. The test suite runs
each benchmark this way (tests/test_bench_smoke.py), so a change that breaks one fails CI; the full
runs stay manual."""

from __future__ import annotations

import argparse
import os


def parse(parser: argparse.ArgumentParser, **small: object) -> argparse.Namespace:
    """Parse the arguments; with `--smoke`, the given options take their small values."""
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds: what CI runs")
    args = parser.parse_args()
    if args.smoke:
        for name, value in small.items():
            setattr(args, name, value)
    return args


def schema(default: str) -> str:
    """The benchmark's schema: BENCH_SCHEMA when set (each smoke run in CI uses its own)."""
    return os.environ.get("BENCH_SCHEMA", default)
