from __future__ import annotations

import pandas as pd
import pytest

from clonecast.errors import SchemaError
from traces.frames import (
    UTC_NS,
    empty_events,
    forecast_frame,
    freq_name,
    programs_frame,
    quantile_columns,
    requests_frame,
)


def test_requests_frame_casts_sorts_and_drops_unknown_columns() -> None:
    raw = pd.DataFrame(
        {
            "requests": [3.0, 1.0],
            "ts": ["2026-01-01T00:05:00Z", "2026-01-01T00:00:00+00:00"],
            "program_code": [7, 7],
            "_line": [2, 3],
        }
    )
    frame = requests_frame(raw)
    assert list(frame.columns) == ["program_code", "ts", "requests"]
    assert str(frame["ts"].dtype) == UTC_NS
    assert frame["requests"].dtype == "int64"
    assert frame["program_code"].tolist() == ["7", "7"]
    assert frame["requests"].tolist() == [1, 3]  # sorted by ts


def test_other_zones_become_utc() -> None:
    raw = pd.DataFrame({"program_code": ["a"], "ts": ["2026-01-01T02:00:00+02:00"], "requests": [1]})
    assert requests_frame(raw)["ts"].iloc[0] == pd.Timestamp("2026-01-01T00:00:00Z")


def test_naive_timestamps_are_refused() -> None:
    raw = pd.DataFrame({"program_code": ["a"], "ts": pd.to_datetime(["2026-01-01"]), "requests": [1]})
    with pytest.raises(SchemaError, match="timezone-naive"):
        requests_frame(raw)


def test_missing_required_column_is_named() -> None:
    with pytest.raises(SchemaError, match=r"missing required column\(s\) \['requests'\]"):
        requests_frame(pd.DataFrame({"program_code": ["a"], "ts": ["2026-01-01T00:00Z"]}))


def test_uncastable_values_are_named() -> None:
    with pytest.raises(SchemaError, match=r"programs\.gpus"):
        programs_frame(
            pd.DataFrame(
                {
                    "program_code": ["a"],
                    "cpu_millicores": [1],
                    "memory_mb": [1],
                    "gpus": ["two"],
                    "gpu_type": [""],
                    "concurrency": [1],
                    "cold_start_s": [1],
                    "image": ["i"],
                }
            )
        )


def test_forecast_keeps_quantile_columns_in_level_order() -> None:
    raw = pd.DataFrame(
        {
            "program_code": ["a"],
            "origin": ["2026-01-01T00:00Z"],
            "ts": ["2026-01-01T00:05Z"],
            "step": [1],
            "yhat": [2.0],
            "q90": [4],
            "q10": [1],
            "q50": [2],
            "cpu_millicores": [1.0],
            "memory_mb": [1.0],
            "gpus": [0.0],
        }
    )
    frame = forecast_frame(raw)
    assert quantile_columns(frame) == ["q10", "q50", "q90"]
    assert list(frame.columns)[-3:] == ["q10", "q50", "q90"]


def test_empty_events_has_the_schema() -> None:
    events = empty_events()
    assert len(events) == 0
    assert list(events.columns) == ["start", "end", "kind", "magnitude", "program_code"]


@pytest.mark.parametrize(("width", "name"), [("5min", "5min"), ("1s", "1s"), ("1h", "1h"), ("1min", "1min")])
def test_freq_name(width: str, name: str) -> None:
    assert freq_name(pd.Timedelta(width)) == name
