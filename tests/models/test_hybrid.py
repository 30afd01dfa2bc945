"""The hybrid (the default model of train, retrain and CI): stacking without in-sample LSTM forecasts,
determinism, shapes, no look-ahead, scheduled events, warm start, pickling, refusals and its tuning space.
Small networks, few trees and small panels keep the file fast on two cores."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from clonecast.cli import app
from models.catalog import make_model
from models.hybrid import Hybrid
from models.lstm import LSTMForecaster
from models.panel import Panel
from models.tuning import SPACES, Space, tune
from tests.models.test_forecasting import panel_of
from tests.models.test_future_events import DATA, campaign
from tests.models.test_lstm import DAY, daily_panel
from traces.frames import events_frame
from traces.store import write_dataset
from traces.synthetic import SyntheticConfig, generate

TINY = {
    "lstm.lookback": 24,
    "lstm.hidden": 8,
    "lstm.epochs": 2,
    "lstm.max_samples": 2000,
    "gbm.n_estimators": 30,
    "gbm.num_leaves": 8,
    "gbm.min_child_samples": 20,
}


def tiny(seed: int = 7, **knobs: Any) -> Hybrid:
    model = make_model("hybrid", seed, 12, **(TINY | knobs))
    assert isinstance(model, Hybrid)
    return model


@pytest.fixture(scope="module")
def synthetic() -> tuple[Hybrid, Panel]:
    """A hybrid fitted on a synthetic trace with campaigns, and the trace's panel."""
    panel = Panel.from_dataset(generate(DATA))
    return tiny(**{"gbm.n_estimators": 60, "gbm.num_leaves": 15}).fit(panel), panel


def test_stacking_never_feeds_the_corrector_in_sample_lstm_forecasts(monkeypatch: pytest.MonkeyPatch) -> None:
    panel = daily_panel(3)
    model = tiny()
    lstm = model.lstm
    fitted: list[int] = []  # bins of each LSTM fit, in order
    asked: list[tuple[int, int]] = []  # (bins the LSTM was fitted on, earliest origin it forecast from)
    fit, point = lstm.fit, lstm.point

    def fit_spy(p: Panel) -> LSTMForecaster:
        fitted.append(p.bins)
        return fit(p)

    def point_spy(p: Panel, origins: np.ndarray, horizon: int) -> np.ndarray:
        asked.append((fitted[-1], int(origins.min())))
        return point(p, origins, horizon)

    monkeypatch.setattr(lstm, "fit", fit_spy)
    monkeypatch.setattr(lstm, "point", point_spy)
    model.fit(panel)
    assert len(fitted) == 2 and fitted[0] < panel.bins == fitted[1]  # stacked on the first part, then refitted on all
    assert asked and all(origin >= seen for seen, origin in asked), asked  # the corrector's rows: out of sample
    assert model.gbm.booster is not None


def test_same_seed_same_forecasts_other_seed_other_forecasts() -> None:
    panel = daily_panel(3)
    origins = np.array([DAY * 2 + 10, DAY * 3 - 12])
    first = tiny(seed=3).fit(panel).point(panel, origins, 12)
    assert np.array_equal(first, tiny(seed=3).fit(panel).point(panel, origins, 12))
    assert not np.allclose(first, tiny(seed=4).fit(panel).point(panel, origins, 12))


def test_forecasts_are_non_negative_and_shaped_per_series_origin_and_step(synthetic: tuple[Hybrid, Panel]) -> None:
    model, panel = synthetic
    origins = np.arange(panel.bins - DAY, panel.bins + 1, 37)
    for horizon in (12, 5):
        point = model.point(panel, origins, horizon)
        assert point.shape == (len(panel.codes), len(origins), horizon)
        assert np.isfinite(point).all() and (point >= 0).all()
    assert (model.point(panel, origins, 12).max(axis=(1, 2)) > 0).all()


def test_a_forecast_reads_no_actual_after_its_origin(synthetic: tuple[Hybrid, Panel]) -> None:
    model, panel = synthetic
    origins = np.arange(panel.bins - 100, panel.bins - 12, 29)
    reference = model.point(panel, origins, 12)
    rng = np.random.default_rng(2)
    for k, origin in enumerate(origins):  # change every bin from the origin on: that forecast stays
        changed = panel.values.copy()
        changed[:, origin:] = rng.poisson(500, size=changed[:, origin:].shape)
        again = model.point(replace(panel, values=changed), origins[k : k + 1], 12)
        assert np.allclose(again, reference[:, k : k + 1], rtol=1e-9), k
        assert np.allclose(model.point(panel.upto(int(origin)), origins[k : k + 1], 12), reference[:, k : k + 1])
    changed = panel.values.copy()
    changed[:, origins[0] - 1] *= 20.0  # the bin just before the origin does count
    assert not np.allclose(model.point(replace(panel, values=changed), origins[:1], 12), reference[:, :1])


def test_a_scheduled_x5_campaign_after_the_history_raises_its_bins_forecast(synthetic: tuple[Hybrid, Panel]) -> None:
    model, panel = synthetic
    end = panel.start + panel.bins * panel.width
    event = campaign(end + 2 * panel.width)  # steps 3..12 after the end of the history
    scheduled = replace(panel, events=events_frame(pd.concat([panel.events, event], ignore_index=True)))
    at = np.array([panel.bins])
    plain, raised = model.point(panel, at, 12), model.point(scheduled, at, 12)
    ratio = raised[:, 0, 2:].sum(axis=1) / plain[:, 0, 2:].sum(axis=1)  # [P] over the campaign's bins
    assert (ratio >= 2.0).all(), ratio


def test_pickle_round_trip_gives_identical_forecasts(synthetic: tuple[Hybrid, Panel]) -> None:
    model, panel = synthetic
    origins = np.array([panel.bins - 50, panel.bins])
    loaded = pickle.loads(pickle.dumps(model))
    assert np.array_equal(loaded.point(panel, origins, 12), model.point(panel, origins, 12))
    assert loaded.gbm.extra.lstm is loaded.lstm and loaded.gbm.extra.ridge is loaded.ridge  # its own base models


def test_a_fitted_hybrid_is_a_tree_dask_can_tokenize(synthetic: tuple[Hybrid, Panel]) -> None:
    """batch-predict ships the trained model to Dask workers, whose client tokenizes every argument by content:
    a reference cycle (the corrector holding a method of the hybrid) recursed without end there."""
    from dask.base import tokenize

    model, _ = synthetic
    assert tokenize(model)  # a RecursionError before the cycle was broken


def test_update_fine_tunes_the_lstm_and_adds_corrector_trees() -> None:
    panel = daily_panel(5)
    model = tiny().fit(panel.upto(DAY * 4))
    assert model.gbm.booster is not None and model.lstm.network is not None
    trees = model.gbm.booster.booster_.num_trees()
    weights = {k: v.clone() for k, v in model.lstm.network.state_dict().items()}
    origins = np.array([panel.bins - 12])
    before = model.point(panel, origins, 12)
    model.update(panel)
    assert model.gbm.booster.booster_.num_trees() == trees + model.gbm.update_estimators
    assert any(not torch.equal(weights[k], v) for k, v in model.lstm.network.state_dict().items())
    assert not np.array_equal(before, model.point(panel, origins, 12))


def test_refusals_name_what_is_wrong() -> None:
    panel = daily_panel(4)
    with pytest.raises(ValueError, match="fit"):
        tiny().point(panel, np.array([DAY * 3]), 12)
    with pytest.raises(ValueError, match="fit"):
        tiny().update(panel)
    with pytest.raises(ValueError, match="too few"):
        tiny().fit(panel.upto(DAY + 24))
    values = panel.values.copy()
    values[2, 500] = np.nan
    with pytest.raises(ValueError, match="s2"):
        tiny().fit(panel_of(values))
    model = tiny().fit(panel)
    with pytest.raises(ValueError, match="horizon 13"):
        model.point(panel, np.array([DAY * 3]), 13)
    with pytest.raises(ValueError, match=r"lstm\.<knob> or gbm\.<knob>"):
        make_model("hybrid", 7, 12, hidden=8)


def test_the_tuning_space_builds_hybrids_with_the_suggested_knobs() -> None:
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=1))
    for _ in range(3):
        params = SPACES["hybrid"](study.ask())
        model = make_model("hybrid", 3, 6, **params)
        assert isinstance(model, Hybrid) and isinstance(model.lstm, LSTMForecaster)
        built = {f"{part}.{knob}": getattr(getattr(model, part), knob) for part, _, knob in map(_split, params)}
        assert built == params
        assert model.lstm.seed == model.gbm.seed == 3 and model.lstm.horizon == model.gbm.horizon == 6


def _split(key: str) -> tuple[str, str, str]:
    return key.partition(".")


def shrunk(space: Space) -> Space:
    """`space` with the hybrid's costly knobs made tiny (its default networks and forests are too big for a unit
    test); the learning rates stay as it suggests them."""
    return lambda trial: space(trial) | TINY


def test_a_short_hybrid_tuning_run_completes() -> None:
    panel = daily_panel(3, series=2)
    result = tune("hybrid", panel, n_trials=2, folds=2, space=shrunk(SPACES["hybrid"]), seed=3)
    assert result.trials["state"].tolist() == ["COMPLETE", "COMPLETE"]
    assert np.isfinite(result.best_value) and 1e-3 <= result.best_params["lstm.learning_rate"] <= 1e-2
    assert isinstance(make_model("hybrid", 3, 12, **result.best_params), Hybrid)


@pytest.mark.slow
def test_cli_tunes_the_hybrid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_dataset(generate(SyntheticConfig(programs=2, days=3, campaigns=1, news=0, seed=3)), tmp_path / "trace")
    monkeypatch.setitem(SPACES, "hybrid", shrunk(SPACES["hybrid"]))
    out = tmp_path / "best.json"
    args = ["tune", "--trace", str(tmp_path / "trace"), "--model", "hybrid", "--trials", "1", "--json", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    best = json.loads(out.read_text())
    assert best["model"] == "hybrid" and {"lstm.learning_rate", "gbm.learning_rate"} <= set(best["best_params"])
