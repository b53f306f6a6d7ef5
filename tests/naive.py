"""Slow, obvious reference implementations of the rule kernels, one vehicle at a time.

Each takes samples (slot, ts, value) in any order and returns events
(slot, kind, ts, since, value, detail) in the kernels' order: by slot, then as they happen.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from rules.kernels.dtc import DtcParams
from rules.kernels.episodes import EpisodeParams
from rules.kernels.rate import HOUR_MS, RateParams
from rules.kernels.service import DAY_MS, ServiceParams
from rules.kernels.stale import StaleParams
from rules.kernels.threshold import ThresholdParams
from rules.kernels.trend import TrendParams
from rules.kernels.zscore import ZScoreParams
from telemetry import dtc
from telemetry.vocabulary import DAYS_PER_MONTH

NAN = math.nan
Event = tuple[int, int, int, int, float, float]


def per_vehicle(samples: list[tuple[int, int, float]]) -> Iterator[tuple[int, list[tuple[int, float]]]]:
    """Each vehicle's samples in time order (stable: equal times keep their order), the late and
    duplicate ones already dropped, as every kernel does."""
    by_slot: dict[int, list[tuple[int, float]]] = {}
    for slot, ts, value in sorted(samples, key=lambda s: (s[0], s[1])):
        mine = by_slot.setdefault(slot, [])
        if not mine or ts > mine[-1][0]:
            mine.append((ts, value))
    yield from sorted(by_slot.items())


def threshold_reference(samples: list[tuple[int, int, float]], p: ThresholdParams) -> list[Event]:
    events: list[Event] = []

    def worse(a: float, b: float) -> bool:
        return a > b if p.above else a < b

    for slot, series in per_vehicle(samples):
        last = None
        since = clear_since = None
        active = False
        peak = NAN
        for ts, v in series:
            if last is not None and ts - last > p.max_gap_ms:
                since = clear_since = None
            last = ts
            if math.isnan(v):
                continue
            beyond = worse(v, p.on_value)
            safe = v < p.off_value if p.above else v > p.off_value
            if not active:
                if not beyond:
                    since = None
                    continue
                if since is None:
                    since, peak = ts, v
                elif worse(v, peak):
                    peak = v
                if ts - since >= p.on_ms:
                    active, clear_since = True, None
                    events.append((slot, 1, ts, since, peak, NAN))
            else:
                if worse(v, peak):
                    peak = v
                if not safe:
                    clear_since = None
                    continue
                if clear_since is None:
                    clear_since = ts
                if ts - clear_since >= p.off_ms:
                    events.append((slot, 2, ts, clear_since, peak, NAN))
                    active, since, clear_since = False, None, None
    return events


def rate_reference(samples: list[tuple[int, int, float]], p: RateParams) -> list[Event]:
    events: list[Event] = []
    for slot, series in per_vehicle(samples):
        last = None
        anchor: tuple[int, float] | None = None
        active, since, worst = False, -1, NAN
        for ts, v in series:
            if last is not None and ts - last > p.max_gap_ms:
                anchor = None
            last = ts
            if math.isnan(v):
                continue
            if anchor is None:
                anchor = (ts, v)
                continue
            if ts - anchor[0] < p.window_ms:
                continue
            rate = (v - anchor[1]) * HOUR_MS / (ts - anchor[0])
            beyond = rate < -p.per_hour if p.falling else rate > p.per_hour
            if beyond and not active:
                active, since, worst = True, anchor[0], rate
                events.append((slot, 1, ts, since, rate, v))
            elif beyond:
                worst = min(worst, rate) if p.falling else max(worst, rate)
            elif active:
                active = False
                events.append((slot, 2, ts, since, worst, v))
            anchor = (ts, v)
    return events


def dtc_reference(reports: list[tuple[int, int, list[str]]], p: DtcParams, encode: object) -> list[Event]:
    """reports: (slot, ts, codes); the first report of a (slot, ts) counts."""
    events: list[Event] = []
    by_slot: dict[int, list[tuple[int, list[str]]]] = {}
    for slot, ts, codes in sorted(reports, key=lambda r: (r[0], r[1])):
        mine = by_slot.setdefault(slot, [])
        if not mine or ts > mine[-1][0]:
            mine.append((ts, codes))
    for slot, series in sorted(by_slot.items()):
        active, since, absent = False, -1, 0
        for ts, codes in series:
            if any(encode(c) == p.code for c in codes):  # type: ignore[operator]
                absent = 0
                if not active:
                    active, since = True, ts
                    events.append((slot, 1, ts, ts, p.code, NAN))
            elif active:
                absent += 1
                if absent >= p.clear_after:
                    active, absent = False, 0
                    events.append((slot, 2, ts, since, p.code, NAN))
    return events


def zscore_reference(samples: list[tuple[int, int, float]], p: ZScoreParams) -> list[Event]:
    events: list[Event] = []
    for slot, series in per_vehicle(samples):
        last = None
        n, mean, var = 0, 0.0, 0.0
        run, run_since, active, since, peak = 0, -1, False, -1, NAN
        for ts, v in series:
            if last is not None and ts - last > p.max_gap_ms:
                run = 0
            last = ts
            if math.isnan(v):
                continue
            anomalous = False
            if n >= p.warmup:
                z = (v - mean) / max(math.sqrt(var), p.min_sd)
                z = abs(z) if p.direction == 0 else z * p.direction
                anomalous = z > p.z_on
                if not active:
                    if anomalous:
                        if run == 0:
                            run_since, peak = ts, z
                        else:
                            peak = max(peak, z)
                        run += 1
                        if run >= p.min_run:
                            active, since, run = True, run_since, 0
                            events.append((slot, 1, ts, since, peak, mean))
                    else:
                        run = 0
                else:
                    peak = max(peak, z)
                    if z < p.z_off:
                        if run == 0:
                            run_since = ts
                        run += 1
                        if run >= p.clear_run:
                            active, run = False, 0
                            events.append((slot, 2, ts, run_since, peak, mean))
                    else:
                        run = 0
            if not anomalous:
                if n == 0:
                    mean, var = v, 0.0
                else:
                    diff = v - mean
                    incr = p.alpha * diff
                    mean += incr
                    var = (1.0 - p.alpha) * (var + diff * incr)
                n += 1
    return events


def trend_reference(samples: list[tuple[int, int, float]], p: TrendParams) -> list[Event]:
    events: list[Event] = []
    for slot, series in per_vehicle(samples):
        points: list[tuple[float, float]] = []
        bucket: int | None = None
        members: list[tuple[int, float]] = []
        active, since = False, -1
        for ts, v in series:
            if math.isnan(v):
                continue
            b = ts // p.step_ms
            if b != bucket and members:
                assert bucket is not None
                t_mean = bucket * p.step_ms + sum(t - bucket * p.step_ms for t, _ in members) / len(members)
                points = [*points, (t_mean, sum(x for _, x in members) / len(members))][-p.window :]
                members = []
                if len(points) >= p.min_points:
                    slopes = [(vb - va) / (tb - ta) for i, (ta, va) in enumerate(points) for tb, vb in points[i + 1 :]]
                    slope = statistics.median(slopes)
                    intercept = statistics.median([x - slope * t for t, x in points])
                    t_now = points[-1][0]
                    level = intercept + slope * t_now
                    if (p.falling and level <= p.limit) or (not p.falling and level >= p.limit):
                        when = t_now
                    elif (p.falling and slope >= 0) or (not p.falling and slope <= 0):
                        when = math.inf
                    else:
                        when = t_now + (p.limit - level) / slope
                    if not active and when - t_now <= p.horizon_ms:
                        active, since = True, ts
                        events.append((slot, 1, ts, ts, level, when))
                    elif active and when - t_now > p.clear_horizon_ms:
                        active = False
                        events.append((slot, 2, ts, since, level, when))
            bucket = b
            members.append((ts, v))
    return events


Step = tuple[str, object]  # ("samples", [(slot, ts, value), ...]) or ("tick", now_ms)


def stale_reference(steps: list[Step], after_ms: int) -> list[Event]:
    events: list[Event] = []
    last: dict[int, int] = {}
    active: dict[int, int] = {}  # slot -> since
    for step, arg in steps:
        if step == "tick":
            now = int(arg)  # type: ignore[call-overload]
            for slot in sorted(last):
                if slot not in active and now - last[slot] > after_ms:
                    active[slot] = last[slot]
                    events.append((slot, 1, now, last[slot], float(now - last[slot]), NAN))
            continue
        new = [(slot, ts) for slot, ts, _ in arg if ts > last.get(slot, -1)]  # type: ignore[attr-defined]
        for slot in sorted({slot for slot, _ in new}):
            times = [ts for s, ts in new if s == slot]
            if slot in active:
                events.append((slot, 2, min(times), active.pop(slot), float(min(times) - last[slot]), NAN))
            last[slot] = max(times)
    return events


def service_reference(
    steps: list[Step],
    plans: dict[int, tuple[float, float]],
    bases: dict[int, tuple[int, float]],
    lead: tuple[float, int],
) -> list[Event]:
    """plans: slot -> (km, months); bases: slot -> (epoch ms, km); lead: (km, ms). Odometer
    samples are in metres; the newest per vehicle and step counts."""
    events: list[Event] = []
    odo: dict[int, tuple[int, float]] = {}
    active: set[int] = set()

    def check(slot: int, now: int) -> None:
        if slot not in bases:
            return
        base_ts, base_km = bases[slot]
        plan_km, plan_months = plans.get(slot, (NAN, NAN))
        km = odo[slot][1] / 1000.0 - base_km if slot in odo else NAN
        elapsed = float(now - base_ts)
        due = km >= plan_km - lead[0] or elapsed >= plan_months * DAYS_PER_MONTH * DAY_MS - lead[1]
        if due and slot not in active:
            active.add(slot)
            events.append((slot, 1, now, base_ts, elapsed / DAY_MS, km))
        elif not due and slot in active:
            active.discard(slot)
            events.append((slot, 2, now, base_ts, elapsed / DAY_MS, km))

    for step, arg in steps:
        if step == "tick":
            for slot in sorted(bases):
                check(slot, int(arg))  # type: ignore[call-overload]
            continue
        newest: dict[int, tuple[int, float]] = {}
        for slot, ts, metres in sorted(arg, key=lambda r: (r[0], r[1])):  # type: ignore[arg-type]
            if ts > odo.get(slot, (-1, NAN))[0] and not math.isnan(metres):
                newest[slot] = (ts, metres)
        for slot in sorted(newest):
            odo[slot] = newest[slot]
            check(slot, newest[slot][0])
    return events


def episodes_reference(samples: list[tuple[int, int, float]], p: EpisodeParams) -> list[Event]:
    """Episodes: stretches beyond the value lasting `min_ms`, counted once each by their start;
    fire while the last `count` of them started within the window."""
    events: list[Event] = []
    for slot, series in per_vehicle(samples):
        last = since = None
        counted = active = False
        starts: list[int] = []
        for ts, v in series:
            if last is not None and ts - last > p.max_gap_ms:
                since, counted = None, False
            last = ts
            if math.isnan(v):
                continue
            if (v > p.on_value) if p.above else (v < p.on_value):
                if since is None:
                    since, counted = ts, False
                if not counted and ts - since >= p.min_ms:
                    counted = True
                    starts.append(since)
            else:
                since, counted = None, False
            if len(starts) >= p.count:
                oldest = starts[-p.count]
                within = ts - oldest <= p.window_ms
                if within and not active:
                    active = True
                    events.append((slot, 1, ts, oldest, float(p.count), NAN))
                elif not within and active:
                    active = False
                    events.append((slot, 2, ts, oldest, float(p.count), NAN))
    return events


Samples = list[tuple[int, int, float]]


def _dtc_from_samples(samples: Samples, p: DtcParams) -> list[Event]:
    """Samples of the DTC signal (one encoded code each, NaN for none) as per-message reports."""
    reports: dict[tuple[int, int], list[str]] = defaultdict(list)
    for slot, ts, value in samples:
        reports[(slot, ts)] += [] if math.isnan(value) else [dtc.decode(value)]
    return dtc_reference([(s, t, codes) for (s, t), codes in reports.items()], p, dtc.encode)


def _stale_from_samples(samples: Samples, p: StaleParams) -> list[Event]:
    return stale_reference([("samples", samples)], p.after_ms)


def _service_from_samples(samples: Samples, p: ServiceParams) -> list[Event]:
    return service_reference([("samples", samples)], {}, {}, (p.lead_km, p.lead_ms))


# Every kernel's parameters -> its reference over (slot, ts, value) samples. Looked up by type, so a
# new kind without a reference fails `reference_for` (and tests/test_kernels.py says which).
REFERENCES: dict[type, Callable[[Samples, Any], list[Event]]] = {
    ThresholdParams: threshold_reference,
    RateParams: rate_reference,
    ZScoreParams: zscore_reference,
    TrendParams: trend_reference,
    EpisodeParams: episodes_reference,
    DtcParams: _dtc_from_samples,
    StaleParams: _stale_from_samples,
    ServiceParams: _service_from_samples,
}


def reference_for(params: object) -> Callable[[Samples, Any], list[Event]]:
    try:
        return REFERENCES[type(params)]
    except KeyError:
        raise TypeError(f"no reference for {type(params).__name__}: add it to tests/naive.py REFERENCES") from None
