from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from clonecast.errors import TraceFormatError
from data_checks import validate_dataset
from tests.conftest import utc
from tests.traces import files
from traces.loaders import detect_format, load
from traces.loaders.huawei import parse_function


def test_azure2019_wide_minutes_become_long_rows_with_programs(tmp_path: Path) -> None:
    inv = files.azure2019(tmp_path / "az", minutes=10)
    ds = load(tmp_path / "az")  # the directory works as well as the file
    assert ds.format == "azure2019" and ds.freq == pd.Timedelta("1min")
    assert len(ds.requests) == 3 * 10
    f2 = ds.requests[ds.requests["program_code"] == "f2"].sort_values("ts")
    assert f2["requests"].tolist() == [(1 * j) % 4 for j in range(10)]
    assert f2["ts"].iloc[0] == utc("2019-07-15") and f2["ts"].iloc[-1] == utc("2019-07-15 00:09")
    programs = ds.programs.set_index("program_code")
    assert programs.loc["f1", "memory_mb"] == 100 and programs.loc["f2", "memory_mb"] == 101
    assert programs.loc["f3", "memory_mb"] == 256  # no memory row: the documented default
    assert programs.loc["f3", "duration_ms"] == 150
    assert load(inv, start="2020-02-01T00:00Z").requests["ts"].min() == utc("2020-02-01")
    assert validate_dataset(ds).success


def test_huawei_parses_pool_resources_and_gpu_images(tmp_path: Path) -> None:
    ds = load(files.huawei(tmp_path / "dc.csv"))
    assert ds.format == "huawei" and ds.freq == pd.Timedelta("5min")
    programs = ds.programs.set_index("program_code")
    cpu = programs.loc["6361---701---pool22-300-128"]
    gpu = programs.loc["99---5---custom.image.gpu-25800-32768"]
    assert (cpu["cpu_millicores"], cpu["memory_mb"], cpu["gpus"]) == (300, 128, 0)
    assert (gpu["cpu_millicores"], gpu["memory_mb"], gpu["gpus"]) == (25800, 32768, 1)
    assert ds.requests["requests"].dtype == "int64"
    assert validate_dataset(ds).success


def test_huawei_column_names() -> None:
    assert parse_function("a-b---7---pool22-300-128") == {
        "pool": "pool22-300-128",
        "cpu_millicores": 300.0,
        "memory_mb": 128.0,
        "gpus": 0,
    }
    assert parse_function("6361---701") is None


def test_alibaba_log_is_counted_per_model_and_minute(tmp_path: Path) -> None:
    ds = load(files.alibaba_log(tmp_path / "ali"))
    assert ds.format == "alibaba-genai"
    counts = ds.requests.set_index(["program_code", "ts"])["requests"]
    assert counts[("M0", utc("2024-11-15 16:57"))] == 2
    assert counts[("M1", utc("2024-11-15 16:59"))] == 1
    assert counts[("M0", utc("2024-11-15 16:58"))] == 0  # explicit zero on the grid
    assert len(ds.requests) == 2 * 3  # 2 models x minutes 16:57..16:59 (PENDING without model left out)
    mean = ds.requests.set_index(["program_code", "ts"])["duration_ms"]
    assert mean[("M0", utc("2024-11-15 16:57"))] == 36000.0
    assert (ds.programs["gpus"] == 1).all()
    assert ds.programs["cold_start_s"].iloc[0] == 4.0  # median of 2, 4, 30 s load latency
    assert any("PENDING" in n for n in ds.notes)
    assert validate_dataset(ds).success


def test_series_rows_become_steps_from_start(tmp_path: Path) -> None:
    ds = load(files.series(tmp_path / "nasa_per_minute.csv.gz".replace(".gz", "")), start="1995-07-01T04:00Z")
    assert ds.programs["program_code"].tolist() == ["nasa_per_minute"]
    assert ds.requests["ts"].iloc[3] == utc("1995-07-01 04:03")
    assert validate_dataset(ds).success


def test_long_with_programs_and_events(tmp_path: Path) -> None:
    ds = load(
        files.long_requests(tmp_path / "r.csv"),
        events=files.long_events(tmp_path / "e.csv"),
        programs=files.long_programs(tmp_path / "p.csv"),
    )
    assert ds.format == "long" and ds.freq == pd.Timedelta("5min")
    assert ds.events["program_code"].tolist() == ["a", ""]
    assert validate_dataset(ds).success
    canonical = ds.canonical()
    assert "_line" not in canonical.requests.columns
    assert canonical.programs.set_index("program_code").loc["b", "gpu_type"] == "T4"


def test_parquet_long_file(tmp_path: Path) -> None:
    frame = pd.read_csv(files.long_requests(tmp_path / "r.csv"))
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame.to_parquet(tmp_path / "r.parquet")
    ds = load(tmp_path / "r.parquet")
    assert len(ds.requests) == 24 and validate_dataset(ds).success


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("az", lambda p: files.azure2019(p), "azure2019"),
        ("dc.csv", lambda p: files.huawei(p), "huawei"),
        ("ali", lambda p: files.alibaba_log(p), "alibaba-genai"),
        ("s.csv", lambda p: files.series(p), "series"),
        ("r.csv", lambda p: files.long_requests(p), "long"),
    ],
)
def test_detect_format(tmp_path: Path, name: str, make, expected: str) -> None:
    path = make(tmp_path / name)
    assert detect_format(path) == expected


def test_unknown_format_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("foo,bar\n1,2\n")
    with pytest.raises(TraceFormatError, match="pass --format"):
        detect_format(tmp_path / "x.csv")


@pytest.mark.real_traces
def test_real_azure_sample_shape(traces_dir: Path) -> None:
    ds = load(traces_dir / "azure_functions_2019_invitro_sample1350")
    assert len(ds.programs) == 1350 and len(ds.requests) == 1350 * 1440
    assert int(ds.requests["requests"].sum()) == 927_272  # SOURCE.md: total invocations
    assert ds.programs["memory_mb"].median() == pytest.approx(142, abs=10)


@pytest.mark.real_traces
def test_real_huawei_shape(traces_dir: Path) -> None:
    ds = load(traces_dir / "huawei_tsfm_datacentre3" / "datacentre_3.csv")
    assert len(ds.programs) == 7 and len(ds.requests) == 7 * 8640
    mean = ds.requests.groupby("program_code")["requests"].mean()
    assert mean["6361---701---pool22-300-128"] == pytest.approx(216_043.8, abs=0.1)  # SOURCE.md table


@pytest.mark.real_traces
def test_real_alibaba_log_counts_every_request_with_a_model(traces_dir: Path) -> None:
    ds = load(traces_dir / "alibaba_genai_serving_2026_gentd26" / "lora_request_trace.csv.gz")
    assert int(ds.requests["requests"].sum()) == 26_823 - 25  # 25 PENDING rows carry no base model
    assert len(ds.programs) == 86
