"""Azure Functions Trace 2019: wide per-minute invocations plus duration and memory percentile files.

Accepts the InVitro sample layout (`*_inv.csv[.gz]`, `*_mem.csv`, `*_run.csv`, minute columns
`minute_1..`) and the original Azure day files (`invocations_per_function_md.anon.dNN.csv`,
`function_durations_percentiles.anon.dNN.csv`, `app_memory_percentiles.anon.dNN.csv`, minute columns
`1..1440`). The trace has no dates: minute 1 starts at `start` (default 2019-07-15, the first day of the
published trace). A program is a function (`HashFunction`); memory is per app, as Azure records it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from clonecast.errors import TraceFormatError
from clonecast.settings import ProgramDefaults
from traces.frames import Dataset, empty_events
from traces.loaders.common import default_programs, long_from_wide, time_grid
from traces.progress import Progress
from traces.textio import read_csv

DEFAULT_START = "2019-07-15T00:00:00Z"
_MINUTE = re.compile(r"^(?:minute_)?(\d+)$")
_SIBLINGS = {
    "mem": ("_inv", "_mem", "invocations_per_function_md", "app_memory_percentiles"),
    "run": ("_inv", "_run", "invocations_per_function_md", "function_durations_percentiles"),
}


def is_invocations_file(path: Path) -> bool:
    name = path.name
    return "_inv.csv" in name or name.startswith("invocations_per_function")


def find_files(path: Path) -> tuple[Path, Path | None, Path | None]:
    """The invocations file and its memory and duration siblings (None when absent)."""
    if path.is_dir():
        candidates = sorted(p for p in path.iterdir() if is_invocations_file(p))
        if not candidates:
            raise TraceFormatError(
                "expect_azure2019_invocations_file",
                str(path),
                "no *_inv.csv[.gz] or invocations_per_function*.csv here",
            )
        path = candidates[0]
    siblings: dict[str, Path | None] = {}
    for kind, (short, short_to, long, long_to) in _SIBLINGS.items():
        base = path.name.removesuffix(".gz")
        name = base.replace(short, short_to) if short in base else base.replace(long, long_to)
        found = [p for p in (path.with_name(name), path.with_name(name + ".gz")) if p.is_file() and p != path]
        siblings[kind] = found[0] if found else None
    return path, siblings["mem"], siblings["run"]


def _minute_columns(columns: pd.Index, path: Path) -> list[str]:
    minutes = [(int(m.group(1)), c) for c in columns if (m := _MINUTE.match(str(c)))]
    numbers = [n for n, _ in minutes]
    if not minutes or numbers != list(range(1, len(numbers) + 1)):
        raise TraceFormatError(
            "expect_minute_columns_to_be_consecutive",
            str(path),
            f"minute columns must run 1..N in order; found {len(numbers)} starting {numbers[:3]}",
            line=1,
        )
    return [c for _, c in minutes]


def _lookup(frame: pd.DataFrame | None, key: str, value: str) -> pd.Series:
    if frame is None or key not in frame.columns or value not in frame.columns:
        return pd.Series(dtype="float64")
    return frame.drop_duplicates(key).set_index(key)[value]


def load(
    path: Path,
    *,
    start: str | None = None,
    defaults: ProgramDefaults | None = None,
    progress: Progress | None = None,
) -> Dataset:
    """Read an Azure 2019 trace into per-minute requests, programs and (no) events."""
    defaults = defaults or ProgramDefaults()
    inv_path, mem_path, run_path = find_files(path)
    inv = read_csv(inv_path, progress)
    if "HashFunction" not in inv.columns:
        raise TraceFormatError(
            "expect_column_to_exist", str(inv_path), "no HashFunction column: not an Azure 2019 file", line=1
        )
    minutes = _minute_columns(inv.columns, inv_path)
    mem = read_csv(mem_path, progress) if mem_path else None
    run = read_csv(run_path, progress) if run_path else None

    codes = inv["HashFunction"].astype("str").to_numpy()
    grid = time_grid(pd.Timestamp(start or DEFAULT_START), len(minutes), pd.Timedelta("1min"))
    requests = long_from_wide(codes, grid, inv[minutes].to_numpy())  # [F*M] rows
    requests["_line"] = np.repeat(np.arange(2, len(inv) + 2), len(minutes))

    programs = default_programs(codes, defaults)
    apps = inv["HashApp"] if "HashApp" in inv.columns else inv["HashFunction"]
    memory = apps.map(_lookup(mem, "HashApp", "AverageAllocatedMb")).to_numpy(dtype="float64")
    duration = inv["HashFunction"].map(_lookup(run, "HashFunction", "Average")).to_numpy(dtype="float64")
    programs["memory_mb"] = np.where(np.isnan(memory), defaults.memory_mb, memory)
    programs["duration_ms"] = duration
    notes = [f"{inv_path.name}: {len(inv)} functions x {len(minutes)} minutes from {grid[0]:%Y-%m-%d %H:%M} UTC"]
    if mem_path is None or run_path is None:
        notes.append(f"memory file: {mem_path}, duration file: {run_path} (missing ones leave defaults)")
    if (missing := int(np.isnan(memory).sum())) and mem_path is not None:
        notes.append(f"{missing} functions have no memory row; they get the default {defaults.memory_mb:g} MB")
    return Dataset(
        requests=requests,
        programs=programs,
        events=empty_events(),
        freq=pd.Timedelta("1min"),
        source=str(inv_path),
        format="azure2019",
        notes=notes,
    )
