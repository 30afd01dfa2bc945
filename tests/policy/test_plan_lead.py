"""A plan asks now for the clones that must be warm when the next plan would be too late: the current bin's
and the bin a cold start plus one decision interval ahead (the simulator's rule)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from policy.plan import plan_clones
from policy.targets import ready_bin, warm_targets

ORIGIN = pd.Timestamp("2026-01-05T12:00:00Z")


def programs(cold_start_s: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "program_code": ["api"],
            "cpu_millicores": [500.0],
            "memory_mb": [512.0],
            "gpus": [0],
            "gpu_type": [""],
            "concurrency": [1],
            "cold_start_s": [cold_start_s],
            "image": ["img"],
            "duration_ms": [60_000.0],  # one minute: clones = requests per 5-minute bin / 5
        }
    )


def hosts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "host": ["h1"],
            "zone": ["z"],
            "region": ["r"],
            "cpu_millicores": [64_000.0],
            "memory_mb": [262_144.0],
            "gpus": [0],
            "gpu_type": [""],
            "free_cpu_millicores": [64_000.0],
            "free_memory_mb": [262_144.0],
            "free_gpus": [0],
        }
    )


def forecast(requests: list[float]) -> pd.DataFrame:
    steps = np.arange(1, len(requests) + 1)
    values = np.array(requests)
    return pd.DataFrame(
        {
            "program_code": "api",
            "origin": ORIGIN,
            "ts": ORIGIN + (steps - 1) * pd.Timedelta("5min"),
            "step": steps,
            "yhat": values,
            "q50": values,
            "q90": values,
            "cpu_millicores": 0.0,
            "memory_mb": 0.0,
            "gpus": 0.0,
        }
    )


def test_a_plan_made_at_the_bin_start_already_holds_the_clones_the_next_bin_needs() -> None:
    # 5 requests now (1 clone), 50 in the next bin (10 clones), 5 after: the next plan comes at 12:05, and
    # clones it would ask for then are warm only a cold start later, so this plan asks for 10
    plan = plan_clones(forecast([5.0, 50.0, 5.0]), programs(cold_start_s=1.0), hosts(), at=ORIGIN)
    assert plan.wanted == {"api": 10} and plan.targets == {"api": 10}
    assert "forecast for 2026-01-05 12:05 UTC wants 10" in plan.actions[0].reason


def test_a_falling_forecast_keeps_the_current_bins_clones_until_the_bin_ends() -> None:
    plan = plan_clones(forecast([50.0, 5.0, 5.0]), programs(cold_start_s=1.0), hosts(), at=ORIGIN)
    assert plan.wanted == {"api": 10}
    later = plan_clones(
        forecast([50.0, 5.0, 5.0]), programs(cold_start_s=1.0), hosts(), at=ORIGIN + pd.Timedelta("5min")
    )
    assert later.wanted == {"api": 1}  # from 12:05 the forecast asks for one clone


def test_the_plan_and_the_simulator_share_the_lead_rule() -> None:
    targets = np.array([[1, 10, 1], [1, 1, 10]])  # [P, T]
    cold = np.array([1.0, 400.0])  # the second program's cold start spans more than a bin
    ready = ready_bin(0.0, cold, 300.0, 300.0, 3)
    assert ready.tolist() == [1, 2]
    assert warm_targets(targets, 0, ready).tolist() == [10, 10]
    assert ready_bin(0.0, cold, 5.0, 300.0, 3).tolist() == [0, 1]  # the simulator's 5 s controllers
    assert ready_bin(1e6, cold, 5.0, 300.0, 3).tolist() == [2, 2]  # never past the last bin
