"""Pre-warming from expected cost, and the predictive policy's knobs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clonecast.errors import ConfigError
from policy.prewarm import (
    better_of,
    clones_worth_holding,
    cold_start_cost_bins,
    forecast_invocation_probability,
    worth_loading,
)
from simulator.apps import score
from simulator.policies import Predictive, make_policy
from simulator.simulate import Setup, run_mode_b
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


def test_each_clone_is_held_while_the_chance_it_is_needed_is_worth_it() -> None:
    """P(k busy) = P(invoked) x P(peak >= k | invoked); held iff > 1/11 at 10 bins: 0.5, 0.25, 0.05 -> 2 clones."""
    survival = np.array([[1.0, 0.5, 0.1], [1.0, 0.5, 0.1], [1.0, 0.0, 0.0]])
    held = clones_worth_holding(np.array([0.5, 0.05, 1.0]), survival, 10.0)
    assert held.tolist() == [2, 0, 1]
    assert clones_worth_holding(np.array([0.5]), survival[:1], np.array([0.0])).tolist() == [0]


def test_a_steady_busy_program_keeps_its_peak_and_a_quiet_one_lets_it_go() -> None:
    """Mode B: a program with 12 requests of 10 s every minute (2 in flight on average, peaks of about 5) is held
    at its usual peak, so after the warm-up it sees almost no cold start; when it goes quiet for good its clones
    go within a few minutes, where a 10-minute keep-alive holds them for ten."""
    counts = np.zeros((1, 120), dtype=np.int64)
    counts[0, :90] = 12
    tr = trace(counts, cold_start_s=1.0, duration_ms=10_000.0)
    predictive, keepalive = run_mode_b(Setup(tr, 30), ["predictive", "keepalive:10"], normalise=False)
    assert predictive.cold_start_pct < 1.0
    assert predictive.idle_container_s < keepalive.idle_container_s


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


def test_a_plan_holds_one_clone_where_the_next_invocation_is_worth_it() -> None:
    """No forecast demand for either program; the timing model gives 'timer' a 0.4 chance of an invocation in
    the next 5 minutes and 'rare' 0.3. A cold start worth 10 container-minutes = 2 five-minute bins: hold iff
    p x 2 > 1 - p, i.e. p > 1/3, so 'timer' gets one clone (with the reason) and 'rare' none."""
    from policy.plan import plan_clones
    from tests.policy.test_plan import forecast_frame, hosts_frame, programs_frame

    programs = programs_frame([("timer", 100, 128, 0, ""), ("rare", 100, 128, 0, "")])
    hosts = hosts_frame([("h1", "z1", 4000, 8192, 0, "")])
    forecast = forecast_frame({"timer": [0.0] * 3, "rare": [0.0] * 3})
    chance = pd.Series({"timer": 0.4, "rare": 0.3})
    plan = plan_clones(forecast, programs, hosts, chance=chance)
    assert plan.targets == {"rare": 0, "timer": 1}
    [action] = plan.actions
    assert action.program_code == "timer" and "P(invocation) 0.40 is worth holding one" in action.reason
    assert plan_clones(forecast, programs, hosts).targets == {"rare": 0, "timer": 0}  # without it: nothing


def test_the_chance_of_an_invocation_in_the_next_forecast_bin_comes_from_the_dataset() -> None:
    """A dataset at 1-minute bins where 'timer' ran at minutes 1, 6, ..., 56 (eleven idle times of 5 minutes,
    each counted 1/4, 1/2, 1/4 at 4, 5, 6; ten of them pooled in its rhythm class, where the hazard at 5 is 1)
    and the dataset ends at minute 60, so the next bin is at age 5. By hand with k = 8:
    h(5) = (5.5 + 8) / (11 - 2.75 + 8), h(6) = 2.75 / (2.75 + 8), P(within 5 bins) = h(5) + (1 - h(5)) h(6)
    (ages 7-9 have no idle time of their own or pooled); 'never' was not invoked at all."""
    from jobs.plan import chance_of_invocation
    from traces.frames import Dataset, empty_events

    ts = pd.date_range("2026-01-05", periods=61, freq="1min", tz="UTC")
    timer = np.zeros(61, dtype=np.int64)
    timer[1::5] = 1  # minutes 1, 6, ..., 56: at the end (minute 60) it is 4 minutes since the last one
    requests = pd.DataFrame(
        {
            "ts": np.tile(ts, 2),
            "program_code": ["timer"] * 61 + ["never"] * 61,
            "requests": np.concatenate([timer, np.zeros(61, dtype=np.int64)]),
        }
    )
    dataset = Dataset(
        requests=requests,
        programs=pd.DataFrame({"program_code": ["timer", "never"]}),
        events=empty_events(),
        freq=pd.Timedelta("1min"),
    )
    chance = chance_of_invocation(dataset, pd.Timedelta("5min"))
    h5, h6 = 13.5 / 16.25, 2.75 / 10.75
    assert chance["never"] == 0.0
    assert chance["timer"] == pytest.approx(h5 + (1 - h5) * h6)
    assert chance_of_invocation(dataset, pd.Timedelta("1min"))["timer"] == pytest.approx(h5)  # the next minute


def test_a_timer_idle_for_longer_than_anything_seen_gets_the_clocks_chance_at_its_minute() -> None:
    """Ten programs ran at 00:00, three of them again at 01:00; the dataset ends at 02:00. No idle time of two
    hours was ever seen, so the hazard gives the seven that ran once nothing, but every one of them ran at minute 0
    of the hour, where 3 of the 10 programs like them ran again: their chance for 02:00 is 0.3 (and a program that
    ran at 00:00 and 00:01 is no timer); the predictive policy holds them there at the default cost (0.3 > 1/11)."""
    from jobs.plan import chance_of_invocation
    from traces.frames import Dataset, empty_events

    ts = pd.date_range("2026-01-05", periods=120, freq="1min", tz="UTC")
    counts = np.zeros((11, 120), dtype=np.int64)
    counts[:10, 0] = 1
    counts[:3, 60] = 1
    counts[10, [0, 1]] = 1
    codes = [f"p{i}" for i in range(11)]
    requests = pd.DataFrame({"ts": np.tile(ts, 11), "program_code": np.repeat(codes, 120), "requests": counts.ravel()})
    dataset = Dataset(requests, pd.DataFrame({"program_code": codes}), empty_events(), pd.Timedelta("1min"))
    chance = chance_of_invocation(dataset, pd.Timedelta("1min"))
    assert chance[codes[3:10]].to_numpy() == pytest.approx(np.full(7, 0.3))
    assert (chance[codes[:3]] >= 0.3).all()
    assert chance[codes[10]] < 0.01

    sim = trace(np.concatenate([counts, np.zeros((11, 1), dtype=np.int64)], axis=1))
    loaded = Predictive().loaded(sim, Setup(sim, warmup_bins=60).context([Predictive()]))
    assert loaded[3:10, 120].all() and not loaded[3:10, 119].any()


def test_a_plan_read_from_a_dataset_directory_gets_the_chance_of_an_invocation(tmp_path: Path) -> None:
    """`clonecast plan --programs DATASET_DIR`: the dataset's requests give the timing model's chance per
    program (the same as from the dataset itself); a programs file gives none."""
    from jobs.plan import chance_of_invocation, read_inputs
    from tests.policy.test_plan import forecast_frame, hosts_frame
    from traces.store import write_dataset
    from traces.synthetic import SyntheticConfig, generate

    dataset = generate(SyntheticConfig(programs=4, days=1, freq="5min", seed=3))
    directory = write_dataset(dataset, tmp_path / "ds")
    codes = dataset.programs["program_code"].astype(str).tolist()
    forecast_frame({c: [0.0] for c in codes}).to_csv(tmp_path / "forecast.csv", index=False)
    hosts_frame([("h1", "z1", 4000, 8192, 0, "")]).to_csv(tmp_path / "hosts.csv", index=False)
    dataset.programs.to_csv(tmp_path / "programs.csv", index=False)

    inputs = read_inputs(tmp_path / "forecast.csv", directory, tmp_path / "hosts.csv", ahead=pd.Timedelta("5min"))
    assert inputs.chance is not None and sorted(inputs.chance.index) == sorted(codes)
    expected = chance_of_invocation(dataset, pd.Timedelta("5min"))
    assert inputs.chance.sort_index().to_numpy() == pytest.approx(expected.sort_index().to_numpy())
    assert ((inputs.chance >= 0) & (inputs.chance <= 1)).all()
    assert (
        read_inputs(
            tmp_path / "forecast.csv", tmp_path / "programs.csv", tmp_path / "hosts.csv", ahead=pd.Timedelta("5min")
        ).chance
        is None
    )
