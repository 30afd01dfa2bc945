"""Rolling-origin backtests: point forecasts from a model, quantiles by online conformal calibration,
scored with MASE (daily seasonal naive scale), WAPE, pinball loss and interval coverage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from clonecast.errors import InputError, NothingToScoreError
from models.base import DEFAULT_LEVELS
from models.conformal import OnlineConformal
from models.metrics import coverage, mase, mase_scale, pinball, wape
from models.panel import Panel
from traces.progress import NullProgress, Progress


class PanelModel(Protocol):
    """A forecaster on panels: learn from all bins given, forecast H steps from each origin."""

    name: str

    def fit(self, panel: Panel) -> PanelModel: ...

    def point(self, panel: Panel, origins: np.ndarray, horizon: int) -> np.ndarray: ...


@dataclass
class BacktestResult:
    """Forecasts and scores of one model on the test window."""

    model: str
    codes: np.ndarray
    origins: np.ndarray
    actual: np.ndarray  # [P, O, H]
    point: np.ndarray  # [P, O, H]
    quantiles: dict[int, np.ndarray]
    scale: np.ndarray  # [P]
    per_series: pd.DataFrame = field(default_factory=pd.DataFrame)

    def summary(self) -> dict[str, Any]:
        """The JSON contract: model, series, mase, wape, pinball, coverage {"80": share}, per series rows."""
        table = self.per_series
        covered = {c.removeprefix("coverage_"): float(table[c].mean()) for c in table if c.startswith("coverage_")}
        return {
            "model": self.model,
            "series": [str(c) for c in self.codes],
            "origins": len(self.origins),
            "mase": float(table["mase"].mean()),
            "wape": float(table["wape"].mean()),
            "pinball": float(table["pinball"].mean()),
            "coverage": covered,
            "per_series": table.reset_index().to_dict("records"),
        }


def bins_until(panel: Panel, until: pd.Timestamp) -> int:
    """How many of the panel's first bins end by `until` (a model trained until then has learnt them)."""
    return int(np.clip((until - panel.start) // panel.width, 0, panel.bins))


def split_point(panel: Panel, test_fraction: float, horizon: int) -> int:
    """First bin of the test window (at least a day of history before it)."""
    split = panel.bins - round(panel.bins * test_fraction)
    if split < panel.season + 1 or split > panel.bins - horizon:
        raise InputError(
            f"{panel.bins} bins leave no room for a test window of {test_fraction:.0%} (at least a horizon of "
            f"{horizon}) after a day of history; give it more data or change the test fraction"
        )
    return split


def backtest(
    model: PanelModel,
    panel: Panel,
    *,
    test_fraction: float = 0.3,
    horizon: int = 12,
    stride: int = 1,
    levels: Sequence[int] = DEFAULT_LEVELS,
    calibration_bins: int = 2016,
    conformal: OnlineConformal | None = None,
    seen: int = 0,
    progress: Progress | None = None,
) -> BacktestResult:
    """Fit on the bins before the test window, forecast from every `stride`-th origin in it.

    Quantiles come from online conformal calibration: warmed on out-of-sample residuals of a fit that ends
    `calibration_bins` before the test window, then updated with test residuals as their targets pass.
    `seen`: bins an already trained model has learnt (up to its trained_until); the test window and the
    calibration start after them, and NothingToScoreError is raised when no forecast fits after them.
    """
    conformal = conformal or OnlineConformal()
    split = max(split_point(panel, test_fraction, horizon), seen)
    if split > panel.bins - horizon:
        learnt, end = panel.start + seen * panel.width, panel.start + panel.bins * panel.width
        raise NothingToScoreError(
            f"nothing new to score: the model {model.name} was trained until {learnt} and the data end at {end}; "
            f"scoring it needs at least {horizon} bins ({horizon * panel.width.total_seconds() / 60:g} minutes) "
            "after its trained_until"
        )
    origins = np.arange(split, panel.bins - horizon + 1, stride)
    calibration_start = max(split - calibration_bins, 2 * panel.season + horizon, seen)  # two days to learn from
    warm = None
    scale = mase_scale(panel.values[:, :split], panel.season)
    progress = progress or NullProgress()
    if calibration_start < split - horizon:
        scored = split - calibration_start
        progress.stage(f"{model.name}: calibration fit on {calibration_start} bins, scored on the next {scored}")
        warm = held_out(model, panel, calibration_start, split, horizon, scale)
    progress.stage(f"{model.name}: fit on {split} bins, forecasts from {len(origins)} origins after them")
    fitted = model.fit(panel.upto(split))
    point = np.maximum(fitted.point(panel, origins, horizon), 0.0)
    actual = actuals(panel, origins, horizon)
    quantiles = conformal.quantiles(point, actual, origins, scale, levels, warm=warm)
    result = BacktestResult(model.name, panel.codes, origins, actual, point, quantiles, scale)
    result.per_series = score(result)
    return result


def held_out(
    model: PanelModel, panel: Panel, start: int, end: int, horizon: int, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """What online conformal starts from: `model` fitted on the bins before `start` forecasts from every origin
    up to `end - horizon`; returns their residuals / `scale` [P, N, H] and the bin of each target [N, H]."""
    fitted = model.fit(panel.upto(start))
    origins = np.arange(start, end - horizon + 1)
    point = np.maximum(fitted.point(panel, origins, horizon), 0.0)  # [P, N, H]
    residual = (actuals(panel, origins, horizon) - point) / scale[:, None, None]
    return residual, origins[:, None] + np.arange(horizon)[None, :]


def actuals(panel: Panel, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Actuals [P, O, H] of the forecasts from `origins`; NaN for targets after the panel's last bin."""
    padded = np.concatenate([panel.values, np.full((len(panel.values), horizon), np.nan)], axis=1)  # [P, T + H]
    return padded[:, origins[:, None] + np.arange(horizon)[None, :]]


def score(result: BacktestResult) -> pd.DataFrame:
    """Metrics per series."""
    table = pd.DataFrame(
        {
            "mase": mase(result.actual, result.point, result.scale),
            "wape": wape(result.actual, result.point),
            "pinball": pinball(result.actual, result.quantiles, result.scale),
        },
        index=pd.Index([str(c) for c in result.codes], name="series"),
    )
    for level, share in coverage(result.actual, result.quantiles).items():
        table[f"coverage_{level}"] = share
    return table
