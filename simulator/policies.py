"""The simulator's policies (`POLICY_HELP`: keep-alive, hybrid histogram, reactive, seed, predictive, oracle)
behind one protocol, for Mode A (loaded or not, per bin) and Mode B (target containers, at the policy's own
cadence). No policy but the oracle sees the future: Mode A matrices at bin t depend on bins < t only, Mode B
controllers read the past through PoolObservation, forecast-driven policies use forecasts made at least a cold
start before the bin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from clonecast.errors import ConfigError, InputError, SchemaError
from models.timing import ClockModel, PeakModel, TimingModel
from policy.prewarm import (
    COLD_START_COST_MINUTES,
    better_of,
    clones_worth_holding,
    cold_start_cost_bins,
    forecast_invocation_probability,
    with_clock,
    worth_loading,
)
from policy.scaling import ScalingController, ScalingSettings
from policy.targets import Objective, quantile_at, ready_bin, warm_targets
from simulator.apps import keepalive_loaded
from simulator.forecasts import ForecastView, forecast_view
from simulator.histogram import HybridHistogram
from simulator.pool import EmptyStart, PoolController, PoolObservation
from simulator.trace import SimTrace
from traces.clones import clones_needed

KNATIVE_GRACE_S = 30.0  # scale-to-zero grace period
FORECAST_CADENCE_S = 5.0  # how often forecast-driven controllers act


@dataclass(frozen=True)
class SimContext:
    """What policies get besides the trace: the warm-up length and an optional forecast frame."""

    warmup_bins: int
    forecast: pd.DataFrame | None = None
    view: ForecastView | None = None  # forecast_view() output, built once
    timing: dict[tuple[TimingModel | ClockModel, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def chance(self, model: TimingModel | ClockModel, trace: SimTrace, lead: int) -> np.ndarray:
        """The timing or clock model's replay over the trace [P, T], made once per model and lead (a sweep reuses
        it)."""
        counts, chance = self.timing.get((model, lead), (None, None))
        if counts is not trace.counts or chance is None:
            if isinstance(model, ClockModel):
                chance = model.replay(trace.counts, trace.start, trace.bin, lead)
            else:
                chance = model.replay(trace.counts, lead)
            self.timing[(model, lead)] = (trace.counts, chance)
        return chance

    def forecast_for(self, trace: SimTrace) -> ForecastView:
        if self.view is not None:
            return self.view
        if self.forecast is None:
            raise InputError("this policy needs a forecast frame (none given); pass one or choose another policy")
        return forecast_view(self.forecast, trace, decision_lead(trace))


def decision_lead(trace: SimTrace) -> pd.Timedelta:
    """How long before a bin a forecast-driven policy acts on it: a cold start plus one decision interval."""
    return pd.Timedelta(seconds=float(trace.cold_start_s.max()) + FORECAST_CADENCE_S)


class Policy(Protocol):
    """A warm-pool policy in both simulator modes."""

    @property
    def name(self) -> str: ...

    def loaded(self, trace: SimTrace, ctx: SimContext) -> np.ndarray:
        """Mode A: loaded before the invocations of each bin [P, T]."""
        ...

    def controller(self, trace: SimTrace, ctx: SimContext) -> PoolController:
        """Mode B: the controller that sets target containers."""
        ...


class AppLevelController(EmptyStart):
    """Mode B for app-level policies: while loaded, keep the recent peak of containers needed (at least 1)."""

    def __init__(self, loaded: np.ndarray, trace: SimTrace, peak_bins: int) -> None:
        self.loaded = loaded
        self.peak_bins = max(1, peak_bins)
        self.cadence_s = trace.bin.total_seconds()

    def target(self, obs: PoolObservation) -> np.ndarray:
        peaks = obs.past_peaks()[:, -self.peak_bins :]
        recent = peaks.max(axis=1) if peaks.shape[1] else np.zeros(len(self.loaded), dtype=np.int64)
        return np.where(self.loaded[:, obs.bin], np.maximum(recent, 1), 0)


@dataclass(frozen=True)
class KeepAlive:
    """Fixed keep-alive: a container stays warm `minutes` after its last request (inf = forever)."""

    minutes: float = 10.0

    @property
    def name(self) -> str:
        return f"keepalive:{_number(self.minutes)}"

    def loaded(self, trace: SimTrace, ctx: SimContext) -> np.ndarray:
        keep = math.inf if math.isinf(self.minutes) else trace.bins_for(self.minutes)
        return keepalive_loaded(trace.counts, keep)

    def controller(self, trace: SimTrace, ctx: SimContext) -> PoolController:
        window = trace.bins if math.isinf(self.minutes) else trace.bins_for(self.minutes)
        return AppLevelController(self.loaded(trace, ctx), trace, window)


@dataclass(frozen=True)
class Hybrid:
    """SITW's hybrid histogram policy (simulator/histogram.py); Mode B keeps the last 10 minutes' peak while loaded."""

    params: HybridHistogram = field(default_factory=HybridHistogram)

    @property
    def name(self) -> str:
        default = HybridHistogram()
        return "hybrid-histogram" + ("" if self.params == default else f":{_number(self.params.range_minutes)}")

    def loaded(self, trace: SimTrace, ctx: SimContext) -> np.ndarray:
        return self.params.loaded(trace.counts, trace.bin_minutes)

    def controller(self, trace: SimTrace, ctx: SimContext) -> PoolController:
        return AppLevelController(self.loaded(trace, ctx), trace, trace.bins_for(10))


class KpaController(EmptyStart):
    """Knative's KPA: stable (60 s) and panic (6 s) windows of concurrency, 70 % target per container."""

    def __init__(self, trace: SimTrace, stable_s: float, panic_s: float, utilisation: float) -> None:
        self.cadence_s = 2.0
        self.stable_s, self.panic_s = stable_s, panic_s
        self.per_container = np.maximum(trace.concurrency * utilisation, 1e-9)
        self.panic_until = np.full(trace.programs, -1.0)
        self.zero_since = np.full(trace.programs, np.inf)
        self.current = np.zeros(trace.programs, dtype=np.int64)

    def target(self, obs: PoolObservation) -> np.ndarray:
        now = obs.tick * obs.tick_s
        stable = np.ceil(obs.mean_inflight(self.stable_s) / self.per_container).astype(np.int64)
        panic = np.ceil(obs.mean_inflight(self.panic_s) / self.per_container).astype(np.int64)
        ready = obs.warm
        enter = (panic >= 2 * np.maximum(ready, 1)) & (panic > 0)
        self.panic_until = np.where(enter, now + self.stable_s, self.panic_until)
        panicking = now < self.panic_until
        wanted = np.where(panicking, np.maximum(np.maximum(panic, stable), self.current), stable)
        # scale to zero only after the grace period with nothing to do
        self.zero_since = np.where(wanted == 0, np.minimum(self.zero_since, now), np.inf)
        hold = (wanted == 0) & (now - self.zero_since < KNATIVE_GRACE_S)
        wanted = np.where(hold, np.minimum(self.current, 1), wanted)
        self.current = wanted
        return wanted


@dataclass(frozen=True)
class ReactiveKpa:
    """Knative-like reactive autoscaling; knob: the stable window (seconds)."""

    stable_s: float = 60.0
    panic_s: float = 6.0
    utilisation: float = 0.7

    @property
    def name(self) -> str:
        return "reactive-kpa" + ("" if self.stable_s == 60 else f":{_number(self.stable_s)}")

    def loaded(self, trace: SimTrace, ctx: SimContext) -> np.ndarray:
        """At bin resolution KPA keeps a program up for the stable window plus the scale-to-zero grace."""
        return keepalive_loaded(trace.counts, trace.bins_for((self.stable_s + KNATIVE_GRACE_S) / 60))

    def controller(self, trace: SimTrace, ctx: SimContext) -> PoolController:
        return KpaController(trace, self.stable_s, self.panic_s, self.utilisation)


class HpaController:
    """Kubernetes HPA: every 15 s, desired = ceil(mean concurrency / (70 % x capacity)), 10 % tolerance,
    scale-down stabilised over a window (highest recommendation kept), never below `min_replicas`."""

    def __init__(self, trace: SimTrace, utilisation: float, stabilise_s: float, min_replicas: int) -> None:
        self.cadence_s = 15.0
        self.capacity = trace.concurrency.astype(float)
        self.utilisation = utilisation
        self.min_replicas = min_replicas
        self.history: list[np.ndarray] = []
        self.keep = max(1, round(stabilise_s / self.cadence_s))

    def initial(self, trace: SimTrace) -> np.ndarray:
        """The Deployment exists before the trace: min_replicas warm from the start."""
        return np.full(trace.programs, self.min_replicas, dtype=np.int64)

    def target(self, obs: PoolObservation) -> np.ndarray:
        current = np.maximum(obs.warm + obs.warming, 0)
        load = obs.mean_inflight(self.cadence_s)
        ratio = np.divide(load, np.maximum(current, 1) * self.capacity * self.utilisation)
        desired = np.ceil(np.maximum(current, 1) * ratio).astype(np.int64)
        within = (np.abs(ratio - 1.0) <= 0.1) & (current > 0)
        desired = np.where(within, current, desired)
        self.history = [*self.history[-(self.keep - 1) :], desired] if self.keep > 1 else [desired]
        stabilised = np.max(np.stack(self.history), axis=0)  # scale down to the highest recent recommendation
        return np.maximum(stabilised, self.min_replicas)


@dataclass(frozen=True)
class ReactiveHpa:
    """HPA-like reactive autoscaling; knob: the scale-down stabilisation window (minutes)."""

    stabilise_minutes: float = 5.0
    utilisation: float = 0.7
    min_replicas: int = 1

    @property
    def name(self) -> str:
        suffix = "" if self.stabilise_minutes == 5 else f":{_number(self.stabilise_minutes)}"
        return "reactive-hpa" + suffix + ("" if self.min_replicas == 1 else f",min{self.min_replicas}")

    def loaded(self, trace: SimTrace, ctx: SimContext) -> np.ndarray:
        """With min_replicas >= 1 a Deployment always has a pod; with 0 it keeps one for the window."""
        if self.min_replicas >= 1:
            return np.ones(trace.counts.shape, dtype=bool)
        return keepalive_loaded(trace.counts, trace.bins_for(self.stabilise_minutes + 0.25))

    def controller(self, trace: SimTrace, ctx: SimContext) -> PoolController:
        return HpaController(trace, self.utilisation, self.stabilise_minutes * 60, self.min_replicas)


class ForecastController(EmptyStart):
    """Targets from a forecast matrix, acted on a cold start (plus one cadence) ahead of each bin."""

    def __init__(self, trace: SimTrace, targets: np.ndarray) -> None:
        self.cadence_s = FORECAST_CADENCE_S
        self.targets = targets  # [P, T] containers wanted per bin
        self.bin_s = trace.bin.total_seconds()
        self.cold_start_s = trace.cold_start_s

    def target(self, obs: PoolObservation) -> np.ndarray:
        now = obs.tick * obs.tick_s
        ahead = ready_bin(now, self.cold_start_s, self.cadence_s, self.bin_s, self.targets.shape[1])
        return warm_targets(self.targets, obs.bin, ahead)


@dataclass(frozen=True)
class Seed:
    """The seed's CloneContainers rule: clones = predicted volume, x1.2 when confidence < 0.8.

    Confidence of a forecast = 1 - (q90 - q10) / (q90 + q10) (1 = a point, 0 = an interval from 0)."""

    @property
    def name(self) -> str:
        return "seed"

    def clones(self, trace: SimTrace, ctx: SimContext) -> np.ndarray:
        """Clones per bin [P, T]: the predicted requests of the forecast bin, x1.2 when unsure."""
        view = ctx.forecast_for(trace)
        volume = view.get("yhat")
        low = view.get("q10") if "q10" in view else volume
        high = view.get("q90") if "q90" in view else volume
        confidence = 1.0 - np.divide(high - low, high + low, out=np.zeros_like(high), where=(high + low) > 0)
        return np.ceil(volume * np.where(confidence < 0.8, 1.2, 1.0) - 1e-9).astype(np.int64)

    def loaded(self, trace: SimTrace, ctx: SimContext) -> np.ndarray:
        return self.clones(trace, ctx) >= 1

    def controller(self, trace: SimTrace, ctx: SimContext) -> PoolController:
        return ForecastController(trace, self.clones(trace, ctx))


class ScaledController(ScalingController, EmptyStart):
    """The cloning manager's scaling controller in the replay: the pool starts empty."""


class HoldingController(ScaledController):
    """The scaling controller with a floor of the clones worth holding (policy.prewarm.clones_worth_holding):
    at each bin's start, for that bin, from the bins that have ended (clones asked for then are ready a cold
    start into it); and for the next bin from the bins ended a bin earlier, in the last cold start (plus one
    decision interval) of the bin, so that they are warm when it begins."""

    def __init__(
        self,
        trace: SimTrace,
        targets: np.ndarray,
        per_bin: np.ndarray,
        settings: ScalingSettings,
        chance: tuple[np.ndarray, np.ndarray],
        cost: np.ndarray,
        peaks: PeakModel,
    ) -> None:
        super().__init__(trace, targets, per_bin, settings, weight=trace.weight)
        self.now_chance, self.next_chance = chance  # [P, T] P(invoked), known 1 and 2 bins ahead
        self.cost = cost  # [P] a cold start in bins of holding
        self.peaks = peaks.state(trace.programs, trace.bin)
        self.at = -1  # the bin the holds were set for
        self.holds = (np.zeros(trace.programs, np.int64), np.zeros(trace.programs, np.int64))

    def target(self, obs: PoolObservation) -> np.ndarray:  # type: ignore[override]
        bins = self.now_chance.shape[1]
        if obs.bin != self.at:
            past = obs.past_peaks()
            for b in range(max(self.at, 0), obs.bin):
                self.peaks.observe(past[:, b])
            survival = self.peaks.survival()
            ahead = min(obs.bin + 1, bins - 1)
            self.holds = (
                clones_worth_holding(self.now_chance[:, obs.bin], survival, self.cost),
                clones_worth_holding(self.next_chance[:, ahead], survival, self.cost),
            )
            self.at = obs.bin
        ready = ready_bin(obs.now_s, self.cold_start_s, self.cadence_s, self.bin_s, bins)
        now, ahead = self.holds
        self.hold(np.where(ready > obs.bin, np.maximum(now, ahead), now))
        return super().target(obs)


@dataclass(frozen=True)
class Predictive:
    """Timing model + forecaster + cloning manager + dynamic scaling policy.

    Whether a program is loaded at all comes from the chance of an invocation (the timing model's or the
    forecast's, whichever has predicted the program better so far, raised to the clock model's at a timer's minute
    of the hour) and the expected cost of a cold start
    (`cold_start_cost` container-minutes, policy.prewarm). In Mode B the same rule sizes the pool clone by
    clone: the k-th clone is held for a bin when P(invoked) x P(peak >= k | invoked) (models.timing.PeakModel)
    makes it worth its memory, and goes as soon as it does not. The scaling policy corrects under-prediction
    at once (panic when the load exceeds the forecast's at each program's demand quantile; critical programs
    first under a panic budget) and replaces unhealthy clones. With a fixed `level` the manager also
    provisions each program at that demand quantile (Little's law on the forecast)."""

    level: int | None = None
    cold_start_cost: float = COLD_START_COST_MINUTES  # container-minutes of holding a cold start is worth
    objective: Objective = field(default_factory=Objective)
    # the holding rule decides when idle clones go: a stabilisation window would be a fixed keep-alive on top
    scaling: ScalingSettings = field(default_factory=lambda: ScalingSettings(stabilise_s=FORECAST_CADENCE_S))
    timing: TimingModel = field(default_factory=TimingModel)
    clock: ClockModel = field(default_factory=ClockModel)
    peaks: PeakModel = field(default_factory=PeakModel)

    @property
    def name(self) -> str:
        knobs = [] if self.level is None else [f"q{self.level}"]
        knobs += [] if self.cold_start_cost == COLD_START_COST_MINUTES else [f"c{_number(self.cold_start_cost)}"]
        return "predictive" + (":" + ",".join(knobs) if knobs else "")

    def chance(self, trace: SimTrace, ctx: SimContext, lead: int = 1) -> np.ndarray:
        """P(>= 1 invocation) per bin [P, T] known `lead` bins ahead: the timing model's or the forecast's,
        whichever has predicted the program better so far, or the clock model's where that is higher."""
        view = ctx.forecast_for(trace)
        forecast = forecast_invocation_probability(_quantiles(view), round(view.width / trace.bin))
        chance = better_of(ctx.chance(self.timing, trace, lead), forecast, trace.counts, lead)
        return with_clock(chance, ctx.chance(self.clock, trace, lead))

    def cost_bins(self, trace: SimTrace) -> np.ndarray:
        """A cold start's cost per program in bins of holding a clone [P]."""
        return cold_start_cost_bins(self.cold_start_cost, trace.bin_minutes, trace.weight)

    def prewarm(self, trace: SimTrace, ctx: SimContext, lead: int = 1) -> np.ndarray:
        """Load decisions per bin [P, T] from the chance of an invocation known `lead` bins ahead and the
        cold-start cost."""
        return worth_loading(self.chance(trace, ctx, lead), self.cost_bins(trace))

    def demand(self, trace: SimTrace, ctx: SimContext) -> tuple[np.ndarray, ForecastView]:
        """Requests per forecast bin at each program's quantile [P, T]."""
        view = ctx.forecast_for(trace)
        quantiles = _quantiles(view)
        if self.level is not None:
            levels = np.full(trace.programs, self.level / 100.0)
        else:
            levels = self.objective.levels(trace.cold_start_s, trace.memory_mb, trace.gpus, view.width, trace.weight)
        return quantile_at(levels, quantiles), view

    def loaded(self, trace: SimTrace, ctx: SimContext) -> np.ndarray:
        """Mode A: held when the expected cost of a cold start exceeds that of holding (`prewarm`), decided at
        the bin boundary from the bins before."""
        return self.prewarm(trace, ctx)

    def controller(self, trace: SimTrace, ctx: SimContext) -> PoolController:
        demand, view = self.demand(trace, ctx)
        per_bin = demand * (trace.bin / view.width)
        if self.level is None:  # sized clone by clone only; the forecast's load still sets the panic threshold
            targets = np.zeros(per_bin.shape, np.int64)
        else:
            duration_s = trace.duration_ms / 1000.0
            targets = clones_needed(per_bin, duration_s, trace.concurrency, trace.bin, expected=demand)
        # a clone for bin t started during bin t - 1 (a cold start ahead) is decided from the bins before that
        lead = 1 + int(np.ceil(decision_lead(trace) / trace.bin))
        chance = (self.chance(trace, ctx, 1), self.chance(trace, ctx, lead))
        return HoldingController(trace, targets, per_bin, self.scaling, chance, self.cost_bins(trace), self.peaks)


@dataclass(frozen=True)
class Oracle:
    """Perfect foresight: loaded exactly when invoked (Mode A); Mode B is scored analytically."""

    @property
    def name(self) -> str:
        return "oracle"

    def loaded(self, trace: SimTrace, ctx: SimContext) -> np.ndarray:
        return trace.counts > 0

    def controller(self, trace: SimTrace, ctx: SimContext) -> PoolController:
        raise NotImplementedError("the oracle is scored analytically in Mode B (mode_b.oracle_result)")


POLICY_HELP = {
    "keepalive:<minutes>": "fixed keep-alive after each execution (keepalive:10 is the common default; inf = forever)",
    "hybrid-histogram[:<range minutes>]": "SITW's per-app histogram of idle times (pre-warm + keep-alive windows)",
    "reactive-kpa[:<stable window s>]": "Knative-like: 60 s stable / 6 s panic windows, 70 % target",
    "reactive-hpa[:<stabilisation min>][,min0]": "HPA-like: 70 % utilisation, 15 s sync, 5-minute scale-down window",
    "seed": "the seed's rule: clones = predicted volume, x1.2 when confidence < 0.8",
    "predictive[:q<level>][,c<minutes>]": "timing model + forecast + cloning manager + scaling policy: each clone "
    "held while the expected cold-start cost (a cold start = c container-minutes, default 10) exceeds the expected "
    "idle cost; with q<level>, also clones at that demand quantile of the forecast",
    "oracle": "perfect foresight: the lower bound",
}


def make_policy(spec: str) -> Policy:
    """A policy from its name, e.g. keepalive:10, hybrid-histogram, reactive-hpa:5,min0, predictive:q95."""
    name, _, knob = spec.strip().partition(":")
    try:
        if name == "keepalive":
            return KeepAlive(float(knob or 10))
        if name == "hybrid-histogram":
            return Hybrid(HybridHistogram(range_minutes=float(knob)) if knob else HybridHistogram())
        if name == "reactive-kpa":
            return ReactiveKpa(stable_s=float(knob or 60))
        if name == "reactive-hpa":
            window, _, floor = knob.partition(",")
            return ReactiveHpa(stabilise_minutes=float(window or 5), min_replicas=0 if floor == "min0" else 1)
        if name == "seed" and not knob:
            return Seed()
        if name == "predictive":
            return _predictive(knob)
        if name == "oracle" and not knob:
            return Oracle()
    except ValueError as e:
        raise ConfigError(f"bad knob in policy {spec!r}: {e}") from e
    raise ConfigError(f"unknown policy {spec!r}; choose one of: {', '.join(POLICY_HELP)}")


def _quantiles(view: ForecastView) -> dict[int, np.ndarray]:
    """The forecast's quantile columns by percent level (predictive needs them)."""
    quantiles = {int(c[1:]): view.get(c) for c in view.values if c.startswith("q")}
    if not quantiles:
        raise SchemaError(
            "the forecast has no quantile columns (q<level>); predictive needs them: forecast with intervals"
        )
    return quantiles


def _predictive(knob: str) -> Predictive:
    """predictive[:q<level>][,c<cold-start cost in container-minutes>], in either order."""
    options: dict[str, float] = {}
    for part in filter(None, knob.split(",")):
        key, value = part[:1], part[1:]
        if key not in ("q", "c") or key in options:
            raise ValueError(f"expected q<level> and/or c<minutes>, got {part!r}")
        options[key] = float(value)
    level = options.get("q")
    return Predictive(
        level=None if level is None else int(level), cold_start_cost=options.get("c", COLD_START_COST_MINUTES)
    )


def _number(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:g}"
