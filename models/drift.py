"""Drift: has the demand moved away from what the champion learnt, or have its errors grown?

Both are judged on the recent window (the newest `recent_bins` bins), and only when all of it lies after the
champion's `trained_until`: on bins it learnt from, its errors are in-sample and its inputs are its training
data. Otherwise the report says there is nothing new to score and claims no drift.

- input drift: population stability index (PSI) of each program's demand relative to its own reference
  level (log1p of value / reference mean), recent window against the reference: the newest bins the champion
  learnt from (up to `reference_bins`, ending at its trained_until), pooled over programs; plus the median
  ratio of recent to reference level.
- forecast-error drift: the champion's MASE over the recent window (forecasts from every origin in it,
  scaled like its training backtest) against its training backtest's MASE (out of sample as well).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from clonecast.errors import InputError
from models.backtest import bins_until
from models.forecaster import TrainedForecaster
from models.metrics import mase_scale
from models.panel import Panel


@dataclass(frozen=True)
class DriftSettings:
    recent_bins: int = 288  # one day of 5-minute bins
    reference_bins: int = 2016  # the last week the champion learnt from (before its trained_until)
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
    new_bins: int = 0  # bins after the champion's trained_until
    note: str = ""  # why nothing was scored, when nothing was

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


def input_drift(reference: np.ndarray, recent: np.ndarray) -> tuple[float, float]:
    """(PSI, median recent/reference level) of recent values [P, T'] against reference values [P, T]."""
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
    """Input and error drift of `trained` on the recent window of `panel`, which must lie after its trained_until."""
    settings = settings or DriftSettings()
    trained_mase = float(trained.info.get("backtest_mase", float("nan")))
    seen = bins_until(panel, trained.trained_until)
    new, first = panel.bins - seen, panel.bins - settings.recent_bins
    if new < settings.recent_bins:
        note = (
            f"nothing new to score: {new} bin(s) after the champion's trained_until {trained.trained_until}, "
            f"drift is judged on a recent window of {settings.recent_bins} bins after it"
        )
        return DriftReport(float("nan"), float("nan"), float("nan"), trained_mase, False, [], new, note)
    begin = max(seen - settings.reference_bins, 0)  # the newest bins it learnt from, up to a week
    if seen - begin < panel.season:
        raise InputError(
            f"drift needs a day of the bins the champion learnt from (up to its trained_until "
            f"{trained.trained_until}) as reference; the data hold {seen - begin} of them: "
            "give it data that start at least a day before trained_until"
        )
    index, ratio = input_drift(panel.values[:, begin:seen], panel.values[:, first:])
    mase = recent_mase(trained, panel, settings)
    reasons = []
    if index > settings.psi_threshold:
        reasons.append(f"input PSI {index:.2f} > {settings.psi_threshold} (level x{ratio:.2f})")
    if np.isfinite(trained_mase) and mase > settings.error_ratio_threshold * trained_mase:
        reasons.append(f"recent MASE {mase:.2f} > {settings.error_ratio_threshold}x the trained {trained_mase:.2f}")
    return DriftReport(index, ratio, mase, trained_mase, bool(reasons), reasons, new)
