"""Data jobs: read a trace (any format) and validate it honouring the settings' limits and program defaults; check
a forecast file; the dataset store (names, ingest, the synthetic trace, listing). Bad data never gets past
`load_valid`: it raises DataValidationError carrying the report."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from clonecast.errors import ConfigError, DataValidationError, TraceFormatError
from clonecast.settings import Limits, Settings, parse_duration
from data_checks import check_source, validate, validate_dataset
from data_checks.report import ValidationReport
from data_checks.validate import report_from_error
from traces.frames import Dataset, forecast_frame
from traces.loaders.long import read_forecast, read_programs
from traces.progress import NullProgress, Progress
from traces.store import is_dataset_dir, read_dataset, read_manifest, write_dataset

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SYNTHETIC = "synthetic"


def dataset_name(value: str) -> str:
    """A dataset name fit for the store (a directory name); ConfigError otherwise."""
    if not NAME.match(value):
        raise ConfigError(f"{value!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    return value


def default_name(path: Path) -> str:
    """The store name of a trace read from `path`: its file name up to the first dot, made safe."""
    stem = path.name.split(".")[0] or "dataset"
    return re.sub(r"[^A-Za-z0-9._-]", "-", stem)[:64]


def trace_path(trace: str | Path | None, settings: Settings) -> Path:
    """The trace to read: `trace`, default the synthetic dataset in the store (made by `clonecast generate`)."""
    return Path(trace) if trace else (settings.datasets_dir / SYNTHETIC).resolve()


def limits_with(settings: Settings, max_age: str | None) -> Limits:
    """The settings' limits, with `max_age` (freshness) when given."""
    return settings.limits.model_copy(update={"max_age": max_age}) if max_age else settings.limits


def check(
    path: Path,
    fmt: str,
    settings: Settings,
    *,
    limits: Limits | None = None,
    progress: Progress | None = None,
    **load_options: Any,
) -> tuple[Dataset | None, ValidationReport]:
    """Read a trace (`traces.loaders.load` options) with the settings' program defaults and validate it."""
    return check_source(
        path,
        fmt,
        defaults=settings.program_defaults,
        limits=limits or settings.limits,
        progress=progress,
        **load_options,
    )


def load_valid(
    path: Path, fmt: str, settings: Settings, *, progress: Progress | None = None, **load_options: Any
) -> Dataset:
    """A trace read, validated and conformed to the canonical frames; DataValidationError when it is invalid."""
    dataset, report = check(path, fmt, settings, progress=progress, **load_options)
    if dataset is None or not report.success:
        raise DataValidationError(report)
    return dataset.canonical()


def check_forecast_file(
    path: Path,
    settings: Settings,
    *,
    programs: Path | None = None,
    tz: str | None = None,
    limits: Limits | None = None,
    progress: Progress | None = None,
) -> ValidationReport:
    """A forecast file checked against its suite (and the programs it may name); never raises on bad data."""
    try:
        forecast = read_forecast(path, tz=tz, progress=progress)
        known = read_programs(programs, progress=progress) if programs else None
    except TraceFormatError as e:
        return report_from_error(e, source=str(path))
    return validate(
        forecast=forecast,
        programs=known,
        freq=settings.freq,
        limits=limits or settings.limits,
        source=str(path),
        progress=progress,
    )


def read_valid_forecast(
    path: Path, programs: pd.DataFrame, settings: Settings, *, tz: str | None = None, progress: Progress | None = None
) -> pd.DataFrame:
    """A forecast file validated against the programs it forecasts; DataValidationError when invalid."""
    frame = read_forecast(path, tz=tz, progress=progress)
    report = validate(forecast=frame, programs=programs, limits=settings.limits, source=str(path))
    report.raise_for_failures()
    return forecast_frame(frame)


def read_programs_any(path: Path) -> pd.DataFrame:
    """A programs frame from a programs file or from a dataset directory."""
    return read_dataset(path).programs if is_dataset_dir(path) else read_programs(path)


@dataclass
class Stored:
    """What an ingest or a generation did: the dataset and its report; `target` when it was written."""

    dataset: Dataset | None
    report: ValidationReport
    target: Path | None = None
    picture: Path | None = None

    @property
    def ok(self) -> bool:
        return self.dataset is not None and self.report.success and self.target is not None


def ingest(
    path: Path,
    fmt: str,
    settings: Settings,
    *,
    name: str | None = None,
    store: Path | None = None,
    resample: str | None = None,
    progress: Progress | None = None,
    **load_options: Any,
) -> Stored:
    """Read and validate a trace; when valid, conform it, optionally sum it into `resample` bins and write it to
    the store as `name` (default: from the file name). Invalid data writes nothing."""
    from traces.resample import resample as resample_requests

    progress = progress or NullProgress()
    dataset, report = check(path, fmt, settings, progress=progress, **load_options)
    if dataset is None or not report.success:
        progress.stage("nothing written")
        return Stored(dataset, report)
    progress.stage("conforming frames")
    dataset = dataset.canonical()
    if resample:
        progress.stage(f"resampling to {resample}")
        dataset.requests = resample_requests(dataset.requests, resample)
        dataset.freq = parse_duration(resample)
    progress.stage("writing parquet")
    target = (store or settings.datasets_dir) / dataset_name(name or default_name(path))
    write_dataset(dataset, target)
    return Stored(dataset, report, target)


def synthesize(
    config: Any, target: Path, settings: Settings, *, plot: Path | None = None, progress: Progress | None = None
) -> Stored:
    """The seeded synthetic trace of `config` (a traces.synthetic.SyntheticConfig), validated, written to `target`
    and drawn to `plot` when valid."""
    from traces.plots import plot_trace
    from traces.synthetic import generate

    progress = progress or NullProgress()
    progress.stage("generating synthetic trace")
    dataset = generate(config)
    report = validate_dataset(dataset, limits=settings.limits, progress=progress)
    if not report.success:
        return Stored(dataset, report)
    progress.stage("writing parquet")
    write_dataset(dataset, target)
    picture = None
    if plot is not None:
        progress.stage("plotting")
        picture = plot_trace(dataset, plot)
    return Stored(dataset, report, target, picture)


def list_datasets(root: Path) -> list[tuple[str, dict[str, object]]]:
    """(name, manifest) of every dataset in the store, by name; none when the store does not exist."""
    found = sorted(p for p in root.iterdir() if is_dataset_dir(p)) if root.is_dir() else []
    return [(path.name, read_manifest(path)) for path in found]
