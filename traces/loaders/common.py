"""Helpers shared by the loaders: timestamp parsing, count coercion, default program profiles."""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from clonecast.errors import TraceFormatError
from clonecast.settings import ProgramDefaults
from traces.frames import UTC_NS

_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")


def parse_timestamps(values: pd.Series, *, where: str, tz: str | None = None) -> pd.Series:
    """Timestamps as datetime64[ns]: UTC when the source carries offsets (or `tz` names its zone).

    Values without an offset stay timezone-naive unless `tz` is given, so the timezone expectation
    reports them instead of clonecast guessing a zone. Unparseable values become NaT (the not-null
    expectation reports them with their rows).
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype(UTC_NS)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        naive = values.astype("datetime64[ns]")
        return _localise(naive, tz, where) if tz else naive
    present = values.dropna().astype(str).str.strip()
    has_offset = present.str.contains(_OFFSET)
    if len(present) and has_offset.all():
        parsed = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
        return parsed.astype(UTC_NS)
    if has_offset.any():
        first = present.index[~has_offset.to_numpy()][0]
        raise TraceFormatError(
            "expect_timestamps_to_share_one_timezone_convention",
            where,
            f"some timestamps carry a UTC offset and others (e.g. row {first}: {present[first]!r}) do not",
        )
    naive = pd.to_datetime(values, format="ISO8601", errors="coerce").astype("datetime64[ns]")
    return _localise(naive, tz, where) if tz else naive


def _localise(naive: pd.Series, tz: str, where: str) -> pd.Series:
    try:
        return naive.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC").astype(UTC_NS)
    except Exception as e:  # unknown zone names raise several types
        raise TraceFormatError("expect_known_timezone", where, f"cannot localise to {tz!r}: {e}") from e


def coerce_counts(values: pd.Series | np.ndarray) -> pd.Series:
    """Counts as int64 (nullable Int64 when some are missing); non-whole or non-numeric values stay as they are.

    Many traces write counts as floats ("187208.0"); those become integers. Anything else keeps its dtype
    so that the dtype expectation reports it with example rows.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if pd.api.types.is_integer_dtype(series.dtype):
        return series.astype("Int64") if series.hasnans else series.astype("int64")
    if pd.api.types.is_float_dtype(series.dtype):
        finite = series.dropna()
        if np.isfinite(finite).all() and (finite == np.floor(finite)).all():
            return series.astype("Int64") if series.hasnans else series.astype("int64")
    return series


def default_programs(
    codes: Iterable[str], defaults: ProgramDefaults, *, gpus: int = 0, cold_start_s: float | None = None
) -> pd.DataFrame:
    """A programs frame giving every code the documented default profile (CPU or GPU)."""
    codes = list(codes)
    gpu = gpus > 0
    return pd.DataFrame(
        {
            "program_code": pd.Series(codes, dtype="str"),
            "cpu_millicores": defaults.cpu_millicores,
            "memory_mb": defaults.gpu_memory_mb if gpu else defaults.memory_mb,
            "gpus": gpus,
            "gpu_type": "",
            "concurrency": defaults.concurrency,
            "cold_start_s": cold_start_s
            if cold_start_s is not None
            else (defaults.gpu_cold_start_s if gpu else defaults.cold_start_s),
            "image": defaults.image,
        }
    )


def time_grid(start: pd.Timestamp, periods: int, freq: pd.Timedelta) -> pd.DatetimeIndex:
    """`periods` bin starts from `start`, UTC, nanosecond resolution."""
    return pd.date_range(start, periods=periods, freq=freq).as_unit("ns")


def long_from_wide(codes: np.ndarray, grid: pd.DatetimeIndex, values: np.ndarray) -> pd.DataFrame:
    """A long requests frame from a [programs, bins] matrix (row-major: program, then time)."""
    n_programs, n_bins = values.shape  # [P, T]
    naive = grid.tz_convert("UTC").tz_localize(None).as_unit("ns").to_numpy()  # [T] datetime64[ns]
    return pd.DataFrame(
        {
            "program_code": pd.Categorical.from_codes(
                np.repeat(np.arange(n_programs), n_bins), categories=pd.Index(codes, dtype="str")
            ),
            "ts": pd.Series(np.tile(naive, n_programs)).dt.tz_localize("UTC"),  # [P*T]
            "requests": coerce_counts(values.reshape(-1)),
        }
    )
