"""Trained forecasters, the promotion gate and the MLflow registry round trip (a real SQLite tracking store)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from models import registry
from models.baselines import SeasonalNaive
from models.evaluation import Comparison, Scores, gate
from models.forecaster import TrainedForecaster, train, update
from models.gbm import GradientBoosting
from models.panel import Panel
from traces.frames import forecast_frame
from traces.synthetic import SyntheticConfig, generate


@pytest.fixture(scope="module")
def dataset():  # type: ignore[no-untyped-def]
    return generate(SyntheticConfig(programs=5, days=6, seed=11))


@pytest.fixture(scope="module")
def trained(dataset) -> TrainedForecaster:  # type: ignore[no-untyped-def]
    return train(GradientBoosting(n_estimators=60), Panel.from_dataset(dataset))


def history(dataset, bins: int = 600) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    last = dataset.requests["ts"].max() - pd.Timedelta("5min") * (bins - 1)
    return dataset.requests[dataset.requests["ts"] >= last].reset_index(drop=True)


def test_forecast_frame_is_canonical_with_ordered_quantiles_and_resources(dataset, trained) -> None:  # type: ignore[no-untyped-def]
    frame = trained.forecast(history(dataset), dataset.events)
    assert len(frame) == 5 * 12
    assert frame["origin"].nunique() == 1 and frame["origin"].iloc[0] == dataset.requests["ts"].max() + pd.Timedelta(
        "5min"
    )
    forecast_frame(frame)  # conforms to the schema
    q = [f"q{level}" for level in sorted(trained.levels)]
    assert (np.diff(frame[q].to_numpy(), axis=1) >= 0).all()
    profile = dataset.programs.set_index("program_code").reindex(frame["program_code"].astype(str))
    in_flight = frame["yhat"].to_numpy() * profile["duration_ms"].to_numpy() / 1000.0 / 300.0  # Little's law
    clones = np.where(frame["yhat"] >= 1, np.maximum(np.ceil(in_flight / profile["concurrency"].to_numpy()), 1), 0)
    assert np.allclose(frame["cpu_millicores"], clones * profile["cpu_millicores"].to_numpy())


def test_bad_requests_are_refused_with_the_reason(dataset, trained) -> None:  # type: ignore[no-untyped-def]
    recent = history(dataset)
    stranger = recent.assign(program_code="not-trained")
    with pytest.raises(ValueError, match="unknown program"):
        trained.forecast(pd.concat([recent, stranger]))
    with pytest.raises(ValueError, match="too short"):
        trained.forecast(history(dataset, bins=100))
    broken = recent.copy()
    broken.loc[3, "requests"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        trained.forecast(broken)
    with pytest.raises(ValueError, match="complete"):
        trained.forecast(recent.drop(index=[10, 11]))
    with pytest.raises(ValueError, match="horizon"):
        trained.forecast(recent, horizon=13)


def test_intervals_from_training_cover_on_later_data(dataset) -> None:  # type: ignore[no-untyped-def]
    panel = Panel.from_dataset(dataset)
    cut = panel.bins - 288
    fitted = train(SeasonalNaive(), panel.upto(cut))
    inside = []
    for origin in range(cut, panel.bins - 12, 6):
        recent = panel.values[:, origin - 576 : origin]
        frame = _frame(panel, recent, origin)
        forecast = fitted.forecast(frame)
        actual = panel.values[:, origin : origin + 12].reshape(-1)
        inside.append((forecast["q10"].to_numpy() <= actual) & (actual <= forecast["q90"].to_numpy()))
    assert 0.7 <= np.mean(inside) <= 0.95  # nominal 80 %, on one day of 5 series


def _frame(panel: Panel, values: np.ndarray, end: int) -> pd.DataFrame:
    n = values.shape[1]
    ts = panel.timestamps()[end - n : end]
    return pd.DataFrame(
        {
            "program_code": np.repeat(panel.codes.astype(str), n),
            "ts": np.tile(ts, len(panel.codes)),
            "requests": values.reshape(-1),
        }
    )


def test_update_warm_starts_lightgbm_with_more_trees(dataset, trained) -> None:  # type: ignore[no-untyped-def]
    import copy

    before = copy.deepcopy(trained)
    trees = before.model.booster.booster_.num_trees()  # type: ignore[attr-defined]
    after = update(before, Panel.from_dataset(dataset))
    assert after.model.booster.booster_.num_trees() == trees + 40 * 1  # type: ignore[attr-defined]
    stranger = dataclasses.replace(Panel.from_dataset(dataset).select([0]), codes=np.array(["new"], dtype=object))
    with pytest.raises(ValueError, match="cannot add programs"):
        update(before, stranger)


def test_gate_needs_a_margin_on_both_scores() -> None:
    champion = Scores(mase=1.0, sim_cost=10.0)
    assert gate(Scores(0.9, 9.0), None, 0.05).promote  # first model
    assert gate(Scores(0.9, 9.0), champion, 0.05).promote
    assert not gate(Scores(0.9, 9.9), champion, 0.05).promote  # cost gain 1 % < 5 %
    assert not gate(Scores(0.99, 5.0), champion, 0.05).promote  # MASE gain 1 %
    assert not gate(Scores(float("nan"), 5.0), champion, 0.05).promote  # unknown score never wins


def worse_on_mase(challenger: TrainedForecaster, champion: TrainedForecaster) -> Comparison:
    """Scores of both on one window, as `jobs.gate.compare` gives them (tested in test_honest_evaluation)."""
    return Comparison(Scores(mase=1.1, sim_cost=9.0), Scores(mase=1.0, sim_cost=10.0), "one window")


def test_registry_round_trip_aliases_and_promotion(tmp_path: Path, dataset, trained) -> None:  # type: ignore[no-untyped-def]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    plot = tmp_path / "plot.png"
    plot.write_bytes(b"\x89PNG\r\n\x1a\n")
    first = registry.register(
        trained, uri=uri, name="demand", metrics={"backtest_mase": 1.0, "sim_cost": 10.0}, artifacts=[plot]
    )
    assert registry.aliases(uri, "demand") == {"challenger": first.version}
    outcome = registry.promote(uri, "demand", margin=0.02, compare=worse_on_mase)
    assert outcome.decision.promote and registry.aliases(uri, "demand")["champion"] == first.version

    recent = history(dataset)
    expected = trained.forecast(recent)
    loaded = registry.load(uri, "demand", "champion")
    pd.testing.assert_frame_equal(loaded.forecast(recent), expected)
    naive = recent[["program_code", "ts", "requests"]].assign(ts=recent["ts"].dt.tz_localize(None))  # MLflow's way
    served = registry.load_pyfunc(uri, "demand", "champion").predict(naive.assign(requests=naive["requests"] * 1.0))
    assert (served["ts"] == expected["ts"].dt.tz_localize(None)).all()
    assert served["yhat"].to_numpy() == pytest.approx(expected["yhat"].to_numpy(), rel=0, abs=0)
    assert served["q90"].to_numpy() == pytest.approx(expected["q90"].to_numpy(), rel=0, abs=0)
    assert (tmp_path / "mlartifacts").is_dir()  # artifacts next to the store, not in the cwd

    worse = registry.register(trained, uri=uri, name="demand", metrics={"backtest_mase": 1.1, "sim_cost": 9.0})
    rejected = registry.promote(uri, "demand", margin=0.02, compare=worse_on_mase)
    assert not rejected.decision.promote and "MASE" in rejected.decision.reason
    assert registry.aliases(uri, "demand") == {"champion": first.version, "challenger": worse.version}
    with registry.tracking(uri) as client:
        tags = client.get_model_version("demand", worse.version).tags
    assert tags["gate"] == "rejected" and tags["gate_window"] == "one window" and tags["gate_champion_mase"] == "1.0"
    with pytest.raises(ValueError, match="no model"):
        registry.load(uri, "absent", "champion")


def test_tracking_puts_back_unset_uris_so_no_store_appears_in_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # unset, as in a fresh process
    mlflow.set_registry_uri(None)  # type: ignore[arg-type]
    store = tmp_path / "store"
    store.mkdir()
    uri = f"sqlite:///{store / 'mlflow.db'}"
    assert registry.aliases(uri, "absent") == {}
    assert not mlflow.is_tracking_uri_set()
    assert "MLFLOW_TRACKING_URI" not in os.environ and "MLFLOW_REGISTRY_URI" not in os.environ
    assert [path.name for path in tmp_path.iterdir()] == ["store"]

    mlflow.set_tracking_uri("http://tracking.example:5000")
    mlflow.set_registry_uri("http://registry.example:5000")
    try:
        with registry.tracking(uri) as client:
            assert mlflow.get_tracking_uri() == uri == mlflow.get_registry_uri() == client.tracking_uri
        assert mlflow.get_tracking_uri() == "http://tracking.example:5000"
        assert mlflow.get_registry_uri() == "http://registry.example:5000"
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
        os.environ.pop("MLFLOW_REGISTRY_URI", None)
