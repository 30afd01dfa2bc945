"""The forecast store: canonical forecast frames keyed by (program_code, origin, ts), one Parquet file per
origin, written atomically. Writing an origin again replaces it, so re-runs (backfills) never duplicate rows.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from clonecast.errors import InputError
from traces.frames import forecast_frame

PATTERN = "origin=*.parquet"


def _name(origin: pd.Timestamp) -> str:
    return f"origin={origin.tz_convert('UTC'):%Y%m%dT%H%M%S}.parquet"


def write(folder: Path, frame: pd.DataFrame) -> list[Path]:
    """Store a forecast frame (any number of origins); returns the files written."""
    frame = forecast_frame(frame)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for origin, part in frame.groupby("origin", sort=True):
        target = folder / _name(pd.Timestamp(origin))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".parquet")
        os.close(fd)
        try:
            part.reset_index(drop=True).to_parquet(tmp, index=False)
            Path(tmp).replace(target)  # atomic: readers see the old file or the new one
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(target)
    return written


def origins(folder: Path) -> list[pd.Timestamp]:
    stamps = [pd.Timestamp(p.stem.removeprefix("origin="), tz="UTC") for p in folder.glob(PATTERN)]
    return sorted(stamps)


def read(folder: Path, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> pd.DataFrame:
    """All stored forecasts with origin in [start, end] (both optional)."""
    chosen = [o for o in origins(folder) if (start is None or o >= start) and (end is None or o <= end)]
    if not chosen:
        raise InputError(
            f"no stored forecasts in {folder} for origins {start} .. {end}: "
            "run batch prediction for that window or widen it"
        )
    return forecast_frame(pd.concat([pd.read_parquet(folder / _name(o)) for o in chosen], ignore_index=True))


def latest(folder: Path) -> pd.DataFrame:
    """The forecast of the newest origin."""
    found = origins(folder)
    if not found:
        raise InputError(f"no stored forecasts in {folder}: run batch prediction first")
    return read(folder, found[-1], found[-1])
