"""Mode B on tiny traces whose numbers are worked out by hand in each test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.policies import ReactiveKpa, SimContext, make_policy
from simulator.pool import PoolObservation, PoolSettings, oracle_result, simulate_pool
from simulator.simulate import Setup, run_mode_b
from tests.policy.helpers import invoked_at, trace

AT_START = PoolSettings(arrivals="start")


def test_keepalive_cold_then_warm_by_hand() -> None:
    # one request at 0 s and one at 60 s; cold start 2 s, duration 3 s, 1 GB, concurrency 1
    tr = trace([[1, 1]], cold_start_s=2.0, duration_ms=3000.0)
    ctx = SimContext(0)
    result = simulate_pool("ka10", tr, make_policy("keepalive:10").controller(tr, ctx), 0, AT_START)
    assert (result.invocations, result.cold_starts) == (2, 1)
    # the container is warm from 2 s to the end (120 s) = 118 s, busy 2-4 s and 60-62 s = 6 s
    assert result.idle_container_s == pytest.approx(112.0)
    assert result.idle_memory_gb_s == pytest.approx(112.0)
    assert result.provisioning_container_s == pytest.approx(2.0)  # warming during 0-1 s
    assert (result.added_latency_p50_s, result.added_latency_p99_s) == (0.0, 2.0)
    assert result.added_latency_mean_s == pytest.approx(1.0)


def test_concurrency_packs_requests_into_containers() -> None:
    # 3 simultaneous requests, concurrency 2: two containers start, all three requests are cold
    tr = trace([[3]], concurrency=2, cold_start_s=1.0, duration_ms=2000.0)
    result = simulate_pool("ka", tr, make_policy("keepalive:10").controller(tr, SimContext(0)), 0, AT_START)
    assert result.cold_starts == 3 and result.peak_containers == 2
    # container 1 serves two requests 1-2 s, container 2 one request 1-2 s; both idle 3..59 s
    assert result.idle_container_s == pytest.approx(2 * 57.0)


def test_peaks_count_the_clones_demand_needed_not_those_that_were_free() -> None:
    """Two requests at once on one warm clone: one waits for a cold start and runs after the other has finished, so at
    most one clone is ever busy; but the bin's peak is 2 (both in flight, one served, one waiting for its clone), and
    keepalive:10, holding its recent peak, meets the same pair in the next bin warm."""
    tr = trace([[1, 2, 2]], cold_start_s=2.0, duration_ms=1000.0)
    result = simulate_pool("ka", tr, make_policy("keepalive:10").controller(tr, SimContext(0)), 0, AT_START)
    assert result.cold_starts == 2  # the first request, and the second of the first pair


def test_a_request_waiting_for_its_cold_start_counts_in_the_peak_for_all_its_wait() -> None:
    """One request a bin at its start, 1 s each, cold starts of 90 s: the first waits 0-90 s, so the second (60 s)
    finds no free container and waits too; bin 1 needed two containers at once though their runs (90-91 s and
    150-151 s) never overlap. A peak of the requests had each started on arrival would say one (a container needed
    for the wait hidden): with long cold starts that under-counted every burst and the policies that keep a peak
    released the containers the waiting requests were about to take."""
    tr = trace([[1, 1, 0]], cold_start_s=90.0, duration_ms=1000.0)
    seen: list[np.ndarray] = []

    class Watch(Recorder):
        def target(self, obs: PoolObservation) -> np.ndarray | None:
            seen.append(obs.past_peaks().copy())
            return super().target(obs)

    controller = Watch(make_policy("keepalive:10").controller(tr, SimContext(0)))
    result = simulate_pool("ka", tr, controller, 0, AT_START)
    assert result.cold_starts == 2
    assert seen[-1][0].tolist() == [1, 2]  # bins 0 and 1 (bin 2 has not ended at the last decision)


def test_a_forecast_prewarms_before_the_bin() -> None:
    tr = trace([[0, 1, 0]], cold_start_s=2.0, duration_ms=3000.0)
    origin = tr.start
    forecast = pd.DataFrame(
        {
            "program_code": ["p0"],
            "origin": [origin],
            "ts": [origin + pd.Timedelta("1min")],
            "step": [2],
            "yhat": [1.0],
            "q90": [1.0],
            "cpu_millicores": [0.0],
            "memory_mb": [0.0],
            "gpus": [0.0],
        }
    )
    setup = Setup(tr, warmup_bins=0, forecast=forecast, pool=AT_START)
    [result] = run_mode_b(setup, ["predictive:q90"], normalise=False)
    assert result.cold_starts == 0  # started at 55 s (5 s cadence + 2 s cold start ahead), warm at 57 s
    # warm 57..120 s minus 3 busy seconds: released as the last bin begins (nothing is forecast for it, and
    # predictive stabilises over one decision interval only: its holds decide when clones go)
    assert result.idle_container_s == pytest.approx(63 - 3)


def test_kpa_scales_to_zero_after_the_window_and_grace() -> None:
    tr = trace([invoked_at(6, [0])], cold_start_s=1.0, duration_ms=1000.0)
    controller = ReactiveKpa(utilisation=1.0).controller(tr, SimContext(0))
    result = simulate_pool("kpa", tr, controller, 0, AT_START)
    assert (result.cold_starts, result.peak_containers) == (1, 1)
    # warm at 1 s, busy during 1 s; the last in-flight second (1 s) leaves the 60 s window at the decision
    # at 62 s, then the 30 s grace: removed at 92 s -> warm 1..91 s = 91 s, 90 of them idle
    assert result.idle_container_s == pytest.approx(90.0)


def test_kpa_keeps_headroom_at_seventy_percent() -> None:
    """One request in flight on concurrency-1 containers wants ceil(1 / 0.7) = 2 containers."""
    tr = trace([[60]], cold_start_s=1.0, duration_ms=1000.0)
    result = simulate_pool("kpa", tr, make_policy("reactive-kpa").controller(tr, SimContext(0)), 0)
    assert result.peak_containers >= 2


def test_hpa_keeps_its_minimum_replica() -> None:
    # the Deployment's replica is warm from the start: both requests are warm, 240 s minus 2 busy seconds idle
    tr = trace([invoked_at(4, [0, 3])], cold_start_s=1.0, duration_ms=1000.0)
    result = simulate_pool("hpa", tr, make_policy("reactive-hpa").controller(tr, SimContext(0)), 0, AT_START)
    assert result.cold_starts == 0
    assert result.idle_container_s == pytest.approx(238.0)


def test_oracle_is_zero() -> None:
    tr = trace([[1, 2, 0]])
    result = oracle_result(tr, 0)
    assert (result.invocations, result.cold_starts, result.idle_container_s) == (3, 0, 0.0)


class Recorder:
    """Wraps a controller and records what it wanted at each tick."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.cadence_s = inner.cadence_s  # type: ignore[attr-defined]
        self.log: list[tuple[int, list[int] | None]] = []

    def initial(self, trace: object) -> np.ndarray:
        return self.inner.initial(trace)  # type: ignore[attr-defined]

    def target(self, obs: PoolObservation) -> np.ndarray | None:
        wanted = self.inner.target(obs)  # type: ignore[attr-defined]
        self.log.append((obs.tick, None if wanted is None else np.asarray(wanted).tolist()))
        return wanted


POLICIES = ["keepalive:5", "hybrid-histogram", "reactive-kpa", "reactive-hpa", "seed", "predictive:q90", "predictive"]


@settings(max_examples=10, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 4), min_size=30, max_size=30), min_size=1, max_size=3),
    st.integers(12, 28),
    st.integers(0, 2**31 - 1),
)
def test_no_controller_sees_the_future(counts: list[list[int]], cut: int, seed: int) -> None:
    """Decisions before bin `cut` do not change when bins >= cut change."""
    original = trace(counts, cold_start_s=2.0, duration_ms=1500.0)
    future = np.random.default_rng(seed).integers(0, 6, size=original.counts[:, cut:].shape)
    changed = original.with_counts(np.concatenate([original.counts[:, :cut], future], axis=1))
    for spec in POLICIES:
        logs = []
        for tr in (original, changed):
            policy = make_policy(spec)
            recorder = Recorder(policy.controller(tr, Setup(tr, 10).context([policy])))
            simulate_pool(spec, tr, recorder, 10, PoolSettings(seed=3))
            logs.append([entry for entry in recorder.log if entry[0] < cut * 60])
        assert logs[0] == logs[1], spec


@settings(max_examples=10, deadline=None)
@given(st.lists(st.lists(st.integers(0, 4), min_size=20, max_size=20), min_size=1, max_size=3))
def test_oracle_never_worse_in_mode_b(counts: list[list[int]]) -> None:
    setup = Setup(trace(counts), warmup_bins=5)
    results = run_mode_b(setup, [*POLICIES, "oracle"], normalise=False)
    oracle = results[-1]
    for result in results[:-1]:
        assert oracle.cold_starts <= result.cold_starts
        assert oracle.idle_container_s <= result.idle_container_s
        assert result.invocations == oracle.invocations


def test_predictive_journals_its_decisions_by_reason() -> None:
    tr = trace([[0, 3, 0, 5, 0, 1, 0, 0, 0, 9] * 3], cold_start_s=2.0, duration_ms=1500.0)
    [result] = run_mode_b(Setup(tr, 5), ["predictive"], normalise=False)
    assert result.decisions is not None
    assert set(result.decisions) <= {
        "forecast",
        "under-prediction: panic",
        "over-prediction: held for stabilisation",
        "floor",
        "replace unhealthy clones",
    }
    assert result.decisions.get("under-prediction: panic", 0) >= 1  # the 9-request bins surprise the naive forecast
