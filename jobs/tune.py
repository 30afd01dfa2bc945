"""Tuning: an Optuna search of a model's knobs, every trial a nested MLflow run under one parent run."""

from __future__ import annotations

from typing import Any

from clonecast.settings import Settings
from models.panel import Panel
from models.registry import artifact_location
from models.registry_tracking import tune_logged
from models.tuning import TuneResult


def tune(
    model: str,
    panel: Panel,
    settings: Settings,
    *,
    uri: str | None = None,
    trials: int = 20,
    timeout: float | None = None,
    **options: Any,
) -> tuple[TuneResult, str]:
    """The best knobs of `model` on `panel` and the MLflow parent run id (`options`: folds, scorer, ...)."""
    uri = uri or settings.mlflow_uri
    return tune_logged(
        model,
        panel,
        tracking_uri=uri,
        artifact_location=artifact_location(uri),
        n_trials=trials,
        timeout=timeout,
        seed=settings.seed,
        horizon=settings.horizon,
        **options,
    )
