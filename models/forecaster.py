"""A trained forecaster: a fitted panel model with its interval calibration and what a forecast needs.

`train(model, panel)` fits the model twice: once on all but the last `calibration_bins` bins, whose
out-of-sample residuals (divided by each series' MASE scale) give per-series, per-step quantile offsets
(split conformal; series with too few residuals borrow the pooled ones), then on everything. `forecast`
turns recent history into the canonical forecast frame for the next `horizon` bins: yhat, quantiles
`q<level>` and the resources the volume needs. This object is what the MLflow registry stores.

Bad input is refused with ValueError naming the problem: programs the model was not trained on, too
little history, gaps, NaN counts. No silent garbage forecast.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from models.backtest import PanelModel
from models.base import DEFAULT_LEVELS
from models.baselines import RollingForecast, to_frame
from models.metrics import mase_scale
from models.panel import Panel
from traces.frames import Dataset, empty_events
from traces.resample import resample

MIN_RESIDUALS = 48
RESOURCES = ("cpu_millicores", "memory_mb", "gpus")


@dataclass
class TrainedForecaster:
    """A fitted model, per-series interval offsets [P, L, H] in units of `scale` [P], and the programs."""

    model: PanelModel
    codes: np.ndarray
    width: pd.Timedelta
    horizon: int
    levels: tuple[int, ...]
    offsets: np.ndarray  # [P, L, H]
    scale: np.ndarray  # [P]
    programs: pd.DataFrame  # canonical programs frame rows of `codes`
    trained_until: pd.Timestamp  # end of the last bin learnt from
    min_history: int  # bins of history a forecast needs
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.model.name)

    def panel(self, requests: pd.DataFrame, events: pd.DataFrame | None = None) -> Panel:
        """Recent history as a panel of the trained programs, checked for what a forecast needs."""
        if requests.empty:
            raise ValueError("no history given: the requests frame is empty")
        missing_cols = {"program_code", "ts", "requests"} - set(requests.columns)
        if missing_cols:
            raise ValueError(f"requests frame lacks column(s) {sorted(missing_cols)}")
        codes = pd.unique(requests["program_code"].astype(str))
        unknown = sorted(set(codes) - set(self.codes.tolist()))
        if unknown:
            shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
            raise ValueError(f"unknown program(s) {shown}: the model {self.name} was not trained on them")
        frame = requests[["program_code", "ts", "requests"]].sort_values(["program_code", "ts"], kind="stable")
        nan = frame.loc[frame["requests"].isna(), "program_code"].unique()
        if len(nan):
            raise ValueError(f"NaN request counts in the history of {', '.join(map(str, nan[:5]))}")
        per_program = frame.groupby("program_code", sort=False, observed=True)["ts"].agg(["min", "max", "size"])
        first, last = per_program["min"].min(), per_program["max"].max()
        bins = int((last - first) / self.width) + 1
        ragged = per_program[(per_program["size"] != bins) | (per_program["min"] != first)]
        if not ragged.empty:
            raise ValueError(
                f"history is not on one complete {self.width} grid from {first} to {last}: "
                f"{len(ragged)} program(s) with gaps or other spans, e.g. {ragged.index[0]}"
            )
        if bins < self.min_history:
            raise ValueError(
                f"history too short: {bins} bins of {self.width}, the model {self.name} needs {self.min_history}"
            )
        programs = self.programs[self.programs["program_code"].isin(codes)]
        dataset = Dataset(frame, programs, events if events is not None else empty_events(), self.width)
        return Panel.from_dataset(dataset, self.width)

    def history(self, dataset: Dataset, end: pd.Timestamp | str | None = None) -> pd.DataFrame:
        """The bins of `dataset` a forecast at `end` uses (default: right after the data), at the model's bin
        width: the `min_history` bins before `end`."""
        requests = dataset.requests
        if pd.Timedelta(dataset.freq) != self.width:
            requests = resample(requests, self.width)
        stop = pd.Timestamp(end) if end is not None else requests["ts"].max() + self.width
        if stop.tzinfo is None:
            stop = stop.tz_localize("UTC")
        begin = stop - self.min_history * self.width
        window = requests[(requests["ts"] >= begin) & (requests["ts"] < stop)]
        if window.empty:
            raise ValueError(f"no data in the {self.min_history} bins of {self.width} before {stop}")
        return window.reset_index(drop=True)

    def forecast(
        self, requests: pd.DataFrame, events: pd.DataFrame | None = None, *, horizon: int | None = None
    ) -> pd.DataFrame:
        """The canonical forecast frame for the `horizon` bins after the last bin of `requests`."""
        horizon = horizon or self.horizon
        if not 1 <= horizon <= self.horizon:
            raise ValueError(f"horizon {horizon} outside 1..{self.horizon} (what the model was trained for)")
        panel = self.panel(requests, events)
        rows = pd.Index(self.codes).get_indexer(panel.codes)
        origin = np.array([panel.bins])
        point = np.maximum(self.model.point(panel, origin, horizon), 0.0)  # [P, 1, H]
        offsets, scale = self.offsets[rows][:, :, :horizon], self.scale[rows]
        quantiles = apply_offsets(point, offsets, scale, self.levels)
        rolling = RollingForecast(origins=origin, yhat=point, quantiles=quantiles)
        per_request = panel.programs.reindex(columns=list(RESOURCES))
        return to_frame(rolling, panel.codes, panel.start, panel.width, resources=per_request)


def apply_offsets(
    point: np.ndarray, offsets: np.ndarray, scale: np.ndarray, levels: Sequence[int]
) -> dict[int, np.ndarray]:
    """Quantiles [P, O, H] per level: point + offset x scale, non-negative and non-crossing."""
    out = {
        level: np.maximum(point + offsets[:, k, None, :] * scale[:, None, None], 0.0) for k, level in enumerate(levels)
    }
    for low, high in itertools.pairwise(sorted(out)):
        out[high] = np.maximum(out[high], out[low])
    return out


def calibrate(residual: np.ndarray, levels: Sequence[int], min_residuals: int = MIN_RESIDUALS) -> np.ndarray:
    """Per-series quantiles [P, L, H] of scaled residuals [P, N, H]; pooled where a series has too few."""
    finite = np.isfinite(residual)
    pooled = np.nanpercentile(np.where(finite, residual, np.nan), levels, axis=(0, 1))  # [L, H]
    offsets = np.repeat(pooled[None], len(residual), axis=0)  # [P, L, H]
    enough = finite.sum(axis=1).min(axis=1) >= min_residuals  # [P]
    if enough.any():
        own = np.nanpercentile(residual[enough], levels, axis=1)  # [L, P', H]
        offsets[enough] = np.moveaxis(own, 0, 1)
    return offsets


def train(
    model: PanelModel,
    panel: Panel,
    *,
    horizon: int = 12,
    levels: Sequence[int] = DEFAULT_LEVELS,
    calibration_bins: int = 1152,
) -> TrainedForecaster:
    """Fit, calibrate intervals on the last `calibration_bins` bins held out, refit on all bins."""
    calibration_bins = min(calibration_bins, panel.bins // 4)
    split = panel.bins - calibration_bins
    if split < 2 * panel.season or calibration_bins < horizon + 1:
        raise ValueError(
            f"{panel.bins} bins are too few to train and calibrate on: need at least "
            f"{2 * panel.season + horizon + 1} ({panel.width} bins, two days plus a horizon)"
        )
    if np.isnan(panel.values).any():
        bad = panel.codes[np.isnan(panel.values).any(axis=1)]
        raise ValueError(f"NaN request counts in {', '.join(map(str, bad[:5]))}")
    scale = mase_scale(panel.values[:, :split], panel.season)
    model.fit(panel.upto(split))
    origins = np.arange(split, panel.bins - horizon + 1)
    point = np.maximum(model.point(panel, origins, horizon), 0.0)
    actual = panel.values[:, origins[:, None] + np.arange(horizon)[None, :]]
    offsets = calibrate((actual - point) / scale[:, None, None], levels)
    model.fit(panel)
    programs = panel.programs.rename_axis("program_code").reset_index()
    return TrainedForecaster(
        model=model,
        codes=np.asarray(panel.codes, dtype=object),
        width=panel.width,
        horizon=horizon,
        levels=tuple(levels),
        offsets=offsets,
        scale=scale,
        programs=programs,
        trained_until=panel.start + panel.bins * panel.width,
        min_history=2 * panel.season,
    )


def update(trained: TrainedForecaster, panel: Panel) -> TrainedForecaster:
    """Warm start from a trained forecaster on newer data (the model's own `update`: LSTM fine-tune,
    LightGBM continued boosting); intervals keep their calibration. Programs must be the trained ones."""
    unknown = sorted(set(map(str, panel.codes)) - set(map(str, trained.codes)))
    if unknown:
        raise ValueError(f"update cannot add programs ({', '.join(unknown[:5])}): train a new model instead")
    warm = getattr(trained.model, "update", None)
    if warm is None:
        raise ValueError(f"the model {trained.name} has no warm start; train it again instead")
    warm(panel)
    end = panel.start + panel.bins * panel.width
    return replace(trained, trained_until=max(end, trained.trained_until))
