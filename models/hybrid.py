"""The hybrid: an LSTM learns the temporal pattern, LightGBM corrects it where calendar and external events
(campaigns, scheduled jobs, news) matter.

The base forecast is the mean of the global LSTM's median and a per-series online ridge on lags (a local
anchor: one series' own short cycles and level shifts, which a model shared by all series smooths over).
LightGBM is the corrector: next to lags, calendar, event and profile features it reads both forecasts, and
the LSTM's median scaled by the change of the scheduled event multiplier, and learns the base's error. So
an event the LSTM cannot see (it only reads the series) is still priced in, and where the trees find nothing
to correct, the base stands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.baselines import OnlineRidge
from models.gbm import GradientBoosting
from models.lstm import LSTMForecaster
from models.panel import Panel, event_features

# LightGBM's knobs as the hybrid's corrector: fewer, smaller trees than LightGBM alone, since errors of a good
# base carry less signal than the series themselves (on one noisy series, as NASA's, larger trees fit noise)
CORRECTOR: dict[str, Any] = {"n_estimators": 300, "num_leaves": 31, "min_child_samples": 50}


@dataclass
class BaseForecasts:
    """The corrector's extra features, from the hybrid's own LSTM and ridge (the same objects; no reference back
    to the hybrid, so the model is a tree that pickle, deepcopy and Dask's tokenizer walk without a cycle)."""

    lstm: LSTMForecaster
    ridge: OnlineRidge

    def __call__(self, panel: Panel, origins: np.ndarray, horizon: int) -> np.ndarray:
        """Feature columns [P, O, H, 3]: the LSTM's median, the ridge's forecast (refitted only on bins before
        each origin's block, so never in-sample), and the LSTM's median scaled by the change of the scheduled
        event multiplier between the last bin it saw and the target bin (what it cannot know)."""
        median = self.lstm.point(panel, origins, horizon)
        ridge = self.ridge.point(panel, origins, horizon)
        active = event_features(panel, horizon)["event_active"]  # [P, T + H]
        targets = origins[:, None] + np.arange(horizon)[None, :]  # [O, H]
        change = active[:, targets] / active[:, np.maximum(origins - 1, 0)][:, :, None]  # [P, O, H]
        return np.stack([median, ridge, median * change], axis=3)


@dataclass
class Hybrid:
    lstm: LSTMForecaster = field(default_factory=LSTMForecaster)
    gbm: GradientBoosting = field(default_factory=lambda: GradientBoosting(**CORRECTOR))
    ridge: OnlineRidge = field(default_factory=OnlineRidge)
    stack_share: float = 0.5
    name: str = "hybrid"

    def __post_init__(self) -> None:
        self.gbm.extra = BaseForecasts(self.lstm, self.ridge)
        self.gbm.base_columns = (0, 1)  # the LSTM's median and the ridge

    def fit(self, panel: Panel) -> Hybrid:
        """Stacked: LightGBM learns from LSTM forecasts it has not been fitted on (an LSTM fitted on the first
        `stack_share` of the bins feeds LightGBM's rows after them), then the LSTM is refitted on all bins."""
        cut = max(int(panel.bins * self.stack_share), 2 * panel.season)
        if cut < panel.bins - self.gbm.horizon - 10 * self.gbm.stride:
            self.lstm.fit(panel.upto(cut))
            self.gbm.fit(panel, first=cut)
        else:  # too short to stack: in-sample LSTM features
            self.lstm.fit(panel)
            self.gbm.fit(panel)
            return self
        self.lstm.fit(panel)
        return self

    def update(self, panel: Panel) -> Hybrid:
        """Warm start: fine-tune the LSTM, then add trees to LightGBM on the newest bins (the ridge is refitted
        online anyway)."""
        self.lstm.update(panel)
        self.gbm.update(panel)
        return self

    def point(self, panel: Panel, origins: np.ndarray, horizon: int) -> np.ndarray:
        return self.gbm.point(panel, origins, horizon)
