"""Alibaba GenAI serving 2026 (GenTD26) request log: one row per text-to-image request on GPUs.

A program is a base model (`checkpoint_model_version_id`): requests are counted per model and bin,
with the mean execution time per request, on a complete grid with explicit zeros. Every request holds
one GPU. When `basemodel_update_latency_anon.csv[.gz]` lies beside the log, the median base-model load
latency becomes the programs' cold start (it is the main cold-start component in that trace).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from clonecast.errors import TraceFormatError
from clonecast.settings import ProgramDefaults
from traces.frames import Dataset, empty_events, freq_name
from traces.loaders.common import default_programs, parse_timestamps
from traces.progress import Progress
from traces.textio import read_csv

REQUIRED = ("gmt_create", "checkpoint_model_version_id", "exec_time_seconds")
LOAD_LATENCY = "basemodel_update_latency_anon.csv"


def is_request_log(path: Path) -> bool:
    return path.name.startswith("lora_request_trace")


def cold_start_from_sibling(path: Path, progress: Progress | None) -> tuple[float | None, str | None]:
    """Median base-model load latency in seconds from the sibling file, when present."""
    for candidate in (path.with_name(LOAD_LATENCY + ".gz"), path.with_name(LOAD_LATENCY)):
        if candidate.is_file():
            latency = read_csv(candidate, progress)
            if "value" in latency.columns:
                values = pd.to_numeric(latency["value"], errors="coerce").dropna()
                if len(values):
                    return float(values.median()) / 1000.0, candidate.name
    return None, None


def load(
    path: Path,
    *,
    freq: str | None = None,
    tz: str | None = None,
    defaults: ProgramDefaults | None = None,
    progress: Progress | None = None,
) -> Dataset:
    """Count the request log per base model and bin (default 1 minute) into GPU programs."""
    defaults = defaults or ProgramDefaults()
    log = read_csv(path, progress, dtype={"checkpoint_model_version_id": "str", "gmt_create": "str"})
    for column in REQUIRED:
        if column not in log.columns:
            raise TraceFormatError("expect_column_to_exist", str(path), f"no {column!r} column", line=1)
    width = pd.Timedelta(freq or "1min")
    unassigned = log["checkpoint_model_version_id"].isna()
    if "predict_status" in log.columns:
        unassigned &= log["predict_status"].eq("PENDING")
        log = log[~unassigned]
    ts = parse_timestamps(log["gmt_create"], where=f"{path}:gmt_create", tz=tz or "UTC")
    checks = pd.DataFrame(
        {
            "_line": log.index.to_numpy() + 2,
            "ts": ts,
            "program_code": log["checkpoint_model_version_id"],
            "exec_time_s": log["exec_time_seconds"],
        }
    )
    ok = checks.dropna(subset=["ts", "program_code"])
    duration = pd.to_numeric(ok["exec_time_s"], errors="coerce") * 1000.0
    binned = pd.DataFrame({"program_code": ok["program_code"], "ts": ok["ts"].dt.floor(width), "duration": duration})
    counts = binned.groupby(["program_code", "ts"]).agg(requests=("ts", "size"), duration_ms=("duration", "mean"))
    models = sorted(binned["program_code"].unique())
    grid = pd.date_range(binned["ts"].min(), binned["ts"].max(), freq=width) if len(binned) else pd.DatetimeIndex([])
    full = pd.MultiIndex.from_product([models, grid], names=["program_code", "ts"])
    requests = counts.reindex(full).reset_index()
    requests["requests"] = requests["requests"].fillna(0).astype("int64")
    requests["gpus"] = np.where(requests["requests"] > 0, 1.0, np.nan)

    cold_start, source = cold_start_from_sibling(path, progress)
    programs = default_programs(models, defaults, gpus=1, cold_start_s=cold_start)
    programs["duration_ms"] = (
        programs["program_code"].map(binned.groupby("program_code")["duration"].mean()).to_numpy(dtype="float64")
    )
    notes = [f"{path.name}: {len(log)} requests, {len(models)} base models, {len(grid)} bins of {freq_name(width)}"]
    if skipped := int(unassigned.sum()):
        notes.append(f"{skipped} PENDING requests that never reached a base model are left out")
    if source:
        notes.append(f"cold start {cold_start:.1f} s = median base-model load latency in {source}")
    return Dataset(
        requests=requests,
        programs=programs,
        events=empty_events(),
        freq=width,
        source=str(path),
        format="alibaba-genai",
        checks={"request_log": checks},
        notes=notes,
    )
