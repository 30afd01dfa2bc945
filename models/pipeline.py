"""The forecasting jobs the CLI and the flows run: evaluate, train and register, warm-start update, promote.

Each job is a few calls into the model modules; MLflow stays behind `models.registry`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from models import registry
from models.backtest import BacktestResult, PanelModel, backtest
from models.catalog import make_model
from models.evaluation import simulator_cost
from models.forecaster import TrainedForecaster, train
from models.panel import Panel
from models.plots import plot_forecast, plot_series_errors
from traces.frames import Dataset
from traces.progress import NullProgress, Progress


@dataclass
class Evaluation:
    """A model's rolling-origin backtest and the simulator's cost on the same window."""

    result: BacktestResult
    simulator: dict[str, Any]
    seconds: float

    def metrics(self) -> dict[str, float]:
        summary = self.result.summary()
        out = {
            registry.MASE_METRIC: summary["mase"],
            "backtest_wape": summary["wape"],
            "backtest_pinball": summary["pinball"],
        }
        out |= {f"coverage_{level}": share for level, share in summary["coverage"].items()}
        for mode, row in self.simulator.items():
            out[f"sim_{mode}_cost"] = row["cost"]
            out[f"sim_{mode}_cold_start_pct"] = row["cold_start_pct"]
        if "a" in self.simulator:
            out[registry.COST_METRIC] = self.simulator["a"]["cost"]
        return out


@dataclass
class WarmStart:
    """A model whose `fit` warm-starts a copy of a trained model (to backtest `update` honestly)."""

    base: PanelModel
    name: str = "update"
    model: PanelModel | None = field(default=None, repr=False)

    def fit(self, panel: Panel) -> WarmStart:
        self.model = copy.deepcopy(self.base)
        self.model.update(panel)  # type: ignore[attr-defined]
        return self

    def point(self, panel: Panel, origins: Any, horizon: int) -> Any:
        assert self.model is not None
        return self.model.point(panel, origins, horizon)


def evaluate(
    model: PanelModel,
    dataset: Dataset,
    panel: Panel,
    *,
    horizon: int = 12,
    test_fraction: float = 0.3,
    stride: int = 1,
    sim_modes: Sequence[str] = ("a",),
) -> Evaluation:
    start = time.perf_counter()
    result = backtest(model, panel, test_fraction=test_fraction, horizon=horizon, stride=stride)
    simulator = simulator_cost(dataset, panel, result, modes=sim_modes) if sim_modes else {}
    return Evaluation(result, simulator, time.perf_counter() - start)


def plots(evaluation: Evaluation, panel: Panel, folder: Path, stem: str) -> list[Path]:
    result = evaluation.result
    return [
        plot_forecast(result, panel.timestamps(), folder / f"{stem}-forecast.png"),
        plot_series_errors(result.per_series, folder / f"{stem}-series.png", f"{result.model}: error per series"),
    ]


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
    model_name: str,
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
    """Backtest a fresh model, train it on everything, register it as the challenger (when `uri`)."""
    progress = progress or NullProgress()
    progress.stage(f"backtesting {model_name} and simulating its predictive policy")
    evaluation = evaluate(
        make_model(model_name, seed, horizon, **(params or {})),
        dataset,
        panel,
        horizon=horizon,
        test_fraction=test_fraction,
        stride=stride,
        sim_modes=sim_modes,
    )
    progress.stage(f"training {model_name} on all {panel.bins} bins")
    start = time.perf_counter()
    trained = train(make_model(model_name, seed, horizon, **(params or {})), panel, horizon=horizon)
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
    """Warm-start the `alias` version on new data, backtest the warm start, register it as the challenger."""
    progress = progress or NullProgress()
    progress.stage(f"loading models:/{name}@{alias}")
    base = registry.load(uri, name, alias)
    if not hasattr(base.model, "update"):
        raise ValueError(f"the {base.name} model has no warm start; run train instead")
    progress.stage(f"backtesting the warm start of {base.name}")
    evaluation = evaluate(
        WarmStart(base.model, name=f"{base.name}-update"),
        dataset,
        panel,
        horizon=base.horizon,
        test_fraction=test_fraction,
        stride=stride,
        sim_modes=sim_modes,
    )
    progress.stage(f"updating {base.name} on {panel.bins} bins")
    from models.forecaster import update

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
