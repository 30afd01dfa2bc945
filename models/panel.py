"""A panel: the demand of many programs on one grid of bins, plus what models may use besides it.

Models work on panels (matrices [programs, bins]) and turn them back into canonical frames at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from traces.frames import EVENT_KINDS, Dataset, empty_events
from traces.resample import resample

DAY = pd.Timedelta("1D")
WEEK = pd.Timedelta("7D")


@dataclass(frozen=True)
class Panel:
    """Requests per bin [P, T] with timestamps, events and the programs' profiles."""

    codes: np.ndarray  # [P]
    values: np.ndarray  # [P, T] requests per bin (float)
    start: pd.Timestamp
    width: pd.Timedelta
    events: pd.DataFrame
    programs: pd.DataFrame  # indexed by program_code, aligned with codes

    @property
    def bins(self) -> int:
        return int(self.values.shape[1])

    @property
    def season(self) -> int:
        """Bins per day (288 for 5-minute bins)."""
        return int(DAY / self.width)

    @property
    def week(self) -> int:
        return int(WEEK / self.width)

    def timestamps(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, periods=self.bins, freq=self.width).as_unit("ns")

    def upto(self, end: int) -> Panel:
        """The panel's first `end` bins (what a model may learn from before bin `end`)."""
        return replace(self, values=self.values[:, :end])

    def select(self, rows: np.ndarray | list[int]) -> Panel:
        return replace(self, codes=self.codes[rows], values=self.values[rows], programs=self.programs.iloc[rows])

    @classmethod
    def from_dataset(cls, dataset: Dataset, freq: str | pd.Timedelta = "5min") -> Panel:
        """Resample a canonical dataset's requests to `freq` bins on a complete grid."""
        width = pd.Timedelta(freq)
        requests = dataset.requests if pd.Timedelta(dataset.freq) == width else resample(dataset.requests, width)
        codes = requests["program_code"].unique()
        n_bins = requests["ts"].nunique()
        values = requests["requests"].to_numpy(dtype=float).reshape(len(codes), n_bins)  # [P, T]
        programs = dataset.programs.set_index("program_code").reindex(codes)
        events = dataset.events if dataset.events is not None else empty_events()
        return cls(
            codes=np.asarray(codes, dtype=object),
            values=values,
            start=pd.Timestamp(requests["ts"].min()),
            width=width,
            events=events,
            programs=programs,
        )


def event_features(panel: Panel, horizon: int) -> dict[str, np.ndarray]:
    """Per program and bin [P, T + horizon], over the history's bins and the `horizon` bins after it (events
    are a calendar known in advance, so every target bin of a forecast sees them, after the history as inside
    it): the multiplier of events active in the bin (all kinds, and per kind as `active_<kind>`), the bins
    since the newest active event started (`event_age`, -1 when none), and the strongest event starting
    within the next `horizon` bins (scheduled jobs, campaigns, announced news)."""
    n_programs, n_bins = len(panel.values), panel.bins + horizon
    active = np.ones((n_programs, n_bins))
    soon = np.zeros((n_programs, n_bins))
    started = np.full((n_programs, n_bins), -1.0)  # bin where the newest active event started
    per_kind = {kind: np.ones((n_programs, n_bins)) for kind in EVENT_KINDS}
    index = {code: i for i, code in enumerate(panel.codes)}
    for event in panel.events.itertuples(index=False):
        a = int(np.floor((event.start - panel.start) / panel.width))
        b = int(np.ceil((event.end - panel.start) / panel.width))
        if b <= 0 or a >= n_bins:
            continue
        rows = slice(None) if event.program_code == "" else index.get(event.program_code)
        if rows is None:
            continue
        inside = slice(max(a, 0), min(b, n_bins))
        active[rows, inside] *= event.magnitude
        if event.kind in per_kind:
            per_kind[event.kind][rows, inside] *= event.magnitude
        np.maximum(started[rows, inside], a, out=started[rows, inside])
        lo = max(a - horizon, 0)
        if lo < n_bins and a > 0:
            window = soon[rows, lo : min(a, n_bins)]
            np.maximum(window, event.magnitude, out=window)
    age = np.where(started >= 0, np.arange(n_bins)[None, :] - started, -1.0)
    return {"event_active": active, "event_soon": soon, "event_age": age} | {
        f"active_{kind}": values for kind, values in per_kind.items()
    }
