"""When the next invocation comes: a per-program timing model for sparse programs.

For each program and upcoming bin (the trace's own resolution, a minute on Azure), the probability of at
least one invocation, from the hazard of its idle times: with g bins since its last invoked bin,

    h_p(g) = P(invoked g bins after the last invocation | not invoked since)
           = (n_p(g) + k * h_c(g)) / (N_p(>= g) + k)

where n_p(g) counts the program's completed idle times of g bins, N_p(>= g) those of at least g, and h_c is
the hazard pooled over programs of the same rhythm c (mean idle time, by powers of two; one more class for
programs with no idle time yet). `prior_weight` k is how many of its own idle times a program needs before
they count as much as the pooled hazard. The pooled hazard is a Kaplan-Meier estimate: idle times still
running count in the risk sets of the ages they have passed, so long gaps are not under-counted.

What this captures: exact periods of timer-triggered programs (h near 1 at the period once a few periods have
been seen; each idle time longer than one bin is spread 1/4, 1/2, 1/4 over its neighbours so that a bin of
jitter does not matter), the spread of idle times of irregular programs, busy programs (h(1) near 1), and
programs with little history (the pooled hazard of programs like them). A program never invoked gets 0:
there is nothing to go on.

No look-ahead: `probability()` for bin t is computed before `observe()` sees bin t. The same state serves a
replay over a trace (`replay`) and a live controller (one `observe` per bin).

`ClockModel` adds what the hazard of idle times cannot see: timers fire at a fixed minute of the hour (cron
schedules: hourly, every few hours, daily), so a program whose every invocation so far fell at one minute of the
hour may be invoked at that minute of any later hour, however long it has been idle. Its probability there is the
rate measured across all such programs so far (learned, no knob); the policy takes the larger of the two models'
(policy.prewarm.with_clock).

`PeakModel` is its companion for busy programs: how many clones a program needs at once in a bin where it is
invoked, P(peak >= k | invoked), from its past bins' peaks, the recent ones weighing more (half-life ten minutes:
the span over which the anchors, a 10-minute keep-alive and SITW's policy, keep a peak, so that a burst's level is
held after a few of its bins rather than after an hour's worth of them). Together they give the chance that a k-th
clone is needed in the next bin: P(invoked) x P(peak >= k | invoked) (policy.prewarm.clones_worth_holding).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

CLASSES = 12  # rhythm classes by mean idle time 1, 2-3, 4-7, ... bins (2^11 = 2048 > a day of minutes)
NO_HISTORY = CLASSES  # the class of programs with no completed idle time
SPREAD = (0.25, 0.5, 0.25)  # an idle time of g > 1 bins counts at g - 1, g, g + 1: a bin of jitter does not matter


@dataclass(frozen=True)
class TimingModel:
    """Knobs of the timing model (bins are the trace's own)."""

    prior_weight: float = 8.0  # k: own idle times worth as much as the pooled hazard
    max_gap: int = 1440  # idle times longer than this share one cell (a day of minutes)

    def state(self, programs: int) -> TimingState:
        return TimingState(self, programs)

    def replay(self, counts: np.ndarray, lead: int = 1) -> np.ndarray:
        """Probability of >= 1 invocation in each bin over a trace [P, T], from the bins ending `lead` bins
        before it (lead 1: every bin before it; lead 2: a decision taken during the previous bin)."""
        if lead < 1:
            raise ValueError(f"lead must be >= 1 bin, got {lead}")
        state = self.state(counts.shape[0])
        n_bins = counts.shape[1]
        out = np.zeros(counts.shape, dtype=float)
        for t in range(n_bins):
            target = t + lead - 1
            if target < n_bins:
                out[:, target] = state.ahead(lead)[:, -1]
            state.observe(counts[:, t] > 0)
        return out


class TimingState:
    """Per-program idle-time counts and the pooled hazards, advanced one bin at a time."""

    def __init__(self, model: TimingModel, programs: int) -> None:
        self.k = model.prior_weight
        self.cells = model.max_gap + 2  # cell g = idle time of g bins; the last one holds the longer ones
        self.last_cell = self.cells - 1
        self.age = np.zeros(programs, dtype=np.int64)  # bins since the last invoked bin, 0 = never invoked
        self.own = np.zeros((programs, self.cells))  # n_p(g), spread over neighbours
        self.own_total = np.zeros(programs)
        self.below = np.zeros(programs)  # sum of own[p, v] for v < age[p] (so N_p(>= age) = total - below)
        self.gap_sum = np.zeros(programs)
        self.gaps = np.zeros(programs)
        self.pooled = np.zeros((CLASSES + 1, self.cells))  # completed idle times per rhythm class
        self.rhythm = np.full(programs, NO_HISTORY)  # class [P]: log2 of the mean idle time, or NO_HISTORY
        self._hazard: np.ndarray | None = None  # pooled hazard [C+1, cells], rebuilt after each observe

    def pooled_hazard(self) -> np.ndarray:
        """Kaplan-Meier hazard per class and age [C+1, cells], idle times still running counted as at risk."""
        if self._hazard is None:
            alive = self.age > 0
            where = self.rhythm[alive] * self.cells + np.minimum(self.age[alive], self.last_cell)
            running = np.bincount(where, minlength=self.pooled.size).reshape(self.pooled.shape).astype(float)
            # a running idle time of age a has survived ages < a: at risk there, no event
            at_risk = np.cumsum((self.pooled + running)[:, ::-1], axis=1)[:, ::-1] - running
            self._hazard = np.divide(self.pooled, at_risk, out=np.zeros_like(self.pooled), where=at_risk > 0)
        return self._hazard

    def probability(self) -> np.ndarray:
        """P(>= 1 invocation in the next bin) per program [P], from what was observed so far."""
        return self.ahead(1)[:, 0]

    def ahead(self, steps: int) -> np.ndarray:
        """P(>= 1 invocation) in each of the next `steps` bins [P, steps]: the renewal recursion over the
        hazard (after an invocation the age starts again at 1); 0 for programs never invoked."""
        n = len(self.age)
        out = self._first_passage(np.maximum(self.age, 1), self.below, steps)  # the first invocation from now
        if steps > 1:
            afresh = self._first_passage(np.ones(n, dtype=np.int64), np.zeros(n), steps)
            for k in range(1, steps):  # ... plus those after an earlier one at step j
                out[:, k] += (out[:, :k] * afresh[:, k - 1 :: -1][:, :k]).sum(axis=1)
        out[self.age == 0] = 0.0
        return out

    def within(self, steps: int) -> np.ndarray:
        """P(>= 1 invocation in the next `steps` bins together) per program [P]; 0 for programs never invoked."""
        first = self._first_passage(np.maximum(self.age, 1), self.below, steps).sum(axis=1)
        return np.where(self.age > 0, first, 0.0)

    def _first_passage(self, age: np.ndarray, below: np.ndarray, steps: int) -> np.ndarray:
        """P(the next invocation comes exactly k + 1 bins from now | at `age` now) [P, steps]; `below` [P] is
        the sum of the program's own counts under `age`."""
        rows = np.arange(len(age))[:, None]
        cells = np.minimum(age[:, None] + np.arange(steps), self.last_cell)  # [P, steps]
        own = self.own[rows, cells]
        passed = np.where(cells < self.last_cell, own, 0.0)  # the last cell is not left behind
        under = below[:, None] + np.cumsum(passed, axis=1) - passed
        at_risk = np.maximum(self.own_total[:, None] - under, 0.0)
        hazard = (own + self.k * self.pooled_hazard()[self.rhythm[:, None], cells]) / (at_risk + self.k)
        survive = np.cumprod(1.0 - hazard, axis=1)
        return hazard * np.concatenate([np.ones((len(age), 1)), survive[:, :-1]], axis=1)

    def observe(self, invoked: np.ndarray) -> None:
        """Advance one bin: `invoked` [P] says which programs had at least one invocation in it."""
        invoked = np.asarray(invoked, dtype=bool)
        ended = np.flatnonzero(invoked & (self.age > 0))
        gap = np.minimum(self.age[ended], self.last_cell)
        np.add.at(self.pooled, (self.rhythm[ended], gap), 1.0)
        exact = gap == 1  # back to back: no jitter to absorb
        rows = np.concatenate([ended, ended, ended])
        right = np.where(exact, 1, np.minimum(gap + 1, self.last_cell))
        cells = np.concatenate([np.where(exact, 1, gap - 1), gap, right])
        np.add.at(self.own, (rows, cells), np.repeat(SPREAD, len(ended)))
        self.own_total[ended] += 1.0
        self.gap_sum[ended] += self.age[ended]
        self.gaps[ended] += 1.0
        mean = self.gap_sum[ended] / self.gaps[ended]
        self.rhythm[ended] = np.clip(np.floor(np.log2(mean)).astype(np.int64), 0, CLASSES - 1)
        # the next bin's age: 1 after an invocation, one more otherwise (the running sum follows the age)
        waiting = np.flatnonzero(~invoked & (self.age > 0))
        passed = np.minimum(self.age[waiting], self.last_cell)
        self.below[waiting] += np.where(passed < self.last_cell, self.own[waiting, passed], 0.0)
        self.age[waiting] += 1
        self.age[invoked] = 1
        self.below[invoked] = self.own[invoked, 0]  # nothing lies below age 1
        self._hazard = None


@dataclass(frozen=True)
class ClockModel:
    """P(invoked) at the minute of the hour where a program's every invocation so far fell (timers), pooled."""

    period_minutes: float = 60.0  # a timer's schedule repeats within this (cron: the hour)

    def state(self, programs: int, start: pd.Timestamp, bin: pd.Timedelta) -> ClockState:
        """For bins of width `bin` from `start` on (the first bin `observe` will see)."""
        return ClockState(self, programs, start, bin)

    def replay(self, counts: np.ndarray, start: pd.Timestamp, bin: pd.Timedelta, lead: int = 1) -> np.ndarray:
        """P(>= 1 invocation) in each bin over a trace [P, T] from the bins ending `lead` bins before it."""
        if lead < 1:
            raise ValueError(f"lead must be >= 1 bin, got {lead}")
        state = self.state(counts.shape[0], start, bin)
        out = np.zeros(counts.shape, dtype=float)
        for t in range(counts.shape[1] - lead + 1):
            out[:, t + lead - 1] = state.ahead(lead)[:, -1]
            state.observe(counts[:, t] > 0)
        return out


class ClockState:
    """Invoked bins per place in the period [P, places] and the pooled rate, advanced one bin at a time."""

    def __init__(self, model: ClockModel, programs: int, start: pd.Timestamp, bin: pd.Timedelta) -> None:
        period = pd.Timedelta(minutes=model.period_minutes)
        places, offset = period / bin, (start - start.floor(period)) / bin
        # bins that do not tile the period, or do not start on a bin's boundary in it, have no place to go by
        self.places = int(places) if places == int(places) and offset == int(offset) else 0
        self.place = int(offset) % self.places if self.places else 0  # of the next bin
        self.at = np.zeros((programs, max(self.places, 1)))
        self.invoked = np.zeros(programs)
        self.at_risk = 0.0  # (program, bin) pairs at a place where all the program's invocations fell
        self.hits = 0.0  # ... and invoked

    def aligned(self, offset: int) -> np.ndarray:
        """Programs invoked before whose every invocation fell at the place of the bin `offset` after the next [P]."""
        if not self.places:
            return np.zeros(len(self.invoked), dtype=bool)
        return (self.invoked > 0) & (self.at[:, (self.place + offset) % self.places] == self.invoked)

    def ahead(self, steps: int) -> np.ndarray:
        """P(>= 1 invocation) in each of the next `steps` bins [P, steps]: the pooled rate where aligned, else 0."""
        rate = self.hits / self.at_risk if self.at_risk else 0.0
        return rate * np.stack([self.aligned(k) for k in range(steps)], axis=1)

    def within(self, steps: int) -> np.ndarray:
        """P(>= 1 invocation in the next `steps` bins together) per program [P]."""
        return 1.0 - np.prod(1.0 - self.ahead(steps), axis=1)

    def observe(self, invoked: np.ndarray) -> None:
        """Advance one bin: `invoked` [P] says which programs had at least one invocation in it."""
        invoked = np.asarray(invoked, dtype=bool)
        if not self.places:
            return
        aligned = self.aligned(0)
        self.at_risk += aligned.sum()
        self.hits += (aligned & invoked).sum()
        self.at[invoked, self.place] += 1.0
        self.invoked[invoked] += 1.0
        self.place = (self.place + 1) % self.places


@dataclass(frozen=True)
class PeakModel:
    """The distribution of a program's per-bin peak of clones needed at once over the bins it is invoked in."""

    half_life_minutes: float = 10.0  # of a past bin's weight
    max_clones: int = 512  # peaks above this count as this

    def state(self, programs: int, bin: pd.Timedelta) -> PeakState:
        return PeakState(self, programs, bin)


class PeakState:
    """Decayed counts of past peaks per program, advanced one bin at a time."""

    def __init__(self, model: PeakModel, programs: int, bin: pd.Timedelta) -> None:
        self.decay = 0.5 ** (bin / pd.Timedelta(minutes=model.half_life_minutes))
        self.max_clones = model.max_clones
        self.weights = np.zeros((programs, model.max_clones + 1))  # [P, peak] decayed bins with that peak

    def observe(self, peaks: np.ndarray) -> None:
        """Advance one bin: `peaks` [P] is the most clones needed at once in it (0: not invoked)."""
        self.weights *= self.decay
        peak = np.clip(np.asarray(peaks, dtype=np.int64), 0, self.max_clones)
        self.weights[np.arange(len(peak)), peak] += 1.0

    def survival(self) -> np.ndarray:
        """P(peak >= k | invoked) for k = 1..K [P, K], K the highest peak seen (at least 1); 1 at k = 1."""
        seen = np.flatnonzero(self.weights.any(axis=0))
        top = max(1, int(seen[-1]) if seen.size else 1)
        tail = np.cumsum(self.weights[:, top:0:-1], axis=1)[:, ::-1]  # [P, top]: weight of peaks >= k
        out = np.divide(tail, tail[:, :1], out=np.zeros_like(tail), where=tail[:, :1] > 0)
        out[:, 0] = 1.0
        return out


def brier(probability: np.ndarray, counts: np.ndarray, start: int = 0) -> float:
    """Mean squared error of the per-bin invocation probability [P, T] against what happened, from `start`,
    over programs invoked before each bin (the bins the model has something to say about)."""
    p, hit = probability[:, start:], (counts[:, start:] > 0).astype(float)
    seen = np.cumsum(counts > 0, axis=1)[:, start:] > (counts[:, start:] > 0)  # invoked strictly before
    return float(((p - hit) ** 2)[seen].mean()) if seen.any() else float("nan")


def calibration(probability: np.ndarray, counts: np.ndarray, start: int = 0, bins: int = 10) -> np.ndarray:
    """Reliability table [bins, 3]: mean predicted probability, observed frequency and count per decile bin."""
    p = probability[:, start:].ravel()
    hit = (counts[:, start:] > 0).ravel()
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    n = np.bincount(which, minlength=bins).astype(float)
    mean_p = np.divide(np.bincount(which, p, bins), n, out=np.full(bins, np.nan), where=n > 0)
    freq = np.divide(np.bincount(which, hit.astype(float), bins), n, out=np.full(bins, np.nan), where=n > 0)
    return np.column_stack([mean_p, freq, n])
