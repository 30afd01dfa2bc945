"""Criticality: a program's class weighs its cold starts in the objective (its quantile), in scarcity allocation
and in the panic order; programs files carry it, validated; the plan's reasons name it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clonecast.cli import app
from data_checks import check_source, validate
from policy.plan import plan_clones
from policy.scaling import ScalingPolicy, ScalingSettings
from policy.targets import Objective
from simulator.forecasts import ForecastView
from simulator.policies import Predictive, SimContext
from simulator.trace import sim_trace
from tests.policy.test_plan import forecast_frame, hosts_frame, programs_frame
from tests.traces import files

# codes sort best-effort first, so a tie broken by program code would favour the wrong one
CLASSES = {"a-report": "best-effort", "b-api": "standard", "c-checkout": "critical"}
EQUAL = {code: [20.0, 20.0] for code in CLASSES}  # requests per 5-minute bin, two bins


def _programs() -> pd.DataFrame:
    programs = programs_frame([(code, 1000.0, 1024.0, 0, "") for code in CLASSES])
    return programs.assign(criticality=list(CLASSES.values()))


@pytest.mark.parametrize("room", [12, 9, 6, 3])
def test_under_scarcity_critical_programs_keep_their_clones_and_best_effort_ones_lose_theirs_first(room: int) -> None:
    # equal demand and containers: 20 requests of a minute per 5-minute bin = 4 clones each, at every quantile
    forecast = forecast_frame(EQUAL, spread=0.0)
    hosts = hosts_frame([("h1", "z1", room * 1000.0, 1e6, 0, "")])  # room for `room` clones of the 12 wanted
    plan = plan_clones(forecast, _programs(), hosts)
    assert plan.wanted == dict.fromkeys(CLASSES, 4)
    expected = {
        "c-checkout": min(4, room),
        "b-api": min(4, max(room - 4, 0)),
        "a-report": min(4, max(room - 8, 0)),
    }
    assert plan.targets == expected
    reasons = {a.program_code: a.reason for a in plan.actions}
    if room == 12:
        assert reasons["c-checkout"].endswith("4 granted (critical)") and not plan.shortfall
        assert reasons["a-report"].endswith("(best-effort)")
        return
    assert reasons["c-checkout"].endswith("scarce: kept (critical)" if room >= 4 else "scarce: 3 of 4 kept (critical)")
    short = {s["program_code"]: s for s in plan.shortfall}
    assert short["a-report"]["criticality"] == "best-effort"
    assert short["a-report"]["reason"] == (
        "scarce capacity or budget: dropped (best-effort)"
        if room <= 8
        else f"scarce capacity or budget: {room - 8} of 4 kept (best-effort)"
    )
    if room == 6:
        assert reasons["b-api"].endswith("scarce: 2 of 4 kept (standard)")
        assert "a-report" not in reasons  # nothing cloned for it


def test_the_objective_weighs_a_cold_start_by_the_class() -> None:
    weight = np.array([4.0, 1.0, 0.25])
    levels = Objective().levels(np.ones(3), np.full(3, 1024.0), np.zeros(3), pd.Timedelta("5min"), weight)
    odds = levels / (1 - levels)  # the newsvendor ratio c_cold / c_idle
    assert odds[0] / odds[1] == pytest.approx(4.0) and odds[1] / odds[2] == pytest.approx(4.0)
    assert levels[0] > levels[1] > levels[2]
    pct = Objective(target_cold_start_pct=5).levels(np.ones(3), np.ones(3), np.zeros(3), pd.Timedelta("5min"), weight)
    assert pct == pytest.approx([1 - 0.0125, 0.95, 0.8])  # a quarter, the same, four times the cold starts
    # through the plan: equal demand with intervals, the critical program provisions a higher quantile
    plan = plan_clones(forecast_frame(EQUAL), _programs(), hosts_frame([("h1", "z1", 1e6, 1e7, 0, "")]))
    assert plan.levels["c-checkout"] > plan.levels["b-api"] > plan.levels["a-report"]
    assert plan.wanted["c-checkout"] > plan.wanted["b-api"] > plan.wanted["a-report"]


def test_a_panic_budget_goes_to_critical_programs_first() -> None:
    settings = ScalingSettings(panic_budget=5, panic_max_extra=10)
    observed = np.full(3, 7.0)  # equal deficits: ceil(7 / 0.7) - 1 = 9 extra clones wanted by each

    def panic(weight: np.ndarray | None) -> list[int]:
        policy = ScalingPolicy(settings, np.zeros(3, np.int64), np.full(3, 100), weight)
        return policy.step(0, np.ones(3, np.int64), np.ones(3), observed, np.ones(3), np.ones(3, np.int64)).tolist()

    # critical, standard, best-effort: the k-th extra clone of a program comes at k / weight
    assert panic(np.array([4.0, 1.0, 0.25])) == [1 + 4, 1 + 1, 1 + 0]
    assert panic(None) == [1 + 2, 1 + 2, 1 + 1]  # without classes: one each in turn, as before


def test_a_bad_class_is_refused_with_the_row_and_the_allowed_values(tmp_path: Path) -> None:
    programs = _programs().assign(criticality=["best-effort", "", "gold"])
    report = validate(programs=programs)
    failed = [r for r in report.results if not r.success]
    assert len(failed) == 1 and failed[0].columns == ("criticality",)
    assert "critical, standard, best-effort" in failed[0].check
    assert [e["program_code"] for e in failed[0].examples] == ["c-checkout"]
    assert validate(programs=programs.assign(criticality=["best-effort", "", "critical"])).success


def _plan_args(tmp_path: Path, programs: pd.DataFrame) -> list[str]:
    programs.to_csv(tmp_path / "programs.csv", index=False)
    hosts_frame([("h1", "z1", 6000.0, 1e6, 0, "")]).to_csv(tmp_path / "hosts.csv", index=False)
    forecast_frame(EQUAL, spread=0.0).to_csv(tmp_path / "forecast.csv", index=False)
    return [
        "plan",
        *("--forecast", str(tmp_path / "forecast.csv"), "--hosts", str(tmp_path / "hosts.csv")),
        *("--programs", str(tmp_path / "programs.csv"), "--json", str(tmp_path / "plan.json")),
    ]


def test_cli_plan_reads_the_class_from_the_programs_file_and_refuses_a_bad_one(tmp_path: Path) -> None:
    ok = CliRunner().invoke(app, _plan_args(tmp_path, _programs()))
    assert ok.exit_code == 0, ok.output
    data = json.loads((tmp_path / "plan.json").read_text())
    assert data["targets"] == {"a-report": 0, "b-api": 2, "c-checkout": 4}
    assert [s["reason"] for s in data["shortfall"]] == [
        "scarce capacity or budget: dropped (best-effort)",
        "scarce capacity or budget: 2 of 4 kept (standard)",
    ]
    bad = CliRunner().invoke(app, _plan_args(tmp_path, _programs().assign(criticality=["low", "standard", ""])))
    assert bad.exit_code == 2
    text = " ".join(bad.output.split())
    assert "programs.criticality" in text and "critical, standard, best-effort (empty = standard)" in text
    assert "2 a-report low" in text  # the row: its source line, program and value


def test_the_simulator_reads_the_class_from_the_programs_file(tmp_path: Path) -> None:
    codes = ("a", "b", "c")
    requests = files.long_requests(tmp_path / "requests.csv", programs=codes)
    programs = pd.read_csv(files.long_programs(tmp_path / "programs.csv", programs=codes))
    programs.assign(gpus=0, gpu_type="", criticality=["critical", "", "best-effort"]).to_csv(
        tmp_path / "programs.csv", index=False
    )
    dataset, report = check_source(requests, programs=tmp_path / "programs.csv")
    assert dataset is not None and report.success, report.summary()
    trace = sim_trace(dataset.canonical())
    assert trace.criticality.tolist() == ["critical", "standard", "best-effort"]
    assert trace.weight.tolist() == [4.0, 1.0, 0.25]
    quantiles = {f"q{q}": np.full(trace.counts.shape, float(q)) for q in (10, 50, 90, 99)}
    ctx = SimContext(0, view=ForecastView({"yhat": quantiles["q50"], **quantiles}, pd.Timedelta("5min")))
    demand, _ = Predictive().demand(trace, ctx)
    assert demand[0, 0] > demand[1, 0] > demand[2, 0]  # a higher quantile for the critical program
    assert Predictive().controller(trace, ctx).policy.weight.tolist() == [4.0, 1.0, 0.25]  # type: ignore[attr-defined]
    programs.assign(gpus=0, gpu_type="", criticality=["critical", "urgent", ""]).to_csv(
        tmp_path / "programs.csv", index=False
    )
    _, refused = check_source(requests, programs=tmp_path / "programs.csv")
    failed = [r for r in refused.results if not r.success]
    assert [r.columns for r in failed] == [("criticality",)]
    assert failed[0].examples[0]["program_code"] == "b" and failed[0].examples[0]["_line"] == 3


def test_cli_simulate_takes_the_programs_file_and_refuses_a_bad_class(tmp_path: Path) -> None:
    codes = ("a", "b", "c")
    requests = files.long_requests(tmp_path / "requests.csv", programs=codes)
    programs = pd.read_csv(files.long_programs(tmp_path / "programs.csv", programs=codes)).assign(gpus=0, gpu_type="")
    args = ["simulate", "--trace", str(requests), "-p", "keepalive:10", "--warmup-minutes", "0"]
    args += ["--programs", str(tmp_path / "programs.csv"), "--json", str(tmp_path / "sim.json")]
    programs.assign(criticality=["critical", "", "best-effort"]).to_csv(tmp_path / "programs.csv", index=False)
    ok = CliRunner().invoke(app, args)
    assert ok.exit_code == 0, ok.output
    assert json.loads((tmp_path / "sim.json").read_text())["policy"] == "keepalive:10"
    programs.assign(criticality=["critical", "urgent", ""]).to_csv(tmp_path / "programs.csv", index=False)
    bad = CliRunner().invoke(app, args)
    assert bad.exit_code == 2
    assert "programs.criticality" in " ".join(bad.output.split())
