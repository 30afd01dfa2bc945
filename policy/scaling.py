"""The dynamic scaling policy: a control loop that corrects the cloning manager's targets as reality arrives.

Each tick it compares the observed concurrency with the predicted one:

- under-prediction (observed > `panic_ratio` x predicted and above what the pool serves at
  `panic_utilisation`): panic mode at once, sized for the observed load, at most `panic_max_extra`
  clones per program above the prediction and `panic_budget` in total (weighted fair shares: a program
  of criticality weight w gets w clones per round, so critical programs scale up first, then the largest
  deficits); panic holds for `panic_hold_s`;
- over-prediction: idle clones go only after `stabilise_s` (the target is the highest wanted over that
  window, and never below the clones busy within it), never below the program's floor;
- health: unhealthy clones are replaced (the target counts healthy clones only).

Every change of a program's target is journaled with its reason.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from policy.observation import PoolView, Programs
from policy.targets import ready_bin, warm_targets


@dataclass(frozen=True)
class ScalingSettings:
    """Knobs of the control loop."""

    cadence_s: float = 5.0
    panic_ratio: float = 1.5
    panic_utilisation: float = 0.7
    panic_max_extra: int = 10
    panic_budget: int | None = None
    panic_hold_s: float = 60.0
    stabilise_s: float = 120.0
    journal_limit: int = 100_000


@dataclass(frozen=True)
class Decision:
    """One change of a program's target."""

    time_s: float
    program: int
    before: int
    after: int
    reason: str


@dataclass
class Journal:
    """Target changes with reasons (bounded; counts by reason are kept for all of them)."""

    limit: int
    entries: list[Decision] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def record(
        self, time_s: float, changed: np.ndarray, before: np.ndarray, after: np.ndarray, reasons: np.ndarray
    ) -> None:
        for p in changed.tolist():
            reason = str(reasons[p])
            self.counts[reason] = self.counts.get(reason, 0) + 1
            if len(self.entries) < self.limit:
                self.entries.append(Decision(time_s, p, int(before[p]), int(after[p]), reason))


_NO_CAP = np.iinfo(np.int64).max


class ScalingPolicy:
    """Vectorised over programs; `step` returns the corrected target for each."""

    def __init__(
        self, settings: ScalingSettings, floor: np.ndarray, cap: np.ndarray, weight: np.ndarray | None = None
    ) -> None:
        self.settings = settings
        self.floor, self.cap = floor, cap
        self.weight = np.ones(len(floor)) if weight is None else weight  # [P] criticality: cold-start cost
        self.panic_until = np.full(len(floor), -np.inf)
        keep = max(1, round(settings.stabilise_s / settings.cadence_s))
        self.history: deque[np.ndarray] = deque(maxlen=keep)
        self.last = np.zeros(len(floor), np.int64)
        self.journal = Journal(settings.journal_limit)

    def step(
        self,
        now_s: float,
        predicted: np.ndarray,
        predicted_load: np.ndarray,
        observed_load: np.ndarray,
        per_clone: np.ndarray,
        current: np.ndarray,
        used: np.ndarray | None = None,
        unhealthy: np.ndarray | None = None,
    ) -> np.ndarray:
        """Target clones [P] from the manager's `predicted` clones and load (requests in flight); `used` is
        the peak of busy clones over the stabilisation window."""
        cfg = self.settings
        serving = np.maximum(current, 0) * per_clone * cfg.panic_utilisation
        under = (observed_load > cfg.panic_ratio * predicted_load) & (observed_load > serving)
        self.panic_until = np.where(under, now_s + cfg.panic_hold_s, self.panic_until)
        panicking = now_s < self.panic_until
        sized = np.ceil(observed_load / np.maximum(per_clone * cfg.panic_utilisation, 1e-9)).astype(np.int64)
        extra = np.where(panicking, np.clip(sized - predicted, 0, cfg.panic_max_extra), 0)
        if cfg.panic_budget is not None and extra.sum() > cfg.panic_budget:
            extra = _within_budget(extra, cfg.panic_budget, self.weight)
        wanted = predicted + extra
        self.history.append(wanted)
        stabilised = np.max(np.stack(self.history), axis=0)  # scale down only after the window
        if used is not None:
            stabilised = np.maximum(stabilised, used)
        target = np.clip(np.maximum(stabilised, self.floor), 0, self.cap)
        reasons = np.select(
            [extra > 0, target > stabilised, target > wanted],
            ["under-prediction: panic", "floor", "over-prediction: held for stabilisation"],
            "forecast",
        )
        if unhealthy is not None and unhealthy.any():
            target = target + unhealthy  # replacements come up while the failing clones are removed
            reasons = np.where(unhealthy > 0, "replace unhealthy clones", reasons)
        changed = np.flatnonzero(target != self.last)
        if changed.size:
            self.journal.record(now_s, changed, self.last, target, reasons)
        self.last = target
        return target


def _within_budget(extra: np.ndarray, budget: int, weight: np.ndarray | None = None) -> np.ndarray:
    """Weighted fair shares of the budget: the k-th extra clone of a program comes at k / weight (a critical
    program takes four clones per round of a standard one's), ties to the largest deficits, then the lower
    program index (deterministic); with equal weights, one clone each in turn, largest deficits first."""
    weight = np.ones(len(extra)) if weight is None else weight
    program = np.repeat(np.arange(len(extra)), extra)  # [C] one candidate per extra clone
    kth = np.arange(len(program)) - np.repeat(np.cumsum(extra) - extra, extra) + 1  # [C] 1..extra[p]
    order = np.lexsort((program, -extra[program], kth / weight[program]))[:budget]
    return np.bincount(program[order], minlength=len(extra)).astype(extra.dtype)


class ScalingController:
    """The manager's per-bin targets through the scaling policy, acting a cold start ahead (simulator and live)."""

    def __init__(
        self,
        trace: Programs,
        targets: np.ndarray,
        predicted_requests: np.ndarray,
        settings: ScalingSettings,
        floor: np.ndarray | None = None,
        weight: np.ndarray | None = None,
    ) -> None:
        """`weight` [P]: what a cold start of each program costs relative to a standard one's (criticality)."""
        self.cadence_s = settings.cadence_s
        self.duration_s = trace.duration_ms / 1000.0
        self.bin_s = trace.bin.total_seconds()
        self.cold_start_s = trace.cold_start_s
        self.per_clone = trace.concurrency.astype(float)
        self.window_bins = round(settings.stabilise_s / self.bin_s)  # bins of busy peaks kept (0: this bin)
        self.policy = ScalingPolicy(
            settings, np.zeros(trace.programs, np.int64), np.full(trace.programs, _NO_CAP), weight
        )
        self.refresh(targets, predicted_requests, floor)

    def refresh(self, targets: np.ndarray, predicted_requests: np.ndarray, floor: np.ndarray | None = None) -> None:
        """New per-bin targets and predicted requests [P, T] (a new forecast; bins count from its first), and the
        clones each program keeps whatever the load [P]; the control loop's state (panic, stabilisation, journal)
        carries on."""
        self.targets = targets  # [P, T] clones per bin
        duration_s = self.duration_s if self.duration_s.ndim == 2 else self.duration_s[:, None]  # [P, T] or [P, 1]
        self.predicted_load = predicted_requests * duration_s / self.bin_s  # [P, T] in flight
        if floor is not None:
            self.hold(floor)

    def hold(self, floor: np.ndarray) -> None:
        """The clones each program keeps whatever the load [P], from now (a floor is not stabilised)."""
        self.policy.floor = floor

    @property
    def journal(self) -> Journal:
        return self.policy.journal

    def target(self, obs: PoolView, unhealthy: np.ndarray | None = None) -> np.ndarray:
        """Clones to hold now [P]; `unhealthy` [P] failing clones to replace (a live engine reports them)."""
        now = obs.now_s
        ahead = ready_bin(now, self.cold_start_s, self.cadence_s, self.bin_s, self.targets.shape[1])
        predicted = warm_targets(self.targets, obs.bin, ahead)
        return self.policy.step(
            now,
            predicted,
            self.predicted_load[:, obs.bin],
            obs.mean_inflight(10.0),
            self.per_clone,
            obs.warm + obs.warming,
            used=obs.peak_busy(max(0, obs.bin - self.window_bins)),
            unhealthy=unhealthy,
        )
