"""The Pareto plot: the frontier it draws and its zoom on the sweep."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from simulator.plots import _around_frontier, _frontier, _limits, plot_pareto

X, Y = "wasted_memory_pct_of_keepalive10", "p75_app_cold_start_pct"


def sweep() -> pd.DataFrame:
    rows = [
        ("keepalive", "keepalive:1", 30.0, 90.0),
        ("keepalive", "keepalive:10", 100.0, 60.0),
        ("keepalive", "keepalive:60", 180.0, 20.0),
        ("seed", "seed", 120.0, 70.0),  # beaten by keepalive:10 on both
        ("hybrid-histogram", "hybrid-histogram", 160.0, 20.0),  # beats keepalive:60
        ("oracle", "oracle", 0.0, 0.0),
    ]
    return pd.DataFrame(rows, columns=["family", "policy", X, Y])


def test_the_frontier_holds_the_points_no_other_beats_on_both() -> None:
    swept = sweep()[lambda f: f["family"] != "oracle"]
    assert _frontier(swept, X, Y)["policy"].tolist() == ["keepalive:1", "keepalive:10", "hybrid-histogram"]


def test_linear_limits_zoom_on_the_sweep_and_the_plot_is_written(tmp_path: Path) -> None:
    low, high = _limits(pd.Series([30.0, 100.0, 180.0]))
    assert 15 < low < 30 and 180 < high < 195  # the oracle's 0 is left out: no log axis squeezes the frontier
    assert _limits(pd.Series([20.0, 90.0]), floor=0.0)[0] > -10
    path = plot_pareto(sweep(), "a", tmp_path / "p.png", "a sweep")
    assert path.stat().st_size > 20_000


def test_the_axes_end_at_the_frontiers_last_point() -> None:
    """A point with more memory than the frontier's last one is beaten by it on both axes: it goes off the axes."""
    swept = pd.concat([sweep(), pd.DataFrame([("seed", "far", 600.0, 40.0)], columns=[*sweep().columns])])
    swept = swept[swept["family"] != "oracle"]
    shown, beyond = _around_frontier(swept, _frontier(swept, X, Y), X)
    assert beyond["policy"].tolist() == ["keepalive:60", "far"]  # both right of hybrid-histogram (160 %, 20 %)
    assert shown[X].max() == 160.0
