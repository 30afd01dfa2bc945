from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from clonecast.errors import DataValidationError
from data_checks import Limits, validate, validate_dataset
from data_checks.grid import grid_summary
from tests.conftest import utc
from traces.frames import Dataset


def _failed(report) -> dict[tuple[str, str], object]:
    return {(r.where, r.expectation): r for r in report.failures}


def test_valid_synthetic_passes_every_suite(small: Dataset) -> None:
    report = validate_dataset(small)
    assert report.success, report.summary()
    frames = {r.frame for r in report.results}
    assert frames == {"requests", "requests_grid", "programs", "events"}
    assert report.rows["requests"] == len(small.requests)


def test_a_broken_column_gives_one_failure_not_a_cascade(small: Dataset) -> None:
    requests = small.requests.assign(requests=small.requests["requests"].astype(str).where(lambda s: s != "0", "x"))
    report = validate(requests=requests, freq=small.freq)
    failed = _failed(report)
    assert list(failed) == [("requests.requests", "expect_column_dtype_to_be_in")]
    example = failed[("requests.requests", "expect_column_dtype_to_be_in")]
    assert example.detail == "values that are not numbers"
    assert all(row["requests"] == "x" for row in example.examples)


def test_grid_gaps_are_reported_as_ranges() -> None:
    grid = pd.date_range("2026-01-01", periods=10, freq="5min", tz="UTC")
    requests = pd.DataFrame({"program_code": ["a"] * 10 + ["b"] * 10, "ts": list(grid) * 2, "requests": 1})
    requests = requests.drop(index=[12, 13, 14, 18]).reset_index(drop=True)  # b misses 00:10..00:20 and 00:40
    summary = grid_summary(requests, pd.Timedelta("5min")).set_index("program_code")
    assert summary.loc["a", "missing_bins"] == 0 and summary.loc["b", "missing_bins"] == 4
    assert summary.loc["b", "gaps"] == (
        "2026-01-01 00:10:00..2026-01-01 00:20:00 (3 bins), 2026-01-01 00:40:00..2026-01-01 00:40:00 (1 bins)"
    )
    report = validate(requests=requests, freq="5min")
    failure = _failed(report)[("requests_grid.missing_bins", "expect_column_values_to_be_between")]
    assert failure.check.startswith("complete time grid") and failure.examples[0]["program_code"] == "b"


def test_misaligned_rows_are_caught() -> None:
    ts = pd.to_datetime(["2026-01-01T00:00Z", "2026-01-01T00:05Z", "2026-01-01T00:07Z", "2026-01-01T00:10Z"])
    report = validate(requests=pd.DataFrame({"program_code": "a", "ts": ts, "requests": 1}), freq="5min")
    assert ("requests_grid.misaligned_rows", "expect_column_values_to_be_between") in _failed(report)


def _forecast(origin: pd.Timestamp, steps: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "program_code": "a",
            "origin": origin,
            "ts": [origin + pd.Timedelta(minutes=5 * s) for s in range(1, steps + 1)],
            "step": range(1, steps + 1),
            "yhat": 2.0,
            "q10": 1.0,
            "q50": 2.0,
            "q90": 3.0,
            "cpu_millicores": 100.0,
            "memory_mb": 128.0,
            "gpus": 0.0,
        }
    )


def test_forecast_suite_catches_crossing_quantiles_and_targets_before_origin() -> None:
    now = utc("2026-01-01 01:00")
    fine = _forecast(utc("2026-01-01 00:55"))
    assert validate(forecast=fine, now=now).success
    crossing = fine.assign(q90=[3.0, 0.5, 3.0])
    failed = _failed(validate(forecast=crossing, now=now))
    assert ("forecast.q90,q50", "expect_column_pair_values_a_to_be_greater_than_b") in failed
    backwards = fine.assign(ts=fine["origin"] - pd.Timedelta("5min"))
    assert ("forecast.ts,origin", "expect_column_pair_values_a_to_be_greater_than_b") in _failed(
        validate(forecast=backwards, now=now)
    )


def test_freshness_refuses_stale_forecasts_only_when_asked() -> None:
    now = utc("2026-01-01 06:00")
    stale = _forecast(utc("2026-01-01 00:55"))
    assert validate(forecast=stale, now=now).success
    report = validate(forecast=stale, now=now, limits=Limits(max_age="15min"))
    failure = _failed(report)[("forecast.origin", "expect_column_max_to_be_between")]
    assert "fresh" in failure.check and failure.observed.startswith("2026-01-01T00:55")


def test_report_serialises_and_raises(small: Dataset) -> None:
    broken = small.requests.copy()
    broken.loc[3, "requests"] = -1
    report = validate(requests=broken, programs=small.programs, freq=small.freq)
    data = json.loads(report.to_json())
    assert data["success"] is False and data["failed"] == 1
    [failure] = [r for r in data["results"] if not r["success"]]
    assert failure["examples"][0]["requests"] == -1
    with pytest.raises(DataValidationError, match="expect_column_values_to_be_between"):
        report.raise_for_failures()


def test_requests_for_unknown_programs(small: Dataset) -> None:
    programs = small.programs.iloc[1:]
    report = validate(requests=small.requests, programs=programs, freq=small.freq)
    failure = _failed(report)[("requests.program_code", "expect_column_values_to_be_in_set")]
    assert failure.unexpected_count == int(
        (small.requests["program_code"] == small.programs["program_code"].iloc[0]).sum()
    )


def test_nullable_counts_report_the_missing_rows() -> None:
    requests = pd.DataFrame(
        {
            "program_code": "a",
            "ts": pd.date_range("2026-01-01", periods=3, freq="5min", tz="UTC"),
            "requests": pd.array([1, None, 2], dtype="Int64"),
        }
    )
    failure = _failed(validate(requests=requests, freq="5min"))[
        ("requests.requests", "expect_column_values_to_not_be_null")
    ]
    assert failure.unexpected_count == 1 and failure.examples[0]["ts"].startswith("2026-01-01T00:05")


def test_limits_reject_bad_settings() -> None:
    with pytest.raises(ValueError, match="duration"):
        Limits(max_age="soon")
    with pytest.raises(ValueError, match="UTC offset"):
        Limits(earliest="1990-01-01")
    assert np.isfinite(Limits().max_requests_per_minute)
