"""The cloning manager's target rule: warm clones per program and bin from forecast quantiles.

The quantile used per program comes from a cold-start objective, not a fixed multiplier. With a cost
per second of cold-start wait and a cost of an idle clone, the newsvendor critical ratio

    level = c_cold / (c_cold + c_idle),  c_cold = cold_start_s x cost_per_cold_second,
                                        c_idle = (memory GB x cost_per_gb_hour + GPUs x cost_per_gpu_hour) x bin hours

is the demand quantile that minimises expected cost: long cold starts push it up, expensive idle clones
(GPUs, big memory) push it down. Alternatively a target cold-start % gives level = 1 - pct / 100.
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
        self, cold_start_s: np.ndarray, memory_mb: np.ndarray, gpus: np.ndarray, bin: pd.Timedelta
    ) -> np.ndarray:
        """The demand quantile (0..1) to provision for, per program [P]."""
        if self.target_cold_start_pct is not None:
            level = np.full(len(cold_start_s), 1.0 - self.target_cold_start_pct / 100.0)
        else:
            cold = cold_start_s * self.cost_per_cold_second
            hours = bin / pd.Timedelta("1h")
            idle = (memory_mb / 1024.0 * self.cost_per_gb_hour + gpus * self.cost_per_gpu_hour) * hours
            level = np.divide(cold, cold + idle, out=np.ones_like(cold), where=(cold + idle) > 0)
        return np.clip(level, self.min_level, self.max_level)


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


def clones_needed(
    requests: np.ndarray,
    duration_s: np.ndarray,
    concurrency: np.ndarray,
    bin: pd.Timedelta,
    expected: np.ndarray | None = None,
) -> np.ndarray:
    """Clones that serve `requests` per bin by Little's law, at least one where a request is expected.

    `requests` [P, ...] per bin; `duration_s` broadcastable to it; `concurrency` [P]; `expected` (same
    shape as `requests`, default `requests`) is the count that decides "a request is expected", e.g. the
    requests of a wider forecast bin the bin lies in.
    """
    shape = (-1,) + (1,) * (requests.ndim - 1)
    busy = requests * duration_s / bin.total_seconds()  # mean requests in flight
    need = np.ceil(busy / concurrency.reshape(shape) - 1e-9)
    present = (requests if expected is None else expected) >= 1.0 - 1e-9
    return np.where(present, np.maximum(need, 1), 0).astype(np.int64)
