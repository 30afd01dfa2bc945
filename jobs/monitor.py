"""Watching the champion as it serves: its scores on the recent window after its trained_until (the nightly
evaluation, logged to MLflow) and input and forecast-error drift on the newest day."""

from __future__ import annotations

from jobs.backtest import Evaluation, score_trained
from models import registry
from models.drift import DriftReport, detect
from models.forecaster import TrainedForecaster
from models.panel import Panel
from traces.frames import Dataset


def recent_scores(
    trained: TrainedForecaster, dataset: Dataset, panel: Panel, *, recent_days: float = 2.0, stride: int = 3
) -> Evaluation:
    """Backtest and simulator cost (Mode A) of `trained` on the last `recent_days` (at most half the data),
    scored only after its trained_until; NothingToScoreError when no bin follows it."""
    share = min(0.5, recent_days * panel.season / panel.bins)
    return score_trained(trained, dataset, panel, test_fraction=share, stride=stride)


def log_scores(uri: str, name: str, evaluation: Evaluation) -> dict[str, float]:
    """The scores logged to MLflow as an evaluation of the champion; the metrics."""
    metrics = evaluation.metrics()
    registry.log_evaluation(uri, name, metrics)
    return metrics


def drift(trained: TrainedForecaster, panel: Panel) -> DriftReport:
    """Drift of the programs `trained` knows on the newest day of `panel`."""
    known = set(trained.codes)
    return detect(trained, panel.select([i for i, c in enumerate(panel.codes) if c in known]))
