"""The promotion gate: challenger and champion scored now, on one out-of-sample window of the same data in one
run (`compare`), and `champion` moved only when the challenger beats it by the margin on both MASE and the
simulator's cost (`promote`)."""

from __future__ import annotations

import copy

from jobs.backtest import WarmStart, score_model
from models import registry
from models.backtest import bins_until, split_point
from models.evaluation import Comparison, Scores
from models.forecaster import TrainedForecaster
from models.panel import Panel
from traces.frames import Dataset
from traces.progress import NullProgress, Progress


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
        evaluation = score_model(
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
