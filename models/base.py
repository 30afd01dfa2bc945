"""The Forecaster protocol every model implements (baselines included)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import pandas as pd

DEFAULT_LEVELS = (10, 50, 80, 90, 95, 99)


class Forecaster(Protocol):
    """Settings in the constructor, data in fit/predict (long frames, DESIGN.md section 2)."""

    def fit(self, requests: pd.DataFrame) -> Forecaster:
        """Learn from a canonical requests frame on a complete grid."""
        ...

    def predict(self, horizon: int, levels: Sequence[int] = DEFAULT_LEVELS) -> pd.DataFrame:
        """A canonical forecast frame for the `horizon` bins after the data seen by fit."""
        ...
