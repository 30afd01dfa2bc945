"""Tuning tracked in MLflow: one parent run per `tune`, one nested child run per trial.

The parent (run name `tune-<model>`) holds the tune settings as params, `best_val_mase`, the best trial's
arguments as `best.<name>` params and the trials table as `trials.csv`. Each child (`trial-<n>`, tag
`mlflow.parentRunId`) holds the trial's model arguments, `val_mase` (the mean over the folds it ran),
`val_mase_fold_<k>` at step k, `duration_s` and the tag `state` (COMPLETE, PRUNED or FAIL).
"""

from __future__ import annotations

import math
from typing import Any

import mlflow
from mlflow.entities import RunStatus

from models.panel import Panel
from models.registry import tracking
from models.tuning import TrialRecord, TuneResult, tune


def tune_logged(
    name: str,
    panel: Panel,
    *,
    tracking_uri: str,
    experiment: str = "clonecast-tuning",
    artifact_location: str | None = None,
    **tune_kwargs: Any,
) -> tuple[TuneResult, str]:
    """`tune(name, panel, **tune_kwargs)` tracked under `experiment` at `tracking_uri`; returns the result and
    the parent run's id.

    The experiment is created (with `artifact_location`, when given) if it does not exist. The process'
    tracking and registry URIs point at `tracking_uri` for the duration of the call (`models.registry.tracking`).
    A trial that raises is logged as a FAILED child and fails the parent; no run is left open.
    """
    if "on_trial" in tune_kwargs:
        raise TypeError("tune_logged logs every trial itself; on_trial cannot be passed")
    settings = {
        "model": name,
        "programs": len(panel.codes),
        "bins": panel.bins,
        **{key: value for key, value in tune_kwargs.items() if key not in ("space", "scorer")},
    }
    if "space" in tune_kwargs:
        settings["space"] = getattr(tune_kwargs["space"], "__name__", repr(tune_kwargs["space"]))

    def log_trial(record: TrialRecord) -> None:
        _log_child(experiment_id, record)

    with tracking(tracking_uri) as client:
        found = client.get_experiment_by_name(experiment)
        experiment_id = (
            found.experiment_id
            if found is not None
            else client.create_experiment(experiment, artifact_location=artifact_location)
        )
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=f"tune-{name}", nested=mlflow.active_run() is not None
        ) as parent:
            mlflow.log_params(settings)
            result = tune(name, panel, on_trial=log_trial, **tune_kwargs)
            mlflow.log_metric("best_val_mase", result.best_value)
            mlflow.log_metric("best_trial", float(result.study.best_trial.number))
            mlflow.log_params({f"best.{key}": value for key, value in result.best_params.items()})
            states = result.trials["state"].value_counts()
            mlflow.log_metrics({f"trials_{state.lower()}": float(count) for state, count in states.items()})
            mlflow.log_text(result.trials.to_csv(index=False), "trials.csv")
            return result, parent.info.run_id


def _log_child(experiment_id: str, record: TrialRecord) -> None:
    """A nested run under the active parent for one finished trial (ended even when logging fails)."""
    mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"trial-{record.number}",
        nested=True,
        tags={"state": record.state, "trial": str(record.number)},
    )
    status = RunStatus.FAILED
    try:
        mlflow.log_params(record.params)
        metrics = {f"val_mase_fold_{k}": (value, k) for k, value in enumerate(record.fold_values)}
        if record.value is not None:
            metrics["val_mase"] = (record.value, 0)
        if record.duration_s is not None:
            metrics["duration_s"] = (record.duration_s, 0)
        for key, (value, step) in metrics.items():
            if math.isfinite(value):
                mlflow.log_metric(key, value, step=step)
        if record.state != "FAIL":
            status = RunStatus.FINISHED
    finally:
        mlflow.end_run(RunStatus.to_string(status))
