"""The forecasting jobs the CLI and the flows run: evaluate, train and register, warm-start update, promote.

Each job is a few calls into the model modules; MLflow stays behind `models.registry`. A trained model is only
ever scored on bins after its `trained_until`, and the gate scores challenger and champion on one window in
one run.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from models import registry
from models.backtest import BacktestResult, PanelModel, backtest, bins_until, split_point
from models.catalog import make_model
from models.evaluation import Comparison, Scores, simulator_cost
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
    """A trained model in a backtest: `fit` copies it and, with `update`, warm-starts the copy on the bins given
    when they reach past the `seen` bins it learnt (its trained_until); without, the copy is scored as trained."""

    base: PanelModel
    seen: int
    update: bool = True
    name: str = "update"
    model: PanelModel | None = field(default=None, repr=False)

    def fit(self, panel: Panel) -> WarmStart:
        self.model = copy.deepcopy(self.base)
        if self.update and panel.bins > self.seen:
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
    seen: int = 0,
) -> Evaluation:
    """Backtest `model` on the last `test_fraction` of `panel` (never on its first `seen` bins) and cost it in the
    simulator on the same window."""
    start = time.perf_counter()
    result = backtest(model, panel, test_fraction=test_fraction, horizon=horizon, stride=stride, seen=seen)
    simulator = simulator_cost(dataset, panel, result, modes=sim_modes) if sim_modes else {}
    return Evaluation(result, simulator, time.perf_counter() - start)


def evaluate_trained(
    trained: TrainedForecaster,
    dataset: Dataset,
    panel: Panel,
    *,
    update: bool = False,
    test_fraction: float = 0.3,
    stride: int = 1,
    sim_modes: Sequence[str] = ("a",),
) -> Evaluation:
    """A trained forecaster (warm-started on the bins before the window when `update`) on the last
    `test_fraction` of `panel`, scored only on bins after its trained_until; NothingToScoreError when none follow."""
    seen = bins_until(panel, trained.trained_until)
    model = WarmStart(trained.model, seen, update=update, name=f"{trained.name}-update" if update else trained.name)
    return evaluate(
        model,
        dataset,
        panel,
        horizon=trained.horizon,
        test_fraction=test_fraction,
        stride=stride,
        sim_modes=sim_modes,
        seen=seen,
    )


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
    evaluation = evaluate(
        fresh(),
        dataset,
        panel,
        horizon=horizon,
        test_fraction=test_fraction,
        stride=stride,
        sim_modes=sim_modes,
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
        raise ValueError(f"the {base.name} model has no warm start; run train instead")
    progress.stage(f"backtesting the warm start of {base.name} after its trained_until {base.trained_until}")
    evaluation = evaluate_trained(
        base, dataset, panel, update=True, test_fraction=test_fraction, stride=stride, sim_modes=sim_modes
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


def compare(
    challenger: TrainedForecaster,
    champion: TrainedForecaster,
    dataset: Dataset,
    panel: Panel,
    *,
    test_fraction: float = 0.3,
    stride: int = 3,
) -> Comparison:
    """Challenger and champion scored on one out-of-sample window of `panel`, in this run (the gate's input).

    The window is the last `test_fraction` of the panel, cut to the bins after both models' trained_until.
    When a day of it remains and both models know every program, both are scored as trained; otherwise (the
    usual case: the challenger learnt the window) both recipes are refitted from scratch (`fit` relearns
    everything) on the bins before the last `test_fraction` and scored after it, as a training backtest is.
    """
    horizon = min(challenger.horizon, champion.horizon)
    seen = max(bins_until(panel, trained.trained_until) for trained in (challenger, champion))
    codes = {str(code) for code in panel.codes}
    known = codes <= {str(c) for c in challenger.codes} and codes <= {str(c) for c in champion.codes}
    as_trained = known and panel.bins - max(split_point(panel, test_fraction, horizon), seen) >= panel.season
    scores = []
    for trained in (challenger, champion):
        model = (
            WarmStart(trained.model, seen, update=False, name=trained.name)
            if as_trained
            else copy.deepcopy(trained.model)
        )
        evaluation = evaluate(
            model,
            dataset,
            panel,
            horizon=horizon,
            test_fraction=test_fraction,
            stride=stride,
            seen=seen if as_trained else 0,
        )
        metrics = evaluation.metrics()
        scores.append(Scores(metrics[registry.MASE_METRIC], metrics.get(registry.COST_METRIC, float("nan"))))
    origins = evaluation.result.origins
    first = panel.start + int(origins.min()) * panel.width
    end = panel.start + (int(origins.max()) + horizon) * panel.width
    how = "both as trained (after both trained_until)" if as_trained else "both recipes refitted on the bins before it"
    window = (
        f"{first:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC ({len(codes)} programs, {len(origins)} origins), {how}"
    )
    return Comparison(scores[0], scores[1], window)


def promote(
    dataset: Dataset,
    panel: Panel,
    *,
    uri: str,
    name: str,
    margin: float,
    test_fraction: float = 0.3,
    stride: int = 3,
    progress: Progress | None = None,
) -> registry.Promotion:
    """The gate: challenger and champion scored on one window of `panel` in this run (`compare`); `champion`
    moves only when the challenger beats it by `margin` on both MASE and simulator cost."""
    progress = progress or NullProgress()

    def scored(challenger: TrainedForecaster, champion: TrainedForecaster) -> Comparison:
        progress.stage(f"scoring challenger {challenger.name} and champion {champion.name} on one window")
        return compare(challenger, champion, dataset, panel, test_fraction=test_fraction, stride=stride)

    return registry.promote(uri, name, margin, scored)
