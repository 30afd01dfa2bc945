"""Pre-warming from expected cost, and the predictive policy's knobs."""

from __future__ import annotations

import numpy as np
import pytest

from clonecast.errors import ConfigError
from policy.prewarm import better_of, cold_start_cost_bins, forecast_invocation_probability, worth_loading
from simulator.apps import score
from simulator.policies import Predictive, make_policy
from simulator.simulate import Setup
from tests.policy.helpers import trace


def test_load_exactly_when_the_expected_cold_start_cost_exceeds_the_expected_idle_cost() -> None:
    """p x 10 > 1 - p  <=>  p > 1/11."""
    p = np.array([0.0, 0.09, 1 / 11 + 1e-9, 0.5, 1.0])
    assert worth_loading(p, 10.0).tolist() == [False, False, True, True, True]
    assert not worth_loading(np.array([1.0]), 0.0).any()  # a cold start that costs nothing is never worth it


def test_criticality_scales_the_cost_per_program() -> None:
    cost = cold_start_cost_bins(10.0, bin_minutes=5.0, weight=np.array([4.0, 1.0, 0.25]))
    assert cost.tolist() == [8.0, 2.0, 0.5]  # 10 container-minutes = 2 five-minute bins, x the class weight
    p = np.full((3, 2), 0.3)  # loaded iff 0.3 x cost > 0.7
    assert worth_loading(p, cost).tolist() == [[True, True], [False, False], [False, False]]
    with pytest.raises(ConfigError, match="cold-start cost must be >= 0"):
        cold_start_cost_bins(-1.0, 1.0, np.ones(1))


def test_a_timer_is_loaded_only_around_its_period() -> None:
    """A program invoked every 5 minutes: once learnt, loaded at ages 4 and 5, so no cold start and one
    wasted minute per period (age 4) at the default cost (10 container-minutes)."""
    counts = np.zeros((1, 120), dtype=np.int64)
    counts[0, ::5] = 1
    tr = trace(counts)
    policy = make_policy("predictive")
    loaded = policy.loaded(tr, Setup(tr, 60).context([policy]))  # seasonal-naive forecasts: 1 request per 5 min
    result = score("predictive", tr, loaded, warmup_bins=60)
    assert result.cold_starts == 0
    assert result.loaded_bins == 2 * 12  # 12 periods in the 60 scored minutes: ages 4 and 5 of each
    assert result.wasted_memory_gb_min == pytest.approx(12 * 1.0)  # age 4 of each, 1 GB for a minute


def test_predictive_knobs_round_trip_through_their_names() -> None:
    policy = make_policy("predictive:q90,c30")
    assert isinstance(policy, Predictive) and (policy.level, policy.cold_start_cost) == (90, 30.0)
    assert policy.name == "predictive:q90,c30"
    assert make_policy("predictive:c10").name == "predictive"  # the default cost is not spelt out
    assert make_policy("predictive:c300,q50").name == "predictive:q50,c300"
    for bad in ["predictive:x3", "predictive:c", "predictive:q90,q95"]:
        with pytest.raises(ConfigError, match="bad knob in policy"):
            make_policy(bad)


def test_the_chance_of_a_request_from_forecast_quantiles_by_hand() -> None:
    """q10 = 0, q50 = 0.5, q90 = 2 requests in a 5-minute bin: P(>= 1) = 1 - 0.5 (the highest level below one
    request), spread over five 1-minute bins: 1 - 0.5^(1/5) each; all below one: 0; none below: 1."""
    quantiles = {
        10: np.array([[0.0], [0.0], [1.0]]),
        50: np.array([[0.5], [0.9], [3.0]]),
        90: np.array([[2.0], [0.9], [9.0]]),
    }
    p = forecast_invocation_probability(quantiles, split=5)
    assert p[:, 0] == pytest.approx([1 - 0.5 ** (1 / 5), 0.0, 1.0])
    assert forecast_invocation_probability(quantiles, split=1)[0, 0] == pytest.approx(0.5)


def test_the_model_that_predicted_a_program_better_so_far_is_trusted() -> None:
    """Program 0: the forecast is exact and the timing model says 0.5, so the forecast is used once it has been
    better on a known bin; program 1: the reverse. With a lead of 2 bins the choice comes a bin later."""
    invoked = np.array([[1, 0, 1, 0, 1], [1, 0, 1, 0, 1]])
    timing = np.array([[0.5] * 5, invoked[1].astype(float)])
    forecast = np.array([invoked[0].astype(float), [0.5] * 5])
    chosen = better_of(timing, forecast, invoked)
    assert chosen[0].tolist() == [0.5, 0.0, 1.0, 0.0, 1.0]  # bin 0: nothing known yet, the timing model
    assert chosen[1].tolist() == invoked[1].tolist()
    assert better_of(timing, forecast, invoked, lead=2)[0].tolist() == [0.5, 0.5, 1.0, 0.0, 1.0]
