"""What the deploy flow hands the planner: the latency matrix of its fleet and the clones that exist.

Unit tests: the deploy flow's job (`jobs.deploy.deploy`, no Prefect server) on a small dataset and a stored
forecast, onto the demo fleet (dry-run) or a fake actuator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from actuators.base import ApplyReport, Observation
from clonecast.settings import Settings
from jobs import apply as applying
from jobs.deploy import deploy as deploy_job
from policy.plan import ClonePlan
from traces import forecast_store
from traces.frames import Dataset, empty_events

NOW = pd.Timestamp("2026-01-05T12:00:00Z")


def dataset() -> Dataset:
    """Two programs whose requests come from us-east; the data end at NOW."""
    codes = ["api", "web"]
    programs = pd.DataFrame(
        {
            "program_code": codes,
            "cpu_millicores": 500.0,
            "memory_mb": 512.0,
            "gpus": 0,
            "gpu_type": "",
            "concurrency": 1,
            "cold_start_s": 1.0,
            "image": "clonecast/workload:latest",
            "duration_ms": 60_000.0,  # clones = requests per 5-minute bin / 5
            "region": "us-east",
        }
    )
    requests = pd.DataFrame({"program_code": codes, "ts": NOW - pd.Timedelta("5min"), "requests": 10})
    return Dataset(requests, programs, empty_events(), pd.Timedelta("5min"))


def store_forecast(requests: float = 30.0) -> None:
    steps = np.arange(1, 13)
    rows = [
        {
            "program_code": code,
            "origin": NOW,
            "ts": NOW + (s - 1) * pd.Timedelta("5min"),
            "step": s,
            "yhat": requests,
            "q50": requests,
            "q90": requests,
            "cpu_millicores": 0.0,
            "memory_mb": 0.0,
            "gpus": 0.0,
        }
        for code in ("api", "web")
        for s in steps
    ]
    forecast_store.write(Settings().forecasts_dir, pd.DataFrame(rows))


@pytest.fixture
def deploy() -> Any:
    """The deploy flow's job without Prefect: the dataset above, the forecast stored."""
    store_forecast()

    def run(**options: Any) -> ClonePlan:
        result = deploy_job(dataset(), Settings(), **options)
        return ClonePlan.from_dict(json.loads(Path(result.summary()["plan"]).read_text()))

    return run


def zones(plan: ClonePlan) -> set[str]:
    return {p["host"].rsplit("-", 1)[0] for p in plan.placements}


def test_the_demo_fleet_is_planned_with_its_latency_matrix(deploy: Any) -> None:
    plan = deploy(actuator="dry-run")
    assert plan.targets == {"api": 6, "web": 6}
    assert zones(plan) <= {"us-east-a", "us-east-b"}  # 80 ms to eu-west outweighs spreading there


def test_a_latency_file_given_to_the_flow_steers_placement(deploy: Any, tmp_path: Path) -> None:
    table = tmp_path / "latency.csv"
    table.write_text("source,eu-west-a,eu-west-b,us-east-a,us-east-b\nus-east,5,6,90,95\n")
    plan = deploy(actuator="dry-run", latency=table)
    assert zones(plan) <= {"eu-west-a", "eu-west-b"}


def test_a_dry_run_replans_from_the_previous_plan_without_churn(deploy: Any) -> None:
    first = deploy(actuator="dry-run")
    again = deploy(actuator="dry-run")
    assert first.actions and again.actions == ()  # the clones the first plan made are kept, none moved
    assert again.placements == first.placements


def test_the_clones_an_actuator_observes_are_kept(deploy: Any) -> None:
    running = {("api", "us-east-b-2"): 4, ("web", "us-east-a-1"): 2}

    class Engine:
        def observe(self) -> Observation:
            return Observation(clones=dict(running))

        def reconcile(self, plan: ClonePlan, *, dry_run: bool = False) -> ApplyReport:
            return ApplyReport()

    plan = deploy(actuator="dry-run", hosts=applying.DEMO_FLEET / "hosts.csv", engine=Engine())
    desired = plan.desired()
    assert desired[("api", "us-east-b-2")] == 4 and desired[("web", "us-east-a-1")] == 2
    assert not [a for a in plan.actions if a.op == "remove"]  # only the missing clones are added
