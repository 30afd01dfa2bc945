"""The hybrid: an LSTM learns the temporal pattern, LightGBM corrects it where calendar and external events
(campaigns, scheduled jobs, news) matter.

The LSTM is fitted first; its quantile forecasts for every (program, origin, step) become extra feature
columns of the global LightGBM model, next to lags, calendar, event and profile features. LightGBM learns
the final point forecast, so an event the LSTM cannot see (it only reads the series) is still priced in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models.gbm import GradientBoosting
from models.lstm import LSTMForecaster
from models.panel import Panel


@dataclass
class Hybrid:
    lstm: LSTMForecaster = field(default_factory=LSTMForecaster)
    gbm: GradientBoosting = field(default_factory=GradientBoosting)
    name: str = "hybrid"

    def __post_init__(self) -> None:
        self.gbm.extra = self.lstm_features

    def lstm_features(self, panel: Panel, origins: np.ndarray, horizon: int) -> np.ndarray:
        """The LSTM's quantiles as feature columns [P, O, H, Q]."""
        quantiles = self.lstm.quantiles(panel, origins, horizon)
        return np.stack([quantiles[level] for level in sorted(quantiles)], axis=3)

    def fit(self, panel: Panel) -> Hybrid:
        self.lstm.fit(panel)
        self.gbm.fit(panel)
        return self

    def update(self, panel: Panel) -> Hybrid:
        """Warm start: fine-tune the LSTM, then add trees to LightGBM on the newest bins."""
        self.lstm.update(panel)
        self.gbm.update(panel)
        return self

    def point(self, panel: Panel, origins: np.ndarray, horizon: int) -> np.ndarray:
        return self.gbm.point(panel, origins, horizon)
