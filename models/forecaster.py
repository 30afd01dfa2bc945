"""A trained forecaster: a fitted panel model with its interval calibration and what a forecast needs.

`train(model, panel)` fits the model twice: once on all but the last `calibration_bins` bins, whose
out-of-sample residuals (divided by each series' MASE scale) warm the online conformal calibration of
`models.conformal`, then on everything. `forecast` turns recent history into the canonical forecast frame
for the next `horizon` bins: yhat, quantiles `q<level>` and the resources the volume needs. Its intervals
are the backtest's: the same online conformal procedure and levels, recalibrated at every forecast on the
actuals that arrived after `trained_until` (the forecasts of those origins are recomputed from the history
given, so serving keeps no state between calls). `update` folds the residuals of the new data into the
calibration. This object is what the MLflow registry stores.

Bad input is refused with an InputError naming the problem: programs the model was not trained on, too
little history, gaps, NaN counts. No silent garbage forecast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from clonecast.errors import InputError, ModelError, SchemaError
from models.backtest import PanelModel, actuals, bins_until, held_out
from models.base import DEFAULT_LEVELS
from models.baselines import RollingForecast, to_frame
from models.conformal import OnlineConformal
from models.metrics import mase_scale
from models.panel import Panel
from traces.frames import Dataset, empty_events
from traces.resample import resample

POINT_BATCH = 20_000  # (series, origin) pairs per model call when a forecast recomputes past origins


@dataclass
class TrainedForecaster:
    """A fitted model, the held-out residuals its online conformal intervals start from, and the programs."""

    model: PanelModel
    codes: np.ndarray
    width: pd.Timedelta
    horizon: int
    levels: tuple[int, ...]
    residuals: np.ndarray  # [P, N, H] held-out forecast errors / `scale`, the calibration as of `trained_until`
    residual_bins: np.ndarray  # [N, H] target bin of each residual, counted from `trained_until` (all < 0)
    scale: np.ndarray  # [P]
    programs: pd.DataFrame  # canonical programs frame rows of `codes`
    trained_until: pd.Timestamp  # end of the last bin learnt from
    min_history: int  # bins of history a forecast needs
    conformal: OnlineConformal = field(default_factory=OnlineConformal)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.model.name)

    def panel(self, requests: pd.DataFrame, events: pd.DataFrame | None = None) -> Panel:
        """Recent history as a panel of the trained programs, checked for what a forecast needs."""
        if requests.empty:
            raise InputError(f"forecast with {self.name}: the requests frame is empty; give it the recent history")
        missing_cols = {"program_code", "ts", "requests"} - set(requests.columns)
        if missing_cols:
            raise SchemaError(
                f"forecast with {self.name}: the requests frame lacks column(s) {sorted(missing_cols)}; "
                "give it a canonical requests frame (program_code, ts, requests)"
            )
        codes = pd.unique(requests["program_code"].astype(str))
        unknown = sorted(set(codes) - set(self.codes.tolist()))
        if unknown:
            shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
            raise InputError(
                f"unknown program(s) {shown}: the model {self.name} was not trained on them; "
                "forecast only its programs or train a new model"
            )
        frame = requests[["program_code", "ts", "requests"]].sort_values(["program_code", "ts"], kind="stable")
        nan = frame.loc[frame["requests"].isna(), "program_code"].unique()
        if len(nan):
            raise InputError(
                f"NaN request counts in the history of {', '.join(map(str, nan[:5]))}; fill or drop those bins first"
            )
        per_program = frame.groupby("program_code", sort=False, observed=True)["ts"].agg(["min", "max", "size"])
        first, last = per_program["min"].min(), per_program["max"].max()
        bins = int((last - first) / self.width) + 1
        ragged = per_program[(per_program["size"] != bins) | (per_program["min"] != first)]
        if not ragged.empty:
            raise InputError(
                f"history is not on one complete {self.width} grid from {first} to {last}: "
                f"{len(ragged)} program(s) with gaps or other spans, e.g. {ragged.index[0]}; "
                "fill the gaps with explicit zeros (validate the data first)"
            )
        if bins < self.min_history:
            raise InputError(
                f"history too short: {bins} bins of {self.width}, the model {self.name} needs {self.min_history}; "
                "give it a longer history"
            )
        programs = self.programs[self.programs["program_code"].isin(codes)]
        dataset = Dataset(frame, programs, events if events is not None else empty_events(), self.width)
        return Panel.from_dataset(dataset, self.width)

    def history(self, dataset: Dataset, end: pd.Timestamp | str | None = None) -> pd.DataFrame:
        """The bins of `dataset` a forecast at `end` uses (default: right after the data), at the model's bin
        width: the `history_bins` before `end`."""
        requests = dataset.requests
        if pd.Timedelta(dataset.freq) != self.width:
            requests = resample(requests, self.width)
        stop = pd.Timestamp(end) if end is not None else requests["ts"].max() + self.width
        if stop.tzinfo is None:
            stop = stop.tz_localize("UTC")
        begin = stop - self.history_bins * self.width
        window = requests[(requests["ts"] >= begin) & (requests["ts"] < stop)]
        if window.empty:
            raise InputError(
                f"no data in the {self.history_bins} bins of {self.width} before {stop}; "
                "forecast from a time the data covers"
            )
        return window.reset_index(drop=True)

    @property
    def history_bins(self) -> int:
        """Bins of history a forecast is served with: the `min_history` it needs, then as many more as the
        conformal window holds, whose origins recalibrate its intervals."""
        return self.min_history + self.conformal.window

    def recalibration_origins(self, panel: Panel) -> np.ndarray:
        """Origins whose actuals recalibrate a forecast from the end of `panel`, then that forecast's own: those
        after `trained_until` with `min_history` bins before them (as the forecast's own), in whole refresh
        cycles of the conformal procedure (so the forecast's own origin recomputes the offsets)."""
        first = max(bins_until(panel, self.trained_until), self.min_history)
        refresh = self.conformal.refresh
        cycles = max(panel.bins - first, 0) // refresh
        return np.arange(panel.bins - cycles * refresh, panel.bins + 1)

    def forecast(
        self, requests: pd.DataFrame, events: pd.DataFrame | None = None, *, horizon: int | None = None
    ) -> pd.DataFrame:
        """The canonical forecast frame for the `horizon` bins after the last bin of `requests`.

        Intervals are recalibrated on the actuals in `requests`: the forecasts of the origins after
        `trained_until` that the history holds are recomputed and run through online conformal before this one.
        """
        horizon = horizon or self.horizon
        if not 1 <= horizon <= self.horizon:
            raise InputError(
                f"horizon {horizon} outside 1..{self.horizon} (what the model {self.name} was trained for); "
                "ask for fewer steps or train for a longer horizon"
            )
        panel = self.panel(requests, events)
        rows = pd.Index(self.codes).get_indexer(panel.codes)
        origins = self.recalibration_origins(panel)  # then the forecast's own, the last
        batches = np.array_split(origins, -(-len(origins) * len(rows) // POINT_BATCH))  # bounded memory per call
        point = np.concatenate([self.model.point(panel, batch, horizon) for batch in batches], axis=1)  # [P, O, H]
        point = np.maximum(point, 0.0)
        trained = bins_until(panel, self.trained_until)  # a history that ends before it: the calibration as trained
        warm = (self.residuals[rows][:, :, :horizon], self.residual_bins[:, :horizon] + trained)
        issued = self.conformal.quantiles(
            point, actuals(panel, origins, horizon), origins, self.scale[rows], self.levels, warm=warm
        )
        quantiles = {level: q[:, -1:] for level, q in issued.items()}  # [P, 1, H]
        rolling = RollingForecast(origins=origins[-1:], yhat=point[:, -1:], quantiles=quantiles)
        return to_frame(rolling, panel.codes, panel.start, panel.width, programs=panel.programs)


def train(
    model: PanelModel,
    panel: Panel,
    *,
    horizon: int = 12,
    levels: Sequence[int] = DEFAULT_LEVELS,
    calibration_bins: int = 2016,
    conformal: OnlineConformal | None = None,
) -> TrainedForecaster:
    """Fit on all but the last `calibration_bins` bins (a week, as the backtest; at most a quarter of them), keep
    the residuals of its forecasts on them as the online conformal calibration, refit on all bins."""
    calibration_bins = min(calibration_bins, panel.bins // 4)
    split = panel.bins - calibration_bins
    if split < 2 * panel.season or calibration_bins < horizon + 1:
        raise InputError(
            f"{panel.bins} bins are too few to train and calibrate on: need at least "
            f"{2 * panel.season + horizon + 1} ({panel.width} bins, two days plus a horizon)"
        )
    if np.isnan(panel.values).any():
        bad = panel.codes[np.isnan(panel.values).any(axis=1)]
        raise InputError(f"NaN request counts in {', '.join(map(str, bad[:5]))}; fill or drop those bins first")
    scale = mase_scale(panel.values, panel.season)
    residuals, bins = held_out(model, panel, split, panel.bins, horizon, scale)
    model.fit(panel)
    programs = panel.programs.rename_axis("program_code").reset_index()
    return TrainedForecaster(
        model=model,
        codes=np.asarray(panel.codes, dtype=object),
        width=panel.width,
        horizon=horizon,
        levels=tuple(levels),
        residuals=residuals,
        residual_bins=bins - panel.bins,
        scale=scale,
        programs=programs,
        trained_until=panel.start + panel.bins * panel.width,
        min_history=2 * panel.season,
        conformal=conformal or OnlineConformal(),
    )


def update(trained: TrainedForecaster, panel: Panel) -> TrainedForecaster:
    """Warm start from a trained forecaster on newer data (the model's own `update`: LSTM fine-tune,
    LightGBM continued boosting). The intervals recalibrate first: the residuals of the forecasts the model
    served from origins after its `trained_until` (`min_history` bins before each) join its calibration, as at
    serving. Programs must be the trained ones, all of them."""
    unknown = sorted(set(map(str, panel.codes)) - set(map(str, trained.codes)))
    if unknown:
        raise InputError(f"update cannot add programs ({', '.join(unknown[:5])}): train a new model instead")
    missing = sorted(set(map(str, trained.codes)) - set(map(str, panel.codes)))
    if missing:
        raise InputError(
            f"update needs the data of every trained program; missing {', '.join(missing[:5])}; "
            "give it their data or train a new model"
        )
    warm = getattr(trained.model, "update", None)
    if warm is None:
        raise ModelError(f"the model {trained.name} has no warm start; train it again instead")
    panel = panel.select(pd.Index(panel.codes).get_indexer(trained.codes))  # rows in the trained order
    horizon = trained.horizon
    origins = np.arange(max(bins_until(panel, trained.trained_until), trained.min_history), panel.bins - horizon + 1)
    end = max(panel.start + panel.bins * panel.width, trained.trained_until)
    moved = round((end - trained.trained_until) / trained.width)  # bins the calibration's origin moves by
    residuals, residual_bins = trained.residuals, trained.residual_bins - moved
    if len(origins):  # new actuals, all after `trained_until`: the data end is the new one
        point = np.maximum(trained.model.point(panel, origins, horizon), 0.0)  # [P, N, H] before the warm start
        new = (actuals(panel, origins, horizon) - point) / trained.scale[:, None, None]
        window = trained.conformal.window  # older residuals are never read
        residuals = np.concatenate([residuals, new], axis=1)[:, -window:]
        bins = origins[:, None] + np.arange(horizon)[None, :] - panel.bins  # [N, H] counted from the new end
        residual_bins = np.concatenate([residual_bins, bins], axis=0)[-window:]
    warm(panel)
    return replace(trained, trained_until=end, residuals=residuals, residual_bins=residual_bins)
