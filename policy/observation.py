"""What the cloning manager and the scaling policy see of a pool: filled by the simulator's replay and by the live
controller alike, so both call the same decision code."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd


class Programs(Protocol):
    """Per-program constants the scaling policy sizes clones with, aligned to one program order [P]."""

    @property
    def programs(self) -> int: ...

    @property
    def bin(self) -> pd.Timedelta: ...

    @property
    def duration_ms(self) -> np.ndarray: ...

    @property
    def concurrency(self) -> np.ndarray: ...

    @property
    def cold_start_s(self) -> np.ndarray: ...


class PoolView(Protocol):
    """The pool at a decision, the past and present only: clones warm and warming, requests in flight, busy peaks."""

    @property
    def now_s(self) -> float:
        """Seconds since the first bin began."""
        ...

    @property
    def bin(self) -> int:
        """Index of the bin `now_s` lies in."""
        ...

    @property
    def warm(self) -> np.ndarray:
        """Clones ready to serve [P]."""
        ...

    @property
    def warming(self) -> np.ndarray:
        """Clones started and not yet ready [P]."""
        ...

    def mean_inflight(self, seconds: float) -> np.ndarray:
        """Mean requests in flight (served or waiting) over the last `seconds` [P]."""
        ...

    def peak_busy(self, since_bin: int) -> np.ndarray:
        """Most clones needed at once from bin `since_bin` to now [P] (a live engine: busy ones)."""
        ...
