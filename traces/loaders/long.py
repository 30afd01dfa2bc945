"""Generic long files (CSV, gzipped CSV or Parquet) holding canonical columns: requests, programs,
events and forecasts. Timestamps must carry a UTC offset unless `tz` names the zone they were written in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from clonecast.settings import ProgramDefaults
from traces.frames import (
    EVENTS,
    FORECAST,
    PROGRAMS,
    REQUESTS,
    UTC_NS,
    Dataset,
    FrameSchema,
    empty_events,
    freq_name,
)
from traces.loaders.common import coerce_counts, default_programs, parse_timestamps
from traces.progress import Progress
from traces.textio import read_table


def read_frame(
    path: Path, schema: FrameSchema, *, tz: str | None = None, progress: Progress | None = None
) -> pd.DataFrame:
    """A file as a candidate frame of `schema`: timestamps parsed, counts coerced, source lines kept."""
    frame = read_table(path, progress)
    frame.columns = [str(c).strip() for c in frame.columns]
    for column in schema.present(frame):
        dtype = schema.dtype(column)
        if dtype == UTC_NS:
            frame[column] = parse_timestamps(frame[column], where=f"{path}:{column}", tz=tz)
        elif dtype == "int64":
            frame[column] = coerce_counts(frame[column])
        elif dtype == "str":
            frame[column] = frame[column].astype("str")
    if path.suffix != ".parquet":
        frame["_line"] = np.arange(2, len(frame) + 2)
    return frame


def infer_freq(ts: pd.Series, fallback: str = "5min") -> pd.Timedelta:
    """The bin width of a long frame: the most common step between its distinct timestamps."""
    distinct = pd.Series(ts.dropna().unique()).sort_values()
    steps = distinct.diff().dropna()
    steps = steps[steps > pd.Timedelta(0)]
    return pd.Timedelta(steps.mode().iloc[0]) if len(steps) else pd.Timedelta(fallback)


def read_events(path: Path, *, tz: str | None = None, progress: Progress | None = None) -> pd.DataFrame:
    """An events file (start, end, kind, magnitude, program_code; empty program_code = all programs)."""
    events = read_frame(path, EVENTS, tz=tz, progress=progress)
    if "program_code" not in events.columns:
        events["program_code"] = ""
    events["program_code"] = events["program_code"].astype("str").fillna("")
    return events


def read_programs(path: Path, *, progress: Progress | None = None) -> pd.DataFrame:
    """A programs file with the canonical programs columns."""
    return read_frame(path, PROGRAMS, progress=progress)


def read_forecast(path: Path, *, tz: str | None = None, progress: Progress | None = None) -> pd.DataFrame:
    """A forecast file with the canonical forecast columns and q<level> quantile columns."""
    return read_frame(path, FORECAST, tz=tz, progress=progress)


def load(
    path: Path,
    *,
    tz: str | None = None,
    freq: str | None = None,
    defaults: ProgramDefaults | None = None,
    progress: Progress | None = None,
) -> Dataset:
    """A long requests file; programs get the default profile unless a programs file is given later."""
    defaults = defaults or ProgramDefaults()
    requests = read_frame(path, REQUESTS, tz=tz, progress=progress)
    if "program_code" in requests.columns:
        codes = sorted(requests["program_code"].dropna().astype("str").unique())
    else:
        codes = []
    width = pd.Timedelta(freq) if freq else (infer_freq(requests["ts"]) if "ts" in requests.columns else None)
    if width is None:
        width = pd.Timedelta("5min")
    return Dataset(
        requests=requests,
        programs=default_programs(codes, defaults),
        events=empty_events(),
        freq=width,
        source=str(path),
        format="long",
        notes=[f"{path.name}: {len(requests)} rows, {len(codes)} programs, bins of {freq_name(width)}"],
    )
