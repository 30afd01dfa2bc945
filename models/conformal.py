"""Online conformal calibration: quantiles from the residuals of forecasts whose targets are already known.

For each series and step h, the residuals actual - point (divided by the series' scale) are collected as
their targets pass; at an origin the level-q quantile of the most recent `window` of them is added to the
point forecast. Nothing after the origin is used, and the intervals follow drift. Series with too few
residuals of their own borrow the pooled ones.

Adaptive levels (as in adaptive conformal inference, Gibbs and Candes 2021): the quantiles of a recent
window are exchangeable only as long as the series is; where it drifts, a level's issued quantile is passed
more or less often than the level says. So each series also steers every level: when the targets of an hour
of origins become known, the level read from the residuals moves by `gain` times the gap between the
nominal share below it and the share seen below the issued quantile, which keeps the long-run share of each
series close to nominal.

The same procedure runs in backtests (models.backtest) and at serving (models.forecaster.TrainedForecaster):
both warm it with held-out residuals of a model fitted before them and feed it the forecasts of the origins
whose actuals have arrived, with the same levels (models.base.DEFAULT_LEVELS).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.base import DEFAULT_LEVELS


@dataclass(frozen=True)
class OnlineConformal:
    """Knobs: how many recent origins of residuals to use, and how often offsets are recomputed."""

    window: int = 2016  # a week of 5-minute origins
    refresh: int = 12  # recompute offsets every hour of origins
    min_residuals: int = 48
    gain: float = 0.05  # level steering per refresh (0: plain split conformal on the recent window)

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
        issued = np.empty((n_programs, n_origins, horizon, len(levels)))  # [P, O, H, L]
        offsets = np.zeros((n_programs, len(levels), horizon))  # [P, L, H]
        steer = np.tile(np.asarray(levels, dtype=float), (n_programs, 1))  # [P, L] levels read from residuals
        counted = np.zeros((n_origins, horizon), dtype=bool)  # test targets already fed back
        for i in range(n_origins):
            if i % self.refresh == 0:
                known = ~counted[:i] & (bins[first_test : first_test + i] < origins[i])  # [i, H]
                if known.any():
                    below = actual[:, :i][:, known, None] < issued[:, :i][:, known]  # [P, k, L]
                    steer += self.gain * (np.asarray(levels)[None, :] - 100.0 * below.mean(axis=1))
                    np.clip(steer, 0.5, 99.5, out=steer)
                    counted[:i] |= known
                offsets = self._offsets(first_test + i, origins[i], residual, bins, steer, offsets)
            issued[:, i] = point[:, i, :, None] + offsets.transpose(0, 2, 1) * scale[:, None, None]
        out = {level: issued[..., k] for k, level in enumerate(levels)}
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
        levels: np.ndarray,
        previous: np.ndarray,
    ) -> np.ndarray:
        """Offsets [P, L, H]: per series the `levels` [P, L] percentiles of its recent known residuals."""
        first = max(0, upto - self.window)
        offsets = previous.copy()
        for h in range(residual.shape[2]):
            known = bins[first:upto, h] < origin  # targets already observed at this origin
            recent = residual[:, first:upto, h][:, known]  # [P, k]
            if recent.shape[1] >= self.min_residuals:
                offsets[:, :, h] = _percentiles(recent, levels)
            elif recent.size >= self.min_residuals:
                offsets[:, :, h] = _percentiles(np.broadcast_to(recent.ravel(), (len(recent), recent.size)), levels)
        return offsets


def _percentiles(samples: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Row-wise percentiles (linear interpolation, as np.percentile): samples [P, k], levels [P, L] -> [P, L]."""
    ordered = np.sort(samples, axis=1)
    position = levels / 100.0 * (ordered.shape[1] - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, ordered.shape[1] - 1)
    rows = np.arange(len(ordered))[:, None]
    fraction = position - low
    return ordered[rows, low] * (1 - fraction) + ordered[rows, high] * fraction
