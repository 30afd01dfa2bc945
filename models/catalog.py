"""Every forecaster by name, built from settings: what the CLI, the tuner and the flows ask for."""

from __future__ import annotations

from typing import Any

from models.backtest import PanelModel
from models.baselines import BASELINES

MODELS = ("hybrid", "lstm", "lightgbm", "seasonal-naive", "moving-average", "ridge")
SEEDED = ("hybrid", "lstm", "lightgbm")


def make_model(name: str, seed: int = 7, horizon: int = 12, **params: Any) -> PanelModel:
    """A fresh model. `params` set the model's knobs; for the hybrid, `lstm.<knob>` and `gbm.<knob>`."""
    if name in BASELINES:
        return BASELINES[name](**params)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; one of {', '.join(MODELS)}")
    from models.gbm import GradientBoosting
    from models.lstm import LSTMForecaster

    if name == "lightgbm":
        return GradientBoosting(seed=seed, horizon=horizon, **params)
    if name == "lstm":
        return LSTMForecaster(seed=seed, horizon=horizon, **params)
    from models.hybrid import CORRECTOR, Hybrid

    parts: dict[str, dict[str, Any]] = {"lstm": {}, "gbm": {}}
    for key, value in params.items():
        part, _, knob = key.partition(".")
        if part not in parts or not knob:
            raise ValueError(f"hybrid parameter {key!r} must be lstm.<knob> or gbm.<knob>")
        parts[part][knob] = value
    return Hybrid(
        lstm=LSTMForecaster(seed=seed, horizon=horizon, **parts["lstm"]),
        gbm=GradientBoosting(seed=seed, horizon=horizon, **(CORRECTOR | parts["gbm"])),
    )
