"""A simulated fleet: who drives what, its state, and its telemetry span by span.

`Fleet.spans()` runs the physics kernel over simulated time and yields the messages in wide
form (one row per message, one column per signal); everything that sends them somewhere (MQTT,
Parquet, the rule engine) works on those spans. Workshop visits happen at 08:00 when the
maintenance plan says so (or the pad warning lamp is on); they replace worn pads per axle and set
tyre pressures.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta

import numpy as np

from simulators import physics as ph
from simulators.faults import FAULTS, WEAR_OUT, WEAR_OUT_LIMIT, Label, component_name, schedule
from simulators.models import MODELS, VehicleModel, make_vin
from simulators.scenario import Scenario
from simulators.usage import ALWAYS, COMMUTE, FLEET_VAN, LONG_TRIPS, WEEKEND, DayPlan, assign_profiles, day_plan
from telemetry.vocabulary import DAYS_PER_MONTH

DAY_S = 86_400.0
SERVICE_HOUR_S = 8 * 3600.0
PAD_LOOKBACK_DAYS = 31  # the pace of pad wear is judged over the last 30 days
MODEL_SHARES = (0.22, 0.18, 0.08, 0.22, 0.17, 0.13)  # in the order of MODELS
KM_PER_DAY = {COMMUTE: 37.0, LONG_TRIPS: 240.0, WEEKEND: 10.0, FLEET_VAN: 190.0, ALWAYS: 1500.0}  # as simulated


@dataclass(frozen=True)
class ServiceVisit:
    vehicle: int
    ts_ms: int
    odometer_km: float


@dataclass(frozen=True)
class Span:
    """Messages of a stretch of simulated time, in time order per vehicle."""

    vehicle: np.ndarray  # int32 index into the fleet
    ts_ms: np.ndarray  # int64 epoch ms
    values: np.ndarray  # float64 [messages, len(physics.COLUMNS)], NaN: not in the message
    dtc: np.ndarray  # int64 bit masks over physics.DTC_CODES
    services: list[ServiceVisit]
    end_ms: int  # the simulated clock at the end of the span

    def __len__(self) -> int:
        return len(self.ts_ms)


class Fleet:
    def __init__(
        self, scenario: Scenario, members: np.ndarray | None = None, fault_window: tuple[float, float] | None = None
    ) -> None:
        """`members`: simulate only these vehicles of the scenario's fleet (a publishing process's
        share); each vehicle has its own random generator, so its telemetry is the same either way.
        `fault_window`: (first onset, last nominal failure) in days; default: 20 days in, 5 days
        before the end."""
        self.scenario = scenario
        n = scenario.vehicles
        rng = np.random.default_rng([scenario.seed, 1])
        self.models: list[VehicleModel] = [MODELS[i] for i in rng.choice(len(MODELS), n, p=MODEL_SHARES)]
        vin_rng = random.Random(scenario.seed)
        vins: list[str] = []
        seen: set[str] = set()
        for m in self.models:
            vin = make_vin(vin_rng, m.wmi)
            while vin in seen:
                vin = make_vin(vin_rng, m.wmi)
            seen.add(vin)
            vins.append(vin)
        self.vins = vins
        electric = np.array([m.electric for m in self.models])
        vans = np.array([m.model.startswith("Van") for m in self.models])
        self.profiles = assign_profiles(vans, rng, scenario.usage)
        self.buffering = rng.random(n) < scenario.buffering
        self.params = self._params(rng, electric)
        self.state = self._state(rng, electric)
        self.rng_state = rng.integers(1, 2**32, (n, 2), dtype=np.int64)  # see physics._uniform
        delivered = rng.uniform(200, 1500, n)  # days before the start
        self.delivered_ms = scenario.start_ms - (delivered * DAY_S * 1000).astype(np.int64)
        months = np.array([m.service_months for m in self.models])
        since_days = rng.uniform(0, 0.9, n) * np.minimum(months * 30.4, delivered)
        km_plan = np.array([m.service_km for m in self.models])
        km_per_day = np.array([KM_PER_DAY[int(p)] for p in self.profiles])
        # before the scenario, round-the-clock vehicles were ordinary commuters
        history_km_per_day = np.where(self.profiles == ALWAYS, KM_PER_DAY[COMMUTE], km_per_day)
        since_km = np.minimum(since_days * history_km_per_day, 0.9 * km_plan)
        since_km = np.minimum(since_km, 0.9 * self.state[:, ph.S_ODO] / 1000)
        self.last_service_ms = scenario.start_ms - (since_days * DAY_S * 1000).astype(np.int64)
        self.last_service_km = self.state[:, ph.S_ODO] / 1000 - since_km
        self._due_slack = rng.uniform(0.93, 1.0, n)  # people book a little before the plan says
        schedule(
            scenario.fault_mix, electric, km_per_day, self.state[:, ph.S_PAD : ph.S_PAD + 4],
            self.state[:, ph.S_SOH], fault_window or (20.0, scenario.days - 5), rng, self.params,
        )  # fmt: skip
        self._weather = np.random.default_rng([scenario.seed, 2])
        self.weather = self._weather.normal(0, 3, int(np.ceil(scenario.days)) + 1)  # a day's offset, °C
        self._plan: DayPlan | None = None
        self._all_profiles = self.profiles  # day plans are drawn for the whole fleet, then sliced
        self.members = np.arange(n) if members is None else np.asarray(members, dtype=np.int64)
        if members is not None:
            self._keep(self.members)
        self.day = 0
        self.t = 0.0  # simulated seconds since the start
        self._worn: dict[tuple[int, int], Label] = {}  # (vehicle, wheel) -> pads worn out, not yet replaced
        self._replaced: list[Label] = []  # wear-outs that the workshop has dealt with
        self._pads_then = np.full((len(self.vins), PAD_LOOKBACK_DAYS, 4), np.nan)  # pad wear at past midnights

    # --- construction --------------------------------------------------------------------------
    def _params(self, rng: np.random.Generator, electric: np.ndarray) -> np.ndarray:
        n = len(self.models)
        pr = np.zeros((n, ph.N_PARAM))
        for w in range(4):
            pr[:, ph.P_PLACARD + w] = [m.tyre_kpa[w // 2] for m in self.models]
        pr[:, ph.P_CAPACITY] = [m.energy_capacity for m in self.models]
        pr[:, ph.P_CONSUMPTION] = [m.consumption_per_100km for m in self.models]
        pr[:, ph.P_MASS] = [m.mass_t for m in self.models]
        pr[:, ph.P_RPM_PER_KMH] = [m.rpm_per_kmh for m in self.models]
        pr[:, ph.P_ELECTRIC] = electric
        pr[:, ph.P_CHARGE_V] = np.where(electric, 14.0, rng.uniform(14.05, 14.45, n))
        pr[:, ph.P_REST_V] = rng.uniform(12.55, 12.75, n)
        pr[:, ph.P_HOME_LAT] = 48.137 + rng.normal(0, 0.15, n)
        pr[:, ph.P_HOME_LON] = 11.575 + rng.normal(0, 0.2, n)
        pr[:, ph.P_PHASE] = rng.uniform(0, self.scenario.park_interval_s, n)
        pr[:, ph.P_CLIMATE] = rng.normal(0, 1.5, n)
        pr[:, ph.P_HOME_CHARGER] = np.where(rng.random(n) < 0.7, 0.5, 0.05)
        pr[:, ph.P_FAULT] = ph.F_NONE
        return pr

    def _state(self, rng: np.random.Generator, electric: np.ndarray) -> np.ndarray:
        n = len(self.models)
        st = np.zeros((n, ph.N_STATE))
        st[:, ph.S_ODO] = rng.uniform(5_000, 90_000, n) * 1000
        st[:, ph.S_HOURS] = st[:, ph.S_ODO] / 1000 / 45
        st[:, ph.S_ENERGY] = rng.uniform(40, 95, n)
        amb = 5.0
        st[:, ph.S_COOLANT] = amb
        st[:, ph.S_OIL_T] = amb
        st[:, ph.S_PACK_T] = amb
        for w in range(4):
            st[:, ph.S_TYRE_P + w] = self.params[:, ph.P_PLACARD + w] * rng.uniform(0.95, 1.0, n)
            st[:, ph.S_TYRE_T + w] = amb
            st[:, ph.S_PAD + w] = rng.uniform(0, 45 if w < 2 else 30, n)
        st[:, ph.S_SOH] = np.where(electric, rng.uniform(90, 99, n), np.nan)
        st[:, ph.S_LAT] = self.params[:, ph.P_HOME_LAT]
        st[:, ph.S_LON] = self.params[:, ph.P_HOME_LON]
        st[:, ph.S_LAST] = -1.0
        st[:, ph.S_TRIP] = -1.0
        st[:, ph.S_PARK_T0] = -3600.0 * 8
        st[:, ph.S_FAILED] = np.nan
        return st

    def _keep(self, rows: np.ndarray) -> None:
        self.models = [self.models[i] for i in rows]
        self.vins = [self.vins[i] for i in rows]
        for name in ("profiles", "buffering", "params", "state", "rng_state", "delivered_ms", "last_service_ms",
                     "last_service_km", "_due_slack"):  # fmt: skip
            setattr(self, name, getattr(self, name)[rows])

    def jump_to(self, t_s: float) -> None:
        """Start the clock at `t_s` without simulating the time before: live publishing starts at
        the time of day it is. Vehicles whose trip of the day is under way are on the road."""
        self.t = t_s
        self.day = int(t_s // DAY_S)
        self._plan = self._day_plan(self.day)
        self.state[:, ph.S_LAST] = t_s
        self.state[:, ph.S_PARK_T0] = t_s - 8 * 3600.0
        since_midnight = t_s - self.day * DAY_S
        plan = self._plan
        under_way = (plan.start_s <= since_midnight) & (since_midnight < plan.start_s + plan.duration_s)
        under_way &= np.arange(under_way.shape[1])[None, :] < plan.count[:, None]
        for i, k in zip(*np.nonzero(under_way), strict=True):  # on the road for a while: warm
            st = self.state[i]
            st[ph.S_TRIP] = k
            st[ph.S_TRIP_T0] = self.day * DAY_S + plan.start_s[i, k]
            st[ph.S_SPEED] = st[ph.S_TARGET] = 0.8 * plan.cruise_kmh[i, k]
            st[ph.S_COOLANT], st[ph.S_OIL_T] = 90.0, 95.0
            st[ph.S_TYRE_T : ph.S_TYRE_T + 4] = st[ph.S_TYRE_T] + 20.0
            st[ph.S_PACK_T] += 10.0

    def _day_plan(self, day: int) -> DayPlan:
        weekday = (self.scenario.start + timedelta(days=day)).weekday()
        plan = day_plan(self._all_profiles, self.scenario.seed, day, weekday)
        return plan if len(self.members) == len(plan.count) else plan.take(self.members)

    # --- what the fleet is ---------------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(self.vins)

    def is_van(self, i: int) -> bool:
        return int(self.profiles[i]) == FLEET_VAN

    # --- running -------------------------------------------------------------------------------
    def spans(self, span_s: float = DAY_S, until_s: float | None = None) -> Iterator[Span]:
        """Advance the fleet span by span until `until_s` (default: the scenario's end). Spans
        never cross midnight or the 08:00 workshop slot; resuming continues where it stopped, and
        a fleet may run past its scenario's end (the evaluation looks ahead for ground truth)."""
        end = self.scenario.days * DAY_S if until_s is None else until_s
        while self.t < end:
            day = int(self.t // DAY_S)
            day_t0 = day * DAY_S
            if day != self.day or self._plan is None:
                self.day = day
                self._plan = self._day_plan(day)
            if self.t == day_t0:
                self._pads_then[:, day % PAD_LOOKBACK_DAYS] = self.state[:, ph.S_PAD : ph.S_PAD + 4]
            services: list[ServiceVisit] = []
            if self.t == day_t0 + SERVICE_HOUR_S:
                services = self._workshop(day_t0 + SERVICE_HOUR_S)
            stop = min(self.t + span_s, end, day_t0 + DAY_S)
            if self.t < day_t0 + SERVICE_HOUR_S < stop:
                stop = day_t0 + SERVICE_HOUR_S
            span = self._run(self.t, stop, day_t0, services)
            self._note_wear_out(span.end_ms)
            yield span
            self.t = stop

    def _run(self, t0: float, t1: float, day_t0: float, services: list[ServiceVisit]) -> Span:
        plan, sc = self._plan, self.scenario
        assert plan is not None
        day = int(day_t0 // DAY_S)
        if day >= len(self.weather):
            self.weather = np.concatenate([self.weather, self._weather.normal(0, 3, day + 1 - len(self.weather))])
        bound = ph.row_bound(t0, t1, plan.duration_s, plan.count, sc.drive_interval_s, sc.park_interval_s)
        vehicle = np.empty(bound, dtype=np.int32)
        t = np.empty(bound)
        values = np.full((bound, len(ph.COLUMNS)), np.nan)
        dtc = np.zeros(bound, dtype=np.int64)
        ph.check_span(self.state, self.params, self.rng_state, t0, t1, day_t0)
        rows = int(ph.simulate(
            self.state, self.params, self.rng_state, t0, t1, day_t0, plan.start_s, plan.duration_s,
            plan.cruise_kmh, plan.count, sc.drive_interval_s, sc.park_interval_s,
            float(sc.start.timetuple().tm_yday), float(self.weather[day]),
            vehicle, t, values, dtc,
        ))  # fmt: skip
        ts_ms = sc.start_ms + np.round(t[:rows] * 1000).astype(np.int64)
        return Span(vehicle[:rows], ts_ms, values[:rows], dtc[:rows], services, sc.start_ms + int(t1 * 1000))

    def _workshop(self, t: float) -> list[ServiceVisit]:
        """Vehicles whose plan is due (by km or months, a little early) are serviced now."""
        ts_ms = self.scenario.start_ms + int(t * 1000)
        km = self.state[:, ph.S_ODO] / 1000
        plan_km = np.array([m.service_km for m in self.models])
        plan_ms = np.array([m.service_months * DAYS_PER_MONTH * DAY_S * 1000 for m in self.models])
        due = (km - self.last_service_km >= plan_km * self._due_slack) | (
            ts_ms - self.last_service_ms >= plan_ms * self._due_slack
        )
        for i, w in list(self._worn):  # the pad warning lamp sent them in
            if (i, w) in self._worn:
                self._replace_pads(i, w // 2, ts_ms)
        visits = []
        for i in np.flatnonzero(due).tolist():
            st, pr = self.state[i], self.params[i]
            for w in range(4):
                if self._developing(i, w, ph.F_PUNCTURE):
                    continue  # the workshop misses the developing fault
                st[ph.S_TYRE_P + w] = pr[ph.P_PLACARD + w]
            for axle in (0, 1):
                if max(st[ph.S_PAD + 2 * axle], st[ph.S_PAD + 2 * axle + 1]) > 55:
                    self._replace_pads(i, axle, ts_ms)
            self.last_service_ms[i] = ts_ms
            self.last_service_km[i] = km[i]
            visits.append(ServiceVisit(int(i), ts_ms, float(km[i])))
        return visits

    def _developing(self, i: int, wheel: int, fault: int) -> bool:
        pr = self.params[i]
        return pr[ph.P_FAULT] == fault and int(pr[ph.P_COMPONENT]) == wheel and self.state[i, ph.S_REPAIRED] == 0

    def _replace_pads(self, i: int, axle: int, ts_ms: int) -> None:
        """Both pads of an axle, as workshops do. Pads that would have reached the wear-out limit
        within the label's 45 days at their recent pace were worth an alert: they get a wear-out
        label (closed now) if they have none yet."""
        for w in (2 * axle, 2 * axle + 1):
            if self._developing(i, w, ph.F_BRAKES):
                continue  # the workshop misses the sticking caliper
            label = self._worn.pop((i, w), None)
            if label is None and self._would_wear_out(i, w):
                onset = ts_ms - int(WEAR_OUT.progression_days[0] * DAY_S * 1000)
                label = Label(self.vins[i], WEAR_OUT.name, ph.WHEELS[w], onset, None, None)
            if label is not None:
                self._replaced.append(replace(label, end_ms=ts_ms))
            self.state[i, ph.S_PAD + w] = 1.0

    def _would_wear_out(self, i: int, w: int) -> bool:
        now = self.state[i, ph.S_PAD + w]
        then = self._pads_then[i, (self.day + 1) % PAD_LOOKBACK_DAYS, w]  # the oldest day kept
        per_day = max(now - then, 0.0) / (PAD_LOOKBACK_DAYS - 1) if not np.isnan(then) else 0.0
        return bool(now + per_day * WEAR_OUT.progression_days[0] >= WEAR_OUT_LIMIT)

    # --- ground truth --------------------------------------------------------------------------
    def _note_wear_out(self, now_ms: int) -> None:
        worn = self.state[:, ph.S_PAD : ph.S_PAD + 4] >= WEAR_OUT_LIMIT
        for i, w in zip(*np.nonzero(worn), strict=True):
            if (int(i), int(w)) in self._worn or self._developing(int(i), int(w), ph.F_BRAKES):
                continue  # already noted; or the vehicle's brake fault, labelled as such
            onset = now_ms - int(WEAR_OUT.progression_days[0] * DAY_S * 1000)
            self._worn[(int(i), int(w))] = Label(self.vins[i], WEAR_OUT.name, ph.WHEELS[w], onset, now_ms, None)

    def labels(self) -> list[Label]:
        """Every injected fault, with the failure time observed so far."""
        labels = []
        start = self.scenario.start_ms
        by_code = {f.code: f for f in FAULTS}
        for i in np.flatnonzero(self.params[:, ph.P_FAULT] != ph.F_NONE):
            pr, st = self.params[i], self.state[i]
            fault = by_code[int(pr[ph.P_FAULT])]
            onset = start + int(pr[ph.P_ONSET] * 1000)
            failure: int | None
            end: int | None
            if fault.code == ph.F_SENSOR:
                failure, end = None, start + int(pr[ph.P_FAULT_ARG] * 1000)
            else:
                failed = st[ph.S_FAILED]
                failure = None if np.isnan(failed) else start + int(failed * 1000)
                end = None if failure is None else failure + int(pr[ph.P_REPAIR_AFTER] * 1000)
            labels.append(
                Label(self.vins[i], fault.name, component_name(fault, int(pr[ph.P_COMPONENT])), onset, failure, end)
            )
        return labels + self._replaced + list(self._worn.values())
