"""The dynamic scaling policy's control loop, tick by tick."""

from __future__ import annotations

import numpy as np

from policy.scaling import ScalingPolicy, ScalingSettings


def policy(**knobs: object) -> ScalingPolicy:
    settings = ScalingSettings(cadence_s=5, stabilise_s=20, panic_hold_s=10, **knobs)  # type: ignore[arg-type]
    return ScalingPolicy(settings, floor=np.array([0, 1]), cap=np.array([100, 100]))


def step(p: ScalingPolicy, now: float, predicted: list[int], observed: list[float], current: list[int], **kw: object):  # type: ignore[no-untyped-def]
    return p.step(
        now,
        np.array(predicted),
        np.array(predicted, dtype=float),
        np.array(observed),
        np.array([1.0, 1.0]),
        np.array(current),
        **kw,  # type: ignore[arg-type]
    ).tolist()


def test_under_prediction_panics_at_once_within_limits() -> None:
    p = policy(panic_max_extra=3)
    # predicted 1 clone for 1 request in flight, observed 7: sized ceil(7 / 0.7) = 10, extra capped at 3
    assert step(p, 0, [1, 1], [7.0, 1.0], [1, 1]) == [4, 1]
    assert p.journal.entries[0].reason == "under-prediction: panic"
    # panic holds 10 s even when the load drops; afterwards the stabilisation window keeps 4 for 20 s
    assert step(p, 5, [1, 1], [0.0, 0.0], [4, 1]) == [4, 1]


def test_over_prediction_waits_for_the_stabilisation_window_and_the_floor() -> None:
    p = policy()
    assert step(p, 0, [5, 5], [0.0, 0.0], [0, 0]) == [5, 5]
    assert step(p, 5, [1, 0], [0.0, 0.0], [5, 5]) == [5, 5]  # wanted dropped, held
    assert step(p, 10, [1, 0], [0.0, 0.0], [5, 5]) == [5, 5]
    assert step(p, 15, [1, 0], [0.0, 0.0], [5, 5]) == [5, 5]
    assert step(p, 20, [1, 0], [0.0, 0.0], [5, 5]) == [1, 1]  # 4 ticks of 5 s later; program 1 keeps its floor
    journal = [(e.time_s, e.program, e.before, e.after, e.reason) for e in p.journal.entries]
    assert journal == [
        (0, 0, 0, 5, "forecast"),
        (0, 1, 0, 5, "forecast"),
        (20, 0, 5, 1, "forecast"),
        (20, 1, 5, 1, "floor"),
    ]


def test_clones_busy_in_the_window_are_kept() -> None:
    p = policy()
    assert step(p, 0, [0, 0], [0.0, 0.0], [3, 0], used=np.array([3, 0])) == [3, 1]


def test_unhealthy_clones_are_replaced_and_journaled() -> None:
    p = policy()
    assert step(p, 0, [2, 1], [0.0, 0.0], [2, 1], unhealthy=np.array([1, 0])) == [3, 1]
    assert [e.reason for e in p.journal.entries if e.program == 0] == ["replace unhealthy clones"]


def test_a_global_panic_budget_goes_to_the_largest_deficits() -> None:
    p = ScalingPolicy(
        ScalingSettings(panic_budget=3, panic_max_extra=10), floor=np.zeros(3, np.int64), cap=np.full(3, 100)
    )
    target = p.step(
        0, np.array([1, 1, 1]), np.array([1.0, 1.0, 1.0]), np.array([3.5, 7.0, 1.0]), np.ones(3), np.array([1, 1, 1])
    )
    # deficits: ceil(3.5 / 0.7) - 1 = 4, ceil(7 / 0.7) - 1 = 9, 0 -> 3 extra clones: 2 to the largest, 1 next
    assert target.tolist() == [2, 3, 1]
