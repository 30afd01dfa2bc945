"""The Forecaster protocol every model implements (baselines included)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import pandas as pd

# The quantiles every forecast carries, served and backtested alike: the central 50/80/90 % intervals
# (models.metrics.CENTRAL) and q99, the highest level the cloning manager provisions for.
DEFAULT_LEVELS = (5, 10, 25, 50, 75, 90, 95, 99)


class Forecaster(Protocol):
    """Settings in the constructor, data in fit/predict (long frames, DESIGN.md section 2)."""

    def fit(self, requests: pd.DataFrame) -> Forecaster:
        """Learn from a canonical requests frame on a complete grid."""
        ...

    def predict(self, horizon: int, levels: Sequence[int] = DEFAULT_LEVELS) -> pd.DataFrame:
        """A canonical forecast frame for the `horizon` bins after the data seen by fit."""
        ...
