"""Huawei Cloud serverless traces: a `date` column plus one 5-minute request-count column per function.

Column names are `<funcName>---<userID>---<pool>` where the pool is `poolNN-<cpu mCPU>-<memory MB>`
(also `custom-<cpu>-<mem>` and `custom.image.gpu-<cpu>-<mem>` for GPU images). The dates carry no zone;
they are read in `tz` (default UTC; the published dates are shifted anyway).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from clonecast.errors import TraceFormatError
from clonecast.settings import ProgramDefaults
from traces.frames import Dataset, empty_events, freq_name
from traces.loaders.common import default_programs, long_from_wide, parse_timestamps
from traces.progress import Progress
from traces.textio import read_csv

FUNCTION = re.compile(r"^(?P<func>[^-]+(?:-[^-]+)*?)---(?P<user>[^-]+)---(?P<pool>[\w.]+-(?P<cpu>\d+)-(?P<mem>\d+))$")


def parse_function(name: str) -> dict[str, object] | None:
    """Function id, pool, CPU and memory from a Huawei column name; None when it does not match."""
    m = FUNCTION.match(name)
    if m is None:
        return None
    return {
        "pool": m["pool"],
        "cpu_millicores": float(m["cpu"]),
        "memory_mb": float(m["mem"]),
        "gpus": 1 if "gpu" in m["pool"] else 0,
    }


def is_huawei_header(header: list[str]) -> bool:
    return bool(header) and header[0] == "date" and all(FUNCTION.match(c) for c in header[1:]) and len(header) > 1


def load(
    path: Path,
    *,
    tz: str | None = None,
    defaults: ProgramDefaults | None = None,
    progress: Progress | None = None,
) -> Dataset:
    """Read a Huawei wide 5-minute CSV into requests and programs (resources parsed from the pool name)."""
    defaults = defaults or ProgramDefaults()
    wide = read_csv(path, progress, dtype={"date": "str"})
    if "date" not in wide.columns:
        raise TraceFormatError("expect_column_to_exist", str(path), "no 'date' column: not a Huawei trace", line=1)
    functions = [c for c in wide.columns if c != "date"]
    parsed = {c: parse_function(c) for c in functions}
    if bad := [c for c, p in parsed.items() if p is None]:
        raise TraceFormatError(
            "expect_column_names_to_match_huawei_pattern",
            str(path),
            f"column {bad[0]!r} is not <funcName>---<userID>---pool<NN>-<cpu>-<mem> ({len(bad)} such columns)",
            line=1,
        )
    ts = parse_timestamps(wide["date"], where=f"{path}:date", tz=tz or "UTC")
    axis = pd.DataFrame({"ts": ts, "_line": np.arange(2, len(wide) + 2)})
    freq = _bin_width(ts)
    requests = long_from_wide(np.asarray(functions), pd.DatetimeIndex(ts), wide[functions].to_numpy().T)  # [F, T]

    programs = default_programs(functions, defaults)
    for column in ("cpu_millicores", "memory_mb", "gpus"):
        programs[column] = [parsed[c][column] for c in functions]  # type: ignore[index]
    gpu = programs["gpus"] > 0
    programs.loc[gpu, "cold_start_s"] = defaults.gpu_cold_start_s
    return Dataset(
        requests=requests,
        programs=programs,
        events=empty_events(),
        freq=freq,
        source=str(path),
        format="huawei",
        checks={"time_axis": axis},
        notes=[f"{path.name}: {len(functions)} functions x {len(wide)} bins of {freq_name(freq)}"],
    )


def _bin_width(ts: pd.Series) -> pd.Timedelta:
    steps = ts.dropna().diff().dropna()
    steps = steps[steps > pd.Timedelta(0)]
    return pd.Timedelta(steps.mode().iloc[0]) if len(steps) else pd.Timedelta("5min")
