"""Mode B: container-pool simulation, vectorised over programs, stepped in ticks (1 s by default).

Requests arrive inside their bin at seeded uniform times (a Poisson process conditioned on the bin's
count), each runs the bin's mean duration, and a container serves `concurrency` requests at once. A
request that finds no free slot on a warm container is a cold start: a new container is started for it
and it waits the program's cold start (the activator path of Knative). A policy sets a target number of
containers at its own cadence: above the pool it pre-warms (containers are ready after the cold start),
below it removes idle containers only. Metrics count the evaluation window (after the warm-up).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Protocol

import numpy as np

from simulator.apps import cold_start_summary
from simulator.trace import SimTrace

MAX_DURATION_S = 3600.0


class PoolObservation:
    """What a pool policy may see at a decision: the past only."""

    def __init__(self, trace: SimTrace, tick_s: float, window_s: int) -> None:
        self.trace = trace
        self.tick_s = tick_s
        self.tick = 0
        self.bin = 0
        self.warm = np.zeros(trace.programs, dtype=np.int64)
        self.warming = np.zeros(trace.programs, dtype=np.int64)
        self.busy_containers = np.zeros(trace.programs, dtype=np.int64)
        # [P, T] most containers needed at once per bin: requests in flight, served or waiting for a cold start, over
        # a container's slots (a waiting request needs a container too: busy ones alone would hide it); what the
        # live front door's in-flight gauge shows
        self.peak = np.zeros((trace.programs, trace.bins), dtype=np.int64)
        self._window = max(2, round(window_s / tick_s) + 1)
        self._cumulative = np.zeros((self._window, trace.programs), dtype=np.int64)  # ring of running sums
        self._total = np.zeros(trace.programs, dtype=np.int64)
        self._recorded = -1  # last tick recorded

    @property
    def now_s(self) -> float:
        return self.tick * self.tick_s

    def peak_busy(self, since_bin: int) -> np.ndarray:
        """Most containers needed at once from bin `since_bin` through the current bin [P]."""
        return self.peak[:, since_bin : self.bin + 1].max(axis=1)

    def past_counts(self) -> np.ndarray:
        """Invocations of the bins that have ended [P, bin]."""
        return self.trace.counts[:, : self.bin]

    def past_peaks(self) -> np.ndarray:
        """Most containers needed at once in the bins that have ended [P, bin]."""
        return self.peak[:, : self.bin]

    def mean_inflight(self, seconds: float) -> np.ndarray:
        """Mean in-flight requests (served or waiting) over the last `seconds` recorded [P]."""
        last = self._recorded
        if last < 0:
            return np.zeros(len(self._total))
        n = min(self._window - 1, max(1, round(seconds / self.tick_s)), last + 1)
        now = self._cumulative[last % self._window]
        before = self._cumulative[(last - n) % self._window] if last - n >= 0 else 0
        return (now - before) / n

    def _record(self, inflight: np.ndarray) -> None:
        self._total += inflight
        self._recorded = self.tick
        self._cumulative[self.tick % self._window] = self._total


class PoolController(Protocol):
    """Sets the wanted number of containers per program; None keeps the pool as it is."""

    cadence_s: float

    def initial(self, trace: SimTrace) -> np.ndarray:
        """Containers warm when the trace starts (a Deployment's minimum replicas)."""
        ...

    def target(self, obs: PoolObservation) -> np.ndarray | None: ...


class EmptyStart:
    """Controllers whose pool starts empty."""

    def initial(self, trace: SimTrace) -> np.ndarray:
        return np.zeros(trace.programs, dtype=np.int64)


@dataclass(frozen=True)
class ModeBResult:
    """Mode B outcome of one policy on the evaluation window."""

    policy: str
    apps: int
    invocations: int
    cold_starts: int
    cold_start_pct: float
    p75_app_cold_start_pct: float
    median_app_cold_start_pct: float
    added_latency_p50_s: float
    added_latency_p99_s: float
    added_latency_mean_s: float
    idle_container_s: float
    idle_memory_gb_s: float
    idle_gpu_s: float
    provisioning_container_s: float
    peak_containers: int
    idle_memory_pct_of_keepalive10: float | None = None
    decisions: dict[str, int] | None = None  # target changes by reason, for controllers that journal them
    mode: str = "b"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class PoolSettings:
    """Simulation settings of Mode B."""

    tick_s: float = 1.0
    seed: int = 7
    arrivals: str = "uniform"  # or "start": every request at the start of its bin
    window_s: int = 600  # how much in-flight history policies may average over


def simulate_pool(
    name: str,
    trace: SimTrace,
    controller: PoolController,
    warmup_bins: int,
    settings: PoolSettings | None = None,
    progress: object | None = None,
) -> ModeBResult:
    """Run the pool simulation; metrics over bins >= warmup_bins."""
    cfg = settings or PoolSettings()
    rng = np.random.default_rng(cfg.seed)
    n_programs = trace.programs
    per_bin = max(1, round(trace.bin.total_seconds() / cfg.tick_s))  # ticks per bin
    cold_ticks = np.maximum(np.round(trace.cold_start_s / cfg.tick_s).astype(np.int64), 0)  # [P]
    duration = np.clip(trace.duration_ms / 1000.0, 0.0, MAX_DURATION_S)
    duration_ticks = np.maximum(np.round(duration / cfg.tick_s).astype(np.int64), 1)  # [P, T]
    conc = trace.concurrency.astype(np.int64)
    ring = int(duration_ticks.max() + cold_ticks.max() + 2)
    departures = np.zeros((ring, n_programs), dtype=np.int64)  # requests finishing at tick
    ready = np.zeros((ring, n_programs), dtype=np.int64)  # containers becoming warm at tick
    starting = np.zeros((ring, n_programs), dtype=np.int64)  # waiting requests that start at tick
    programs = np.arange(n_programs)
    cadence = max(1, round(controller.cadence_s / cfg.tick_s))

    obs = PoolObservation(trace, cfg.tick_s, cfg.window_s)
    obs.warm += np.asarray(controller.initial(trace), dtype=np.int64)
    warm, warming, busy, waiting = obs.warm, obs.warming, np.zeros(n_programs, np.int64), np.zeros(n_programs, np.int64)
    cold = np.zeros(n_programs, dtype=np.int64)
    invocations = np.zeros(n_programs, dtype=np.int64)
    idle_sum = np.zeros(n_programs, dtype=float)
    provisioning = 0.0
    peak_containers = 0
    first_scored = warmup_bins * per_bin
    total_ticks = trace.bins * per_bin
    arrivals = np.zeros((n_programs, per_bin), dtype=np.int64)

    for tick in range(total_ticks):
        b, offset = divmod(tick, per_bin)
        slot = tick % ring
        obs.tick, obs.bin = tick, b
        if offset == 0:
            arrivals = _spread(trace.counts[:, b], per_bin, cfg.arrivals, rng)  # [P, per_bin]
        # containers become warm; requests waiting for them start; requests finish
        warm += ready[slot]
        warming -= ready[slot]
        busy += starting[slot]
        waiting -= starting[slot]
        busy -= departures[slot]
        ready[slot] = 0
        starting[slot] = 0
        departures[slot] = 0
        # the policy acts on what it has seen
        if tick % cadence == 0:
            obs.busy_containers = -(-busy // conc)
            wanted = controller.target(obs)
            if wanted is not None:
                wanted = np.maximum(np.asarray(wanted, dtype=np.int64), 0)
                grow = np.maximum(wanted - warm - warming, 0)
                if grow.any():
                    ready[(tick + cold_ticks) % ring, programs] += grow
                    warming += grow
                idle = warm - (-(-busy // conc))
                shrink = np.minimum(np.maximum(warm + warming - wanted, 0), np.maximum(idle, 0))
                warm -= shrink
        # requests of this tick: free slots first, cold starts for the rest
        now = arrivals[:, offset]
        free = np.maximum(warm * conc - busy, 0)
        served = np.minimum(now, free)
        late = now - served
        dur = duration_ticks[:, b]
        busy += served
        departures[(tick + dur) % ring, programs] += served
        if late.any():
            extra = -(-late // conc)
            at = (tick + cold_ticks) % ring
            ready[at, programs] += extra
            warming += extra
            starting[at, programs] += late
            waiting += late
            departures[(tick + cold_ticks + dur) % ring, programs] += late
        in_use = -(-busy // conc)
        inflight = busy + waiting
        np.maximum(obs.peak[:, b], -(-inflight // conc), out=obs.peak[:, b])
        obs._record(inflight)
        if tick >= first_scored:
            cold += late
            invocations += now
            idle_sum += np.maximum(warm - in_use, 0)
            provisioning += float(warming.sum())
            peak_containers = max(peak_containers, int((warm + warming).sum()))
        if progress is not None and offset == 0:
            progress.advance(1)  # type: ignore[attr-defined]

    result = _result(name, trace, cold, invocations, idle_sum * cfg.tick_s, provisioning * cfg.tick_s, peak_containers)
    journal = getattr(controller, "journal", None)
    return replace(result, decisions=dict(journal.counts)) if journal is not None else result


def _spread(counts: np.ndarray, ticks: int, how: str, rng: np.random.Generator) -> np.ndarray:
    """Arrival counts per tick inside one bin [P, ticks]."""
    if how == "start" or ticks == 1:
        out = np.zeros((len(counts), ticks), dtype=np.int64)
        out[:, 0] = counts
        return out
    return rng.multinomial(counts, np.full(ticks, 1.0 / ticks))


def _result(
    name: str,
    trace: SimTrace,
    cold: np.ndarray,
    invocations: np.ndarray,
    idle_s: np.ndarray,
    provisioning_s: float,
    peak: int,
) -> ModeBResult:
    p50, p99, mean = _latency(cold, invocations, trace.cold_start_s)
    return ModeBResult(
        policy=name,
        **cold_start_summary(cold, invocations),
        added_latency_p50_s=p50,
        added_latency_p99_s=p99,
        added_latency_mean_s=mean,
        idle_container_s=float(idle_s.sum()),
        idle_memory_gb_s=float((idle_s * trace.memory_mb).sum() / 1024.0),
        idle_gpu_s=float((idle_s * trace.gpus).sum()),
        provisioning_container_s=provisioning_s,
        peak_containers=peak,
    )


def _latency(cold: np.ndarray, invocations: np.ndarray, cold_start_s: np.ndarray) -> tuple[float, float, float]:
    """Request-weighted p50, p99 and mean of the added latency (a cold start waits its cold start)."""
    total = int(invocations.sum())
    if total == 0:
        return 0.0, 0.0, 0.0
    values = np.concatenate([[0.0], cold_start_s])
    weights = np.concatenate([[invocations.sum() - cold.sum()], cold]).astype(float)
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order]) / total
    p50 = float(values[order][np.searchsorted(cumulative, 0.50)])
    p99 = float(values[order][np.searchsorted(cumulative, 0.99)])
    return p50, p99, float((weights * values).sum() / total)


def oracle_result(trace: SimTrace, warmup_bins: int) -> ModeBResult:
    """Perfect foresight: every container warm exactly when a request needs it, gone when done."""
    invocations = trace.counts[:, warmup_bins:].sum(axis=1)
    zero = np.zeros(trace.programs)
    return _result("oracle", trace, zero.astype(np.int64), invocations, zero, 0.0, 0)
