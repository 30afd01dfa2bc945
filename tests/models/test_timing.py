"""The timing model on traces whose probabilities are worked out by hand, and its no-look-ahead property."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.plots import plot_calibration
from models.timing import ClockModel, PeakModel, TimingModel, brier, calibration


def every(period: int, bins: int, offset: int = 0) -> np.ndarray:
    row = np.zeros(bins, dtype=np.int64)
    row[offset::period] = 1
    return row


def test_a_timer_is_expected_at_its_period_by_hand() -> None:
    """One program invoked every 5 bins (bins 0, 5, ..., 50): after bin 50 it has ten idle times of 5 bins,
    each counted 1/4 at 4, 1/2 at 5, 1/4 at 6; pooled over programs (itself) the hazard at 5 is 10/10.
    With k = 8: h(4) = 2.5 / (10 + 8), h(5) = (5 + 8 x 1) / (7.5 + 8), h(1..3) = 0."""
    counts = every(5, 56)[None, :]
    p = TimingModel(prior_weight=8).replay(counts)
    after = p[0, 51:56]  # ages 1..5 after the invocation at bin 50
    assert after[:3] == pytest.approx([0.0, 0.0, 0.0])
    assert after[3] == pytest.approx(2.5 / 18)
    assert after[4] == pytest.approx(13 / 15.5)


def test_a_busy_program_is_certain_and_a_silent_one_gets_nothing() -> None:
    counts = np.stack([np.ones(40, dtype=np.int64), np.zeros(40, dtype=np.int64)])
    p = TimingModel().replay(counts)
    assert p[0, 0] == 0.0  # nothing seen yet
    # bin 2: one idle time of 1 bin, pooled in the class of programs without history, so none in its own
    # class yet: (1 + 8 x 0) / (1 + 8); from bin 3 on its class has h(1) = 1 as well
    assert p[0, 2] == pytest.approx(1 / 9)
    assert p[0, 3:] == pytest.approx(1.0)
    assert (p[1] == 0).all()


def test_a_program_with_little_history_borrows_the_hazard_of_programs_like_it() -> None:
    """Program 0 has a long history of 3-bin idle times, program 1 was invoked once: with no idle time of
    its own it gets the pooled hazard of programs with no idle time yet (program 0's first idle time: 3)."""
    counts = np.zeros((2, 40), dtype=np.int64)
    counts[0] = every(3, 40)
    counts[1, 30] = 1
    p = TimingModel(prior_weight=8).replay(counts)
    assert p[1, 31:34] == pytest.approx([0.0, 0.0, 1.0])  # one first idle time of 3, at risk once


def test_two_bins_ahead_is_the_renewal_of_one_bin_ahead() -> None:
    """P(invoked at t | bins < t - 1) = h(a) h(1) + (1 - h(a)) h(a + 1), with h frozen at the decision."""
    rng = np.random.default_rng(3)
    counts = (rng.random((6, 120)) < np.linspace(0.05, 0.6, 6)[:, None]).astype(np.int64)
    model = TimingModel()
    state = model.state(6)
    for t in range(100):
        state.observe(counts[:, t] > 0)
    now = state.probability()
    ahead = state.ahead(2)
    assert ahead[:, 0] == pytest.approx(now)
    n = len(state.age)
    h_next = state._first_passage(state.age, state.below, 2)
    h_a, h_a1 = h_next[:, 0], h_next[:, 1] / np.maximum(1 - h_next[:, 0], 1e-12)
    h_1 = state._first_passage(np.ones(n, dtype=np.int64), np.zeros(n), 1)[:, 0]
    assert ahead[:, 1] == pytest.approx(h_a * h_1 + (1 - h_a) * h_a1)
    assert model.replay(counts, lead=2)[:, 101] == pytest.approx(ahead[:, 1])


matrices = st.integers(1, 4).flatmap(
    lambda n: st.lists(st.lists(st.integers(0, 3), min_size=60, max_size=60), min_size=n, max_size=n)
)


@settings(max_examples=25, deadline=None)
@given(matrices, st.integers(10, 55), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_no_probability_sees_the_bins_it_is_about(counts: list[list[int]], cut: int, lead: int, seed: int) -> None:
    """Changing bins >= cut changes no probability of bins < cut + lead."""
    original = np.asarray(counts, dtype=np.int64)
    changed = original.copy()
    changed[:, cut:] = np.random.default_rng(seed).integers(0, 4, size=changed[:, cut:].shape)
    model = TimingModel()
    before, after = model.replay(original, lead), model.replay(changed, lead)
    assert (before[:, : cut + lead] == after[:, : cut + lead]).all()
    assert ((before >= 0) & (before <= 1)).all()


MIDNIGHT = pd.Timestamp("2019-07-15")
MINUTE = pd.Timedelta("1min")


def test_a_timer_is_expected_at_its_minute_of_the_hour_by_hand() -> None:
    """Minute bins from midnight. Program 0 is invoked at minute 5 of every hour, program 1 at 00:05 and 01:05 only,
    program 2 at 00:05 and 00:06 (no timer), program 3 never. The first pairs at risk are programs 0 and 1 at 01:05
    (bin 65: every invocation of theirs fell at minute 5; program 2's did not), and both are invoked there, so until
    then the rate is 0 (nothing to go on) and at 02:05 it is 2 / 2 for both; elsewhere in the hour the clock is 0."""
    counts = np.zeros((4, 130), dtype=np.int64)
    counts[0, [5, 65, 125]] = 1
    counts[1, [5, 65]] = 1
    counts[2, [5, 6]] = 1
    p = ClockModel().replay(counts, MIDNIGHT, MINUTE)
    assert p[:, :125].max() == 0.0  # no aligned pair had been seen: nothing to go on
    assert p[:, 125] == pytest.approx([1.0, 1.0, 0.0, 0.0])
    assert p[:, 126:].max() == 0.0  # another minute of the hour: the clock says nothing


def test_the_clock_rate_is_the_share_of_aligned_programs_invoked() -> None:
    """Ten programs invoked once at minute 0 (bin 0), three of them again at 01:00: at 02:00 the rate is 3 / 10,
    for the three (aligned still) and the seven (aligned, not invoked at 01:00) alike. A trace starting at 00:30
    shifts the places: its bin 30 is 01:00."""
    counts = np.zeros((10, 121), dtype=np.int64)
    counts[:, 0] = 1
    counts[:3, 60] = 1
    assert ClockModel().replay(counts, MIDNIGHT, MINUTE)[:, 120] == pytest.approx(np.full(10, 0.3))
    shifted = ClockModel().replay(counts, MIDNIGHT + pd.Timedelta("30min"), MINUTE)
    assert shifted[:, 120] == pytest.approx(np.full(10, 0.3))  # bin 120 is 02:30, the place of bin 0 still
    assert shifted[:, 90].max() == 0.0  # 02:00 is not where anything was invoked


def test_bins_that_do_not_tile_the_hour_have_no_clock() -> None:
    counts = np.zeros((2, 60), dtype=np.int64)
    counts[:, ::6] = 1  # every 42 minutes in 7-minute bins
    assert ClockModel().replay(counts, MIDNIGHT, pd.Timedelta("7min")).max() == 0.0
    assert ClockModel().replay(counts, MIDNIGHT + pd.Timedelta("30s"), MINUTE).max() == 0.0  # off the minute


@settings(max_examples=25, deadline=None)
@given(matrices, st.integers(10, 55), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_no_clock_probability_sees_the_bins_it_is_about(
    counts: list[list[int]], cut: int, lead: int, seed: int
) -> None:
    """As for the timing model, with 5-minute bins (a 12-bin hour) so that the places repeat within the matrix."""
    original = np.asarray(counts, dtype=np.int64)
    changed = original.copy()
    changed[:, cut:] = np.random.default_rng(seed).integers(0, 4, size=changed[:, cut:].shape)
    model, five = ClockModel(), pd.Timedelta("5min")
    before, after = model.replay(original, MIDNIGHT, five, lead), model.replay(changed, MIDNIGHT, five, lead)
    assert (before[:, : cut + lead] == after[:, : cut + lead]).all()
    assert ((before >= 0) & (before <= 1)).all()


def test_brier_and_calibration_by_hand() -> None:
    counts = np.array([[1, 0, 1, 1]])
    p = np.array([[0.9, 0.2, 0.6, 1.0]])
    # scored from bin 1, where the program has been invoked before: (0.2)^2, (0.4)^2, 0
    assert brier(p, counts, start=1) == pytest.approx((0.04 + 0.16 + 0.0) / 3)
    table = calibration(p, counts, bins=2)  # [0, 0.5): 0.2 -> miss; [0.5, 1]: 0.9, 0.6, 1.0 -> all hit
    assert table[0] == pytest.approx([0.2, 0.0, 1.0])
    assert table[1] == pytest.approx([2.5 / 3, 1.0, 3.0])


def test_a_lead_below_one_bin_is_refused() -> None:
    with pytest.raises(ValueError, match="lead must be >= 1"):
        TimingModel().replay(np.zeros((1, 3), dtype=np.int64), lead=0)


def test_the_calibration_plot_is_written(tmp_path: Path) -> None:
    counts = (np.random.default_rng(5).random((8, 200)) < 0.3).astype(np.int64)
    table = calibration(TimingModel().replay(counts), counts, start=50)
    path = plot_calibration({"timing model": table}, tmp_path / "cal.png", "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_peaks_when_invoked_by_hand() -> None:
    """Peaks 0, 2, 2, 4 (no decay to speak of): of the three invoked bins, all had >= 2 busy, one >= 3 and >= 4;
    a program never invoked needs one clone if it is invoked (P(peak >= 1 | invoked) = 1) and no more."""
    state = PeakModel(half_life_minutes=1e9).state(2, pd.Timedelta("1min"))
    for peak in (0, 2, 2, 4):
        state.observe(np.array([peak, 0]))
    assert state.survival() == pytest.approx(np.array([[1, 1, 1 / 3, 1 / 3], [1, 0, 0, 0]]), abs=1e-5)


def test_a_past_peak_weighs_half_after_its_half_life() -> None:
    """Half-life of one bin: a peak of 3 then a peak of 1 weigh 1/2 and 1, so P(peak >= 2 | invoked) = 1/3."""
    state = PeakModel(half_life_minutes=1.0).state(1, pd.Timedelta("1min"))
    state.observe(np.array([3]))
    state.observe(np.array([1]))
    assert state.survival()[0] == pytest.approx([1.0, 1 / 3, 1 / 3])
