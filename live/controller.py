"""The live controller (`clonecast run`): observe demand through Prometheus, forecast, plan, clone, correct.

Two loops on one clock (`live.clock.Clock`: trace time, compressed by its speed for replays):

- every forecast bin, once the bin has ended: the bins that completed are pulled from Prometheus into the
  dataset store (validated first: nothing invalid is stored or acted on), the forecaster forecasts the next
  hour, and the cloning manager plans with the clones that exist (`Actuator.observe`), the hosts and the timing
  model's chance of an invocation (`jobs.plan`), as the deploy flow does; the bin's peak of busy clones (the
  front door's busy-clones gauge) feeds the peak model, and each program keeps, whatever the load, the clones
  worth holding for the next bin (`policy.prewarm.clones_worth_holding`, the simulator's rule);
- every tick (a few seconds of wall time): the scaling policy (`policy.scaling.ScalingController`, the code the
  simulator runs) corrects the plan's per-bin targets with what is observed now: requests in flight from the
  front door's gauge, healthy and failing clones from the engine; the engine converges the programs whose count
  differs.

Every decision is journaled (JSON lines) with its reason and exported as a metric. When Prometheus cannot be
read, the data or the forecast is stale, or the data are invalid, nothing is actuated: the controller holds the
clones as they are, says why (journal, log, the `clonecast_controller_holding` gauge) and resumes by itself
when the cause goes away.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prometheus_api_client import PrometheusConnect
from prometheus_client import CollectorRegistry, Counter, Gauge

from actuators.base import Actuator, Observation
from clonecast.errors import ClonecastError, ConfigError, ModelError, SourceError
from clonecast.settings import Settings
from jobs import plan as planning
from jobs import predict
from live.clock import Clock
from live.metrics import PrometheusSource, pull
from models import registry
from models.baselines import rolling_seasonal_naive, to_frame
from models.panel import Panel
from models.timing import PeakModel
from policy.plan import ClonePlan, State
from policy.prewarm import COLD_START_COST_MINUTES, clones_worth_holding, cold_start_cost_bins
from policy.scaling import ScalingController, ScalingSettings
from traces.clones import DEFAULT_COLD_START_S, cold_start_weights, concurrencies, criticalities, durations_s
from traces.frames import Dataset
from traces.store import read_dataset

log = logging.getLogger("clonecast.live")

# (history, its end) -> the forecast frame after it; validated by the plan (jobs.plan.plan), before anything acts on it
Forecaster = Callable[[Dataset, pd.Timestamp], pd.DataFrame]
INFLIGHT = "clonecast_frontdoor_inflight"  # the front door's gauge of requests in flight per program
BUSY = "clonecast_frontdoor_busy_clones"  # its gauge of clones serving at least one request (waiting ones excluded)


@dataclass(frozen=True)
class LiveSettings:
    """How the controller runs: its clock's speed, its tick, when data count as stale, where in-flight requests
    are read."""

    speed: float = 1.0  # trace seconds per wall second (1: live; 12: a replay at 1 trace minute per 5 s)
    tick_s: float = 2.0  # wall seconds between scaling-policy ticks
    stale_bins: float = 2.0  # data or a forecast older than this many forecast bins is stale: hold
    inflight_metric: str = INFLIGHT  # a gauge with a `program` label
    busy_metric: str = BUSY  # a gauge with a `program` label
    scrape_delay_s: float = 2.0  # wall seconds after a bin ends before its last scrape is surely in Prometheus
    clone_start_s: float = 2.0  # wall seconds a clone takes to start and serve on the engine, at least


@dataclass(frozen=True)
class LivePrograms:
    """The per-program constants the scaling policy sizes with (policy.observation.Programs), in code order."""

    codes: np.ndarray  # [P] sorted program codes
    bin: pd.Timedelta
    duration_ms: np.ndarray
    concurrency: np.ndarray
    cold_start_s: np.ndarray
    weight: np.ndarray  # what a cold start of each costs relative to a standard program's (criticality)

    @property
    def programs(self) -> int:
        return len(self.codes)

    @classmethod
    def from_frame(cls, programs: pd.DataFrame, bin: pd.Timedelta) -> LivePrograms:
        profile = programs.assign(program_code=programs["program_code"].astype(str)).set_index("program_code")
        profile = profile.sort_index()
        cold = profile["cold_start_s"] if "cold_start_s" in profile else pd.Series(np.nan, index=profile.index)
        return cls(
            codes=profile.index.to_numpy(dtype=object),
            bin=bin,
            duration_ms=durations_s(profile) * 1000.0,
            concurrency=concurrencies(profile),
            cold_start_s=cold.astype(float).fillna(DEFAULT_COLD_START_S).to_numpy(),
            weight=cold_start_weights(criticalities(profile)),
        )


@dataclass(frozen=True)
class LivePool:
    """The pool as observed at a tick (policy.observation.PoolView)."""

    now_s: float  # trace seconds since the first bin of the forecast in force
    bin: int
    warm: np.ndarray  # [P] live clones the engine reports
    warming: np.ndarray
    inflight: np.ndarray  # [P] mean requests in flight over the last seconds
    busy_peak: np.ndarray  # [P] most clones busy at once over the stabilisation window

    def mean_inflight(self, seconds: float) -> np.ndarray:
        return self.inflight

    def peak_busy(self, since_bin: int) -> np.ndarray:
        return self.busy_peak


class LoadReader:
    """The load per program from Prometheus: requests in flight (served or waiting for a clone), averaged over the
    last seconds, and the peak of busy clones over a window (requests waiting for a start do not count, where the
    simulator's peaks count them: the front door's gauges do not say how long a waiting request would have run)."""

    def __init__(self, url: str, inflight: str = INFLIGHT, busy: str = BUSY, timeout: float = 5.0) -> None:
        self.url, self.inflight, self.busy = url, inflight, busy
        self.client = PrometheusConnect(url=url, disable_ssl=True, timeout=timeout)

    def _by_program(self, function: str, metric: str, seconds: float) -> dict[str, float]:
        query = f"sum by (program) ({function}({metric}[{max(seconds, 2.0):.0f}s]))"
        try:
            result = self.client.custom_query(query)
        except Exception as e:  # the client raises requests' errors and its own PrometheusApiClientException
            raise SourceError(f"Prometheus at {self.url} did not answer {query!r}: {e}") from e
        values: dict[str, float] = {}
        for series in result:
            value = float(series["value"][1])
            program = series["metric"].get("program")
            if program is None or not np.isfinite(value) or value < 0:
                raise SourceError(f"Prometheus at {self.url}: {query!r} gave {series} (need a program label, >= 0)")
            values[str(program)] = value
        return values

    def read(self, codes: np.ndarray, mean_s: float, peak_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Mean requests in flight over the last `mean_s` and the most busy clones over `peak_s` wall seconds,
        per program [P]."""
        mean = self._by_program("avg_over_time", self.inflight, mean_s)
        return np.array([mean.get(str(c), 0.0) for c in codes]), self.peak(codes, peak_s)

    def peak(self, codes: np.ndarray, seconds: float) -> np.ndarray:
        """The most clones busy at once over the last `seconds` wall seconds, per program [P]."""
        peak = self._by_program("max_over_time", self.busy, seconds)
        return np.array([round(peak.get(str(c), 0.0)) for c in codes], dtype=np.int64)


class ControllerMetrics:
    """What the controller exports: targets, decisions by reason, holds, forecasts."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.target = Gauge(
            "clonecast_controller_target", "clones the controller holds per program", ["program"], registry=r
        )
        self.decisions = Counter(
            "clonecast_controller_decisions", "target changes by reason", ["program", "reason"], registry=r
        )
        self.holding = Gauge("clonecast_controller_holding", "1 while the controller holds (no actuation)", registry=r)
        self.holds = Counter("clonecast_controller_holds", "holds by cause", ["cause"], registry=r)
        self.forecasts = Counter("clonecast_controller_forecasts", "forecasts made and planned", registry=r)
        self.under = Counter(
            "clonecast_controller_under_predictions", "panic episodes (under-prediction) begun", ["program"], registry=r
        )
        self.actuation_errors = Counter(
            "clonecast_controller_actuation_errors", "engine calls that failed", ["program"], registry=r
        )


@dataclass
class LiveJournal:
    """Decisions and events as JSON lines (append-only), and the same in memory for tests and summaries."""

    path: Path | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)

    def write(self, **entry: Any) -> None:
        entry = {"wall": pd.Timestamp.now(tz="UTC").isoformat(), **entry}
        self.entries.append(entry)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as out:
                out.write(json.dumps(entry, default=str) + "\n")

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.entries if e.get("kind") == kind]


def champion_forecaster(settings: Settings) -> Forecaster:
    """Forecasts of the registered champion (`models:/<name>@champion`; validated where they are planned). The
    champion is
    looked up at every forecast and reloaded when the alias moved: a warm-start update or a retraining that the
    promotion gate accepted (the scheduled flows, on the same dataset store) serves from the next bin on. Each
    forecast recalibrates its intervals on the newest bins (online conformal), so an under-prediction widens them
    from the next forecast."""
    uri, name = settings.mlflow_uri, settings.registered_model
    loaded: dict[str, Any] = {}

    def forecast(dataset: Dataset, end: pd.Timestamp) -> pd.DataFrame:
        version = registry.aliases(uri, name).get(registry.CHAMPION)
        if version is None:
            raise ModelError(f"no champion of {name!r} in the registry at {uri}: train and promote one first")
        if loaded.get("version") != version:
            loaded.update(version=version, model=predict.load_model(uri, name))
            log.info("forecasting with %s version %s", name, version)
        trained = loaded["model"]
        return predict.forecast(trained, predict.history(trained, dataset, end), dataset.events)

    return forecast


def baseline_forecaster(settings: Settings) -> Forecaster:
    """Daily seasonal-naive forecasts (naive where a day of history is missing), quantiles from the history's
    one-step errors: for a history too short for the champion (a replay of a one-day trace)."""

    def forecast(dataset: Dataset, end: pd.Timestamp) -> pd.DataFrame:
        panel = Panel.from_dataset(dataset, settings.freq)
        bins = min(panel.bins, round((end - panel.start) / panel.width))
        rolling = rolling_seasonal_naive(
            panel.values[:, :bins], np.array([bins]), settings.horizon, round(pd.Timedelta("1D") / panel.width)
        )
        return to_frame(rolling, panel.codes, panel.start, panel.width, panel.programs)

    return forecast


FORECASTERS = {"champion": champion_forecaster, "seasonal-naive": baseline_forecaster}


def spread(target: dict[str, int], existing: State, preferred: State, hosts: list[str]) -> State:
    """Clones per (program, host) that reach each program's `target` from the `existing` ones: new clones go
    where the plan places the program (`preferred`, most clones first), else where it runs, else the first host;
    removals come from the hosts with the most."""
    state: State = {}
    for program, want in target.items():
        have = {h: c for (p, h), c in existing.items() if p == program and c > 0}
        total = sum(have.values())
        if want > total:
            planned = sorted(((c, h) for (p, h), c in preferred.items() if p == program and h in hosts), reverse=True)
            running = sorted(((c, h) for h, c in have.items()), reverse=True)
            host = (planned or running or [(0, hosts[0])])[0][1]
            have[host] = have.get(host, 0) + want - total
        for _ in range(total - want):
            most = max(have, key=lambda h: (have[h], h))
            have[most] -= 1
        state.update({(program, h): c for h, c in have.items()})
        if not have:
            state[(program, hosts[0])] = 0
    return state


class Controller:
    """The live loop over one dataset store, one Prometheus, one engine."""

    def __init__(
        self,
        *,
        store: Path,
        source: PrometheusSource,
        load: LoadReader,
        engine: Actuator,
        hosts: pd.DataFrame,
        forecaster: Forecaster,
        settings: Settings,
        live: LiveSettings,
        clock: Clock,
        journal: LiveJournal | None = None,
        metrics: ControllerMetrics | None = None,
    ) -> None:
        self.store, self.source, self.load, self.engine = store, source, load, engine
        self.hosts = hosts
        self.host_names = [str(h) for h in hosts["host"]]
        self.forecaster, self.settings, self.live, self.clock = forecaster, settings, live, clock
        self.journal = journal or LiveJournal()
        self.metrics = metrics or ControllerMetrics()
        self.freq = pd.Timedelta(settings.freq)
        programs = LivePrograms.from_frame(read_dataset(store).programs, self.freq)
        # a cold start lasts what the engine takes, in trace seconds (compressed replays: x speed), at least
        self.programs = replace(
            programs, cold_start_s=np.maximum(programs.cold_start_s, live.clone_start_s * live.speed)
        )
        # as the simulator's predictive: the holds decide when idle clones go, no stabilisation window on top
        tick = live.tick_s * live.speed
        self.scaling_settings = ScalingSettings(cadence_s=tick, stabilise_s=tick)
        self.scaling: ScalingController | None = None
        self.peaks = PeakModel().state(self.programs.programs, self.freq)  # busy clones at each bin's peak
        self.cost_bins = cold_start_cost_bins(
            COLD_START_COST_MINUTES, self.freq / pd.Timedelta("1min"), self.programs.weight
        )
        self.plan: ClonePlan | None = None
        self.data_end: pd.Timestamp | None = None  # end of the newest bin the forecast in force was made from
        self.holds: dict[str, str] = {}  # loop ("forecast", "tick") -> why it does not act
        self.lock = threading.Lock()  # the forecast in force, swapped by the forecast loop, read by the ticks
        self.decisions_seen = 0
        self.ticks = 0

    # holding ------------------------------------------------------------------------------------------

    @property
    def holding(self) -> str | None:
        """Why the controller does not act now (None: it does)."""
        return self.holds.get("tick") or self.holds.get("forecast")

    def hold(self, loop: str, cause: str, reason: str) -> None:
        """The `loop` acts on nothing; journaled when its reason changes. A forecast loop that holds leaves the
        forecast in force until it is stale; a tick that holds actuates nothing."""
        if self.holds.get(loop) != reason:
            log.warning("holding (%s): %s", loop, reason)
            self.journal.write(kind="hold", loop=loop, cause=cause, reason=reason, trace=self.clock.now())
            self.metrics.holds.labels(cause).inc()
        self.holds[loop] = reason
        self.metrics.holding.set(1)

    def _resume(self, loop: str) -> None:
        reason = self.holds.pop(loop, None)
        if reason is not None:
            log.info("resuming (%s) after: %s", loop, reason)
            self.journal.write(kind="resume", loop=loop, after=reason, trace=self.clock.now())
        self.metrics.holding.set(1 if self.holds else 0)

    # the forecast loop --------------------------------------------------------------------------------

    def forecast(self) -> bool:
        """Pull the bins that completed, forecast and plan; False (holding) when any input is missing or bad."""
        now, started = self.clock.now(), time.perf_counter()
        try:
            pulled = pull(self.store, self.source, limits=self.settings.limits)
        except SourceError as e:
            self.hold("forecast", "prometheus", f"cannot read demand: {e}")
            return False
        except ClonecastError as e:  # invalid metrics: refused, nothing stored
            self.hold("forecast", "invalid-data", f"demand refused: {e}")
            return False
        try:  # the peak of the bin that ended (the newest; bins pulled after a hold count once)
            peak = self.load.peak(self.programs.codes, self.freq.total_seconds() / self.live.speed)
        except SourceError as e:
            self.hold("forecast", "prometheus", f"cannot read the load: {e}")
            return False
        self.peaks.observe(peak)
        dataset = pulled.dataset
        end = dataset.requests["ts"].max() + self.freq
        if now - end > self.live.stale_bins * self.freq:
            self.hold(
                "forecast",
                "stale-data",
                f"stale demand: the newest bin ends {end}, {now - end} before now ({now})",
            )
            return False
        pulled_at = time.perf_counter()
        try:
            frame = self.forecaster(dataset, end)
            forecast_at = time.perf_counter()
            observed = self.engine.observe()
            chance = planning.chance_of_invocation(dataset, self.freq)
            inputs = planning.Inputs(
                forecast=frame,
                programs=dataset.programs,
                hosts=self.hosts,
                existing=observed.clones,
                source=f"live forecast from {end}",
                chance=chance,
            )
            plan = planning.plan(inputs, self.settings, now=end, at=end)
        except ClonecastError as e:
            self.hold("forecast", "forecast", f"no plan from the data ending {end}: {e}")
            return False
        targets = _grid(plan.schedule, self.programs.codes)
        predicted = _forecast_grid(frame, self.programs.codes, targets.shape[1])
        invoked = chance.reindex(self.programs.codes.astype(str)).fillna(0.0).to_numpy(float)
        floor = clones_worth_holding(invoked, self.peaks.survival(), self.cost_bins)
        with self.lock:
            if self.scaling is None:
                self.scaling = ScalingController(
                    self.programs, targets, predicted, self.scaling_settings, floor=floor, weight=self.programs.weight
                )
            else:
                self.scaling.refresh(targets, predicted, floor)
            self.plan, self.data_end = plan, end
        self._resume("forecast")
        self.metrics.forecasts.inc()
        self.journal.write(
            kind="forecast",
            trace=now,
            data_end=end,
            new_bins=pulled.new_rows,
            planned=sum(plan.desired().values()),
            held=len(plan.held),
            holding=int(floor.sum()),
            seconds={  # wall seconds of each step: what a slow forecast loop spends its time on
                "pull": round(pulled_at - started, 3),
                "forecast": round(forecast_at - pulled_at, 3),
                "plan": round(time.perf_counter() - forecast_at, 3),
            },
        )
        return True

    # the scaling loop ---------------------------------------------------------------------------------

    def tick(self) -> np.ndarray | None:
        """One scaling-policy step on live observations and the engine converged to it; None while holding. The
        engine converges outside the lock: a slow engine delays the next tick, not the next forecast."""
        with self.lock:
            step = self._tick()
        if step is None:
            return None
        target, warm, unhealthy, observed, plan = step
        self._converge(target, warm, unhealthy, observed, plan)
        return target

    def _tick(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, Observation, ClonePlan] | None:
        if self.scaling is None or self.plan is None or self.data_end is None:
            self.hold("tick", "no-forecast", "no forecast yet: nothing to act on")
            return None
        now = self.clock.now()
        if now - self.data_end > (self.live.stale_bins + 1) * self.freq:
            self.hold("tick", "stale-forecast", f"stale forecast: made from data ending {self.data_end}, now {now}")
            return None
        try:
            observed = self.engine.observe()
            stabilise_wall = self.scaling_settings.stabilise_s / self.live.speed
            inflight, peak = self.load.read(self.programs.codes, 10.0 / self.live.speed, stabilise_wall)
        except ClonecastError as e:
            self.hold("tick", "observe", f"cannot observe the pool: {e}")
            return None
        self._resume("tick")
        self.ticks += 1
        warm = np.array([observed.total(str(c)) for c in self.programs.codes], np.int64)
        unhealthy = np.array(
            [sum(n for (p, _), n in observed.unhealthy.items() if p == str(c)) for c in self.programs.codes], np.int64
        )
        first = pd.Timestamp(self.plan.bin_start)
        now_s = (now - first).total_seconds()
        bins = self.scaling.targets.shape[1]
        pool = LivePool(
            now_s=now_s,
            bin=int(np.clip(now_s // self.freq.total_seconds(), 0, bins - 1)),
            warm=warm,
            warming=np.zeros_like(warm),
            inflight=inflight,
            busy_peak=peak,
        )
        target = self.scaling.target(pool, unhealthy) - unhealthy
        self._record(now)
        for code, value in zip(self.programs.codes, target, strict=True):
            self.metrics.target.labels(str(code)).set(int(value))
        return target, warm, unhealthy, observed, self.plan

    def _record(self, now: pd.Timestamp) -> None:
        assert self.scaling is not None
        entries = self.scaling.journal.entries
        for decision in entries[self.decisions_seen :]:
            code = str(self.programs.codes[decision.program])
            self.journal.write(
                kind="decision",
                trace=now,
                program=code,
                before=decision.before,
                after=decision.after,
                reason=decision.reason,
            )
            self.metrics.decisions.labels(code, decision.reason).inc()
            if decision.reason.startswith("under-prediction") and decision.after > decision.before:
                self.metrics.under.labels(code).inc()
        self.decisions_seen = len(entries)

    def _converge(
        self, target: np.ndarray, warm: np.ndarray, unhealthy: np.ndarray, observed: Observation, plan: ClonePlan
    ) -> None:
        """Converge the programs whose live count differs from the target, or that have failing clones."""
        changed = np.flatnonzero((target != warm) | (unhealthy > 0))
        if not changed.size:
            return
        wanted = {str(self.programs.codes[p]): int(target[p]) for p in changed}
        state = spread(wanted, observed.clones, plan.desired(), self.host_names)
        placements = tuple(
            {"program_code": p, "host": h, "count": c} for (p, h), c in sorted(state.items()) if p in wanted
        )
        partial = replace(plan, actions=(), targets=wanted, placements=placements)
        try:
            report = self.engine.reconcile(partial)
        except ClonecastError as e:
            log.error("actuation failed: %s", e)
            self.journal.write(kind="actuation-error", error=str(e), programs=sorted(wanted))
            return
        for result in report.results:
            if result.status == "failed":
                self.metrics.actuation_errors.labels(result.program_code).inc()
                self.journal.write(kind="actuation-error", program=result.program_code, error=result.error)

    # the loop -----------------------------------------------------------------------------------------

    def run(self, *, until: pd.Timestamp | None = None, stop: Callable[[], bool] | None = None) -> None:
        """Forecast after each bin ends (plus the scrape delay; in a thread of its own, so the ticks go on while
        it plans), tick every `tick_s` in between, until trace time `until` or `stop()`."""
        retry_s = min(self.clock.wall_seconds(self.freq) / 4, 5.0)  # a forecast loop that holds tries again soon
        delay = pd.Timedelta(seconds=self.live.scrape_delay_s * self.live.speed)
        next_forecast = next_tick = time.monotonic()
        pending: Future[bool] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="clonecast-forecast") as pool:
            while not (stop and stop()) and (until is None or self.clock.now() < until):
                now = time.monotonic()
                if pending is None and now >= next_forecast:
                    pending = pool.submit(self.forecast)
                if pending is not None and pending.done():
                    planned = pending.result()  # anything but a clonecast error is a bug: raised here
                    pending = None
                    trace_now = self.clock.now()
                    wait = (
                        trace_now.floor(self.freq) + self.freq + delay - trace_now
                    ).total_seconds() / self.live.speed
                    next_forecast = time.monotonic() + (max(wait, 0.0) if planned else retry_s)
                if now >= next_tick:
                    self.tick()
                    next_tick = now + self.live.tick_s
                soonest = next_tick if pending is not None else min(next_tick, next_forecast)
                time.sleep(min(max(0.0, soonest - time.monotonic()), 0.05 if pending is not None else 1.0))
            if pending is not None:
                pending.result()


def _grid(schedule: dict[str, list[int]], codes: np.ndarray) -> np.ndarray:
    """Clones per program and forecast step [P, S] from a plan's schedule (0 for programs it does not cover)."""
    steps = max((len(v) for v in schedule.values()), default=1)
    out = np.zeros((len(codes), steps), np.int64)
    for i, code in enumerate(codes):
        row = schedule.get(str(code))
        if row:
            out[i, : len(row)] = row
    return out


def _forecast_grid(frame: pd.DataFrame, codes: np.ndarray, steps: int) -> np.ndarray:
    """Predicted requests per program and step [P, S] of the freshest origin in a forecast frame."""
    newest = frame[frame["origin"] == frame["origin"].max()]
    table = newest.pivot_table(index="program_code", columns="step", values="yhat", aggfunc="sum", observed=True)
    table = table.reindex(index=pd.Index([str(c) for c in codes]), columns=range(1, steps + 1))
    return table.fillna(0.0).to_numpy(float)


def build(
    store: Path,
    settings: Settings,
    live: LiveSettings,
    *,
    clock: Clock,
    actuator: str = "docker",
    hosts: Path | None = None,
    forecaster: str = "champion",
    journal: Path | None = None,
    namespace: str = "clonecast",
) -> Controller:
    """A controller over the dataset store `store` (its programs and history), reading demand from the settings'
    Prometheus and acting through the actuator of `actuator` (docker, kubernetes) on `hosts` (default: the
    kind's fleet)."""
    from jobs import apply as applying

    if forecaster not in FORECASTERS:
        raise ConfigError(f"forecaster must be one of {', '.join(FORECASTERS)}, not {forecaster!r}")
    if applying.check_kind(actuator) == "dry-run":
        raise ConfigError("the live controller needs an engine: --actuator docker or kubernetes")
    dataset = read_dataset(store)
    fleet = applying.hosts(actuator, settings, hosts)
    engine = applying.actuator(actuator, dataset.programs, fleet, settings, namespace=namespace, serving=True)
    assert engine is not None  # not a dry-run
    freq = pd.Timedelta(settings.freq)
    return Controller(
        store=store,
        source=PrometheusSource(settings.prometheus_url, settings.prometheus_query, freq=freq, clock=clock),
        load=LoadReader(settings.prometheus_url, live.inflight_metric, live.busy_metric),
        engine=engine,
        hosts=fleet,
        forecaster=FORECASTERS[forecaster](settings),
        settings=settings,
        live=live,
        clock=clock,
        journal=LiveJournal(journal),
    )
