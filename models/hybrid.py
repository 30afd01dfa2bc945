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
from models.panel import Panel, event_features


@dataclass
class Hybrid:
    lstm: LSTMForecaster = field(default_factory=LSTMForecaster)
    gbm: GradientBoosting = field(default_factory=GradientBoosting)
    stack_share: float = 0.5
    name: str = "hybrid"

    def __post_init__(self) -> None:
        self.gbm.extra = self.lstm_features

    def lstm_features(self, panel: Panel, origins: np.ndarray, horizon: int) -> np.ndarray:
        """The LSTM's quantiles, and its median scaled by the change of the scheduled event multiplier between
        the last bin it saw and the target bin (what it cannot know), as feature columns [P, O, H, Q + 1]."""
        quantiles = self.lstm.quantiles(panel, origins, horizon)
        active = event_features(panel, horizon)["event_active"]  # [P, T]
        targets = np.minimum(origins[:, None] + np.arange(horizon)[None, :], panel.bins - 1)  # [O, H]
        change = active[:, targets] / active[:, np.maximum(origins - 1, 0)][:, :, None]  # [P, O, H]
        columns = [quantiles[50], quantiles[50] * change]
        return np.stack(columns, axis=3)

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
        """Warm start: fine-tune the LSTM, then add trees to LightGBM on the newest bins."""
        self.lstm.update(panel)
        self.gbm.update(panel)
        return self

    def point(self, panel: Panel, origins: np.ndarray, horizon: int) -> np.ndarray:
        return self.gbm.point(panel, origins, horizon)
