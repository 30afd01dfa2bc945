"""Prediction jobs: the registered model's forecast for every program of a validated dataset, validated before it is
written (to a file, or to the forecast store keyed by (program_code, origin, ts))."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from clonecast.settings import Limits
from data_checks import validate
from models import registry
from models.forecaster import TrainedForecaster
from traces import forecast_store
from traces.frames import Dataset
from traces.progress import NullProgress, Progress


def load_model(uri: str, name: str, alias: str = registry.CHAMPION) -> TrainedForecaster:
    """The forecaster behind `models:/<name>@<alias>`; ModelError when there is none."""
    return registry.load(uri, name, alias)


def history(trained: TrainedForecaster, dataset: Dataset, as_of: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """The bins of `dataset` a forecast made at `as_of` (default: right after the data) is served with."""
    return trained.history(dataset, as_of)


def forecast(trained: TrainedForecaster, requests: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The forecast frame for the bins after `requests` (one shard of programs, or all)."""
    return trained.forecast(requests, events)


def by_program(requests: pd.DataFrame, shards: Iterable[list[str]]) -> list[pd.DataFrame]:
    """The history cut into the given shards of program codes."""
    return [requests[requests["program_code"].isin(part)] for part in shards]


def validated(frame: pd.DataFrame, programs: pd.DataFrame, limits: Limits) -> pd.DataFrame:
    """`frame` once it passes the forecast suite against the programs it forecasts; DataValidationError otherwise."""
    validate(forecast=frame, programs=programs, limits=limits, source="forecast").raise_for_failures()
    return frame


def predict(
    trained: TrainedForecaster,
    dataset: Dataset,
    limits: Limits,
    *,
    as_of: str | pd.Timestamp | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """The validated forecast of every program of `dataset` from `as_of` (default: the end of the data); its
    scheduled events shape the bins they fall in."""
    progress = progress or NullProgress()
    requests = history(trained, dataset, as_of)
    progress.stage(f"forecasting {requests['program_code'].nunique()} programs")
    return validated(forecast(trained, requests, dataset.events), dataset.programs, limits)


def write_file(frame: pd.DataFrame, target: Path) -> Path:
    """A forecast written as CSV (by suffix) or Parquet."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix == ".csv":
        frame.to_csv(target, index=False)
    else:
        frame.to_parquet(target, index=False)
    return target


def store(frame: pd.DataFrame, folder: Path) -> list[Path]:
    """A forecast stored keyed by (program_code, origin, ts); re-running an origin replaces it."""
    return forecast_store.write(folder, frame)
