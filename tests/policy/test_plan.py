"""The cloning manager: targets, scarcity, placement and plan replay."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from clonecast.cli import app
from policy.allocate import Budget, Capacity, allocate, clone_values
from policy.plan import ClonePlan, apply, plan_clones
from policy.targets import Objective, quantile_at
from traces.clones import clones_needed

ORIGIN = pd.Timestamp("2026-01-05T12:00:00Z")


def programs_frame(rows: list[tuple[str, float, float, int, str]], concurrency: int = 1) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "program_code": [r[0] for r in rows],
            "cpu_millicores": [r[1] for r in rows],
            "memory_mb": [r[2] for r in rows],
            "gpus": [r[3] for r in rows],
            "gpu_type": [r[4] for r in rows],
            "concurrency": concurrency,
            "cold_start_s": [30.0 if r[3] else 1.0 for r in rows],
            "image": "img",
            "duration_ms": 60_000.0,  # one minute: clones needed = requests per 5-minute bin / 5
        }
    )


def hosts_frame(rows: list[tuple[str, str, float, float, int, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["host", "zone", "cpu_millicores", "memory_mb", "gpus", "gpu_type"])
    frame["region"] = "r1"
    for column in ("cpu_millicores", "memory_mb", "gpus"):
        frame[f"free_{column}"] = frame[column]
    return frame


def forecast_frame(demand: dict[str, list[float]], spread: float = 0.3) -> pd.DataFrame:
    rows = []
    for code, values in demand.items():
        for step, y in enumerate(values, start=1):
            rows.append(
                {
                    "program_code": code,
                    "origin": ORIGIN,
                    "ts": ORIGIN + (step - 1) * pd.Timedelta("5min"),
                    "step": step,
                    "yhat": y,
                    "q10": y * (1 - spread),
                    "q50": y,
                    "q90": y * (1 + spread),
                    "q99": y * (1 + 2 * spread),
                    "cpu_millicores": 0.0,
                    "memory_mb": 0.0,
                    "gpus": 0.0,
                }
            )
    return pd.DataFrame(rows)


def test_objective_levels_follow_the_costs() -> None:
    objective = Objective()
    levels = objective.levels(
        cold_start_s=np.array([1.0, 30.0, 1.0]),
        memory_mb=np.array([1024.0, 16384.0, 8192.0]),
        gpus=np.array([0, 1, 0]),
        bin=pd.Timedelta("5min"),
    )
    # 1 s x 5e-3 = 5e-3 vs 1 GB x 5e-3 / 12 -> 0.923; GPU: 0.15 vs (16 x 5e-3 + 0.5) / 12 -> 0.756
    assert levels == pytest.approx([5e-3 / (5e-3 + 5e-3 / 12), 0.15 / (0.15 + 0.58 / 12), 5e-3 / (5e-3 + 0.04 / 12)])
    assert levels[2] < levels[0]  # more memory idle -> a lower quantile
    assert Objective(target_cold_start_pct=5).levels(np.ones(2), np.ones(2), np.zeros(2), pd.Timedelta("5min")) == (
        pytest.approx([0.95, 0.95])
    )


def test_quantile_interpolation_and_clones() -> None:
    quantiles = {50: np.array([[10.0], [10.0]]), 90: np.array([[20.0], [30.0]])}
    assert quantile_at(np.array([0.7, 0.95]), quantiles)[:, 0].tolist() == pytest.approx([15.0, 30.0])
    clones = clones_needed(np.array([[0.5, 1.0, 30.0]]), np.array(60.0), np.array([2]), pd.Timedelta("5min"))
    assert clones.tolist() == [[0, 1, 3]]  # 30 requests x 60 s / 300 s = 6 in flight, 2 per clone


def test_gpu_scarcity_goes_to_the_most_valuable_clone() -> None:
    needed = np.array([[1, 1, 2], [0, 1, 1]])  # clones needed at q10, q50, q90
    levels, cold = np.array([0.1, 0.5, 0.9]), np.array([30.0, 60.0])
    values = clone_values(needed, levels, cold, np.array([0, 0, 1, 1]), np.array([1, 2, 1, 2]))
    # program 0: P(need >= 1) = 1, P(need >= 2) = 1 - 0.5; program 1: P(need >= 1) = 1 - 0.1,
    # P(need >= 2) = 1 - 0.9 (the tail above the highest level)
    assert values.tolist() == pytest.approx([30.0, 15.0, 54.0, 6.0])

    def grant(gpus_free: int, **limits: object) -> list[int]:
        return allocate(
            np.array(["a", "b"]),
            np.array([2, 1]),
            needed,
            levels,
            cold,
            np.array([1000.0, 1000.0]),
            np.array([1000.0, 1000.0]),
            np.array([1, 1]),
            np.array(["T4", "T4"], dtype=object),
            Capacity(1e6, 1e6, {"T4": gpus_free}),
            **limits,  # type: ignore[arg-type]
        ).tolist()

    assert grant(2) == [1, 1]  # b's first clone (54 per GPU) and a's first (30) beat a's second (15)
    assert grant(2, floor=np.array([2, 0])) == [2, 0]  # floors come first
    assert grant(9, cap=np.array([1, 1]), budget=Budget(max_clones=1)) == [0, 1]  # budget: the best clone only
    assert grant(0) == [0, 0]


def test_gpu_programs_land_only_on_their_gpu_type_and_latency_decides() -> None:
    programs = programs_frame([("g", 4000, 8000, 1, "A10"), ("c", 500, 512, 0, "")])
    programs["region"] = ["eu", "us"]
    hosts = hosts_frame(
        [
            ("h-t4", "eu-1", 64000, 262144, 4, "T4"),
            ("h-a10", "us-1", 64000, 262144, 4, "A10"),
            ("h-cpu-eu", "eu-1", 64000, 262144, 0, ""),
            ("h-cpu-us", "us-1", 64000, 262144, 0, ""),
        ]
    )
    latency = pd.DataFrame({"eu-1": [2.0, 80.0], "us-1": [80.0, 2.0]}, index=["eu", "us"])
    plan = plan_clones(forecast_frame({"g": [5.0], "c": [5.0]}), programs, hosts, latency=latency)
    placed = {(a.program_code, a.host) for a in plan.actions}
    assert ("g", "h-a10") in placed and all(h != "h-t4" for p, h in placed if p == "g")
    assert {h for p, h in placed if p == "c"} <= {"h-cpu-us", "h-a10"}  # us hosts: 2 ms from us requests


def test_clones_spread_across_hosts_and_zones() -> None:
    programs = programs_frame([("c", 500, 512, 0, "")])
    hosts = hosts_frame([(f"h{i}", f"z{i % 3}", 64000, 262144, 0, "") for i in range(6)])
    plan = plan_clones(forecast_frame({"c": [15.0]}, spread=0.0), programs, hosts)  # 3 clones
    hosts_used = [a.host for a in plan.actions]
    assert len(hosts_used) == 3 and len({int(h[1:]) % 3 for h in hosts_used}) == 3


# property tests ---------------------------------------------------------------------------------------

program_rows = st.lists(
    st.tuples(
        st.sampled_from([250.0, 1000.0, 4000.0]),
        st.sampled_from([256.0, 2048.0, 16384.0]),
        st.sampled_from([0, 0, 1, 2]),
        st.sampled_from(["T4", "A10", ""]),
        st.floats(0, 40),
    ),
    min_size=1,
    max_size=12,
)
host_rows = st.lists(
    st.tuples(
        st.sampled_from([4000.0, 16000.0, 64000.0]),
        st.sampled_from([8192.0, 65536.0]),
        st.sampled_from([0, 1, 4]),
        st.sampled_from(["T4", "A10"]),
    ),
    min_size=1,
    max_size=8,
)


def _inputs(p_rows: list, h_rows: list) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    programs = programs_frame([(f"p{i}", c, m, g, t if g else "") for i, (c, m, g, t, _) in enumerate(p_rows)])
    hosts = hosts_frame([(f"h{i}", f"z{i % 2}", c, m, g, t if g else "") for i, (c, m, g, t) in enumerate(h_rows)])
    forecast = forecast_frame({f"p{i}": [d, d / 2] for i, (*_, d) in enumerate(p_rows)})
    return programs, hosts, forecast


@settings(max_examples=60, deadline=None)
@given(program_rows, host_rows)
def test_plans_fit_capacity_types_and_replay(p_rows: list, h_rows: list) -> None:
    programs, hosts, forecast = _inputs(p_rows, h_rows)
    plan = plan_clones(forecast, programs, hosts)
    state = apply({}, plan)
    need = programs.set_index("program_code")
    have = hosts.set_index("host")
    used = (
        pd.DataFrame(
            [
                (h, c * need.loc[p, "cpu_millicores"], c * need.loc[p, "memory_mb"], c * need.loc[p, "gpus"])
                for (p, h), c in state.items()
            ],
            columns=["host", "cpu", "memory", "gpus"],
        )
        .groupby("host")
        .sum()
    )
    for host, row in used.iterrows():
        assert row["cpu"] <= have.loc[host, "free_cpu_millicores"] + 1e-6
        assert row["memory"] <= have.loc[host, "free_memory_mb"] + 1e-6
        assert row["gpus"] <= have.loc[host, "free_gpus"]
    for (p, h), _ in state.items():
        if need.loc[p, "gpus"] > 0:
            assert have.loc[h, "free_gpus"] >= need.loc[p, "gpus"]
            assert need.loc[p, "gpu_type"] in ("", have.loc[h, "gpu_type"])  # "" = any GPU type
    assert apply(state, plan) == state  # applied twice = applied once
    assert plan_clones(forecast, programs, hosts, existing=state).actions == ()  # nothing left to do
    again = ClonePlan.from_dict(json.loads(plan.to_json()))
    assert apply({}, again) == state  # the JSON replays


@settings(max_examples=40, deadline=None)
@given(program_rows)
def test_ample_capacity_meets_every_target(p_rows: list) -> None:
    programs, _, forecast = _inputs(p_rows, [])
    hosts = hosts_frame([(f"h{i}", "z", 1e6, 1e7, 64, t) for i, t in enumerate(["T4", "A10"] * 4)])
    plan = plan_clones(forecast, programs, hosts)
    assert plan.shortfall == ()
    assert plan.targets == plan.wanted


@settings(max_examples=40, deadline=None)
@given(program_rows, host_rows, st.randoms())
def test_scarcity_allocations_are_deterministic(p_rows: list, h_rows: list, rnd) -> None:  # type: ignore[no-untyped-def]
    programs, hosts, forecast = _inputs(p_rows, h_rows)
    first = plan_clones(forecast, programs, hosts)
    shuffled = plan_clones(
        forecast.sample(frac=1, random_state=rnd.randint(0, 1000)),
        programs.sample(frac=1, random_state=rnd.randint(0, 1000)),
        hosts,
    )
    assert first.actions == shuffled.actions and first.shortfall == shuffled.shortfall


def test_existing_clones_are_kept_minimal_churn() -> None:
    programs = programs_frame([("c", 500, 512, 0, "")])
    hosts = hosts_frame([(f"h{i}", "z", 64000, 262144, 0, "") for i in range(4)])
    plan = plan_clones(
        forecast_frame({"c": [10.0]}, spread=0.0), programs, hosts, existing={("c", "h3"): 1, ("c", "h2"): 5}
    )
    # 2 clones wanted: keep them where they are (h2 has more, it keeps 2), remove the rest
    assert apply({("c", "h3"): 1, ("c", "h2"): 5}, plan) == {("c", "h2"): 2}
    assert [a.op for a in plan.actions] == ["remove", "remove"]


def test_cli_plan_and_its_refusals(tmp_path: Path) -> None:
    programs, hosts, forecast = _inputs(
        [(1000.0, 2048.0, 0, "", 20.0), (4000.0, 16384.0, 1, "T4", 3.0)], [(64000.0, 65536.0, 4, "T4")]
    )
    programs.to_csv(tmp_path / "programs.csv", index=False)
    hosts.to_csv(tmp_path / "hosts.csv", index=False)
    forecast.to_csv(tmp_path / "forecast.csv", index=False)
    args = [
        "plan",
        "--forecast",
        str(tmp_path / "forecast.csv"),
        "--hosts",
        str(tmp_path / "hosts.csv"),
        "--programs",
        str(tmp_path / "programs.csv"),
        "--json",
        str(tmp_path / "plan.json"),
    ]
    ok = CliRunner().invoke(app, args)
    assert ok.exit_code == 0, ok.output
    data = json.loads((tmp_path / "plan.json").read_text())
    assert {a["op"] for a in data["actions"]} == {"clone"} and data["targets"]["p1"] >= 1
    stale = CliRunner().invoke(app, [*args, "--max-age", "15min"])
    assert stale.exit_code == 2 and "expect_column_max_to_be_between" in stale.output
    forecast.assign(program_code="ghost").to_csv(tmp_path / "forecast.csv", index=False)
    unknown = CliRunner().invoke(app, args)
    assert unknown.exit_code == 2 and "ghost" in unknown.output
