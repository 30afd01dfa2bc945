"""Pre-warming from expected cost: whether a program should be loaded for the next bin.

With p the probability of at least one invocation in the bin (models.timing), loading it wastes its memory
for the bin with probability 1 - p and not loading it costs a cold start with probability p, so

    load  iff  p x cold-start cost > (1 - p) x cost of holding the container for one bin,

and unload as soon as that stops being true. The same rule sizes busy programs clone by clone: the k-th clone is
held when P(invoked) x P(peak >= k | invoked) (models.timing.PeakModel) makes it worth holding, so a busy program
keeps the clones its recent peaks make likely to be needed in the next bin, not the mean of its demand.

The one knob is the cost ratio: what a cold start is worth in container-minutes of holding. Its default, 10, is
the valuation the industry's 10-minute keep-alive (OpenWhisk, Azure Functions, AWS Lambda) implies: by the
ski-rental argument, keeping a container until it has been idle for cold-start cost / holding cost is the
2-competitive policy when nothing is known of the future, so a 10-minute keep-alive is that policy for a cold
start worth 10 container-minutes. With the same valuation, decisions from a timing model spend memory where
invocations are likely rather than after every invocation. A program's criticality scales its cold-start cost
(critical 4, standard 1, best-effort 0.25).
"""

from __future__ import annotations

import numpy as np

from clonecast.errors import ConfigError
from policy.targets import chance_at_least

COLD_START_COST_MINUTES = 10.0


def worth_loading(probability: np.ndarray, cold_start_cost_bins: np.ndarray | float) -> np.ndarray:
    """Load decisions (same shape as `probability`): expected cold-start cost above the expected idle cost.

    `cold_start_cost_bins` is a cold start's cost in bins of holding the container, per program ([P], or [P, 1]
    against a [P, T] matrix) or one for all."""
    cost = np.asarray(cold_start_cost_bins, dtype=float)
    if probability.ndim == 2 and cost.ndim == 1:
        cost = cost[:, None]
    return probability * cost > 1.0 - probability


def clones_worth_holding(
    chance: np.ndarray, survival: np.ndarray, cold_start_cost_bins: np.ndarray | float
) -> np.ndarray:
    """Clones worth holding for the next bin [P]: the k-th when P(>= k busy at once) = `chance` [P] (of an
    invocation) x `survival` [P, K] (P(peak >= k | invoked), non-increasing in k) is worth loading."""
    return worth_loading(chance[:, None] * survival, cold_start_cost_bins).sum(axis=1)


def cold_start_cost_bins(minutes: float, bin_minutes: float, weight: np.ndarray) -> np.ndarray:
    """A cold start's cost in bins of holding, per program [P]: `minutes` x its criticality weight."""
    if minutes < 0:
        raise ConfigError(f"the cold-start cost must be >= 0 container-minutes, got {minutes}")
    return minutes / bin_minutes * np.asarray(weight, dtype=float)


def forecast_invocation_probability(quantiles: dict[int, np.ndarray], split: int) -> np.ndarray:
    """P(>= 1 invocation) in each trace bin [P, T] from forecast quantiles of the forecast bin it lies in.

    `quantiles` maps a percent level to requests per forecast bin [P, T]; P(>= 1 request in the forecast bin)
    is 1 - the highest level whose quantile is below one request (0 when even the highest is), and a forecast
    bin of `split` trace bins spreads it evenly: 1 - (1 - P)^(1 / split) per trace bin."""
    levels = sorted(quantiles)
    stacked = np.stack([quantiles[q] for q in levels], axis=-1)  # [P, T, K]
    one = 1.0 - 1e-9  # a request
    in_bin = np.where((stacked < one).all(axis=-1), 0.0, chance_at_least(stacked, np.array(levels) / 100.0, one))
    return 1.0 - (1.0 - in_bin) ** (1.0 / max(split, 1))


def with_clock(chance: np.ndarray, clock: np.ndarray) -> np.ndarray:
    """The chance of an invocation raised to the clock model's where that is higher (models.timing.ClockModel):
    the idle-time hazard and the forecast know nothing of a timer idle for longer than they have seen."""
    return np.maximum(chance, clock)


def better_of(timing: np.ndarray, forecast: np.ndarray, invoked: np.ndarray, lead: int = 1) -> np.ndarray:
    """Per program and bin [P, T], the probability of whichever model has the lower squared error (Brier) on
    that program's bins known at the decision (ending `lead` bins before), the timing model's on a tie."""
    hit = (invoked > 0).astype(float)
    lead_by = np.cumsum((forecast - hit) ** 2 - (timing - hit) ** 2, axis=1)  # < 0: the forecast has been better
    known = np.zeros_like(lead_by)
    known[:, lead:] = lead_by[:, :-lead]
    return np.where(known < 0, forecast, timing)
