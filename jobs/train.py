"""Training jobs: a fresh model backtested, trained on everything and registered as the challenger; the champion
warm-started on new data and registered the same way; the recipe a retrain refits. MLflow stays behind
`models.registry`."""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from clonecast.errors import ModelError
from jobs.backtest import Evaluation, plots, score_model, score_trained
from models import registry
from models.backtest import PanelModel
from models.catalog import make_model
from models.forecaster import TrainedForecaster, train, update
from models.panel import Panel
from traces.frames import Dataset
from traces.progress import NullProgress, Progress


@dataclass
class Trained:
    """What `train_and_register` and `update_and_register` did."""

    trained: TrainedForecaster
    evaluation: Evaluation
    seconds: float  # training (or update) time, without the backtest
    registered: registry.Registered | None
    plots: list[Path]


def train_and_register(
    dataset: Dataset,
    panel: Panel,
    model: str | PanelModel,
    *,
    uri: str | None,
    name: str,
    seed: int = 7,
    horizon: int = 12,
    params: dict[str, Any] | None = None,
    test_fraction: float = 0.3,
    stride: int = 1,
    sim_modes: Sequence[str] = ("a",),
    plots_dir: Path | None = None,
    progress: Progress | None = None,
) -> Trained:
    """Backtest a fresh model, train it on everything, register it as the challenger (when `uri`). `model` is a
    catalog name (with `params`) or a model to take the recipe from: `fit` relearns everything, so a copy of a
    trained model (the champion's, when retraining) starts over with its hyperparameters."""

    def fresh() -> PanelModel:
        return make_model(model, seed, horizon, **(params or {})) if isinstance(model, str) else copy.deepcopy(model)

    model_name = model if isinstance(model, str) else str(model.name)
    progress = progress or NullProgress()
    progress.stage(f"backtesting {model_name} and simulating its predictive policy")
    evaluation = score_model(
        fresh(),
        dataset,
        panel,
        horizon=horizon,
        test_fraction=test_fraction,
        stride=stride,
        sim_modes=sim_modes,
        progress=progress,
    )
    progress.stage(f"training {model_name} on all {panel.bins} bins")
    start = time.perf_counter()
    trained = train(fresh(), panel, horizon=horizon)
    seconds = time.perf_counter() - start
    return _finish(trained, evaluation, seconds, panel, uri, name, plots_dir, progress, {"kind": "train"})


def update_and_register(
    dataset: Dataset,
    panel: Panel,
    *,
    uri: str,
    name: str,
    alias: str = registry.CHAMPION,
    test_fraction: float = 0.3,
    stride: int = 1,
    sim_modes: Sequence[str] = ("a",),
    plots_dir: Path | None = None,
    progress: Progress | None = None,
) -> Trained:
    """Warm-start the `alias` version on new data, backtest the warm start on bins after the version's
    trained_until only, register it as the challenger. NothingToScoreError (nothing registered) without new bins."""
    progress = progress or NullProgress()
    progress.stage(f"loading models:/{name}@{alias}")
    base = registry.load(uri, name, alias)
    if not hasattr(base.model, "update"):
        raise ModelError(f"models:/{name}@{alias}: the {base.name} model has no warm start; run train instead")
    progress.stage(f"backtesting the warm start of {base.name} after its trained_until {base.trained_until}")
    evaluation = score_trained(
        base, dataset, panel, update=True, test_fraction=test_fraction, stride=stride, sim_modes=sim_modes
    )
    progress.stage(f"updating {base.name} on {panel.bins} bins")
    start = time.perf_counter()
    trained = update(copy.deepcopy(base), panel)
    seconds = time.perf_counter() - start
    tags = {"kind": "update", "warm_start_of": registry.aliases(uri, name).get(alias, "")}
    return _finish(trained, evaluation, seconds, panel, uri, name, plots_dir, progress, tags)


def _finish(
    trained: TrainedForecaster,
    evaluation: Evaluation,
    seconds: float,
    panel: Panel,
    uri: str | None,
    name: str,
    plots_dir: Path | None,
    progress: Progress,
    tags: dict[str, str],
) -> Trained:
    trained = replace(trained, info={"train_seconds": seconds} | evaluation.metrics())
    folder = plots_dir or registry.artifact_dir()
    pictures = plots(evaluation, panel, folder, trained.name)
    registered = None
    if uri is not None:
        progress.stage(f"registering in MLflow ({name}, alias challenger)")
        registered = registry.register(
            trained,
            uri=uri,
            name=name,
            params={"series": len(panel.codes), "bins": panel.bins},
            metrics={"train_seconds": seconds, "backtest_seconds": evaluation.seconds} | evaluation.metrics(),
            artifacts=pictures,
            tags=tags,
        )
    return Trained(trained, evaluation, seconds, registered, pictures)


def recipe(uri: str, name: str, model: str | None) -> str | PanelModel:
    """What a retrain fits: the catalog model named, or (None) the champion's model with its hyperparameters."""
    return model if model is not None else registry.load(uri, name, registry.CHAMPION).model
