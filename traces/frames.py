"""Canonical frames, the long-format tables every stage exchanges: typed schemas and one constructor each.

Constructors conform a frame to its schema (column order, dtypes, UTC timestamps, sort order); they do
not judge the content. Content is judged by `data_checks.validate`, which runs before a constructor in
every pipeline, so an invalid value never reaches a model, the registry or an actuator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from clonecast.errors import SchemaError

UTC_NS = "datetime64[ns, UTC]"
QUANTILE_COLUMN = re.compile(r"^q(\d{1,2})$")


@dataclass(frozen=True)
class Column:
    """One column of a canonical frame."""

    name: str
    dtype: str
    required: bool = True
    doc: str = ""


@dataclass(frozen=True)
class FrameSchema:
    """A canonical frame: its columns, its key and the dtype of each column."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    sort: tuple[str, ...] = ()

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def dtype(self, name: str) -> str:
        for c in self.columns:
            if c.name == name:
                return c.dtype
        if QUANTILE_COLUMN.match(name) and self.name == "forecast":
            return "float64"
        raise KeyError(name)

    def present(self, frame: pd.DataFrame) -> tuple[str, ...]:
        """The schema's columns that `frame` has, in schema order (forecast quantiles appended)."""
        names = [n for n in self.names if n in frame.columns]
        if self.name == "forecast":
            names += quantile_columns(frame)
        return tuple(names)


REQUESTS = FrameSchema(
    "requests",
    columns=(
        Column("program_code", "str", doc="workload id"),
        Column("ts", UTC_NS, doc="bin start, UTC"),
        Column("requests", "int64", doc="requests that arrived in the bin"),
        Column("duration_ms", "float64", False, "mean execution time per request"),
        Column("memory_mb", "float64", False, "mean memory per request"),
        Column("cpu_millicores", "float64", False, "mean CPU per request"),
        Column("gpus", "float64", False, "mean GPUs per request"),
        Column("network_mbps", "float64", False, "mean network bandwidth per request"),
    ),
    key=("program_code", "ts"),
    sort=("program_code", "ts"),
)

# What one cold start of a program costs relative to a standard program's: the cloning manager's objective
# (the demand quantile), its scarcity allocation and the panic order all weigh cold starts by it. Powers of 4,
# symmetric around standard: critical moves the newsvendor odds c_cold : c_idle four times up (a q80 program
# goes to q94), best-effort four times down (q80 to q50), and under scarcity a critical clone outranks a
# standard one unless it is four times less likely to be needed or needs four times the scarce resource.
CRITICALITY = {"critical": 4.0, "standard": 1.0, "best-effort": 0.25}
DEFAULT_CRITICALITY = "standard"

PROGRAMS = FrameSchema(
    "programs",
    columns=(
        Column("program_code", "str"),
        Column("cpu_millicores", "float64", doc="CPU request per container"),
        Column("memory_mb", "float64", doc="memory request per container"),
        Column("gpus", "int64", doc="GPUs per container"),
        Column("gpu_type", "str", doc="GPU model; empty = none or any"),
        Column("concurrency", "int64", doc="requests one container serves at once"),
        Column("cold_start_s", "float64", doc="seconds from clone to first request served"),
        Column("image", "str", doc="container image"),
        Column("duration_ms", "float64", False, "mean execution time per request, when known"),
        Column("region", "str", False, "where the program's requests come from"),
        Column("criticality", "str", False, "cold-start cost class, one of CRITICALITY; empty = standard"),
    ),
    key=("program_code",),
    sort=("program_code",),
)

EVENT_KINDS = ("campaign", "scheduled_job", "news", "release", "holiday", "outage", "other")

EVENTS = FrameSchema(
    "events",
    columns=(
        Column("start", UTC_NS),
        Column("end", UTC_NS),
        Column("kind", "str", doc="one of EVENT_KINDS"),
        Column("magnitude", "float64", doc="demand multiplier at the event's peak (1 = no effect)"),
        Column("program_code", "str", doc="empty = every program"),
    ),
    sort=("start", "program_code", "kind"),
)

FORECAST = FrameSchema(
    "forecast",
    columns=(
        Column("program_code", "str"),
        Column("origin", UTC_NS, doc="when the forecast was made"),
        Column("ts", UTC_NS, doc="target bin start"),
        Column("step", "int64", doc="1..H"),
        Column("yhat", "float64", doc="point forecast of requests in the bin"),
        Column("cpu_millicores", "float64", doc="CPU of the clones serving yhat (traces.clones: Little's law)"),
        Column("memory_mb", "float64", doc="memory of the clones serving yhat"),
        Column("gpus", "float64", doc="GPUs of the clones serving yhat"),
    ),
    key=("program_code", "origin", "ts"),
    sort=("program_code", "origin", "ts"),
)

HOSTS = FrameSchema(
    "hosts",
    columns=(
        Column("host", "str"),
        Column("zone", "str"),
        Column("region", "str"),
        Column("cpu_millicores", "float64", doc="capacity"),
        Column("memory_mb", "float64", doc="capacity"),
        Column("gpus", "int64", doc="capacity"),
        Column("gpu_type", "str", doc="GPU model; empty = none"),
        Column("free_cpu_millicores", "float64", doc="available to clonecast (clonecast's own clones count as free)"),
        Column("free_memory_mb", "float64"),
        Column("free_gpus", "int64"),
    ),
    key=("host",),
    sort=("host",),
)

SCHEMAS = {s.name: s for s in (REQUESTS, PROGRAMS, EVENTS, FORECAST, HOSTS)}


def freq_name(width: pd.Timedelta) -> str:
    """A bin width as a short pandas frequency string ("5min", "1s")."""
    name = str(pd.tseries.frequencies.to_offset(width).freqstr)
    return name if name[0].isdigit() else f"1{name}"


def quantile_columns(frame: pd.DataFrame) -> list[str]:
    """Quantile columns `q<level>` of a forecast frame, ordered by level."""
    found = [c for c in frame.columns if isinstance(c, str) and QUANTILE_COLUMN.match(c)]
    return sorted(found, key=lambda c: int(c[1:]))


def _as_utc(values: pd.Series, where: str) -> pd.Series:
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        if pd.api.types.is_datetime64_dtype(values.dtype):
            raise SchemaError(f"{where}: timestamps are timezone-naive; localise them to UTC first")
        try:
            values = pd.to_datetime(values, utc=False, format="ISO8601")
        except (ValueError, TypeError) as e:
            raise SchemaError(f"{where}: not timestamps ({e})") from e
        return _as_utc(values, where)
    return values.dt.tz_convert("UTC").astype(UTC_NS)


def _as_str(values: pd.Series) -> pd.Series:
    """Strings with missing values as ""; categoricals through their categories (fast for long frames)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = pd.Index(values.cat.categories.astype("str"), dtype="str").array
        strings = categories.take(values.cat.codes.to_numpy(), allow_fill=True)  # [N]
        values = pd.Series(strings, index=values.index)
    return values.astype("str").fillna("")


def conform(frame: pd.DataFrame, schema: FrameSchema) -> pd.DataFrame:
    """Return `frame` with the schema's columns, dtypes and sort order; raise SchemaError if it can't."""
    missing = [c for c in schema.required if c not in frame.columns]
    if missing:
        raise SchemaError(f"{schema.name} frame: missing required column(s) {missing}; it has {list(frame.columns)}")
    out = {}
    for name in schema.present(frame):
        dtype = schema.dtype(name)
        where = f"{schema.name}.{name}"
        if dtype == UTC_NS:
            out[name] = _as_utc(frame[name], where)
            continue
        try:
            out[name] = _as_str(frame[name]) if dtype == "str" else frame[name].astype(dtype)
        except (ValueError, TypeError) as e:
            raise SchemaError(f"{where}: cannot cast to {dtype}: {e}") from e
    result = pd.DataFrame(out)
    if schema.sort and len(result):
        order = _sort_order(result, schema.sort)
        if not (order == np.arange(len(result))).all():
            result = result.take(order)
    return result.reset_index(drop=True)


def _sort_order(frame: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    """Stable row order by `columns` (strings via sorted codes; faster than sort_values on long frames)."""
    keys = []
    for column in reversed(columns):
        values = frame[column]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            keys.append(values.array.asi8)
        elif pd.api.types.is_numeric_dtype(values.dtype):
            keys.append(values.to_numpy())
        else:
            keys.append(pd.factorize(values, sort=True)[0])
    return np.lexsort(keys)


def requests_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical requests frame (long: one row per program and bin)."""
    return conform(frame, REQUESTS)


def programs_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical programs frame (one row per program code)."""
    return conform(frame, PROGRAMS)


def events_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical events frame (external events; empty program_code = all programs)."""
    return conform(frame, EVENTS)


def forecast_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical forecast frame (per program, origin and target bin, with quantile columns)."""
    return conform(frame, FORECAST)


def hosts_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical hosts frame (capacity and what of it clonecast may use)."""
    return conform(frame, HOSTS)


def empty_events() -> pd.DataFrame:
    """An events frame with no rows."""
    return events_frame(
        pd.DataFrame(
            {
                "start": pd.Series([], dtype=UTC_NS),
                "end": pd.Series([], dtype=UTC_NS),
                "kind": pd.Series([], dtype="str"),
                "magnitude": pd.Series([], dtype="float64"),
                "program_code": pd.Series([], dtype="str"),
            }
        )
    )


@dataclass
class Dataset:
    """A trace as frames: requests at the trace's bin width, the programs and the external events.

    A loader fills it with *candidate* frames (best-effort dtypes, unsorted); `canonical()` conforms them
    once `data_checks.validate` has passed. `checks` holds extra frames that only the source can check
    (e.g. a wide file's time axis with its line numbers), keyed by suite name.
    """

    requests: pd.DataFrame
    programs: pd.DataFrame
    events: pd.DataFrame
    freq: pd.Timedelta
    source: str = ""
    format: str = ""
    checks: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def frames(self) -> dict[str, pd.DataFrame]:
        return {"requests": self.requests, "programs": self.programs, "events": self.events}

    def canonical(self) -> Dataset:
        """This dataset with every frame conformed to its schema."""
        return Dataset(
            requests=requests_frame(self.requests),
            programs=programs_frame(self.programs),
            events=events_frame(self.events),
            freq=self.freq,
            source=self.source,
            format=self.format,
            notes=list(self.notes),
        )
