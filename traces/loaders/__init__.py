"""Loaders from every supported trace format into candidate canonical frames, and format detection."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from clonecast.errors import TraceFormatError
from clonecast.settings import ProgramDefaults
from traces.formats import FORMATS
from traces.frames import Dataset
from traces.loaders import alibaba_genai, azure2019, huawei, long, series
from traces.progress import Progress
from traces.store import is_dataset_dir, read_dataset
from traces.textio import read_header


def detect_format(path: Path) -> str:
    """Tell a trace's format from its name and header; raise TraceFormatError when unsure."""
    if is_dataset_dir(path):
        return "dataset"
    if path.is_dir():
        if any(azure2019.is_invocations_file(p) for p in path.iterdir()):
            return "azure2019"
        if any(alibaba_genai.is_request_log(p) for p in path.iterdir()):
            return "alibaba-genai"
        raise TraceFormatError("expect_known_format", str(path), "directory holds no trace clonecast knows")
    if azure2019.is_invocations_file(path):
        return "azure2019"
    if alibaba_genai.is_request_log(path):
        return "alibaba-genai"
    if path.suffix == ".parquet":
        return "long"
    header = read_header(path)
    if "HashFunction" in header:
        return "azure2019"
    if huawei.is_huawei_header(header):
        return "huawei"
    if series.is_series_header(header):
        return "series"
    if {"program_code", "ts", "requests"} <= set(header):
        return "long"
    raise TraceFormatError(
        "expect_known_format",
        str(path),
        f"cannot tell the format from header {header[:5]}; pass --format",
        line=1,
    )


def _request_log(path: Path) -> Path:
    if path.is_dir():
        logs = sorted(p for p in path.iterdir() if alibaba_genai.is_request_log(p))
        if not logs:
            raise TraceFormatError("expect_file_to_exist", str(path), "no lora_request_trace.csv[.gz] here")
        return logs[0]
    return path


def load(
    path: Path,
    fmt: str = "auto",
    *,
    events: Path | None = None,
    programs: Path | None = None,
    tz: str | None = None,
    start: str | None = None,
    freq: str | None = None,
    defaults: ProgramDefaults | None = None,
    progress: Progress | None = None,
) -> Dataset:
    """Read a trace (any supported format) plus optional events and programs files into a Dataset."""
    fmt = detect_format(path) if fmt == "auto" else fmt
    readers: dict[str, Callable[[], Dataset]] = {
        "azure2019": lambda: azure2019.load(path, start=start, defaults=defaults, progress=progress),
        "huawei": lambda: huawei.load(path, tz=tz, defaults=defaults, progress=progress),
        "alibaba-genai": lambda: alibaba_genai.load(
            _request_log(path), freq=freq, tz=tz, defaults=defaults, progress=progress
        ),
        "long": lambda: long.load(path, tz=tz, freq=freq, defaults=defaults, progress=progress),
        "series": lambda: series.load(path, start=start, freq=freq, defaults=defaults, progress=progress),
        "dataset": lambda: read_dataset(path),
    }
    if fmt not in readers:
        raise TraceFormatError("expect_known_format", str(path), f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    dataset = readers[fmt]()
    if programs is not None:
        dataset.programs = long.read_programs(programs, progress=progress)
        dataset.notes.append(f"programs from {programs}")
    if events is not None:
        dataset.events = long.read_events(events, tz=tz, progress=progress)
        dataset.notes.append(f"events from {events}")
    return dataset
