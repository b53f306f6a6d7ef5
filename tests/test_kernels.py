"""Every numba kernel agrees with its pure-Python reference on random streams: out-of-order and
duplicate samples, NaN gaps, and batch boundaries at every position. Plus the behaviour each
kind promises, on streams a person can read."""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rules.kernels
from rules.kernels.base import CLEAR, FIRE
from rules.kernels.dtc import DtcParams
from rules.kernels.episodes import EpisodeParams
from rules.kernels.rate import RateParams
from rules.kernels.service import DAY_MS, ServiceParams
from rules.kernels.stale import StaleParams
from rules.kernels.threshold import ThresholdParams
from rules.kernels.trend import TrendParams
from rules.kernels.zscore import ZScoreParams
from telemetry import dtc
from tests import naive
from tests.kernel_harness import normalised, run_batches, run_steps
from tests.naive import (
    dtc_reference,
    episodes_reference,
    rate_reference,
    service_reference,
    stale_reference,
    trend_reference,
    zscore_reference,
)

MIN = 60_000
HOUR = 3_600_000
cuts = st.lists(st.integers(0, 200), max_size=5)


def stream(values: st.SearchStrategy[float], *, step_ms: int, max_t: int, size: int = 150) -> st.SearchStrategy:
    """Samples of up to 3 vehicles in time order, several sharing a time, then some of them again
    at the end: a late redelivery, which every kernel must skip. (A vehicle's sample is one per
    time, as storage keeps it; `run_batches` shuffles each batch, so the order within a batch
    is arbitrary.)"""
    sample = st.tuples(st.integers(0, 2), st.integers(0, max_t).map(lambda t: t * step_ms), values)

    def shape(xs: list[tuple], replayed: list[int]) -> list[tuple]:
        unique = list({(slot, ts): (slot, ts, v) for slot, ts, v in reversed(xs)}.values())
        ordered = sorted(unique, key=lambda s: s[1])
        return ordered + [ordered[i % len(ordered)] for i in replayed] if ordered else []

    return st.builds(shape, st.lists(sample, max_size=size), st.lists(st.integers(0, 1000), max_size=5))


# --- episodes ----------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    samples=stream(st.one_of(st.floats(-10, 10), st.just(math.nan)), step_ms=MIN, max_t=300),
    cuts=cuts,
    above=st.booleans(),
    min_steps=st.integers(0, 3),
    count=st.integers(1, 5),
    window_steps=st.integers(1, 120),
    gap_steps=st.integers(1, 10),
    rnd=st.randoms(),
)
def test_episodes_kernel_matches_reference(
    samples, cuts, above, min_steps, count, window_steps, gap_steps, rnd
) -> None:
    params = EpisodeParams(0.0, above, min_steps * MIN, count, window_steps * MIN, gap_steps * MIN)
    assert normalised(run_batches(params, samples, cuts, rnd=rnd)) == normalised(episodes_reference(samples, params))


def test_eight_cold_starts_in_a_month_fire_and_a_mild_month_clears() -> None:
    """Engine starts (IsRunning 0 -> 1) with the cold gate already applied by the engine."""
    day = 24 * HOUR
    params = EpisodeParams(0.5, True, 0, 8, 30 * day, 2 * HOUR)
    samples = []
    for d in range(8):  # one start a day: off for an hour, then running for 30 minutes
        t0 = d * day
        samples += [(0, t0, 0.0), (0, t0 + MIN, 1.0), (0, t0 + 30 * MIN, 1.0), (0, t0 + 31 * MIN, 0.0)]
    fired = run_batches(params, samples, [])
    assert [(k, ts) for _, k, ts, *_ in fired] == [(FIRE, 7 * day + MIN)]
    assert fired[0][3] == MIN  # since: the oldest of the eight
    later = [(0, 40 * day, 0.0)]  # a month later, nothing since: the eight no longer fit
    assert [k for _, k, *_ in run_batches(params, samples + later, [])] == [FIRE, CLEAR]


def test_a_stretch_counts_once_and_only_when_it_lasts() -> None:
    params = EpisodeParams(70.0, True, 10 * MIN, 2, 24 * HOUR, 5 * MIN)
    towing = [(0, t * MIN, 80.0) for t in range(30)]  # 30 min at high load: one episode
    short = [(0, HOUR + t * MIN, 80.0) for t in range(5)]  # 5 min: not one
    assert run_batches(params, [*towing, (0, 40 * MIN, 20.0), *short], []) == []
    second = [(0, 2 * HOUR + t * MIN, 85.0) for t in range(12)]
    assert [k for _, k, *_ in run_batches(params, [*towing, (0, 40 * MIN, 20.0), *second], [])] == [FIRE]


# --- rate of change ----------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    samples=stream(st.one_of(st.floats(150, 300), st.just(math.nan)), step_ms=10 * MIN, max_t=200),
    cuts=cuts,
    falling=st.booleans(),
    window_steps=st.integers(1, 8),
    gap_steps=st.integers(1, 20),
    rnd=st.randoms(),
)
def test_rate_kernel_matches_reference(samples, cuts, falling, window_steps, gap_steps, rnd) -> None:
    params = RateParams(10.0, falling, window_steps * 10 * MIN, gap_steps * 10 * MIN)
    assert normalised(run_batches(params, samples, cuts, rnd=rnd)) == normalised(rate_reference(samples, params))


def test_a_slow_puncture_fires_and_a_refill_clears() -> None:
    params = RateParams(per_hour=10.0, falling=True, window_ms=HOUR, max_gap_ms=3 * HOUR)
    leak = [(0, t * 10 * MIN, 240.0 - t * 3.0) for t in range(13)]  # 18 kPa/h for 2 h
    steady = [(0, (13 + t) * 10 * MIN, 202.0) for t in range(12)]
    events = run_batches(params, leak + steady, [5])
    assert [e[1] for e in events] == [FIRE, CLEAR]
    assert events[0][2] == HOUR
    assert math.isclose(events[0][4], -18.0)


# --- DTC present -------------------------------------------------------------------------------
CODES = ["P0217", "P0128", "P0562"]


@settings(max_examples=200, deadline=None)
@given(
    reports=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 40).map(lambda t: t * 1000), st.lists(st.sampled_from(CODES))),
        max_size=60,
    ),
    cut_reports=st.lists(st.integers(0, 60), max_size=4),
    clear_after=st.integers(1, 3),
)
def test_dtc_kernel_matches_reference(reports, cut_reports, clear_after) -> None:
    unique = {(slot, ts): (slot, ts, codes) for slot, ts, codes in reversed(reports)}  # one report per time
    reports = sorted(unique.values(), key=lambda r: r[1])
    params = DtcParams(dtc.encode("P0217"), clear_after)
    rows, cuts_at = [], []
    for i, (slot, ts, codes) in enumerate(reports):  # a report's rows travel together, as in one message
        if i in cut_reports:
            cuts_at.append(len(rows))
        rows += [(slot, ts, dtc.encode(c)) for c in codes] or [(slot, ts, math.nan)]
    got = run_batches(params, rows, cuts_at)
    assert normalised(got) == normalised(dtc_reference(reports, params, dtc.encode))


def test_a_code_that_comes_back_within_clear_after_does_not_flap() -> None:
    params = DtcParams(dtc.encode("P0217"), clear_after=3)
    code, empty = dtc.encode("P0217"), math.nan
    rows = [(0, 0, code), (0, 1000, empty), (0, 2000, code), (0, 3000, empty), (0, 4000, empty), (0, 5000, empty)]
    assert [(e[1], e[2]) for e in run_batches(params, rows, [])] == [(FIRE, 0), (CLEAR, 5000)]


# --- EWMA z-score anomaly ------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    samples=stream(
        st.one_of(st.floats(88, 92), st.floats(60, 130), st.just(math.nan)), step_ms=1000, max_t=300, size=250
    ),
    cuts=cuts,
    direction=st.sampled_from([-1, 0, 1]),
    min_run=st.integers(1, 4),
    rnd=st.randoms(),
)
def test_zscore_kernel_matches_reference(samples, cuts, direction, min_run, rnd) -> None:
    params = ZScoreParams(0.05, 3.0, 1.5, 20, min_run, 2, 0.5, 30_000, direction)
    assert normalised(run_batches(params, samples, cuts, rnd=rnd)) == normalised(zscore_reference(samples, params))


def test_a_lone_spike_is_not_an_anomaly_but_a_sustained_shift_is() -> None:
    params = ZScoreParams(0.02, 4.0, 2.0, 50, 5, 5, 0.5, 60_000)
    rng = np.random.default_rng(7)
    normal = [(0, t * 1000, 90.0 + rng.normal(0, 1)) for t in range(200)]
    spike = [(0, 200_000, 140.0)]
    more = [(0, (201 + t) * 1000, 90.0 + rng.normal(0, 1)) for t in range(50)]
    assert run_batches(params, normal + spike + more, []) == []
    shifted = [(0, (251 + t) * 1000, 105.0 + rng.normal(0, 1)) for t in range(10)]
    events = run_batches(params, normal + spike + more + shifted, [120])
    assert [e[1] for e in events] == [FIRE]
    assert events[0][4] > 4.0


# --- trend to a limit (Theil-Sen) --------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(
    samples=stream(st.one_of(st.floats(0, 100), st.just(math.nan)), step_ms=6 * HOUR, max_t=120, size=200),
    cuts=cuts,
    falling=st.booleans(),
    window=st.integers(2, 10),
    rnd=st.randoms(),
)
def test_trend_kernel_matches_reference(samples, cuts, falling, window, rnd) -> None:
    params = TrendParams(
        limit=20.0 if falling else 80.0,
        falling=falling,
        step_ms=DAY_MS,
        window=window,
        min_points=min(3, window),
        horizon_ms=10 * DAY_MS,
        clear_horizon_ms=20 * DAY_MS,
    )
    assert normalised(run_batches(params, samples, cuts, rnd=rnd)) == normalised(trend_reference(samples, params))


def test_pad_wear_projects_the_day_the_limit_is_reached_despite_outliers() -> None:
    params = TrendParams(90.0, False, DAY_MS, 30, 7, 20 * DAY_MS, 40 * DAY_MS)
    samples = []
    for day in range(60):  # +1 %/day from 30 %; on some days a sensor glitch reads 0 % or 100 %
        for h in range(0, 24, 2):
            wear = 30.0 + day + h / 24
            glitch = (day % 7 == 3 and h == 4) or (day % 11 == 5 and h == 8)
            samples.append((0, day * DAY_MS + h * HOUR, (0.0 if day % 2 else 100.0) if glitch else wear))
    events = run_batches(params, samples, [100, 400])
    assert [e[1] for e in events] == [FIRE]
    fired_day = events[0][2] / DAY_MS
    projected_day = events[0][5] / DAY_MS
    assert 39 <= fired_day <= 42  # 20 days before wear reaches 90 % on day 60
    assert abs(projected_day - 60) < 2


# --- stale vehicle (clock driven) ---------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("tick"), st.integers(0, 100).map(lambda t: t * HOUR)),
            st.tuples(
                st.just("samples"),
                st.lists(st.tuples(st.integers(0, 3), st.integers(0, 100).map(lambda t: t * HOUR), st.just(1.0))),
            ),
        ),
        max_size=30,
    )
)
def test_stale_kernel_matches_reference(steps) -> None:
    params = StaleParams(after_ms=24 * HOUR)
    state = params.new_state(4)
    got = run_steps(params, state, steps)
    assert normalised(got) == normalised(stale_reference(steps, 24 * HOUR))


# --- maintenance plan ---------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("tick"), st.integers(0, 500).map(lambda d: d * DAY_MS)),
            st.tuples(
                st.just("samples"),
                st.lists(
                    st.tuples(
                        st.integers(0, 2),
                        st.integers(0, 500).map(lambda d: d * DAY_MS),
                        st.one_of(st.floats(0, 40_000_000), st.just(math.nan)),
                    )
                ),
            ),
        ),
        max_size=20,
    ),
    lead_km=st.sampled_from([0.0, 1000.0]),
    lead_days=st.sampled_from([0, 30]),
)
def test_service_kernel_matches_reference(steps, lead_km, lead_days) -> None:
    params = ServiceParams(lead_km, lead_days * DAY_MS)
    plans = {0: (15000.0, 12.0), 1: (30000.0, 24.0)}  # slot 2 has no plan: never due
    bases = {0: (0, 0.0), 1: (10 * DAY_MS, 5000.0)}
    state = params.new_state(3)
    for slot, (km, months) in plans.items():
        ServiceParams.plan(state, slot, km, months)
    for slot, (ts, km) in bases.items():
        ServiceParams.baseline(state, slot, ts, km)
    got = run_steps(params, state, steps)
    assert normalised(got) == normalised(service_reference(steps, plans, bases, (lead_km, lead_days * DAY_MS)))


def test_service_is_due_by_distance_or_time_whichever_comes_first() -> None:
    soon = ServiceParams(1000.0, 30 * DAY_MS)
    state = soon.new_state(2)
    for slot in (0, 1):
        ServiceParams.plan(state, slot, 15000.0, 12.0)
        ServiceParams.baseline(state, slot, 0, 20000.0)
    km = np.array([0, 1])
    ev = soon.evaluate(km, np.array([DAY_MS, DAY_MS]), np.array([34_100_000.0, 25_000_000.0]), state)
    assert ev.tuples()[0][:3] == (0, FIRE, DAY_MS)  # 14,100 km since the service: within 1,000 km
    assert len(ev) == 1
    assert [e[0] for e in soon.tick(340 * DAY_MS, state).tuples()] == [1]  # 11.2 months: within 30 days
    ServiceParams.baseline(state, 0, 341 * DAY_MS, 34100.0)  # serviced
    assert [(e[0], e[1]) for e in soon.tick(342 * DAY_MS, state).tuples()] == [(0, CLEAR)]


EVERY_KIND = [
    ThresholdParams(110.0, 3000, 100.0, 2000, 5000, True),
    RateParams(10.0, True, 2000, 10_000),
    ZScoreParams(0.1, 2.0, 1.0, 3, 2, 2, 0.5, 10_000),
    TrendParams(90.0, True, 2000, 5, 3, 8000, 16_000),
    EpisodeParams(110.0, True, 1000, 3, 100_000, 5000),
]


@pytest.mark.parametrize("kernel", EVERY_KIND, ids=lambda k: type(k).__name__)
def test_a_batch_boundary_at_every_position_changes_nothing(kernel) -> None:
    rng = np.random.default_rng(5)
    samples = [(int(s), t * 1000, float(v)) for t in range(60) for s, v in [(t % 2, 100 + 15 * np.sin(t / 5))]]
    samples += [(0, t * 1000, float(rng.normal(100, 20))) for t in range(60, 90)]
    samples[40] = (samples[40][0], samples[40][1], math.nan)
    whole = normalised(run_batches(kernel, samples, []))
    assert whole  # the stream is one where things happen
    for cut in range(1, len(samples)):
        assert normalised(run_batches(kernel, samples, [cut])) == whole, f"cut at {cut}"


def test_every_kernel_has_a_pure_python_reference() -> None:
    """Found by type in one registry, so a new kind cannot ship (or be benchmarked) without one."""
    kernel_params = {
        cls
        for info in pkgutil.iter_modules(rules.kernels.__path__)
        for _, cls in inspect.getmembers(importlib.import_module(f"rules.kernels.{info.name}"), inspect.isclass)
        if cls.__name__.endswith("Params") and cls.__module__.startswith("rules.kernels.")
    }
    assert len(kernel_params) >= 8
    assert sorted(c.__name__ for c in kernel_params - set(naive.REFERENCES)) == []
    with pytest.raises(TypeError, match="no reference for object"):
        naive.reference_for(object())
