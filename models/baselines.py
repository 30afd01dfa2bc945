"""Baseline forecasters: seasonal naive with empirical quantiles, vectorised over programs.

`rolling_seasonal_naive` produces rolling-origin forecasts from a [programs, bins] matrix without
looking past each origin; `SeasonalNaive` wraps it behind the Forecaster protocol.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.base import DEFAULT_LEVELS
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
    n_programs, _n_bins = counts.shape
    values = counts.astype(float)
    steps = np.arange(1, horizon + 1)
    yhat = np.empty((n_programs, len(origins), horizon))
    for i, origin in enumerate(origins):
        pairs = np.stack([origin - 1 + steps, np.full(horizon, origin)], axis=1)
        yhat[:, i, :] = seasonal_naive_point(values, pairs, season)
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
    resources: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The canonical forecast frame of rolling forecasts (resources = per-request means x yhat)."""
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
    per_request = resources if resources is not None else pd.DataFrame(index=pd.Index(codes))
    for column in ("cpu_millicores", "memory_mb", "gpus"):
        scale = (
            per_request[column].reindex(codes).fillna(0).to_numpy() if column in per_request else np.zeros(n_programs)
        )
        frame[column] = np.repeat(scale, n_origins * horizon) * frame["yhat"].to_numpy()
    return forecast_frame(frame)
