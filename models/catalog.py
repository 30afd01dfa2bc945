"""Every forecaster by name, built from settings: what the CLI, the tuner and the flows ask for."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from clonecast.errors import ConfigError
from models.backtest import PanelModel
from models.baselines import BASELINES

MODELS = ("hybrid", "lstm", "lightgbm", "seasonal-naive", "moving-average", "ridge")


def _knobs(name: str, build: Callable[..., Any], params: dict[str, Any]) -> dict[str, Any]:
    """`params`, once every one names a knob of `build`; ConfigError naming the unknown ones otherwise."""
    known = set(inspect.signature(build).parameters) - {"seed", "horizon"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(f"{name} has no knob {', '.join(map(repr, unknown))}; its knobs: {', '.join(sorted(known))}")
    return params


def make_model(name: str, seed: int = 7, horizon: int = 12, **params: Any) -> PanelModel:
    """A fresh model. `params` set the model's knobs; for the hybrid, `lstm.<knob>` and `gbm.<knob>`."""
    if name in BASELINES:
        return BASELINES[name](**_knobs(name, BASELINES[name], params))
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    from models.gbm import GradientBoosting
    from models.lstm import LSTMForecaster

    if name == "lightgbm":
        return GradientBoosting(seed=seed, horizon=horizon, **_knobs(name, GradientBoosting, params))
    if name == "lstm":
        return LSTMForecaster(seed=seed, horizon=horizon, **_knobs(name, LSTMForecaster, params))
    from models.hybrid import CORRECTOR, Hybrid

    parts: dict[str, dict[str, Any]] = {"lstm": {}, "gbm": {}}
    for key, value in params.items():
        part, _, knob = key.partition(".")
        if part not in parts or not knob:
            raise ConfigError(
                f"hybrid parameter {key!r} must be lstm.<knob> or gbm.<knob>; prefix it with the part it sets"
            )
        parts[part][knob] = value
    return Hybrid(
        lstm=LSTMForecaster(seed=seed, horizon=horizon, **_knobs("hybrid lstm", LSTMForecaster, parts["lstm"])),
        gbm=GradientBoosting(
            seed=seed, horizon=horizon, **_knobs("hybrid gbm", GradientBoosting, CORRECTOR | parts["gbm"])
        ),
    )
