"""Trace time against wall time: a replay at speed 12 lives a trace minute in 5 wall seconds.

The replayer, the controller and the demand source share one `Clock`, so every timestamp they exchange is trace
time (what the dataset store holds) while sleeps, scrapes and Prometheus queries run on the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from clonecast.errors import InputError


def _utc(stamp: pd.Timestamp, what: str) -> pd.Timestamp:
    if stamp.tzinfo is None:
        raise InputError(f"{what} {stamp} has no timezone: give it in UTC (e.g. 2026-01-05T00:00:00Z)")
    return stamp.tz_convert("UTC")


@dataclass(frozen=True)
class Clock:
    """trace = trace_origin + (wall - wall_origin) x speed; wall and trace timestamps are UTC."""

    wall_origin: pd.Timestamp
    trace_origin: pd.Timestamp
    speed: float = 1.0  # trace seconds per wall second

    def __post_init__(self) -> None:
        if not self.speed > 0:  # also refuses NaN
            raise InputError(f"clock speed must be positive (trace seconds per wall second), not {self.speed}")
        object.__setattr__(self, "wall_origin", _utc(pd.Timestamp(self.wall_origin), "wall_origin"))
        object.__setattr__(self, "trace_origin", _utc(pd.Timestamp(self.trace_origin), "trace_origin"))

    @classmethod
    def real(cls) -> Clock:
        """Speed 1 with both origins now: trace time is wall time."""
        now = pd.Timestamp.now(tz="UTC")
        return cls(wall_origin=now, trace_origin=now, speed=1.0)

    def trace(self, wall: pd.Timestamp) -> pd.Timestamp:
        """The trace time at wall time `wall`."""
        return self.trace_origin + (_utc(wall, "wall time") - self.wall_origin) * self.speed

    def wall(self, trace: pd.Timestamp) -> pd.Timestamp:
        """The wall time at which trace time `trace` comes."""
        return self.wall_origin + (_utc(trace, "trace time") - self.trace_origin) / self.speed

    def now(self) -> pd.Timestamp:
        """The trace time of the wall clock now."""
        return self.trace(pd.Timestamp.now(tz="UTC"))

    def wall_seconds(self, trace_span: pd.Timedelta) -> float:
        """How many wall seconds a trace span lasts."""
        return pd.Timedelta(trace_span).total_seconds() / self.speed
