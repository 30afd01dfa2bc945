"""Honest evaluation: a model is only scored on bins after its `trained_until`; the gate
scores challenger and champion on one out-of-sample window in one run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from clonecast.cli import app
from jobs.backtest import score_model
from jobs.train import update_and_register
from models import registry
from models.catalog import make_model
from models.drift import detect
from models.evaluation import Scores, gate
from models.forecaster import TrainedForecaster, train
from models.panel import Panel
from traces.frames import Dataset
from traces.store import write_dataset
from traces.synthetic import SyntheticConfig, generate

SMALL = {"n_estimators": 10, "num_leaves": 7, "update_estimators": 5}  # LightGBM: a warm start to test
DAY = 288  # 5-minute bins
NAME = "demand"


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(SyntheticConfig(programs=4, days=6, seed=8))


@pytest.fixture(scope="module")
def panel(dataset: Dataset) -> Panel:
    return Panel.from_dataset(dataset)


def trained(panel: Panel, bins: int, model: str = "ridge") -> TrainedForecaster:
    """`model` (LightGBM small) trained on the first `bins` bins of `panel` (its trained_until is their end)."""
    return train(make_model(model, **(SMALL if model == "lightgbm" else {})), panel.upto(bins))


@pytest.fixture(scope="module")
def on_all(panel: Panel) -> TrainedForecaster:
    return trained(panel, panel.bins)


@pytest.fixture(scope="module")
def but_last_day(panel: Panel) -> TrainedForecaster:
    return trained(panel, panel.bins - DAY)


@pytest.fixture(scope="module")
def warm_on_all(panel: Panel) -> TrainedForecaster:
    return trained(panel, panel.bins, "lightgbm")


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture(scope="module")
def trace(dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("honest") / "trace"
    write_dataset(dataset, folder)
    return folder


def register(uri: str, trained: TrainedForecaster, alias: str, mase: float, cost: float) -> str:
    """Register `trained` under `alias` with the given logged (training-time) metrics; returns the version."""
    metrics = {registry.MASE_METRIC: mase, registry.COST_METRIC: cost}
    return registry.register(trained, uri=uri, name=NAME, metrics=metrics, alias=alias).version


def runs(uri: str) -> int:
    with registry.tracking(uri) as client:
        return len(client.search_runs([registry.experiment(client, uri)]))


def version_tags(uri: str, version: str) -> dict[str, str]:
    with registry.tracking(uri) as client:
        return dict(client.get_model_version(NAME, version).tags)


# -- warm-start backtests --------------------------------------------------------------------------------


def test_update_without_new_data_reports_nothing_new_and_registers_nothing(
    uri: str, dataset: Dataset, panel: Panel, warm_on_all: TrainedForecaster
) -> None:
    version = register(uri, warm_on_all, registry.CHAMPION, mase=0.6, cost=5.0)
    with pytest.raises(Exception, match="nothing new to score"):
        update_and_register(dataset, panel, uri=uri, name=NAME, stride=12)
    assert registry.aliases(uri, NAME) == {registry.CHAMPION: version}  # no challenger with made-up metrics
    assert runs(uri) == 1  # and no run logged


def test_cli_update_without_new_data_exits_4_and_says_so(uri: str, trace: Path, warm_on_all: TrainedForecaster) -> None:
    version = register(uri, warm_on_all, registry.CHAMPION, mase=0.6, cost=5.0)
    args = ["update", "--trace", str(trace), "--tracking-uri", uri, "--name", NAME, "--stride", "12"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 4, result.output
    assert "nothing new to score" in result.output and "nothing registered" in result.output
    assert registry.aliases(uri, NAME) == {registry.CHAMPION: version}
    assert "Exits 4" in CliRunner().invoke(app, ["update", "--help"]).output


def test_warm_start_is_scored_only_after_the_champions_trained_until(uri: str, dataset: Dataset, panel: Panel) -> None:
    register(uri, trained(panel, panel.bins - DAY, "lightgbm"), registry.CHAMPION, mase=0.6, cost=5.0)
    outcome = update_and_register(dataset, panel, uri=uri, name=NAME, stride=12)
    seen = panel.bins - DAY  # bins the champion learnt from
    assert outcome.evaluation.result.origins.min() >= seen  # the default window (last 30 %) starts before
    assert outcome.registered is not None and registry.aliases(uri, NAME)[registry.CHALLENGER] == "2"
    assert outcome.trained.trained_until == panel.start + panel.bins * panel.width


# -- drift and the nightly evaluation --------------------------------------------------------------------


def test_drift_has_nothing_new_to_score_on_bins_the_champion_learnt(panel: Panel, on_all: TrainedForecaster) -> None:
    report = detect(on_all, panel)
    assert not np.isfinite(report.recent_mase)  # in-sample errors are no evidence either way
    assert not np.isfinite(report.psi) and not report.drifted
    assert report.new_bins == 0 and "nothing new to score" in report.note


def test_drift_is_judged_on_the_new_day_after_trained_until(
    dataset: Dataset, panel: Panel, but_last_day: TrainedForecaster
) -> None:
    history = panel.upto(panel.bins - DAY)
    backtest = score_model(make_model("ridge"), dataset, history, stride=12, sim_modes=())
    champion = dataclasses.replace(but_last_day, info=backtest.metrics())
    quiet = detect(champion, panel)
    assert quiet.new_bins == DAY and np.isfinite(quiet.recent_mase) and not quiet.drifted, quiet.reasons
    values = panel.values.copy()
    values[:, -DAY:] *= 6  # demand x6 on the day after trained_until
    loud = detect(champion, dataclasses.replace(panel, values=values))
    assert loud.drifted and loud.psi > 0.25 and loud.level_ratio > 3
    assert any("MASE" in reason for reason in loud.reasons), loud.reasons


def test_the_champion_is_evaluated_only_after_its_trained_until(
    dataset: Dataset, panel: Panel, on_all: TrainedForecaster, but_last_day: TrainedForecaster
) -> None:
    from clonecast.errors import NothingToScoreError
    from jobs.backtest import score_trained  # what the nightly evaluate flow runs

    with pytest.raises(NothingToScoreError, match="nothing new to score"):
        score_trained(on_all, dataset, panel, stride=12)
    recent = score_trained(but_last_day, dataset, panel, test_fraction=2 * DAY / panel.bins, stride=12)
    assert recent.result.origins.min() == panel.bins - DAY and np.isfinite(recent.metrics()["backtest_mase"])


# -- the gate --------------------------------------------------------------------------------------------


def test_gate_scores_both_on_one_window_not_on_their_logged_metrics(
    uri: str, trace: Path, dataset: Dataset, panel: Panel, on_all: TrainedForecaster
) -> None:
    # one recipe on the same data twice: whatever each logged at training, on one window they score the same
    champion = register(uri, on_all, registry.CHAMPION, mase=10.0, cost=100.0)
    challenger = register(uri, on_all, registry.CHALLENGER, mase=0.1, cost=1.0)
    args = ["promote", "--trace", str(trace), "--tracking-uri", uri, "--name", NAME, "--stride", "12"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "rejected" in result.output and registry.aliases(uri, NAME)[registry.CHAMPION] == champion
    tags = version_tags(uri, challenger)
    assert tags["gate"] == "rejected" and tags["gate_champion_version"] == champion
    assert "refitted" in tags["gate_window"] and "MASE +0.0%" in tags["gate_reason"]
    recipe = score_model(make_model("ridge"), dataset, panel, stride=12).metrics()  # the same split, here
    for who in ("challenger", "champion"):
        assert float(tags[f"gate_{who}_mase"]) == pytest.approx(recipe[registry.MASE_METRIC], rel=1e-9)
        assert float(tags[f"gate_{who}_sim_cost"]) == pytest.approx(recipe[registry.COST_METRIC], rel=1e-9)


def test_gate_scores_models_as_trained_when_a_window_follows_both(uri: str, dataset: Dataset, panel: Panel) -> None:
    from jobs.backtest import score_trained
    from jobs.gate import promote

    cut = panel.bins - 2 * DAY
    champion, challenger = trained(panel, cut), trained(panel, cut, "seasonal-naive")
    register(uri, champion, registry.CHAMPION, mase=0.1, cost=1.0)
    version = register(uri, challenger, registry.CHALLENGER, mase=10.0, cost=100.0)
    outcome = promote(dataset, panel, uri=uri, name=NAME, margin=0.02, stride=12)
    assert outcome.comparison is not None and "as trained" in outcome.comparison.window
    scores = []
    for model in (challenger, champion):
        metrics = score_trained(model, dataset, panel, stride=12).metrics()
        scores.append(Scores(metrics[registry.MASE_METRIC], metrics[registry.COST_METRIC]))
    assert (outcome.comparison.challenger, outcome.comparison.champion) == (
        scores[0],
        scores[1],
    )  # same run, same window
    assert outcome.decision.promote == gate(scores[0], scores[1], 0.02).promote
    tags = version_tags(uri, version)
    assert float(tags["gate_champion_mase"]) == scores[1].mase and tags["gate_window"] == outcome.comparison.window
