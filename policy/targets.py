"""The cloning manager's target rule: warm clones per program and bin from forecast quantiles.

The quantile used per program comes from a cold-start objective, not a fixed multiplier. With a cost
per second of cold-start wait and a cost of an idle clone, the newsvendor critical ratio

    level = c_cold / (c_cold + c_idle),  c_cold = cold_start_s x cost_per_cold_second,
                                        c_idle = (memory GB x cost_per_gb_hour + GPUs x cost_per_gpu_hour) x bin hours

is the demand quantile that minimises expected cost: long cold starts push it up, expensive idle clones
(GPUs, big memory) push it down. A program's criticality weighs its cold starts (c_cold x weight; critical 4,
standard 1, best-effort 0.25, traces.frames.CRITICALITY). Alternatively a target cold-start % gives
level = 1 - pct / (100 x weight): a critical program gets a quarter of the standard cold-start rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Objective:
    """What a cold start and an idle clone cost (relative units); or a target cold-start %."""

    cost_per_cold_second: float = 5e-3
    cost_per_gb_hour: float = 5e-3
    cost_per_gpu_hour: float = 0.5
    target_cold_start_pct: float | None = None
    min_level: float = 0.5
    max_level: float = 0.99

    def levels(
        self,
        cold_start_s: np.ndarray,
        memory_mb: np.ndarray,
        gpus: np.ndarray,
        bin: pd.Timedelta,
        weight: np.ndarray | None = None,
    ) -> np.ndarray:
        """The demand quantile (0..1) to provision for, per program [P]; `weight` [P] is what a cold start of
        each program costs relative to a standard program's (its criticality; default 1)."""
        weight = np.ones(len(cold_start_s)) if weight is None else np.asarray(weight, dtype=float)
        if self.target_cold_start_pct is not None:
            level = 1.0 - self.target_cold_start_pct / 100.0 / weight
        else:
            cold = cold_start_s * self.cost_per_cold_second * weight
            hours = bin / pd.Timedelta("1h")
            idle = (memory_mb / 1024.0 * self.cost_per_gb_hour + gpus * self.cost_per_gpu_hour) * hours
            level = np.divide(cold, cold + idle, out=np.ones_like(cold), where=(cold + idle) > 0)
        return np.clip(level, self.min_level, self.max_level)


def chance_at_least(values: np.ndarray, levels: np.ndarray, k: np.ndarray | float) -> np.ndarray:
    """P(X >= k) from quantiles `values` [..., L] of X at `levels` [L] (0..1, ascending): 1 - the highest level
    whose quantile is below k (an empirical step CDF; 1 when none is)."""
    below = values < k
    return 1.0 - np.where(below, levels, 0.0).max(axis=-1)


def quantile_at(levels: np.ndarray, quantiles: dict[int, np.ndarray]) -> np.ndarray:
    """Per program, the forecast at its own level, interpolated between the available quantile columns.

    `levels` [P] in 0..1; `quantiles` maps a percent level to a [P, ...] array; outside the available
    levels the nearest column is used.
    """
    known = np.array(sorted(quantiles), dtype=float) / 100.0  # [K]
    stacked = np.stack([quantiles[k] for k in sorted(quantiles)], axis=-1)  # [P, ..., K]
    if len(known) == 1:
        return stacked[..., 0]
    position = np.clip(np.searchsorted(known, levels) - 1, 0, len(known) - 2)  # [P] left column
    low, high = known[position], known[position + 1]
    weight = np.clip((levels - low) / (high - low), 0.0, 1.0)  # [P]
    shape = (-1,) + (1,) * (stacked.ndim - 2)
    left = np.take_along_axis(stacked, position.reshape(*shape, 1), axis=-1)[..., 0]
    right = np.take_along_axis(stacked, (position + 1).reshape(*shape, 1), axis=-1)[..., 0]
    w = weight.reshape(shape)
    return left * (1 - w) + right * w


def ready_bin(now_s: float, cold_start_s: np.ndarray, cadence_s: float, bin_s: float, bins: int) -> np.ndarray:
    """Per program [P], the bin (0..bins-1; `now_s` counts from the start of bin 0) that clones asked for now
    must be warm for: the one where now + the program's cold start + one decision interval falls, since
    the next decision would be too late for it."""
    return np.clip((now_s + cold_start_s + cadence_s) // bin_s, 0, bins - 1).astype(np.int64)


def warm_targets(targets: np.ndarray, current: int, ready: np.ndarray) -> np.ndarray:
    """Clones to hold now [P] of per-bin `targets` [P, T]: the current bin's, or the ready bin's when more."""
    return np.maximum(targets[:, current], targets[np.arange(len(targets)), ready])
