"""Scoring a model: the rolling-origin backtest plus the simulator's cost on the same window (`score_model`), a
trained model scored only after its `trained_until` (`score_trained`), and the per-series backtest of one shard
of programs that the backtest flow fans out.

A trained model is only ever scored on bins after its `trained_until`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from clonecast.errors import ConfigError
from jobs.simulate import simulator_cost
from models import registry
from models.backtest import BacktestResult, PanelModel, backtest, bins_until
from models.catalog import make_model
from models.forecaster import TrainedForecaster
from models.panel import Panel
from models.plots import plot_forecast, plot_series_errors
from traces.frames import Dataset
from traces.progress import Progress


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


def score_model(
    model: PanelModel,
    dataset: Dataset,
    panel: Panel,
    *,
    horizon: int = 12,
    test_fraction: float = 0.3,
    stride: int = 1,
    sim_modes: Sequence[str] = ("a",),
    seen: int = 0,
    progress: Progress | None = None,
) -> Evaluation:
    """Backtest `model` on the last `test_fraction` of `panel` (never on its first `seen` bins) and cost it in the
    simulator on the same window."""
    start = time.perf_counter()
    result = backtest(
        model, panel, test_fraction=test_fraction, horizon=horizon, stride=stride, seen=seen, progress=progress
    )
    simulator = simulator_cost(dataset, panel, result, modes=sim_modes) if sim_modes else {}
    return Evaluation(result, simulator, time.perf_counter() - start)


def score_trained(
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
    return score_model(
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
    """The backtest's forecast against the actuals and its error per series, drawn under `folder`."""
    result = evaluation.result
    return [
        plot_forecast(result, panel.timestamps(), folder / f"{stem}-forecast.png"),
        plot_series_errors(result.per_series, folder / f"{stem}-series.png", f"{result.model}: error per series"),
    ]


def shards(items: Sequence[Any], size: int) -> list[list[Any]]:
    """`items` cut into consecutive shards of at most `size` (programs, for the sharded flows)."""
    if size < 1:
        raise ConfigError(f"shard size must be at least 1, not {size}")
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def per_series(model: str, panel: Panel, *, seed: int, horizon: int, stride: int) -> pd.DataFrame:
    """A fresh `model` backtested on `panel` (one shard of programs): its scores per series."""
    return backtest(make_model(model, seed, horizon), panel, horizon=horizon, stride=stride).per_series


def summarize(table: pd.DataFrame) -> dict[str, float]:
    """Mean scores over the per-series rows of every shard."""
    metrics = {registry.MASE_METRIC: float(table["mase"].mean()), "backtest_wape": float(table["wape"].mean())}
    return metrics | {c: float(table[c].mean()) for c in table if c.startswith("coverage_")}


def log_backtest(uri: str, model: str, table: pd.DataFrame) -> dict[str, float]:
    """The joined per-series scores logged to MLflow; their means."""
    metrics = summarize(table)
    registry.log_backtest(uri, model, metrics, table)
    return metrics
