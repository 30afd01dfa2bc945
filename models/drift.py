"""Drift: has the demand moved away from what the champion learnt, or have its errors grown?

- input drift: population stability index (PSI) of each program's demand relative to its own reference
  level (log1p of value / reference mean), recent window against the reference window before it, pooled
  over programs; plus the median ratio of recent to reference level.
- forecast-error drift: the champion's MASE over the recent window (forecasts from every origin in it,
  scaled like its training backtest) against the MASE logged when it was trained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from models.forecaster import TrainedForecaster
from models.metrics import mase_scale
from models.panel import Panel


@dataclass(frozen=True)
class DriftSettings:
    recent_bins: int = 288  # one day of 5-minute bins
    reference_bins: int = 2016  # the week before it
    psi_threshold: float = 0.25  # > 0.25: a major shift (credit-scoring rule of thumb)
    error_ratio_threshold: float = 1.5  # recent MASE > 1.5x the training backtest's
    stride: int = 3  # bins between the recent window's forecast origins


@dataclass(frozen=True)
class DriftReport:
    psi: float
    level_ratio: float
    recent_mase: float
    trained_mase: float
    drifted: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def error_ratio(self) -> float:
        return self.recent_mase / self.trained_mase if self.trained_mase > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"error_ratio": self.error_ratio}


def psi(reference: np.ndarray, recent: np.ndarray, bins: int = 10) -> float:
    """Population stability index of two samples over the reference's deciles."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if len(edges) < 3:
        edges = np.linspace(min(reference.min(), recent.min()), max(reference.max(), recent.max()) + 1e-9, bins + 1)
    edges[0], edges[-1] = -np.inf, np.inf
    expected = np.histogram(reference, edges)[0] / max(len(reference), 1) + 1e-4
    actual = np.histogram(recent, edges)[0] / max(len(recent), 1) + 1e-4
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def input_drift(values: np.ndarray, settings: DriftSettings) -> tuple[float, float]:
    """(PSI, median recent/reference level) of panel values [P, T] over the last bins."""
    recent = values[:, -settings.recent_bins :]
    reference = values[:, -(settings.recent_bins + settings.reference_bins) : -settings.recent_bins]
    level = reference.mean(axis=1, keepdims=True) + 1.0
    index = psi(np.log1p(reference / level).ravel(), np.log1p(recent / level).ravel())
    ratio = float(np.median((recent.mean(axis=1) + 1.0) / level[:, 0]))
    return index, ratio


def recent_mase(trained: TrainedForecaster, panel: Panel, settings: DriftSettings) -> float:
    """The trained model's MASE over forecasts made inside the recent window (it must not have seen it)."""
    horizon = trained.horizon
    first = panel.bins - settings.recent_bins
    origins = np.arange(first, panel.bins - horizon + 1, settings.stride)
    point = np.maximum(trained.model.point(panel, origins, horizon), 0.0)
    actual = panel.values[:, origins[:, None] + np.arange(horizon)[None, :]]
    scale = mase_scale(panel.values[:, :first], panel.season)
    return float((np.abs(actual - point).mean(axis=(1, 2)) / scale).mean())


def detect(trained: TrainedForecaster, panel: Panel, settings: DriftSettings | None = None) -> DriftReport:
    settings = settings or DriftSettings()
    reference = min(settings.reference_bins, panel.bins - settings.recent_bins)  # up to a week before
    if reference < panel.season:
        need = settings.recent_bins + panel.season
        raise ValueError(f"drift needs {need} bins (recent window + a day of reference), the data has {panel.bins}")
    settings = replace(settings, reference_bins=reference)
    index, ratio = input_drift(panel.values, settings)
    trained_mase = float(trained.info.get("backtest_mase", float("nan")))
    mase = recent_mase(trained, panel, settings)
    reasons = []
    if index > settings.psi_threshold:
        reasons.append(f"input PSI {index:.2f} > {settings.psi_threshold} (level x{ratio:.2f})")
    if np.isfinite(trained_mase) and mase > settings.error_ratio_threshold * trained_mase:
        reasons.append(f"recent MASE {mase:.2f} > {settings.error_ratio_threshold}x the trained {trained_mase:.2f}")
    return DriftReport(index, ratio, mase, trained_mase, bool(reasons), reasons)
