"""Mode A on tiny traces whose numbers are worked out by hand in each test."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clonecast.errors import InputError
from simulator.apps import keepalive_loaded, last_execution, score
from simulator.histogram import HybridHistogram
from simulator.policies import SimContext, make_policy
from simulator.simulate import Setup, run_mode_a
from tests.policy.helpers import invoked_at, trace


def test_keepalive_five_minutes_by_hand() -> None:
    # app 0: 1 GB, invoked at minutes 0, 3, 15; app 1: 0.5 GB, invoked twice at minute 5
    tr = trace([invoked_at(20, [0, 3, 15]), invoked_at(20, [5], count=2)], memory_mb=[1024.0, 512.0])
    loaded = make_policy("keepalive:5").loaded(tr, SimContext(0))
    # app 0 loaded at 1-5 (after 0), 4-8 (after 3), 16-19 (after 15): 12 bins, one of them (3) invoked
    assert np.flatnonzero(loaded[0]).tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 16, 17, 18, 19]
    result = score("keepalive:5", tr, loaded, warmup_bins=0)
    assert result.cold_starts == 3  # app 0 at 0 and 15, app 1 at 5 (one per cold bin)
    assert result.invocations == 5
    assert result.cold_start_pct == pytest.approx(60.0)
    # per app 2/3 and 1/2 -> 75th percentile of [50, 66.7] = 50 + 0.75 * 16.7
    assert result.p75_app_cold_start_pct == pytest.approx(50 + 0.75 * (200 / 3 - 50))
    # wasted: app 0 11 idle loaded minutes x 1 GB, app 1 5 minutes (6-10) x 0.5 GB
    assert result.wasted_memory_gb_min == pytest.approx(11 + 2.5)


def test_warmup_bins_are_not_scored() -> None:
    tr = trace([invoked_at(20, [0, 3, 15])])
    loaded = make_policy("keepalive:5").loaded(tr, SimContext(10))
    result = score("keepalive:5", tr, loaded, warmup_bins=10)
    assert (result.invocations, result.cold_starts) == (1, 1)  # only minute 15 counts
    assert result.wasted_memory_gb_min == pytest.approx(4.0)  # 16..19


def test_hybrid_learns_a_regular_ten_minute_pattern_by_hand() -> None:
    tr = trace([invoked_at(200, list(range(0, 200, 10)))])
    loaded = HybridHistogram().loaded(tr.counts)
    # 1..50: fallback keep-alive of the 4 h range (fewer than 5 idle times until minute 50);
    # then PW = floor(0.9 * 10) = 9, KA = ceil(1.1 * 10) - 9 = 2: loaded 9..11 minutes after each run,
    # cut short by the next run at 10 minutes
    expected = set(range(1, 51)) | {e + k for e in range(50, 200, 10) for k in (9, 10) if e + k < 200}
    assert set(np.flatnonzero(loaded[0]).tolist()) == expected
    result = score("hybrid", tr, loaded, warmup_bins=0)
    assert result.cold_starts == 1
    # 45 idle minutes in 1..50, then minute e + 9 after each of the 15 runs from 50 to 190
    assert result.wasted_memory_gb_min == pytest.approx(45 + 15)
    fixed = score("ka10", tr, keepalive_loaded(tr.counts, 10), warmup_bins=0)
    assert fixed.cold_starts == 1 and fixed.wasted_memory_gb_min == pytest.approx(199 - 19)


def test_hybrid_predicts_idle_times_beyond_the_range() -> None:
    tr = trace([invoked_at(1600, [0, 300, 600, 900, 1200, 1500])])
    loaded = HybridHistogram().loaded(tr.counts)
    # minute 300 is cold (fallback keep-alive ended at 240); then the idle time 300 is out of bounds:
    # predicted 300 -> PW = 255, KA = 90: loaded 255..345 minutes after each run, so 600.. are warm
    assert not loaded[0, 300] and loaded[0, 600] and loaded[0, 900]
    assert not loaded[0, 300 + 254] and loaded[0, 300 + 255] and loaded[0, 300 + 299]
    assert score("hybrid", tr, loaded, 0).cold_starts == 2


def test_hybrid_flat_histogram_falls_back_to_the_range() -> None:
    windows = HybridHistogram().windows(
        hist=np.ones((1, 241), dtype=np.int32), beyond=np.zeros(1, np.int64), predicted=np.zeros(1), span=240
    )
    assert windows[0].tolist() == [0] and windows[1].tolist() == [240]  # CV = 0 < 2


def test_last_execution() -> None:
    assert last_execution(np.array([[1, 0, 0, 2, 0]])).tolist() == [[-1, 0, 0, 0, 3]]


ALL = [
    "keepalive:1",
    "keepalive:10",
    "keepalive:inf",
    "hybrid-histogram",
    "reactive-kpa",
    "reactive-hpa",
    "reactive-hpa:5,min0",
    "seed",
    "predictive:q50",
    "predictive:q95",
]

matrices = st.integers(1, 4).flatmap(
    lambda n: st.lists(st.lists(st.integers(0, 3), min_size=90, max_size=90), min_size=n, max_size=n)
)


@settings(max_examples=25, deadline=None)
@given(matrices)
def test_oracle_is_never_worse_than_any_policy(counts: list[list[int]]) -> None:
    setup = Setup(trace(counts), warmup_bins=20)
    results = {r.policy: r for r in run_mode_a(setup, [*ALL, "oracle"])}
    oracle = results.pop("oracle")
    for result in results.values():
        assert oracle.cold_starts <= result.cold_starts
        assert oracle.wasted_memory_gb_min <= result.wasted_memory_gb_min


@settings(max_examples=25, deadline=None)
@given(matrices)
def test_infinite_keepalive_has_one_cold_start_per_invoked_app(counts: list[list[int]]) -> None:
    tr = trace(counts)
    result = score("inf", tr, make_policy("keepalive:inf").loaded(tr, SimContext(0)), warmup_bins=0)
    assert result.cold_starts == int((tr.counts.sum(axis=1) > 0).sum())


@settings(max_examples=20, deadline=None)
@given(matrices, st.integers(25, 85), st.integers(0, 2**31 - 1))
def test_no_policy_sees_bins_after_its_decision(counts: list[list[int]], cut: int, seed: int) -> None:
    """Changing the future (bins >= cut) changes no decision for bins <= cut."""
    original = trace(counts)
    future = np.random.default_rng(seed).integers(0, 5, size=original.counts[:, cut:].shape)
    changed = original.with_counts(np.concatenate([original.counts[:, :cut], future], axis=1))
    for spec in ALL:
        policy = make_policy(spec)
        before = policy.loaded(original, Setup(original, 20).context([policy]))
        after = policy.loaded(changed, Setup(changed, 20).context([policy]))
        assert (before[:, : cut + 1] == after[:, : cut + 1]).all(), spec


def test_a_window_of_a_trace_keeps_its_programs_and_moves_its_start() -> None:
    tr = trace([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
    part = tr.window(1, 3)
    assert part.counts.tolist() == [[1, 2, 3], [6, 7, 8]]
    assert part.start == tr.start + tr.bin and part.duration_ms.shape == (2, 3)
    with pytest.raises(InputError, match="outside the trace's 5 bins"):
        tr.window(5, 1)
