"""LightGBM: one global, direct multi-horizon model over lags, calendar, external events and the program's
resource profile; series are normalised by their recent level so one model serves all of them.

`extra` feature providers (e.g. the LSTM's forecasts, for the hybrid) add columns per (program, origin,
step); this module does not know where they come from. With `base_columns`, the mean of those extra
columns is a base forecast and the model becomes its corrector: the trees learn the base's error (normalised
by the level) and their prediction is added to the base, so where they find nothing to correct the base
stands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np

from clonecast.errors import InputError, ModelError
from models.baselines import _pairs, seasonal_naive_point
from models.panel import Panel, event_features
from traces.frames import EVENT_KINDS

ExtraFeatures = Callable[[Panel, np.ndarray, int], np.ndarray]  # -> [P, O, H, E]
PROFILE = ("cpu_millicores", "memory_mb", "gpus", "concurrency", "duration_ms")


@dataclass
class GradientBoosting:
    """Knobs are LightGBM's plus the design: `lags` recent bins, `stride` between training origins."""

    lags: int = 24
    stride: int = 3
    horizon: int = 12
    n_estimators: int = 400
    learning_rate: float = 0.05
    num_leaves: int = 63
    min_child_samples: int = 20
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    objective: str = "l1"
    update_estimators: int = 40  # trees added by `update`
    update_bins: int = 576  # `update` learns from origins in the newest bins only
    seed: int = 7
    name: str = "lightgbm"
    extra: ExtraFeatures | None = field(default=None, repr=False)
    base_columns: tuple[int, ...] = ()  # extra columns whose mean the trees correct (none: they forecast)
    booster: lgb.LGBMRegressor | None = field(default=None, repr=False)

    def features(self, panel: Panel, origins: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Design rows [P*O*H, F], the level that normalises each row and the base forecast (zero without
        `base_columns`), both [P*O*H]."""
        values = panel.values
        n_programs, n_origins = len(values), len(origins)
        season, week = panel.season, panel.week
        steps = np.arange(horizon)
        level = _window_mean(values, origins, season) + 1.0  # [P, O]
        lagged = values[:, np.maximum(origins[:, None] - np.arange(1, self.lags + 1)[None, :], 0)]  # [P, O, L]
        targets = origins[:, None] + steps[None, :]  # [O, H]
        clock = int((panel.start - panel.start.normalize()) / panel.width)  # bins from midnight to the first bin
        calendar = targets + clock + panel.start.dayofweek * season  # [O, H] bins since the Monday before the panel
        day_ago = seasonal_naive_point(values, _pairs(origins, horizon), season).reshape(n_programs, n_origins, horizon)
        week_ago = np.where(targets - week >= 0, values[:, np.maximum(targets - week, 0)], np.nan)  # [P, O, H]
        means = [_window_mean(values, origins, w) for w in (12, 48, season)]  # [P, O] each
        events = event_features(panel, horizon)  # [P, T + H]: the calendar of every target bin, known in advance
        active = events["event_active"][:, targets]  # [P, O, H] (scheduled)
        soon = events["event_soon"][:, origins]  # [P, O]
        change = active / events["event_active"][:, np.maximum(origins - 1, 0)][:, :, None]  # vs the last bin seen
        age = events["event_age"][:, targets]  # [P, O, H] bins since the event started (news decays)
        kinds = [events[f"active_{kind}"][:, targets] for kind in EVENT_KINDS]  # [P, O, H] each
        profile = panel.programs.reindex(columns=list(PROFILE)).fillna(0.0).to_numpy(float)  # [P, R]

        def per_row(a: np.ndarray) -> np.ndarray:  # [P, O] -> [P, O, H]
            return np.repeat(a[:, :, None], horizon, axis=2)

        norm = level[:, :, None]  # [P, O, 1]
        columns = [
            np.broadcast_to(steps[None, None, :] + 1, (n_programs, n_origins, horizon)),  # step
            np.broadcast_to((calendar % season)[None], (n_programs, n_origins, horizon)),  # bin of day
            np.broadcast_to(((calendar // season) % 7)[None], (n_programs, n_origins, horizon)),  # day of week
            day_ago / norm,
            week_ago / norm,
            *[per_row(m) / norm for m in means],
            active,
            change,
            age,
            *kinds,
            per_row(soon),
            np.broadcast_to(np.log1p(level)[:, :, None], (n_programs, n_origins, horizon)),
        ]
        stacked = [c[..., None] for c in columns]
        stacked.append(np.repeat((lagged / norm)[:, :, None, :], horizon, axis=2))  # [P, O, H, L]
        stacked.append(np.broadcast_to(profile[:, None, None, :], (n_programs, n_origins, horizon, profile.shape[1])))
        base = np.zeros((n_programs, n_origins, horizon))
        if self.extra is not None:
            extra = self.extra(panel, origins, horizon)  # [P, O, H, E]
            stacked.append(extra / norm[..., None])
            if self.base_columns:
                base = extra[..., list(self.base_columns)].mean(axis=3)
        x = np.concatenate(stacked, axis=3).reshape(n_programs * n_origins * horizon, -1)
        return x, np.repeat(level.reshape(-1), horizon), base.reshape(-1)

    def fit(self, panel: Panel, first: int = 0) -> GradientBoosting:
        """Learn from origins after `first` (and after a day of history)."""
        x, y = self._rows(panel, max(panel.season + 1, first))
        self.booster = self._regressor(self.n_estimators)
        self.booster.fit(x, y)
        return self

    def update(self, panel: Panel) -> GradientBoosting:
        """Continued boosting: `update_estimators` more trees on the newest `update_bins` bins."""
        if self.booster is None:
            raise ModelError("LightGBM update needs a fitted model: fit or load one first")
        x, y = self._rows(panel, max(panel.season + 1, panel.bins - self.update_bins))
        previous = self.booster.booster_
        self.booster = self._regressor(self.update_estimators)
        self.booster.fit(x, y, init_model=previous)
        return self

    def _rows(self, panel: Panel, first: int) -> tuple[np.ndarray, np.ndarray]:
        """Training rows from origins `first`, `first + stride`, ... (targets normalised by level)."""
        horizon = self.horizon
        origins = np.arange(first, panel.bins - horizon + 1, self.stride)
        if len(origins) < 10:
            raise InputError(
                f"{panel.bins} bins are too few to train LightGBM on (need more than a day and an hour); "
                "give it more data"
            )
        x, level, base = self.features(panel, origins, horizon)
        y = panel.values[:, origins[:, None] + np.arange(horizon)[None, :]].reshape(-1)
        return x, (y - base) / level

    def _regressor(self, n_estimators: int) -> lgb.LGBMRegressor:
        return lgb.LGBMRegressor(
            n_estimators=n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=self.subsample,
            subsample_freq=1,
            colsample_bytree=self.colsample_bytree,
            objective=self.objective,
            random_state=self.seed,
            n_jobs=2,
            verbose=-1,
            deterministic=True,
        )

    def point(self, panel: Panel, origins: np.ndarray, horizon: int) -> np.ndarray:
        if self.booster is None:
            raise ModelError("the LightGBM model was never fitted: fit it (or load a fitted one) before forecasting")
        x, level, base = self.features(panel, origins, horizon)
        predicted = base + self.booster.predict(x) * level
        return np.maximum(predicted, 0.0).reshape(len(panel.codes), len(origins), horizon)


def _window_mean(values: np.ndarray, origins: np.ndarray, window: int) -> np.ndarray:
    """Mean of the `window` bins before each origin [P, O]."""
    cumulative = np.concatenate([np.zeros((len(values), 1)), np.cumsum(values, axis=1)], axis=1)
    low = np.maximum(origins - window, 0)
    return (cumulative[:, origins] - cumulative[:, low]) / np.maximum(origins - low, 1)
