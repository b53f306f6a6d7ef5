"""An Arrow telemetry batch kept as columns: the ingest's fast path for vehicles that buffer and
send hundreds or thousands of values a message.

A plain batch (times within the window, every path a known numeric or boolean signal, values of
their signal's kind, no path twice at one time) goes to the builder as arrays and meets the same
range checks as any value. Anything else is turned into moments, the JSON message's form, and
takes the path that gives each problem its precise rejection; so both paths store and reject
exactly the same values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from telemetry.catalog import Resolution


@dataclass(frozen=True, slots=True)
class Plain:
    """Per value: catalog signal id, unit scale and offset, and the path as sent."""

    signal: np.ndarray  # int16
    scale: np.ndarray  # float64
    offset: np.ndarray  # float64
    sent: np.ndarray  # object (str)


@dataclass(frozen=True, slots=True)
class Columns:
    ts: np.ndarray  # int64 epoch ms
    path: np.ndarray  # int64, index into `paths`
    paths: list[str]
    value: np.ndarray  # float64
    booleans: bool  # the value column was an Arrow bool column
    zero_one: np.ndarray  # per path: a boolean signal's path, whose 0 and 1 read as false and true
    moments: Callable[[], list[tuple[object, dict[str, object]]]]  # the JSON form, for the other path

    def plain(self, resolver: Mapping[str, Resolution], oldest: int, newest: int) -> Plain | None:
        """The values as arrays when the batch is plain (see the module); None otherwise."""
        if not len(self.ts) or int(self.ts.min()) < oldest or int(self.ts.max()) > newest:
            return None
        found = [resolver.get(p) for p in self.paths]
        resolved = [r for r in found if r is not None and r.signal.kind in ("number", "boolean")]
        if len(resolved) < len(self.paths):
            return None
        boolean = np.array([r.signal.kind == "boolean" for r in resolved])
        if self.booleans:
            if not boolean[self.path].all():  # true/false for a numeric signal: the wrong type
                return None
        elif boolean.any():
            taken = boolean[self.path]
            if not (self.zero_one[self.path][taken].all() and np.isin(self.value[taken], (0.0, 1.0)).all()):
                return None
        keys = (self.ts - self.ts.min()) * len(self.paths) + self.path
        ascending = bool((keys[1:] > keys[:-1]).all())  # moment by moment, paths in one order: no sort
        if not ascending and len(np.unique(keys)) < len(keys):  # a path twice at one time: the later counts
            return None
        return Plain(
            np.array([r.signal.id for r in resolved], dtype=np.int16)[self.path],
            np.array([r.scale for r in resolved], dtype=np.float64)[self.path],
            np.array([r.offset for r in resolved], dtype=np.float64)[self.path],
            np.array(self.paths, dtype=object)[self.path],
        )
