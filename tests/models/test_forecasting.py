"""Baselines, metrics, conformal intervals, LightGBM and the backtest on panels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clonecast.cli import app
from models.backtest import backtest
from models.baselines import MovingAverage, OnlineRidge, SeasonalNaive
from models.conformal import OnlineConformal
from models.gbm import GradientBoosting
from models.metrics import coverage, mase, mase_scale, pinball, wape
from models.panel import Panel, event_features
from traces.frames import empty_events
from traces.synthetic import SyntheticConfig, generate


def panel_of(values: np.ndarray, events: pd.DataFrame | None = None) -> Panel:
    values = np.atleast_2d(np.asarray(values, float))
    codes = np.array([f"s{i}" for i in range(len(values))], dtype=object)
    return Panel(
        codes=codes,
        values=values,
        start=pd.Timestamp("2026-01-05T00:00:00Z"),
        width=pd.Timedelta("5min"),
        events=events if events is not None else empty_events(),
        programs=pd.DataFrame(index=pd.Index(codes, name="program_code")),
    )


def test_metrics_by_hand() -> None:
    actual = np.array([[[10.0, 20.0]]])  # [P=1, O=1, H=2]
    point = np.array([[[12.0, 15.0]]])
    scale = np.array([2.0])
    assert mase(actual, point, scale).tolist() == [3.5 / 2.0]  # mean |e| = (2 + 5) / 2
    assert wape(actual, point).tolist() == [7.0 / 30.0]
    q = {10: np.array([[[9.0, 18.0]]]), 90: np.array([[[11.0, 19.0]]])}
    # level 0.1: errors 1, 2 -> 0.1, 0.2 (mean 0.15); level 0.9: errors -1, 1 -> 0.1, 0.9 (mean 0.5)
    assert pinball(actual, q, scale).tolist() == pytest.approx([(0.15 + 0.5) / 2 / 2.0])
    assert coverage(actual, q)[80].tolist() == [0.5]  # 10 inside [9, 11], 20 outside [18, 19]
    assert mase_scale(np.array([[1.0, 2.0, 4.0, 7.0]]), season=1).tolist() == [2.0]


def test_seasonal_naive_and_moving_average_values() -> None:
    day = np.arange(288, dtype=float)
    panel = panel_of(np.concatenate([day, day + 1000]))
    origins = np.array([288 + 10])
    assert SeasonalNaive().point(panel, origins, 3)[0, 0].tolist() == [10.0, 11.0, 12.0]  # a day earlier
    assert MovingAverage(window=4).point(panel, origins, 2)[0, 0].tolist() == [1000 + 7.5] * 2  # 1006..1009


def test_no_model_sees_after_its_origin() -> None:
    rng = np.random.default_rng(1)
    values = rng.poisson(50, size=(2, 288 * 4)).astype(float)
    origins = np.arange(288 * 3, 288 * 3 + 30)
    for model in (SeasonalNaive(), MovingAverage(), OnlineRidge(refit_every=10), GradientBoosting(n_estimators=20)):
        model.fit(panel_of(values[:, : 288 * 3]))
        reference = model.point(panel_of(values), origins, 3)
        for k in (0, 7, 29):  # change every bin from origin k on: the forecast made at origin k stays
            changed = values.copy()
            changed[:, origins[k] :] = rng.poisson(500, size=changed[:, origins[k] :].shape)
            assert np.allclose(model.point(panel_of(changed), origins[k : k + 1], 3), reference[:, k : k + 1]), (
                model.name
            )


def test_ridge_learns_an_autoregression_better_than_the_seasonal_naive() -> None:
    rng = np.random.default_rng(2)
    y = np.zeros(288 * 6)
    for t in range(1, len(y)):
        y[t] = 0.9 * y[t - 1] + rng.normal(0, 1)
    panel = panel_of(y + 100)
    ridge = backtest(OnlineRidge(), panel, stride=6).summary()
    naive = backtest(SeasonalNaive(), panel, stride=6).summary()
    assert ridge["mase"] < 0.7 * naive["mase"]


def test_conformal_intervals_cover_their_level_and_adapt() -> None:
    rng = np.random.default_rng(3)
    n_origins, horizon = 3000, 4
    point = np.full((1, n_origins, horizon), 100.0)
    noise = np.concatenate([rng.normal(0, 5, 1500), rng.normal(0, 20, 1500)])  # the spread quadruples
    actual = point + noise[None, :, None]
    origins = np.arange(n_origins) * 1000  # far apart: every earlier target is known
    q = OnlineConformal(window=300).quantiles(point, actual, origins, np.array([1.0]))
    inside = (actual >= q[10]) & (actual <= q[90])
    assert abs(inside[:, 300:1500].mean() - 0.8) < 0.05
    assert abs(inside[:, 1800:].mean() - 0.8) < 0.05  # re-calibrated after the change
    assert (q[95] >= q[90]).all() and (q[5] >= 0).all()


def test_event_features_mark_active_and_upcoming_events() -> None:
    events = pd.DataFrame(
        {
            "start": [pd.Timestamp("2026-01-05T01:00:00Z")],
            "end": [pd.Timestamp("2026-01-05T01:30:00Z")],
            "kind": ["campaign"],
            "magnitude": [3.0],
            "program_code": ["s0"],
        }
    )
    features = event_features(panel_of(np.ones((2, 40)), events), horizon=12)
    assert features["event_active"][0, 12:18].tolist() == [3.0] * 6 and features["event_active"][1].max() == 1.0
    assert features["event_soon"][0, 0:12].tolist() == [3.0] * 12 and features["event_soon"][0, 12] == 0.0


def test_lightgbm_uses_events_and_beats_the_seasonal_naive_on_the_synthetic_trace() -> None:
    dataset = generate(SyntheticConfig(programs=12, days=10, campaigns=6, seed=5))
    panel = Panel.from_dataset(dataset)
    gbm = backtest(GradientBoosting(n_estimators=150), panel, stride=12).summary()
    naive = backtest(SeasonalNaive(), panel, stride=12).summary()
    assert gbm["mase"] < naive["mase"]
    assert 0.74 <= gbm["coverage"]["80"] <= 0.86
    again = backtest(GradientBoosting(n_estimators=150), panel, stride=12).summary()
    assert again["mase"] == gbm["mase"]  # deterministic under its seed


def test_cli_backtest_json_contract(tmp_path: Path) -> None:
    dataset = generate(SyntheticConfig(programs=4, days=6, seed=8))
    from traces.store import write_dataset

    write_dataset(dataset, tmp_path / "trace")
    out = tmp_path / "bt.json"
    result = CliRunner().invoke(
        app, ["backtest", "--trace", str(tmp_path / "trace"), "--model", "ridge", "--stride", "12", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert {"model", "series", "mase", "wape", "pinball", "coverage"} <= set(data)
    assert data["model"] == "ridge" and len(data["series"]) == 4 and set(data["coverage"]) == {"50", "80", "90"}
    bad = CliRunner().invoke(app, ["backtest", "--trace", str(tmp_path / "trace"), "--model", "oracle"])
    assert bad.exit_code == 2 and "unknown model" in bad.output


def test_lightgbm_as_a_corrector_keeps_its_base_beyond_the_swing_it_was_trained_on() -> None:
    """With `base_columns`, the trees learn the base forecast's error: a base that is right stays right even
    where the daily swing is wider than anything in training, where trees that forecast the value itself
    cannot follow (they do not extrapolate)."""
    rng = np.random.default_rng(0)
    daily = np.sin(2 * np.pi * np.arange(288 * 4) / 288)
    noise = rng.normal(0, 1, (3, len(daily)))

    def truth(panel: Panel, origins: np.ndarray, horizon: int) -> np.ndarray:  # an oracle base, on purpose
        return panel.values[:, origins[:, None] + np.arange(horizon)[None, :]][..., None]

    train, test = panel_of(100 + 30 * daily[:800] + noise[:, :800]), panel_of(100 + 90 * daily + noise)
    origins = np.arange(900, 1000)
    actual = test.values[:, origins[:, None] + np.arange(12)[None, :]]
    corrector = GradientBoosting(n_estimators=50, extra=truth, base_columns=(0,)).fit(train)
    plain = GradientBoosting(n_estimators=50, extra=truth).fit(train)
    corrected_error = np.abs(corrector.point(test, origins, 12) - actual).mean()
    plain_error = np.abs(plain.point(test, origins, 12) - actual).mean()
    assert corrected_error < 0.02 * actual.mean() < plain_error, (corrected_error, plain_error)


def test_conformal_levels_steer_back_to_nominal_coverage_under_drift() -> None:
    """Residuals that widen steadily: the recent window always lags behind, so plain split conformal
    under-covers; steering the levels by the misses seen brings the share back to nominal."""
    rng = np.random.default_rng(4)
    n_origins, horizon = 4000, 2
    point = np.full((1, n_origins, horizon), 1000.0)
    spread = np.linspace(5, 60, n_origins)[None, :, None]
    actual = point + rng.normal(0, 1, point.shape) * spread
    origins = np.arange(n_origins) * 1000
    shares = {}
    for gain in (0.0, 0.2):
        q = OnlineConformal(window=1000, gain=gain).quantiles(point, actual, origins, np.array([1.0]))
        shares[gain] = ((actual >= q[10]) & (actual <= q[90]))[:, 1000:].mean()
    assert shares[0.0] < 0.77
    assert abs(shares[0.2] - 0.8) < 0.02
