"""Optuna tuning (seeded TPE, median pruning over validation folds) and its MLflow tracking (nested runs)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import mlflow
import optuna
import pytest

from models.catalog import make_model
from models.gbm import GradientBoosting
from models.panel import Panel
from models.registry_tracking import tune_logged
from models.tuning import SPACES, TrialRecord, tune
from traces.synthetic import SyntheticConfig, generate


@pytest.fixture(scope="module")
def panel() -> Panel:
    """Two programs over three days: 864 bins, three validation folds of 130 bins after 474 of history."""
    return Panel.from_dataset(generate(SyntheticConfig(programs=2, days=3, campaigns=1, news=0, seed=3)))


def tiny_space(trial: optuna.Trial) -> dict[str, Any]:
    """A few trees, so a trial takes a fraction of a second."""
    return {
        "lags": 12,
        "n_estimators": trial.suggest_int("n_estimators", 2, 6),
        "num_leaves": trial.suggest_int("num_leaves", 4, 16),
        "learning_rate": trial.suggest_float("learning_rate", 0.05, 0.3, log=True),
    }


def half_bad_space(trial: optuna.Trial) -> dict[str, Any]:
    """Half the space cannot learn (the trees barely move off a constant level)."""
    return {"lags": 12, "n_estimators": 4, "learning_rate": trial.suggest_categorical("learning_rate", [1e-6, 0.3])}


def test_tune_returns_the_best_completed_trial_and_reports_every_trial(panel: Panel) -> None:
    records: list[TrialRecord] = []
    verbosity = optuna.logging.get_verbosity()
    result = tune("lightgbm", panel, n_trials=4, space=tiny_space, seed=11, on_trial=records.append)
    assert optuna.logging.get_verbosity() == verbosity  # quiet only while tuning
    assert [r.number for r in records] == [0, 1, 2, 3]
    complete = [r for r in records if r.state == "COMPLETE"]
    assert complete and all(len(r.fold_values) == 3 for r in complete)
    best = min(complete, key=lambda r: r.value or float("inf"))
    assert result.best_value == pytest.approx(best.value)
    assert result.best_value == pytest.approx(result.trials.loc[result.trials["state"] == "COMPLETE", "value"].min())
    assert result.best_params == best.params
    assert 2 <= result.best_params["n_estimators"] <= 6 and 4 <= result.best_params["num_leaves"] <= 16
    assert 0.05 <= result.best_params["learning_rate"] <= 0.3
    assert len(result.trials) == 4 and {"number", "state", "value", "params_num_leaves"} <= set(result.trials)
    model = make_model("lightgbm", seed=11, **result.best_params)
    assert isinstance(model, GradientBoosting) and model.num_leaves == result.best_params["num_leaves"]
    assert result.study.best_trial.number == best.number


def test_same_seed_same_trials(panel: Panel) -> None:
    first = tune("lightgbm", panel, n_trials=2, space=tiny_space, seed=5, folds=2)
    second = tune("lightgbm", panel, n_trials=2, space=tiny_space, seed=5, folds=2)
    assert [t.params for t in first.study.trials] == [t.params for t in second.study.trials]
    assert first.trials["value"].tolist() == second.trials["value"].tolist()
    other = tune("lightgbm", panel, n_trials=2, space=tiny_space, seed=6, folds=2)
    assert [t.params for t in other.study.trials] != [t.params for t in first.study.trials]


def test_trials_in_a_bad_region_are_pruned_after_their_first_fold(panel: Panel) -> None:
    records: list[TrialRecord] = []
    result = tune("lightgbm", panel, n_trials=8, space=half_bad_space, seed=7, folds=2, on_trial=records.append)
    pruned = [r for r in records if r.state == "PRUNED"]
    assert pruned, [(r.params["learning_rate"], r.state) for r in records]
    assert all(r.params["learning_rate"] == 1e-6 and len(r.fold_values) == 1 for r in pruned)
    assert result.best_params["learning_rate"] == 0.3
    assert result.trials["state"].tolist().count("PRUNED") == len(pruned)


def test_timeout_stops_the_search_early(panel: Panel) -> None:
    started = time.perf_counter()
    result = tune("lightgbm", panel, n_trials=50, timeout=0.01, space=tiny_space, folds=2)
    assert 1 <= len(result.trials) <= 3
    assert time.perf_counter() - started < 30


def test_unknown_model_and_too_short_panel_are_refused(panel: Panel) -> None:
    with pytest.raises(ValueError, match="known: hybrid, lightgbm, lstm"):
        tune("prophet", panel, n_trials=1)
    with pytest.raises(ValueError, match="unknown model 'prophet'; choose one of hybrid, lstm, lightgbm"):
        make_model("prophet", seed=1)
    with pytest.raises(ValueError, match="too short to tune"):
        tune("lightgbm", panel.upto(600), n_trials=1, space=tiny_space)
    assert set(SPACES) == {"hybrid", "lightgbm", "lstm"}


@pytest.mark.parametrize("name", ["lightgbm", "lstm"])
def test_default_spaces_build_their_models(name: str) -> None:
    if name == "lstm":
        pytest.importorskip("models.lstm")
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=1))
    for _ in range(3):
        params = SPACES[name](study.ask())
        model = make_model(name, seed=3, horizon=6, **params)
        assert model.name == name and getattr(model, "seed", None) == 3 and getattr(model, "horizon", None) == 6
        assert {key: getattr(model, key) for key in params} == params


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for one real MLflow tracking store (SQLite) shared by this module's tests."""
    return tmp_path_factory.mktemp("mlflow")


def test_tune_logged_makes_one_parent_and_a_nested_run_per_trial(panel: Panel, store: Path) -> None:
    uri = f"sqlite:///{store}/mlflow.db"
    before = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    result, parent_id = tune_logged(
        "lightgbm",
        panel,
        tracking_uri=uri,
        artifact_location=str(store / "artifacts"),
        n_trials=3,
        space=tiny_space,
        seed=2,
        folds=2,
    )
    assert (mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None) == before
    assert mlflow.active_run() is None
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("clonecast-tuning")
    assert experiment is not None and experiment.artifact_location.endswith("artifacts")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 4
    parent = client.get_run(parent_id)
    assert parent.info.run_name == "tune-lightgbm" and parent.info.status == "FINISHED"
    assert "mlflow.parentRunId" not in parent.data.tags
    assert parent.data.metrics["best_val_mase"] == pytest.approx(result.best_value)
    assert parent.data.params["model"] == "lightgbm" and parent.data.params["n_trials"] == "3"
    assert {key: parent.data.params[f"best.{key}"] for key in result.best_params} == {
        key: str(value) for key, value in result.best_params.items()
    }
    children = [run for run in runs if run.info.run_id != parent_id]
    assert all(run.data.tags.get("mlflow.parentRunId") == parent_id for run in children)
    assert sorted(run.info.run_name for run in children) == ["trial-0", "trial-1", "trial-2"]
    for run in children:
        trial = result.study.trials[int(run.data.tags["trial"])]
        assert run.info.status == "FINISHED" and run.data.tags["state"] == trial.state.name
        assert run.data.params == {key: str(value) for key, value in trial.user_attrs["model_params"].items()}
        assert "val_mase" in run.data.metrics and "val_mase_fold_0" in run.data.metrics
        if trial.state.name == "COMPLETE":
            assert run.data.metrics["val_mase"] == pytest.approx(trial.value)
    history = client.get_metric_history(children[0].info.run_id, "val_mase_fold_1")
    assert [m.step for m in history] in ([1], [])  # a pruned trial stops after fold 0
    artifacts = [a.path for a in client.list_artifacts(parent_id)]
    assert artifacts == ["trials.csv"]
    assert (store / "artifacts").is_dir()


def test_a_trial_that_raises_leaves_failed_runs_and_none_open(panel: Panel, store: Path) -> None:
    def breaks_on_second_trial(trial: optuna.Trial) -> dict[str, Any]:
        if trial.number == 1:
            raise RuntimeError("broken trial")
        return tiny_space(trial)

    uri = f"sqlite:///{store}/mlflow.db"
    with pytest.raises(RuntimeError, match="broken trial"):
        tune_logged(
            "lightgbm",
            panel,
            tracking_uri=uri,
            experiment="broken",
            artifact_location=str(store / "broken"),
            n_trials=3,
            space=breaks_on_second_trial,
            folds=2,
        )
    assert mlflow.active_run() is None
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("broken")
    assert experiment is not None
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"tune-lightgbm", "trial-0", "trial-1"}
    assert runs["tune-lightgbm"].info.status == "FAILED"
    assert runs["trial-0"].info.status == "FINISHED" and runs["trial-1"].info.status == "FAILED"
    assert runs["trial-1"].data.tags["state"] == "FAIL"
    assert runs["trial-1"].data.tags["mlflow.parentRunId"] == runs["tune-lightgbm"].info.run_id
