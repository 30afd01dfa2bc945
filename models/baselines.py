"""Baseline forecasters on panels: daily seasonal naive, moving average, online ridge on lags.

Every model implements `fit(panel) -> model` and `point(panel, origins, horizon) -> [P, O, H]`, where the
forecast made at origin o may use bins < o only. `rolling_seasonal_naive` and `to_frame` serve the simulator.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.base import DEFAULT_LEVELS
from models.panel import Panel
from traces.clones import clone_resources
from traces.frames import forecast_frame


def seasonal_naive_point(history: np.ndarray, target: np.ndarray, season: int) -> np.ndarray:
    """Point forecasts for target bins [k] from bins strictly before each origin.

    `history` is [P, T]; target bin j takes the value one season earlier when that bin lies before the
    origin (j - season), else the last value before the origin (naive). Callers pass j and the origin
    through `target` as pairs (j, origin) in a [k, 2] array.
    """
    j, origin = target[:, 0], target[:, 1]
    lag = j - season * np.ceil((j - origin + 1) / season).astype(np.int64)
    source = np.where(lag >= 0, lag, origin - 1)
    return history[:, np.maximum(source, 0)]  # [P, k]


def _pairs(origins: np.ndarray, horizon: int) -> np.ndarray:
    """(target bin, origin) for every origin and step, origin-major [O*H, 2]."""
    steps = np.arange(horizon)
    return np.stack([(origins[:, None] + steps).ravel(), np.repeat(origins, horizon)], axis=1)


@dataclass
class SeasonalNaive:
    """The value one day earlier (naive where a day of history is missing)."""

    name: str = "seasonal-naive"

    def fit(self, panel: Panel) -> SeasonalNaive:
        return self

    def point(self, panel: Panel, origins: np.ndarray, horizon: int) -> np.ndarray:
        flat = seasonal_naive_point(panel.values, _pairs(origins, horizon), panel.season)  # [P, O*H]
        return flat.reshape(len(panel.codes), len(origins), horizon)


@dataclass
class MovingAverage:
    """The mean of the last `window` bins, for every step."""

    window: int = 12
    name: str = "moving-average"

    def fit(self, panel: Panel) -> MovingAverage:
        return self

    def point(self, panel: Panel, origins: np.ndarray, horizon: int) -> np.ndarray:
        cumulative = np.concatenate([np.zeros((len(panel.codes), 1)), np.cumsum(panel.values, axis=1)], axis=1)
        low = np.maximum(origins - self.window, 0)
        mean = (cumulative[:, origins] - cumulative[:, low]) / np.maximum(origins - low, 1)  # [P, O]
        return np.repeat(mean[:, :, None], horizon, axis=2)


@dataclass
class OnlineRidge:
    """Direct multi-step ridge regression per series on the last `lags` bins and each target's day-ago
    value, refitted every `refit_every` origins from everything known by then (online)."""

    lags: int = 24
    alpha: float = 1.0
    refit_every: int = 288
    name: str = "ridge"

    def _design(self, values: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> np.ndarray:
        """Features [P, O, F]: lags (scaled), day-ago value of each target step, intercept."""
        lag_index = origins[:, None] - np.arange(1, self.lags + 1)[None, :]  # [O, L]
        lagged = values[:, np.maximum(lag_index, 0)]  # [P, O, L]
        day_ago = seasonal_naive_point(values, _pairs(origins, horizon), season).reshape(
            len(values), len(origins), horizon
        )  # [P, O, H]
        ones = np.ones((len(values), len(origins), 1))
        return np.concatenate([lagged, day_ago, ones], axis=2)

    def _solve(self, values: np.ndarray, end: int, horizon: int, season: int) -> np.ndarray:
        first = max(self.lags, 1)
        origins = np.arange(first, end - horizon + 1)
        scale = np.maximum(values[:, :end].mean(axis=1), 1e-9)[:, None]  # [P, 1]
        normalised = values / scale
        x = self._design(normalised, origins, horizon, season)  # [P, N, F]
        y = np.stack([normalised[:, origins + h] for h in range(horizon)], axis=2)  # [P, N, H]
        xt = x.transpose(0, 2, 1)  # batched BLAS products: twice as fast as einsum here
        gram = xt @ x + self.alpha * np.eye(x.shape[2])[None]
        return np.linalg.solve(gram, xt @ y)  # [P, F, H]

    def fit(self, panel: Panel) -> OnlineRidge:
        return self  # refitted online inside `point`, from the data before each block of origins

    def point(self, panel: Panel, origins: np.ndarray, horizon: int) -> np.ndarray:
        """Forecasts from weights fitted on the bins before the last refit boundary at or before each origin
        (boundaries every `refit_every` bins), so each forecast is the same whatever else is asked."""
        values = panel.values
        out = np.empty((len(panel.codes), len(origins), horizon))
        boundary = np.maximum(origins // self.refit_every * self.refit_every, self.lags + horizon + 1)
        boundary = np.minimum(boundary, origins)
        for end in np.unique(boundary):
            chosen = np.flatnonzero(boundary == end)
            weights = self._solve(values, int(end), horizon, panel.season)
            scale = np.maximum(values[:, : int(end)].mean(axis=1), 1e-9)
            x = self._design(values / scale[:, None], origins[chosen], horizon, panel.season)
            forecast = np.maximum(np.einsum("pof,pfh->poh", x, weights), 0)  # [P, B, H] normalised
            out[:, chosen] = forecast * scale[:, None, None]
        return out


BASELINES = {"seasonal-naive": SeasonalNaive, "moving-average": MovingAverage, "ridge": OnlineRidge}


# -- the simulator's rolling forecasts --------------------------------------------------------------------


@dataclass(frozen=True)
class RollingForecast:
    """Rolling-origin forecasts as arrays: yhat and quantiles [P, origins, H]."""

    origins: np.ndarray  # [O] bin index of each origin (forecast made at the start of that bin)
    yhat: np.ndarray  # [P, O, H]
    quantiles: dict[int, np.ndarray] = field(default_factory=dict)  # level -> [P, O, H]


def rolling_seasonal_naive(
    counts: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    season: int,
    levels: Sequence[int] = DEFAULT_LEVELS,
    calibration_end: int | None = None,
) -> RollingForecast:
    """Seasonal-naive forecasts at every origin, quantiles from residuals before `calibration_end`.

    Residual quantiles are taken per program from one-step naive errors over bins before the first
    origin (or `calibration_end`), so no forecast uses data after its origin.
    """
    values = counts.astype(float)
    yhat = seasonal_naive_point(values, _pairs(origins, horizon), season).reshape(len(values), len(origins), horizon)
    end = int(calibration_end if calibration_end is not None else origins.min())
    quantiles = {}
    if end > 1:
        past = np.arange(1, end)
        fitted = seasonal_naive_point(values, np.stack([past, past], axis=1), season)  # [P, end-1]
        residuals = values[:, 1:end] - fitted
        for level in levels:
            shift = np.percentile(residuals, level, axis=1)[:, None, None]  # [P, 1, 1]
            quantiles[level] = np.maximum(yhat + shift, 0.0)
    else:
        quantiles = {level: yhat.copy() for level in levels}
    ordered = sorted(quantiles)
    for low, high in itertools.pairwise(ordered):  # keep quantiles from crossing
        quantiles[high] = np.maximum(quantiles[high], quantiles[low])
    return RollingForecast(origins=np.asarray(origins), yhat=yhat, quantiles=quantiles)


def to_frame(
    forecast: RollingForecast,
    codes: np.ndarray,
    start: pd.Timestamp,
    width: pd.Timedelta,
    programs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The canonical forecast frame of rolling forecasts; expected resources are those of the clones that
    serve yhat (Little's law, `traces.clones`) sized by `programs` (indexed by program code; none: 0)."""
    n_programs, n_origins, horizon = forecast.yhat.shape
    first = start.tz_convert("UTC").tz_localize(None).to_datetime64().astype("datetime64[ns]")
    origin_ts = first + forecast.origins.astype(np.int64) * width.to_timedelta64()  # [O] naive UTC
    program = pd.Categorical.from_codes(
        np.repeat(np.arange(n_programs), n_origins * horizon), categories=pd.Index(codes, dtype="str")
    )
    origin = np.tile(np.repeat(origin_ts, horizon), n_programs)  # [P*O*H]
    step = np.tile(np.arange(1, horizon + 1), n_programs * n_origins)
    frame = pd.DataFrame(
        {
            "program_code": program,
            "origin": pd.DatetimeIndex(origin).tz_localize("UTC"),
            "ts": pd.DatetimeIndex(origin + (step - 1) * width.to_timedelta64()).tz_localize("UTC"),
            "step": step,
            "yhat": forecast.yhat.reshape(-1),
        }
    )
    for level, values in sorted(forecast.quantiles.items()):
        frame[f"q{level}"] = values.reshape(-1)
    profile = (programs if programs is not None else pd.DataFrame(index=pd.Index(codes))).reindex(pd.Index(codes))
    held = clone_resources(forecast.yhat.reshape(n_programs, -1), profile, width)  # column -> [P, O*H]
    for column, values in held.items():
        frame[column] = values.reshape(-1).astype(float)
    return forecast_frame(frame)
