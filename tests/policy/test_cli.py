from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from clonecast.cli import app
from traces.store import write_dataset
from traces.synthetic import SyntheticConfig, generate

MODE_A_KEYS = {
    "policy",
    "mode",
    "apps",
    "invocations",
    "cold_starts",
    "cold_start_pct",
    "p75_app_cold_start_pct",
    "wasted_memory_gb_min",
    "wasted_memory_pct_of_keepalive10",
}
MODE_B_KEYS = {
    "policy",
    "mode",
    "apps",
    "invocations",
    "cold_starts",
    "cold_start_pct",
    "p75_app_cold_start_pct",
    "idle_container_s",
    "idle_gpu_s",
    "added_latency_p99_s",
    "idle_memory_gb_s",
}


@pytest.fixture(scope="module")
def minute_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six programs, one day of 1-minute bins, written as a dataset directory."""
    ds = generate(SyntheticConfig(programs=6, days=1, freq="1min", campaigns=1, news=0, seed=9, median_rate=4))
    return write_dataset(ds, tmp_path_factory.mktemp("traces") / "minutes")


def test_simulate_mode_a_json_has_the_contract_keys(minute_trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--trace",
            str(minute_trace),
            "--mode",
            "a",
            "-p",
            "hybrid-histogram",
            "--warmup-minutes",
            "240",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data) >= MODE_A_KEYS and data["mode"] == "a" and data["policy"] == "hybrid-histogram"
    assert data["invocations"] > 0


def test_simulate_mode_b_several_policies(minute_trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--trace",
            str(minute_trace),
            "--mode",
            "b",
            "-p",
            "keepalive:10",
            "-p",
            "reactive-kpa",
            "-p",
            "oracle",
            "--warmup-minutes",
            "240",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())
    assert [r["policy"] for r in rows] == ["keepalive:10", "reactive-kpa", "oracle"]
    assert all(set(r) >= MODE_B_KEYS for r in rows)
    assert rows[0]["idle_memory_pct_of_keepalive10"] == pytest.approx(100.0)
    assert rows[2]["cold_starts"] == 0


def test_pareto_writes_csv_json_and_png(minute_trace: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["pareto", "--trace", str(minute_trace), "--mode", "a", "--warmup-minutes", "240", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    points = pd.read_csv(tmp_path / "minutes-mode-a.csv")
    assert {"keepalive", "hybrid-histogram", "reactive-kpa", "reactive-hpa", "seed", "predictive", "oracle"} == set(
        points["family"]
    )
    assert json.loads((tmp_path / "minutes-mode-a.json").read_text())[0]["family"] == "keepalive"
    assert (tmp_path / "minutes-mode-a.png").stat().st_size > 20_000
    keepalive = points[points["family"] == "keepalive"].set_index("policy")
    # a longer keep-alive never has more cold starts and never wastes less
    ordered = keepalive.loc[["keepalive:1", "keepalive:10", "keepalive:240"]]
    assert ordered["cold_starts"].is_monotonic_decreasing
    assert ordered["wasted_memory_gb_min"].is_monotonic_increasing


def test_bad_policy_and_bad_trace_are_refused(minute_trace: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(app, ["simulate", "--trace", str(minute_trace), "-p", "magic"])
    assert unknown.exit_code == 2 and "unknown policy" in unknown.output
    broken = tmp_path / "broken.csv"
    broken.write_text("program_code,ts,requests\na,2026-01-05T00:00:00Z,-4\n")
    invalid = runner.invoke(app, ["simulate", "--trace", str(broken), "-p", "keepalive:10"])
    assert invalid.exit_code == 2 and "expect_column_values_to_be_between" in invalid.output


def test_a_forecast_file_is_validated_before_use(minute_trace: Path, tmp_path: Path) -> None:
    forecast = tmp_path / "forecast.csv"
    forecast.write_text(
        "program_code,origin,ts,step,yhat,q90,cpu_millicores,memory_mb,gpus\n"
        "web-000,2026-01-05T05:00:00Z,2026-01-05T05:05:00Z,2,3,4,0,0,0\n"
        "ghost,2026-01-05T05:00:00Z,2026-01-05T05:05:00Z,2,3,4,0,0,0\n"
    )
    result = CliRunner().invoke(
        app, ["simulate", "--trace", str(minute_trace), "-p", "predictive:q90", "--forecast", str(forecast)]
    )
    assert result.exit_code == 2
    assert "expect_column_values_to_be_in_set" in result.output and "ghost" in result.output
