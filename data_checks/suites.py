"""Expectation suites for the canonical frames, as plain specs (Great Expectations runs them in `_gx`).

Each suite comes in two parts: the schema part (columns exist, dtypes, UTC timezone) and the content
part (nulls, ranges, keys, grid, references, freshness). Content expectations on a column run only if
the column passed its schema part, so one broken column gives one clear failure, not a cascade.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import pandas as pd

from clonecast.settings import Limits
from traces.frames import (
    CRITICALITY,
    EVENT_KINDS,
    EVENTS,
    FORECAST,
    HOSTS,
    PROGRAMS,
    REQUESTS,
    UTC_NS,
    FrameSchema,
)

INTEGER_DTYPES = ["int64", "Int64", "int32", "Int32"]
FLOAT_DTYPES = ["float64", "Float64", "float32", *INTEGER_DTYPES]
STRING_DTYPES = ["str", "string", "object", "category"]


@dataclass(frozen=True)
class Expect:
    """One expectation: its Great Expectations type, what it guards in words, and its arguments."""

    type: str
    check: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        k = self.kwargs
        if "column" in k:
            return (k["column"],)
        if "column_list" in k:
            return tuple(k["column_list"])
        if "column_A" in k:
            return (k["column_A"], k["column_B"])
        return ()


@dataclass(frozen=True)
class Context:
    """What content checks compare against: now, the limits, the bin width and the known programs."""

    now: pd.Timestamp
    limits: Limits
    freq: pd.Timedelta | None = None
    programs: frozenset[str] | None = None

    @property
    def future(self) -> pd.Timestamp:
        return self.now + pd.Timedelta(self.limits.future_tolerance)

    @property
    def earliest(self) -> pd.Timestamp:
        return pd.Timestamp(self.limits.earliest)


def _accepted_dtypes(dtype: str) -> list[str]:
    if dtype == UTC_NS:
        return [f"datetime64[{unit}, UTC]" for unit in ("ns", "us", "ms", "s")]
    if dtype == "int64":
        return INTEGER_DTYPES
    if dtype == "float64":
        return FLOAT_DTYPES
    return STRING_DTYPES


def schema_suite(schema: FrameSchema, frame: pd.DataFrame, *, min_rows: int = 1) -> list[Expect]:
    """Columns exist (required ones), dtypes (timezone included) for every schema column present."""
    specs = (
        [Expect("expect_table_row_count_to_be_between", "the frame has rows", {"min_value": min_rows})]
        if min_rows
        else []
    )
    for column in schema.required:
        specs.append(Expect("expect_column_to_exist", "required column present", {"column": column}))
    for column in schema.present(frame):
        dtype = schema.dtype(column)
        check = "timestamps are timezone-aware UTC" if dtype == UTC_NS else f"{dtype} values"
        specs.append(
            Expect("expect_column_dtype_to_be_in", check, {"column": column, "dtypes": _accepted_dtypes(dtype)})
        )
    return specs


def _not_null(*columns: str) -> list[Expect]:
    return [Expect("expect_column_values_to_not_be_null", "no missing values", {"column": c}) for c in columns]


def _between(column: str, check: str, low: Any = None, high: Any = None, **extra: Any) -> Expect:
    return Expect(
        "expect_column_values_to_be_between",
        check,
        {"column": column, "min_value": low, "max_value": high, **extra},
    )


def _timestamps(column: str, ctx: Context) -> Expect:
    return _between(
        column,
        f"plausible dates, none in the future (after {ctx.future:%Y-%m-%d %H:%M} UTC)",
        ctx.earliest,
        ctx.future,
    )


def _freshness(column: str, ctx: Context) -> list[Expect]:
    if ctx.limits.max_age is None:
        return []
    oldest = ctx.now - pd.Timedelta(ctx.limits.max_age)
    return [
        Expect(
            "expect_column_max_to_be_between",
            f"fresh: newest {column} within {ctx.limits.max_age} of now",
            {"column": column, "min_value": oldest},
        )
    ]


def _known_programs(ctx: Context, *, allow_empty: bool = False) -> list[Expect]:
    if ctx.programs is None:
        return []
    known = sorted(ctx.programs | ({""} if allow_empty else set()))
    check = "refers to known programs" + (" (empty = all)" if allow_empty else "")
    return [Expect("expect_column_values_to_be_in_set", check, {"column": "program_code", "value_set": known})]


_RESOURCE_LIMITS = {
    "duration_ms": "max_duration_ms",
    "memory_mb": "max_memory_mb",
    "cpu_millicores": "max_cpu_millicores",
    "gpus": "max_gpus",
}


def _resources(frame: pd.DataFrame, ctx: Context) -> list[Expect]:
    return [
        _between(column, "non-negative, plausible resource", 0, getattr(ctx.limits, limit))
        for column, limit in _RESOURCE_LIMITS.items()
        if column in frame.columns
    ]


def requests_suite(frame: pd.DataFrame, ctx: Context) -> list[Expect]:
    """Content of a requests frame."""
    per_bin = ctx.limits.max_requests_per_minute * (ctx.freq or pd.Timedelta("1min")) / pd.Timedelta("1min")
    specs = [
        *_not_null("program_code", "ts", "requests"),
        _between("requests", f"non-negative counts, at most {per_bin:,.0f} per bin", 0, per_bin),
        _timestamps("ts", ctx),
        Expect(
            "expect_compound_columns_to_be_unique",
            "one row per program and bin",
            {"column_list": ["program_code", "ts"]},
        ),
        *_resources(frame, ctx),
        *_known_programs(ctx),
        *_freshness("ts", ctx),
    ]
    if "network_mbps" in frame.columns:
        specs.append(_between("network_mbps", "non-negative bandwidth", 0, 1e6))
    return specs


def grid_suite() -> list[Expect]:
    """The per-program summary of the time grid (see data_checks.grid)."""
    return [
        _between("missing_bins", "complete time grid: every program on every bin, zeros explicit", 0, 0),
        _between("misaligned_rows", "timestamps on the bin grid", 0, 0),
    ]


def programs_suite(frame: pd.DataFrame, ctx: Context) -> list[Expect]:
    """Content of a programs frame."""
    lim = ctx.limits
    specs = [
        *_not_null(*(c for c in PROGRAMS.required if c != "gpu_type")),  # empty gpu_type = none or any
        Expect("expect_column_values_to_be_unique", "one row per program", {"column": "program_code"}),
        _between("cpu_millicores", "positive, plausible CPU", 0, lim.max_cpu_millicores, strict_min=True),
        _between("memory_mb", "positive, plausible memory", 0, lim.max_memory_mb, strict_min=True),
        _between("gpus", "GPU count in range", 0, lim.max_gpus),
        _between("concurrency", "at least one request per container", 1, lim.max_concurrency),
        _between("cold_start_s", "non-negative, plausible cold start", 0, lim.max_cold_start_s),
        Expect(
            "expect_column_value_lengths_to_be_between",
            "an image to clone",
            {"column": "image", "min_value": 1},
        ),
    ]
    if "duration_ms" in frame.columns:
        specs.append(_between("duration_ms", "non-negative, plausible duration", 0, lim.max_duration_ms))
    if "criticality" in frame.columns:
        specs.append(
            Expect(
                "expect_column_values_to_be_in_set",
                f"a criticality class: {', '.join(CRITICALITY)} (empty = standard)",
                {"column": "criticality", "value_set": ["", *CRITICALITY]},
            )
        )
    return specs


def hosts_suite(frame: pd.DataFrame, ctx: Context) -> list[Expect]:
    """Content of a hosts frame: one row per host, capacities in range, free amounts within capacity."""
    lim = ctx.limits
    specs = [
        *_not_null("host", "zone", "region", "cpu_millicores", "memory_mb", "gpus"),
        Expect("expect_column_values_to_be_unique", "one row per host", {"column": "host"}),
        _between("cpu_millicores", "positive, plausible CPU", 0, lim.max_cpu_millicores, strict_min=True),
        _between("memory_mb", "positive, plausible memory", 0, lim.max_memory_mb, strict_min=True),
        _between("gpus", "GPU count in range", 0, lim.max_gpus),
    ]
    for capacity in ("cpu_millicores", "memory_mb", "gpus"):
        free = f"free_{capacity}"
        specs += [
            _between(free, "free amounts are not negative", 0, None),
            Expect(
                "expect_column_pair_values_a_to_be_greater_than_b",
                "free amounts within capacity",
                {"column_A": capacity, "column_B": free, "or_equal": True},
            ),
        ]
    return specs


def events_suite(frame: pd.DataFrame, ctx: Context) -> list[Expect]:
    """Content of an events frame."""
    return [
        *_not_null("start", "end", "kind", "magnitude"),
        Expect(
            "expect_column_pair_values_a_to_be_greater_than_b",
            "an event ends after it starts",
            {"column_A": "end", "column_B": "start"},
        ),
        Expect(
            "expect_column_values_to_be_in_set",
            "a known event kind",
            {"column": "kind", "value_set": list(EVENT_KINDS)},
        ),
        _between("magnitude", "positive, plausible magnitude", 0, ctx.limits.max_event_magnitude, strict_min=True),
        _between("start", "plausible dates", ctx.earliest, None),
        *_known_programs(ctx, allow_empty=True),
    ]


def forecast_suite(frame: pd.DataFrame, ctx: Context, quantiles: list[str]) -> list[Expect]:
    """Content of a forecast frame: steps, non-negative values, ordered quantiles, fresh origin."""
    cap = ctx.limits.max_requests_per_minute * (ctx.freq or pd.Timedelta("5min")) / pd.Timedelta("1min")
    specs = [
        *_not_null("program_code", "origin", "ts", "step", "yhat", *quantiles),
        _between("step", "steps 1..H", 1, ctx.limits.max_horizon_steps),
        _between("yhat", "non-negative, plausible forecast", 0, cap),
        *[_between(q, "non-negative, plausible quantile", 0, cap) for q in quantiles],
        *[
            Expect(
                "expect_column_pair_values_a_to_be_greater_than_b",
                "quantiles do not cross",
                {"column_A": high, "column_B": low, "or_equal": True},
            )
            for low, high in pairwise(quantiles)
        ],
        Expect(
            "expect_column_pair_values_a_to_be_greater_than_b",
            "targets lie at or after the origin",
            {"column_A": "ts", "column_B": "origin", "or_equal": True},
        ),
        Expect(
            "expect_compound_columns_to_be_unique",
            "one row per program, origin and target",
            {"column_list": ["program_code", "origin", "ts"]},
        ),
        _timestamps("origin", ctx),
        *_resources(frame, ctx),
        *_known_programs(ctx),
        *_freshness("origin", ctx),
    ]
    return specs


def time_axis_suite(frame: pd.DataFrame) -> list[Expect]:
    """A wide file's time axis in file order: present and strictly increasing."""
    return [
        spec
        for column in ("ts", "step")
        if column in frame.columns
        for spec in (
            *_not_null(column),
            Expect(
                "expect_column_values_to_be_increasing",
                "rows in time order, no duplicated timestamps",
                {"column": column, "strictly": True},
            ),
        )
    ]


def request_log_suite(ctx: Context) -> list[Expect]:
    """A per-request log before counting: parseable times, a program per request, plausible durations."""
    return [
        *_not_null("ts", "program_code"),
        _timestamps("ts", ctx),
        _between("exec_time_s", "non-negative, plausible execution time", 0, ctx.limits.max_duration_ms / 1000),
    ]


SCHEMAS = {"requests": REQUESTS, "programs": PROGRAMS, "events": EVENTS, "forecast": FORECAST, "hosts": HOSTS}
