"""The global LSTM forecaster: determinism, learning, no look-ahead, medians, warm-start updates, pickling,
and its refusals. Small networks and few epochs keep the whole file fast on two cores."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from models.backtest import backtest
from models.baselines import MovingAverage
from models.lstm import LSTMForecaster
from models.panel import Panel
from tests.models.test_forecasting import panel_of

DAY = 288
SMALL = {"lookback": 24, "hidden": 8, "epochs": 2, "max_samples": 2000}


def daily_panel(days: int, series: int = 3, seed: int = 0) -> Panel:
    """Poisson counts around a daily sine, each series with its own size and phase."""
    rng = np.random.default_rng(seed)
    t = np.arange(DAY * days)
    sizes = 20.0 * (1 + np.arange(series))[:, None]  # [P, 1]
    phases = np.linspace(0, 3, series)[:, None]
    rate = sizes * (1 + 0.5 * np.sin(2 * np.pi * t[None, :] / DAY + phases))  # [P, T]
    return panel_of(rng.poisson(rate).astype(float))


def test_same_seed_same_forecasts_other_seed_other_forecasts() -> None:
    panel = daily_panel(3)
    origins = np.array([DAY * 2 + 10, DAY * 2 + 100])
    threads, before = torch.get_num_threads(), torch.random.get_rng_state()
    first = LSTMForecaster(**SMALL, seed=3).fit(panel).point(panel, origins, 12)
    assert torch.get_num_threads() == threads and torch.equal(torch.random.get_rng_state(), before)  # global state
    second = LSTMForecaster(**SMALL, seed=3).fit(panel).point(panel, origins, 12)
    other = LSTMForecaster(**SMALL, seed=4).fit(panel).point(panel, origins, 12)
    assert first.shape == (3, 2, 12) and np.isfinite(first).all()
    assert np.array_equal(first, second)
    assert not np.allclose(first, other)


def test_lstm_learns_a_daily_pattern_better_than_the_moving_average() -> None:
    rng = np.random.default_rng(4)
    t = np.arange(DAY * 6)
    values = np.stack(
        [
            a * (1 + 0.5 * np.sin(2 * np.pi * t / DAY + ph)) + rng.normal(0, 0.05 * a, len(t))
            for a, ph in [(100, 0), (20, 1), (500, 2), (5, 3)]
        ]
    )
    panel = panel_of(np.maximum(values, 0.0))
    lstm = backtest(LSTMForecaster(hidden=16, epochs=4), panel, test_fraction=0.2, stride=12).summary()
    average = backtest(MovingAverage(), panel, test_fraction=0.2, stride=12).summary()
    assert lstm["mase"] < 0.8 * average["mase"], (lstm["mase"], average["mase"])


def test_lstm_does_not_see_after_its_origin() -> None:
    rng = np.random.default_rng(1)
    values = rng.poisson(50, size=(2, DAY * 4)).astype(float)
    origins = np.arange(DAY * 3, DAY * 3 + 30)
    model = LSTMForecaster(**SMALL).fit(panel_of(values[:, : DAY * 3]))
    reference = model.point(panel_of(values), origins, 3)
    for k in (0, 7, 29):  # change every bin from origin k on: the forecast made at origin k stays
        changed = values.copy()
        changed[:, origins[k] :] = rng.poisson(500, size=changed[:, origins[k] :].shape)
        assert np.allclose(model.point(panel_of(changed), origins[k : k + 1], 3), reference[:, k : k + 1], rtol=1e-6)
    changed = values.copy()
    changed[:, origins[0] - 1] = 5000.0  # the bin just before the origin does count
    assert not np.allclose(model.point(panel_of(changed), origins[:1], 3), reference[:, :1])


def test_forecasts_are_non_negative_medians_up_to_the_built_horizon() -> None:
    panel = daily_panel(3)
    model = LSTMForecaster(**SMALL).fit(panel)
    assert model.network is not None and model.network.skip.out_features == model.horizon  # one median per step
    origins = np.arange(DAY * 2, DAY * 3 - 12, 7)
    point = model.point(panel, origins, 6)
    assert point.shape == (3, len(origins), 6) and (point >= 0).all()
    assert np.array_equal(point, model.point(panel, origins, 12)[:, :, :6])  # a shorter horizon is a prefix
    with pytest.raises(ValueError, match="horizon 13"):
        model.point(panel, origins, 13)


def test_update_warm_starts_from_the_fitted_weights() -> None:
    panel = daily_panel(4)
    with pytest.raises(ValueError, match="fit"):
        LSTMForecaster(**SMALL).update(panel)
    model = LSTMForecaster(**SMALL).fit(panel.upto(DAY * 3))
    assert model.network is not None
    before = {k: v.clone() for k, v in model.network.state_dict().items()}
    origins = np.array([DAY * 4 - 12])
    old = model.point(panel, origins, 12)
    model.update(panel)
    after = model.network.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # trained further
    lstm_before = before["lstm.weight_hh_l0"]
    assert torch.allclose(lstm_before, after["lstm.weight_hh_l0"], atol=0.1)  # from the old weights, not anew
    new = model.point(panel, origins, 12)
    assert np.isfinite(new).all() and not np.array_equal(old, new)


def test_pickle_round_trip_gives_the_same_forecasts() -> None:
    panel = daily_panel(3)
    model = LSTMForecaster(**SMALL).fit(panel)
    origins = np.array([DAY * 2, DAY * 3 - 12])
    loaded = pickle.loads(pickle.dumps(model))
    assert np.array_equal(loaded.point(panel, origins, 12), model.point(panel, origins, 12))
    assert pickle.loads(pickle.dumps(LSTMForecaster())).network is None


def test_auto_device_takes_cuda_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert LSTMForecaster()._device().type == expected
    assert LSTMForecaster(device="cpu")._device().type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert LSTMForecaster()._device() == torch.device("cuda", 0)  # chosen, not yet used


def test_refusals_name_what_is_wrong() -> None:
    model = LSTMForecaster(**SMALL)
    need = DAY + 24 + 12
    with pytest.raises(ValueError, match=f"at least {need}"):
        model.fit(daily_panel(3).upto(need - 1))
    model.fit(daily_panel(3).upto(need))  # just enough: one window per series
    values = daily_panel(3).values.copy()
    values[1, 100] = np.nan
    with pytest.raises(ValueError, match=r"s1") as error:
        LSTMForecaster(**SMALL).fit(panel_of(values))
    assert "s0" not in str(error.value) and "s2" not in str(error.value)
    with pytest.raises(ValueError, match="fit"):
        LSTMForecaster().point(daily_panel(2), np.array([DAY]), 12)
    with pytest.raises(ValueError, match="all must be positive"):
        LSTMForecaster(hidden=0)
