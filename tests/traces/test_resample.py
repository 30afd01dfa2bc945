from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from traces.frames import requests_frame
from traces.resample import resample


def _minutes(program: str, counts: list[int], durations: list[float] | None = None, start: str = "2026-01-01T00:00Z"):
    frame = pd.DataFrame(
        {
            "program_code": program,
            "ts": pd.date_range(start, periods=len(counts), freq="1min"),
            "requests": counts,
        }
    )
    if durations is not None:
        frame["duration_ms"] = durations
    return frame


def test_sums_counts_and_weights_means_by_requests() -> None:
    raw = _minutes("a", [1, 0, 3, 0, 0, 2, 2], [100.0, np.nan, 200.0, np.nan, np.nan, 50.0, 150.0])
    out = resample(requests_frame(raw), "5min")
    assert out["requests"].tolist() == [4, 4]
    # bin 1: (1*100 + 3*200) / 4 = 175; bin 2: (2*50 + 2*150) / 4 = 100
    assert out["duration_ms"].tolist() == [175.0, 100.0]


def test_complete_grid_with_explicit_zeros_for_late_programs() -> None:
    a = _minutes("a", [1] * 15)
    b = _minutes("b", [2] * 5, start="2026-01-01T00:10Z")
    out = resample(requests_frame(pd.concat([a, b])), "5min")
    assert len(out) == 6  # 2 programs x 3 bins
    assert out.loc[out["program_code"] == "b", "requests"].tolist() == [0, 0, 10]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=1, max_size=200), st.sampled_from(["2min", "5min", "15min", "1h"]))
def test_resampling_preserves_the_total(counts: list[int], width: str) -> None:
    out = resample(requests_frame(_minutes("a", counts)), width)
    assert out["requests"].sum() == sum(counts)
    assert out["ts"].diff().dropna().eq(pd.Timedelta(width)).all()
