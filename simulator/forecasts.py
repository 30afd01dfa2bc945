"""Forecast frames as the simulator's policies see them: per trace bin, the freshest forecast made
early enough to act on (origin <= bin start - lead), scaled to requests per trace bin."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.baselines import rolling_seasonal_naive, to_frame
from simulator.trace import SimTrace
from traces.frames import quantile_columns

SEASON = pd.Timedelta("1D")
FORECAST_BIN = pd.Timedelta("5min")


@dataclass(frozen=True)
class ForecastView:
    """Forecasts laid onto the trace's bins: each trace bin holds the value of the forecast bin it lies in."""

    values: dict[str, np.ndarray]  # column -> [P, T] requests per forecast bin (NaN: no usable forecast)
    width: pd.Timedelta  # forecast bin width

    def __contains__(self, column: str) -> bool:
        return column in self.values

    def get(self, column: str) -> np.ndarray:
        """Requests per forecast bin, 0 where no forecast was usable [P, T]."""
        return np.nan_to_num(self.values[column])

    def per_trace_bin(self, column: str, trace: SimTrace) -> np.ndarray:
        """Requests per trace bin [P, T]."""
        return self.get(column) * (trace.bin / self.width)


def forecast_view(forecast: pd.DataFrame, trace: SimTrace, lead: pd.Timedelta) -> ForecastView:
    """The freshest usable forecast (origin <= target start - lead) of each program and trace bin."""
    width = _width(forecast)
    ts = _ns(forecast["ts"])  # [N]
    usable = _ns(forecast["origin"]) <= ts - lead.value  # made early enough to act on
    codes, uniques = pd.factorize(forecast["program_code"])
    rows = pd.Index(trace.codes).get_indexer(uniques)[codes].astype(np.int64)  # -1: unknown program
    first = np.searchsorted(trace.timestamps().asi8, ts)  # the trace bin where each target bin starts
    key = np.where(usable & (rows >= 0), rows * (trace.bins + 1) + first, -1)
    order = np.argsort(forecast["step"].to_numpy(), kind="stable")
    _, pick = np.unique(key[order], return_index=True)
    chosen = order[pick]
    chosen = chosen[key[chosen] >= 0]  # the freshest usable forecast per program and target bin
    rows, first = rows[chosen], first[chosen]
    span = max(1, round(width / trace.bin))  # trace bins inside one forecast bin
    view = {}
    for column in ["yhat", *quantile_columns(forecast)]:
        out = np.full(trace.counts.shape, np.nan)
        values = forecast[column].to_numpy(dtype=float)[chosen]
        for k in range(span):
            inside = first + k < trace.bins
            out[rows[inside], first[inside] + k] = values[inside]
        view[column] = out
    return ForecastView(view, width)


def _ns(stamps: pd.Series) -> np.ndarray:
    return stamps.astype("datetime64[ns, UTC]").array.asi8


def _width(forecast: pd.DataFrame) -> pd.Timedelta:
    """The forecast bin width: the smallest step between target bins, or (ts - origin) / (step - 1)."""
    targets = np.unique(_ns(forecast["ts"]))
    gaps = np.diff(targets)
    later = forecast["step"].to_numpy() > 1
    spans = (_ns(forecast["ts"])[later] - _ns(forecast["origin"])[later]) // (forecast["step"].to_numpy()[later] - 1)
    candidates = np.concatenate([gaps[gaps > 0], spans[spans > 0]])
    return pd.Timedelta(int(candidates.min()), unit="ns") if len(candidates) else FORECAST_BIN


def seasonal_naive_forecast(
    trace: SimTrace, warmup_bins: int, horizon: int, width: pd.Timedelta = FORECAST_BIN
) -> pd.DataFrame:
    """Daily seasonal-naive forecasts (naive where a day of history is missing) at every `width`
    boundary after the warm-up, as a canonical forecast frame; quantiles from warm-up residuals."""
    factor = max(1, round(width / trace.bin))
    usable = trace.bins // factor * factor
    counts = trace.counts[:, :usable].reshape(trace.programs, -1, factor).sum(axis=2)  # [P, T/f]
    first = max(1, -(-warmup_bins // factor))
    origins = np.arange(first, counts.shape[1])
    season = int(SEASON / width)
    rolling = rolling_seasonal_naive(counts, origins, horizon, season, calibration_end=first)
    profile = pd.DataFrame(
        {
            "cpu_millicores": trace.cpu_millicores,
            "memory_mb": trace.memory_mb,
            "gpus": trace.gpus,
            "concurrency": trace.concurrency,
            "duration_ms": trace.duration_ms.mean(axis=1),
        },
        index=pd.Index(trace.codes),
    )
    return to_frame(rolling, trace.codes, trace.start, width, profile)
