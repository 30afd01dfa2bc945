"""`validate()`: run the expectation suites on whichever frames are given and return a typed report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clonecast.errors import TraceFormatError
from clonecast.settings import Limits
from data_checks.grid import grid_summary
from data_checks.report import ExpectationResult, ValidationReport, plain
from data_checks.suites import (
    SCHEMAS,
    Context,
    Expect,
    events_suite,
    forecast_suite,
    grid_suite,
    hosts_suite,
    programs_suite,
    request_log_suite,
    requests_suite,
    schema_suite,
    time_axis_suite,
)
from traces.frames import Dataset, FrameSchema, quantile_columns
from traces.progress import NullProgress, Progress

_CONTENT: dict[str, Callable[[pd.DataFrame, Context], list[Expect]]] = {
    "requests": requests_suite,
    "programs": programs_suite,
    "events": events_suite,
    "forecast": lambda frame, ctx: forecast_suite(frame, ctx, quantile_columns(frame)),
    "hosts": hosts_suite,
}
_RAW: dict[str, Callable[[pd.DataFrame, Context], list[Expect]]] = {
    "time_axis": lambda frame, ctx: time_axis_suite(frame),
    "request_log": lambda frame, ctx: request_log_suite(ctx),
}


def validate(
    *,
    requests: pd.DataFrame | None = None,
    programs: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    forecast: pd.DataFrame | None = None,
    hosts: pd.DataFrame | None = None,
    checks: dict[str, pd.DataFrame] | None = None,
    freq: pd.Timedelta | str | None = None,
    limits: Limits | None = None,
    now: pd.Timestamp | None = None,
    source: str = "",
    progress: Progress | None = None,
) -> ValidationReport:
    """Validate the given frames (any subset) with their suites; never raises on bad data.

    `checks` holds source-specific frames (a wide file's `time_axis`, a `request_log`). Events,
    requests and forecasts are checked to refer to the programs frame when one is given.
    """
    progress = progress or NullProgress()
    ctx = Context(
        now=now or pd.Timestamp.now(tz="UTC"),
        limits=limits or Limits(),
        freq=pd.Timedelta(freq) if freq is not None else None,
        programs=_known_programs(programs),
    )
    frames = {"requests": requests, "programs": programs, "events": events, "forecast": forecast, "hosts": hosts}
    given = {name: frame for name, frame in frames.items() if frame is not None}
    raw = {name: frame for name, frame in (checks or {}).items() if name in _RAW}
    progress.stage("validating", total=len(given) + len(raw))
    results: list[ExpectationResult] = []
    for name, frame in raw.items():
        results += _run(name, frame, _RAW[name](frame, ctx), ctx, key=())
        progress.advance()
    for name, frame in given.items():
        results += _validate_frame(name, frame, SCHEMAS[name], ctx)
        progress.advance()
    rows = {name: len(frame) for name, frame in given.items()}
    return ValidationReport(source=source, results=tuple(results), rows=rows)


def validate_dataset(
    dataset: Dataset,
    *,
    limits: Limits | None = None,
    now: pd.Timestamp | None = None,
    progress: Progress | None = None,
) -> ValidationReport:
    """Validate every frame of a dataset, its source-specific checks included."""
    return validate(
        **dataset.frames(),
        checks=dataset.checks,
        freq=dataset.freq,
        limits=limits,
        now=now,
        source=dataset.source,
        progress=progress,
    )


def check_source(
    path: Path,
    fmt: str = "auto",
    *,
    limits: Limits | None = None,
    now: pd.Timestamp | None = None,
    progress: Progress | None = None,
    **load_options: Any,
) -> tuple[Dataset | None, ValidationReport]:
    """Load a trace (`traces.loaders.load` options) and validate it; a file that cannot be read yields a
    report naming the failed check."""
    from traces.loaders import load

    try:
        dataset = load(path, fmt, progress=progress, **load_options)
    except TraceFormatError as e:
        return None, report_from_error(e, source=str(path))
    return dataset, validate_dataset(dataset, limits=limits, now=now, progress=progress)


def report_from_error(error: TraceFormatError, *, source: str) -> ValidationReport:
    """A one-entry failed report for a file that could not be read into frames."""
    result = ExpectationResult(
        frame="file",
        expectation=error.check,
        check="the file can be read into frames",
        success=False,
        detail=str(error),
        examples=({"file": error.path, "line": error.line},) if error.line is not None else (),
    )
    return ValidationReport(source=source, results=(result,))


def _known_programs(programs: pd.DataFrame | None) -> frozenset[str] | None:
    if programs is not None and "program_code" in programs.columns:
        return frozenset(programs["program_code"].dropna().astype("str"))
    return None


def _validate_frame(name: str, frame: pd.DataFrame, schema: FrameSchema, ctx: Context) -> list[ExpectationResult]:
    min_rows = 0 if name == "events" else 1
    results = _run(name, frame, schema_suite(schema, frame, min_rows=min_rows), ctx, key=schema.key)
    broken = {c for r in results if not r.success for c in r.columns}
    content = [
        spec for spec in _CONTENT[name](frame, ctx) if all(c in frame.columns and c not in broken for c in spec.columns)
    ]
    results += _run(name, frame, content, ctx, key=schema.key)
    if name == "requests" and ctx.freq is not None and not broken & {"program_code", "ts"} and len(frame):
        grid = grid_summary(frame, ctx.freq)
        results += _run("requests_grid", grid, grid_suite(), ctx, key=("program_code",))
    return results


def _run(
    name: str, frame: pd.DataFrame, specs: list[Expect], ctx: Context, key: tuple[str, ...]
) -> list[ExpectationResult]:
    from data_checks import _gx

    raw = _gx.run(name, frame, specs, ctx.limits.examples)
    return [_result(name, frame, spec, r, key, ctx.limits.examples) for spec, r in zip(specs, raw, strict=True)]


def _result(
    name: str, frame: pd.DataFrame, spec: Expect, raw: dict[str, Any], key: tuple[str, ...], limit: int
) -> ExpectationResult:
    res = raw["result"]
    success = raw["success"]
    detail = raw["error"] or ""
    examples: list[dict[str, Any]] = []
    if not success:
        index = [i for i in res.get("partial_unexpected_index_list") or [] if i in frame.index][:limit]
        if index:
            examples = _rows(frame, index, key, spec)
        elif spec.type == "expect_column_dtype_to_be_in" and spec.columns[0] in frame.columns:
            hint, examples = _dtype_examples(frame, spec, key, limit)
            detail = detail or hint
        elif spec.type == "expect_column_to_exist":
            detail = f"the frame has columns {[c for c in frame.columns if c != '_line']}"
        elif spec.type == "expect_table_row_count_to_be_between":
            detail = "no data rows"
    count = res.get("unexpected_count")
    return ExpectationResult(
        frame=name,
        expectation=spec.type,
        check=spec.check,
        columns=spec.columns,
        success=success,
        observed=plain(res.get("observed_value")),
        unexpected_count=int(count) if count is not None and not success else None,
        examples=tuple(examples),
        detail=detail,
    )


def _rows(frame: pd.DataFrame, index: list[Any], key: tuple[str, ...], spec: Expect) -> list[dict[str, Any]]:
    wanted = ["_line", *key, *spec.columns, "gaps"]
    columns = list(dict.fromkeys(c for c in wanted if c in frame.columns))
    return [{c: plain(v) for c, v in row.items()} for row in frame.loc[index, columns].to_dict("records")]


def _dtype_examples(
    frame: pd.DataFrame, spec: Expect, key: tuple[str, ...], limit: int
) -> tuple[str, list[dict[str, Any]]]:
    column = spec.columns[0]
    values = frame[column]
    wanted = spec.kwargs["dtypes"]
    if any(w.startswith("datetime64") for w in wanted):
        if pd.api.types.is_datetime64_dtype(values.dtype):
            hint = "timestamps carry no timezone: write them with a UTC offset (2019-07-15T00:00:00Z) or pass --tz"
            bad = values.notna()
        else:
            hint = "not timestamps"
            bad = values.notna()
    else:
        numeric = pd.to_numeric(values, errors="coerce")
        not_numbers = values.notna() & numeric.isna()
        if not_numbers.any():
            hint, bad = "values that are not numbers", not_numbers
        else:
            hint = "values that are not whole numbers"
            bad = numeric.notna() & (numeric != np.floor(numeric))
    index = list(frame.index[bad.to_numpy()][:limit])
    return hint, _rows(frame, index, key, spec)
