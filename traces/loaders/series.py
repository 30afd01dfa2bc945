"""Single aggregate request-rate series (e.g. NASA-HTTP 1995, Twitter 2021): `minute,requests`,
`second,requests`, or a lone `requests` column with one row per step.

The files carry no dates: row k is `start + k * step` (start default 2000-01-01 UTC; pass the real start
when known). The program code is the file name without its extensions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from clonecast.errors import TraceFormatError
from clonecast.settings import ProgramDefaults
from traces.frames import Dataset, empty_events, freq_name
from traces.loaders.common import default_programs, long_from_wide, time_grid
from traces.progress import Progress
from traces.textio import read_csv

DEFAULT_START = "2000-01-01T00:00:00Z"
STEP_COLUMNS = {"minute": "1min", "second": "1s"}


def is_series_header(header: list[str]) -> bool:
    return header == ["requests"] or (len(header) == 2 and header[0] in STEP_COLUMNS and header[1] == "requests")


def program_code(path: Path) -> str:
    return path.name.split(".")[0]


def load(
    path: Path,
    *,
    start: str | None = None,
    freq: str | None = None,
    defaults: ProgramDefaults | None = None,
    progress: Progress | None = None,
) -> Dataset:
    """Read one aggregate series into a one-program requests frame."""
    defaults = defaults or ProgramDefaults()
    table = read_csv(path, progress)
    header = [str(c) for c in table.columns]
    if not is_series_header(header):
        raise TraceFormatError(
            "expect_series_header",
            str(path),
            f"header {header} is not 'minute|second,requests' or 'requests'",
            line=1,
        )
    step_column = header[0] if len(header) == 2 else None
    width = pd.Timedelta(freq or (STEP_COLUMNS[step_column] if step_column else "1s"))
    checks = {}
    if step_column:
        checks["time_axis"] = pd.DataFrame({"step": table[step_column], "_line": np.arange(2, len(table) + 2)})
    code = program_code(path)
    grid = time_grid(pd.Timestamp(start or DEFAULT_START), len(table), width)
    requests = long_from_wide(np.asarray([code]), grid, table["requests"].to_numpy()[None, :])  # [1, T]
    requests["_line"] = np.arange(2, len(table) + 2)
    return Dataset(
        requests=requests,
        programs=default_programs([code], defaults),
        events=empty_events(),
        freq=width,
        source=str(path),
        format="series",
        checks=checks,
        notes=[
            f"{path.name}: one series of {len(table)} steps of {freq_name(width)} from {grid[0]:%Y-%m-%d %H:%M} UTC"
        ],
    )
