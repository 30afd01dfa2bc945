"""Forecast accuracy: MASE against the daily seasonal naive, WAPE, pinball loss and
the coverage of central intervals."""

from __future__ import annotations

import numpy as np

CENTRAL = {50: (25, 75), 80: (10, 90), 90: (5, 95)}  # interval level -> (low, high) quantile levels


def mase_scale(history: np.ndarray, season: int) -> np.ndarray:
    """Per series [P]: in-sample mean absolute error of the seasonal naive (the MASE denominator)."""
    diffs = np.abs(history[:, season:] - history[:, :-season])  # [P, T - m]
    scale = diffs.mean(axis=1)
    return np.where(scale > 0, scale, np.maximum(np.abs(history).mean(axis=1), 1e-9))


def mase(actual: np.ndarray, point: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per series [P] for forecasts [P, O, H]."""
    return np.abs(actual - point).mean(axis=(1, 2)) / scale


def wape(actual: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Per series [P]: sum of absolute errors over sum of actuals."""
    total = np.abs(actual).sum(axis=(1, 2))
    return np.abs(actual - point).sum(axis=(1, 2)) / np.where(total > 0, total, 1.0)


def pinball(actual: np.ndarray, quantiles: dict[int, np.ndarray], scale: np.ndarray) -> np.ndarray:
    """Per series [P]: mean pinball loss over the levels, scaled like MASE."""
    losses = []
    for level, q in quantiles.items():
        tau = level / 100.0
        diff = actual - q
        losses.append(np.maximum(tau * diff, (tau - 1) * diff).mean(axis=(1, 2)))
    return np.mean(losses, axis=0) / scale


def coverage(actual: np.ndarray, quantiles: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Per central interval level, per series [P]: the share of actuals inside [low, high]."""
    out = {}
    for level, (low, high) in CENTRAL.items():
        if low in quantiles and high in quantiles:
            inside = (actual >= quantiles[low]) & (actual <= quantiles[high])
            out[level] = inside.mean(axis=(1, 2))
    return out
