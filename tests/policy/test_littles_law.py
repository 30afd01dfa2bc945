"""Resources in the forecast frame and in clone plans are those of the clones that serve the demand (Little's
law: clones = ceil(requests x duration / (bin x concurrency)), at least one where a request is expected,
x container size). Every expected value here is the test's own arithmetic, never the shared function."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clonecast.cli import app
from data_checks import validate
from models.baselines import RollingForecast, to_frame
from models.catalog import make_model
from models.forecaster import train
from models.panel import Panel
from policy.plan import plan_checked
from simulator.forecasts import seasonal_naive_forecast
from simulator.trace import sim_trace
from traces.frames import Dataset
from traces.loaders import load
from traces.loaders.hosts import read_hosts, read_latency

BIN_S = 300.0
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DURATION_S = 0.1  # what the README documents for traces that record no execution time


def littles_law(requests: float, duration_s: float, concurrency: int) -> int:
    """Clones serving `requests` per 5-minute bin: mean requests in flight over concurrency, rounded up."""
    if requests < 1.0:
        return 0
    return max(1, math.ceil(requests * duration_s / (BIN_S * concurrency) - 1e-9))


def test_the_forecast_frame_holds_the_resources_of_the_clones_not_of_one_container_per_request() -> None:
    codes = np.array(["busy", "quiet", "heavy"], dtype=object)
    # busy: 19.8 requests per 5 minutes at 207 ms on concurrency 4 -> one clone
    yhat = np.array([[[19.8, 0.4]], [[0.0, 3.0]], [[9000.0, 4500.0]]])  # [P, O=1, H=2]
    programs = pd.DataFrame(
        {
            "cpu_millicores": [500.0, 250.0, 1000.0],
            "memory_mb": [2048.0, 128.0, 16384.0],
            "gpus": [0, 0, 1],
            "concurrency": [4, 1, 2],
            "duration_ms": [207.0, np.nan, 1500.0],  # quiet: unknown -> the documented 100 ms
        },
        index=pd.Index(codes, name="program_code"),
    )
    rolling = RollingForecast(origins=np.array([0]), yhat=yhat, quantiles={50: yhat})
    frame = to_frame(rolling, codes, pd.Timestamp("2026-01-05T12:00:00Z"), pd.Timedelta("5min"), programs)
    got = frame.set_index(["program_code", "step"])[["cpu_millicores", "memory_mb", "gpus"]]
    # clones by hand: busy 1, 0 (0.4 < 1 request); quiet 0, 1; heavy 9000 x 1.5 / 600 = 22.5 -> 23, 11.25 -> 12
    expected = {
        ("busy", 1): (500.0, 2048.0, 0.0),
        ("busy", 2): (0.0, 0.0, 0.0),
        ("quiet", 1): (0.0, 0.0, 0.0),
        ("quiet", 2): (250.0, 128.0, 0.0),
        ("heavy", 1): (23_000.0, 23 * 16384.0, 23.0),
        ("heavy", 2): (12_000.0, 12 * 16384.0, 12.0),
    }
    for key, values in expected.items():
        assert tuple(got.loc[key]) == pytest.approx(values), key


def test_a_trained_forecaster_and_the_simulators_forecast_use_the_same_rule(small: Dataset) -> None:
    panel = Panel.from_dataset(small, "5min")
    trained = train(make_model("seasonal-naive"), panel, horizon=12)
    frame = trained.forecast(trained.history(small), small.events)
    trace = sim_trace(small)
    simulated = seasonal_naive_forecast(trace, trace.bins - 24, 12)
    profile = small.programs.set_index("program_code")
    replayed_ms = dict(zip(trace.codes, trace.duration_ms.mean(axis=1), strict=True))  # the replay's mean per bin
    for forecast, duration_ms in ((frame, profile["duration_ms"].to_dict()), (simulated, replayed_ms)):
        assert forecast["cpu_millicores"].gt(0).any()
        for row in forecast.itertuples(index=False):
            p = profile.loc[row.program_code]
            clones = littles_law(row.yhat, duration_ms[row.program_code] / 1000.0, int(p["concurrency"]))
            assert row.cpu_millicores == pytest.approx(clones * p["cpu_millicores"])
            assert row.memory_mb == pytest.approx(clones * p["memory_mb"])
            assert row.gpus == pytest.approx(clones * p["gpus"])
    assert validate(forecast=frame, programs=small.programs).success


@pytest.mark.real_traces
@pytest.mark.slow
def test_huawei_dc3_trains_predicts_and_plans_clones_sized_by_littles_law(
    traces_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """train -> predict (exit 0, valid forecast) -> the deploy flow's planning call on the demo fleet: per
    program, the plan's CPU and memory are the clones Little's law gives for the quantile the plan chose."""
    trace = next(traces_dir.glob("huawei_*/datacentre_3.csv"), None)
    if trace is None:
        pytest.skip(f"no huawei_*/datacentre_3.csv under {traces_dir}")
    monkeypatch.setenv("CLONECAST_STATE_DIR", str(tmp_path / "state"))
    runner = CliRunner()
    knobs = json.dumps({"n_estimators": 40})
    for args in (
        ["train", "--trace", str(trace), "--model", "lightgbm", "--params", knobs, "--stride", "12"],
        ["predict", "--trace", str(trace), "--alias", "challenger", "--out", str(tmp_path / "forecast.csv")],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, f"clonecast {args[0]}: {result.output}"

    dataset = load(trace).canonical()
    forecast = pd.read_csv(tmp_path / "forecast.csv", parse_dates=["origin", "ts"])
    assert validate(forecast=forecast, programs=dataset.programs).success
    programs = dataset.programs.set_index("program_code")
    assert "duration_ms" not in programs  # Huawei records none: the default duration applies
    for row in forecast.itertuples(index=False):
        clones = littles_law(row.yhat, DEFAULT_DURATION_S, int(programs.loc[row.program_code, "concurrency"]))
        assert row.cpu_millicores == pytest.approx(clones * programs.loc[row.program_code, "cpu_millicores"])
        assert row.memory_mb == pytest.approx(clones * programs.loc[row.program_code, "memory_mb"])

    now = dataset.requests["ts"].max() + pd.Timedelta(dataset.freq)  # deploy_clones' "now"
    plan = plan_checked(
        forecast,
        dataset.programs,
        read_hosts(ROOT / "jobs/fleets/demo/hosts.csv"),
        now=now,
        at=now,
        latency=read_latency(ROOT / "jobs/fleets/demo/latency.csv"),
    )
    assert plan.shortfall == ()  # the demo fleet holds every target: the plan is not capacity-bound
    levels = sorted(int(c[1:]) for c in forecast.columns if c.startswith("q"))
    for code, p in programs.iterrows():
        rows = forecast[forecast["program_code"] == code].set_index("ts").sort_index()
        q = rows[[f"q{k}" for k in levels]].to_numpy()  # [bins, L]
        at_level = [np.interp(plan.levels[code], np.array(levels) / 100.0, bin_row) for bin_row in q]
        # the clones must serve the bin starting now and the bin they are warm for when asked now: one cold
        # start plus one decision interval (the next plan, one bin later) ahead
        ready = (now + pd.Timedelta(seconds=p["cold_start_s"]) + pd.Timedelta(dataset.freq)).floor(dataset.freq)
        bins = [rows.index.get_loc(now), rows.index.get_loc(ready)]
        clones = max(littles_law(at_level[b], DEFAULT_DURATION_S, int(p["concurrency"])) for b in bins)
        planned = sum(c["count"] for c in plan.placements if c["program_code"] == code)
        assert planned * p["cpu_millicores"] == pytest.approx(clones * p["cpu_millicores"], rel=0.01), code
        assert planned * p["memory_mb"] == pytest.approx(clones * p["memory_mb"], rel=0.01), code
