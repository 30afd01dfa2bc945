"""Online conformal calibration: quantiles from the residuals of forecasts whose targets are already known.

For each series and step h, the residuals actual - point (divided by the series' scale) are collected as
their targets pass; at an origin the level-q quantile of the most recent `window` of them is added to the
point forecast. Nothing after the origin is used, and the intervals follow drift. Series with too few
residuals of their own borrow the pooled ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_LEVELS = (5, 10, 25, 50, 75, 90, 95)


@dataclass(frozen=True)
class OnlineConformal:
    """Knobs: how many recent origins of residuals to use, and how often offsets are recomputed."""

    window: int = 2016  # a week of 5-minute origins
    refresh: int = 12  # recompute offsets every hour of origins
    min_residuals: int = 48

    def quantiles(
        self,
        point: np.ndarray,
        actual: np.ndarray,
        origins: np.ndarray,
        scale: np.ndarray,
        levels: Sequence[int] = DEFAULT_LEVELS,
        warm: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> dict[int, np.ndarray]:
        """Quantile forecasts [P, O, H] per level for point forecasts [P, O, H] made at `origins` [O].

        `actual` [P, O, H] is only read for targets before each origin. `warm` = (normalised residuals
        [P, N, H], their target bins [N, H]) from forecasts made before the first origin.
        """
        n_programs, n_origins, horizon = point.shape
        residual = (actual - point) / scale[:, None, None]  # [P, O, H]
        bins = origins[:, None] + np.arange(horizon)[None, :]  # [O, H] bin of each target
        if warm is not None:
            residual = np.concatenate([warm[0], residual], axis=1)
            bins = np.concatenate([warm[1], bins], axis=0)
        first_test = residual.shape[1] - n_origins
        out = {level: np.empty_like(point) for level in levels}
        offsets = np.zeros((n_programs, len(levels), horizon))  # [P, L, H]
        for i in range(n_origins):
            if i % self.refresh == 0:
                offsets = self._offsets(first_test + i, origins[i], residual, bins, levels, offsets)
            for k, level in enumerate(levels):
                out[level][:, i, :] = point[:, i, :] + offsets[:, k, :] * scale[:, None]
        ordered = sorted(out)
        for level in ordered:  # counts are not negative, quantiles do not cross
            out[level] = np.maximum(out[level], 0.0)
        for low, high in itertools.pairwise(ordered):
            out[high] = np.maximum(out[high], out[low])
        return out

    def _offsets(
        self,
        upto: int,
        origin: int,
        residual: np.ndarray,
        bins: np.ndarray,
        levels: Sequence[int],
        previous: np.ndarray,
    ) -> np.ndarray:
        first = max(0, upto - self.window)
        offsets = previous.copy()
        for h in range(residual.shape[2]):
            known = bins[first:upto, h] < origin  # targets already observed at this origin
            recent = residual[:, first:upto, h][:, known]  # [P, k]
            if recent.shape[1] >= self.min_residuals:
                offsets[:, :, h] = np.percentile(recent, levels, axis=1).T
            elif recent.size >= self.min_residuals:
                offsets[:, :, h] = np.percentile(recent.ravel(), levels)[None, :]
        return offsets
