"""Hyperparameter tuning with Optuna: a seeded TPE search over a model's knobs, scored by the mean MASE of
rolling validation folds at the end of the panel, with median pruning between folds.

Pure optuna + numpy: tracking hooks in through `on_trial` (see `models.registry_tracking` for MLflow), so this
module imports no tracking library.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd

from clonecast.errors import ConfigError, InputError
from models.backtest import PanelModel
from models.catalog import make_model
from models.metrics import mase, mase_scale
from models.panel import Panel

Space = Callable[[optuna.Trial], dict[str, Any]]
"""Suggests a trial's values and returns the model's keyword arguments (seed and horizon excluded)."""


def lightgbm_space(trial: optuna.Trial) -> dict[str, Any]:
    """LightGBM's knobs around the defaults of `GradientBoosting`."""
    return {
        "lags": trial.suggest_int("lags", 12, 72, step=12),
        "n_estimators": trial.suggest_int("n_estimators", 50, 600, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 8, 128, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 100, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
    }


def lstm_space(trial: optuna.Trial) -> dict[str, Any]:
    """The LSTM's knobs around the defaults of `LSTMForecaster` (dropout only between stacked layers)."""
    layers = trial.suggest_int("layers", 1, 2)
    return {
        "lookback": trial.suggest_int("lookback", 24, 144, step=24),
        "hidden": trial.suggest_categorical("hidden", [16, 32, 64]),
        "layers": layers,
        "dropout": trial.suggest_float("dropout", 0.0, 0.3) if layers > 1 else 0.0,
        "epochs": trial.suggest_int("epochs", 4, 16),
        "batch_size": trial.suggest_categorical("batch_size", [128, 256, 512]),
        "learning_rate": trial.suggest_float("learning_rate", 1e-3, 1e-2, log=True),
    }


def hybrid_space(trial: optuna.Trial) -> dict[str, Any]:
    """The hybrid's knobs (`lstm.<knob>`, `gbm.<knob>`, as `models.catalog.make_model` takes them): its LSTM
    base's size and training around `LSTMForecaster`'s defaults, its LightGBM corrector's around `CORRECTOR`."""
    return {
        "lstm.lookback": trial.suggest_int("lstm.lookback", 24, 96, step=24),
        "lstm.hidden": trial.suggest_categorical("lstm.hidden", [16, 32, 64]),
        "lstm.epochs": trial.suggest_int("lstm.epochs", 4, 16),
        "lstm.learning_rate": trial.suggest_float("lstm.learning_rate", 1e-3, 1e-2, log=True),
        "gbm.n_estimators": trial.suggest_int("gbm.n_estimators", 50, 600, log=True),
        "gbm.learning_rate": trial.suggest_float("gbm.learning_rate", 0.01, 0.3, log=True),
        "gbm.num_leaves": trial.suggest_int("gbm.num_leaves", 8, 64, log=True),
        "gbm.min_child_samples": trial.suggest_int("gbm.min_child_samples", 10, 200, log=True),
    }


SPACES: dict[str, Space] = {"hybrid": hybrid_space, "lightgbm": lightgbm_space, "lstm": lstm_space}


@dataclass
class TrialRecord:
    """A finished trial, as `on_trial` sees it.

    `value` is the mean validation MASE: over all folds for a COMPLETE trial, over the folds it ran for a
    PRUNED one (its last report), None for a FAIL without fold scores. `params` are the model's arguments.
    """

    number: int
    params: dict[str, Any]
    value: float | None
    state: str  # COMPLETE, PRUNED or FAIL
    fold_values: list[float] = field(default_factory=list)
    duration_s: float | None = None


@dataclass
class TuneResult:
    """The best trial's model arguments and score, every trial as a table, and the study itself."""

    model: str
    best_params: dict[str, Any]
    best_value: float
    trials: pd.DataFrame  # number, state, value, duration_s, folds, params_<name>...
    study: optuna.Study = field(repr=False)


@dataclass(frozen=True)
class Fold:
    """Fit on the bins before `split`, forecast from `origins` (their targets all lie before `end`)."""

    split: int
    end: int
    origins: np.ndarray


def validation_folds(panel: Panel, *, folds: int, horizon: int, stride: int, validation_fraction: float) -> list[Fold]:
    """`folds` consecutive windows sharing the last `validation_fraction` of the panel, oldest first."""
    if folds < 1 or horizon < 1 or stride < 1:
        raise ConfigError(f"tuning: folds={folds}, horizon={horizon}, stride={stride}; each must be at least 1")
    if not 0 < validation_fraction < 1:
        raise ConfigError(f"tuning: validation_fraction={validation_fraction} must lie in (0, 1)")
    window = max(horizon, round(panel.bins * validation_fraction / folds))
    first = panel.bins - folds * window
    history = 2 * panel.season
    if first < history:
        raise InputError(
            f"panel of {panel.bins} bins is too short to tune on: {folds} validation folds of {window} bins "
            f"leave {max(first, 0)} bins before the first, need at least {history} (two days); "
            "give it more data, fewer folds or a smaller validation fraction"
        )
    out = []
    for k in range(folds):
        split = first + k * window
        out.append(Fold(split, split + window, np.arange(split, split + window - horizon + 1, stride)))
    return out


def fold_mase(model: PanelModel, panel: Panel, fold: Fold, horizon: int) -> float:
    """Mean over series of the MASE of `model`, fitted on the bins before the fold, on the fold's window."""
    seen = panel.upto(fold.end)
    fitted = model.fit(seen.upto(fold.split))
    point = np.maximum(fitted.point(seen, fold.origins, horizon), 0.0)
    actual = seen.values[:, fold.origins[:, None] + np.arange(horizon)[None, :]]  # [P, O, H]
    scale = mase_scale(seen.values[:, : fold.split], seen.season)
    return float(np.mean(mase(actual, point, scale)))


def score_fold(name: str, params: dict[str, Any], seed: int, panel: Panel, fold: Fold, horizon: int) -> float:
    """A fresh model's mean MASE over the panel's series on one fold (the default fold scorer)."""
    return fold_mase(make_model(name, seed, horizon, **params), panel, fold, horizon)


FoldScorer = Callable[[str, dict[str, Any], int, Panel, Fold, int], float]


def tune(
    name: str,
    panel: Panel,
    *,
    n_trials: int | None = 20,
    timeout: float | None = None,
    folds: int = 3,
    horizon: int = 12,
    seed: int = 7,
    stride: int = 6,
    validation_fraction: float = 0.3,
    space: Space | None = None,
    on_trial: Callable[[TrialRecord], None] | None = None,
    scorer: FoldScorer = score_fold,
) -> TuneResult:
    """Search `name`'s knobs (`SPACES[name]` unless `space` is given) for the lowest mean validation MASE.

    Stops after `n_trials` trials or once `timeout` seconds have passed, whichever comes first (a trial
    that has started runs to its end). Each trial reports the running mean after every fold and is pruned
    when it trails the median of earlier trials. Trials that raise stop the search (the error propagates,
    after `on_trial` saw the trial as FAIL). `scorer` scores a trial's params on one fold (the flows pass one
    that shards the programs over a Dask cluster).
    """
    if name not in SPACES:
        raise ConfigError(f"unknown model {name!r} to tune; known: {', '.join(sorted(SPACES))}")
    space = space or SPACES[name]
    windows = validation_folds(
        panel, folds=folds, horizon=horizon, stride=stride, validation_fraction=validation_fraction
    )

    def objective(trial: optuna.Trial) -> float:
        started = time.perf_counter()
        params: dict[str, Any] = {}
        scores: list[float] = []
        try:
            params = space(trial)
            trial.set_user_attr("model_params", params)
            for k, fold in enumerate(windows):
                scores.append(scorer(name, params, seed, panel, fold, horizon))
                trial.set_user_attr("fold_values", list(scores))
                trial.report(float(np.mean(scores)), k)
                if k < len(windows) - 1 and trial.should_prune():
                    raise optuna.TrialPruned(f"mean MASE {np.mean(scores):.4f} after fold {k}")
            return float(np.mean(scores))
        except optuna.TrialPruned:
            raise
        except Exception:
            if on_trial is not None:
                value = float(np.mean(scores)) if scores else None
                duration = time.perf_counter() - started
                on_trial(TrialRecord(trial.number, params or dict(trial.params), value, "FAIL", scores, duration))
            raise

    def callback(study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        if on_trial is not None:
            on_trial(_record(frozen))

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
            study_name=f"tune-{name}",
        )
        study.optimize(objective, n_trials=n_trials, timeout=timeout, callbacks=[callback])
    finally:
        optuna.logging.set_verbosity(verbosity)

    table = trials_table(study)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise ConfigError(
            f"no trial of {name} completed within the budget ({len(study.trials)} started); "
            "raise the timeout or the number of trials"
        )
    best = study.best_trial
    return TuneResult(
        name, dict(best.user_attrs.get("model_params", best.params)), float(study.best_value), table, study
    )


def _record(frozen: optuna.trial.FrozenTrial) -> TrialRecord:
    folds = [float(v) for v in frozen.user_attrs.get("fold_values", [])]
    if frozen.value is not None:
        value: float | None = float(frozen.value)
    elif frozen.intermediate_values:
        value = float(frozen.intermediate_values[max(frozen.intermediate_values)])
    else:
        value = None
    duration = frozen.duration.total_seconds() if frozen.duration is not None else None
    params = dict(frozen.user_attrs.get("model_params", frozen.params))
    return TrialRecord(frozen.number, params, value, frozen.state.name, folds, duration)


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per finished trial: number, state, value (NaN unless COMPLETE), duration_s, folds (scored)
    and params_<name> for each model argument."""
    rows = []
    for frozen in study.trials:
        if not frozen.state.is_finished():
            continue
        record = _record(frozen)
        value = frozen.value if frozen.value is not None else math.nan
        row: dict[str, Any] = {
            "number": record.number,
            "state": record.state,
            "value": value,
            "duration_s": record.duration_s,
            "folds": len(record.fold_values),
        }
        row.update({f"params_{key}": param for key, param in record.params.items()})
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["number", "state", "value", "duration_s", "folds"])
