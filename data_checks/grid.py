"""The time grid of a requests frame, summarised per program so that gaps can be checked and reported."""

from __future__ import annotations

import numpy as np
import pandas as pd

MAX_GAP_REPORTS = 20
MAX_RANGES = 3


def grid_summary(requests: pd.DataFrame, freq: pd.Timedelta) -> pd.DataFrame:
    """Per program: bins present, bins expected over the trace's span, missing and misaligned rows, gaps.

    The trace's span runs from its first to its last timestamp over all programs; a complete grid has
    every program on every bin of that span (explicit zeros). `gaps` lists the first missing ranges of
    the first programs that miss bins.
    """
    valid = requests[["program_code", "ts"]].dropna()
    columns = ["program_code", "bins", "expected_bins", "missing_bins", "misaligned_rows", "gaps"]
    if valid.empty:
        return pd.DataFrame(columns=columns)
    step = freq.value
    ns = valid["ts"].astype("datetime64[ns, UTC]").array.asi8  # [N] int64 nanoseconds
    first, last = int(ns.min()), int(ns.max())
    offset = ns - first
    aligned = offset % step == 0
    expected = (last - first) // step + 1
    codes, programs = pd.factorize(valid["program_code"], sort=True)
    slots = offset // step
    distinct = pd.DataFrame({"code": codes[aligned], "slot": slots[aligned]}).drop_duplicates()
    bins = np.bincount(distinct["code"].to_numpy(), minlength=len(programs))
    misaligned = np.bincount(codes[~aligned], minlength=len(programs))
    summary = pd.DataFrame(
        {
            "program_code": np.asarray(programs, dtype=object),
            "bins": bins,
            "expected_bins": expected,
            "missing_bins": expected - bins,
            "misaligned_rows": misaligned,
            "gaps": "",
        }
    )
    incomplete = np.flatnonzero(summary["missing_bins"].to_numpy() > 0)[:MAX_GAP_REPORTS]
    for i in incomplete:
        present = np.zeros(expected, dtype=bool)
        present[distinct.loc[distinct["code"] == i, "slot"].to_numpy()] = True
        summary.loc[i, "gaps"] = _describe_gaps(present, first, step)
    return summary


def _describe_gaps(present: np.ndarray, first: int, step: int) -> str:
    missing = np.flatnonzero(~present)
    breaks = np.flatnonzero(np.diff(missing) > 1)
    starts = np.concatenate([[missing[0]], missing[breaks + 1]])
    ends = np.concatenate([missing[breaks], [missing[-1]]])
    ranges = [
        f"{_ts(first + a * step)}..{_ts(first + b * step)} ({b - a + 1} bins)"
        for a, b in zip(starts[:MAX_RANGES], ends[:MAX_RANGES], strict=True)
    ]
    more = len(starts) - MAX_RANGES
    return ", ".join(ranges) + (f", and {more} more gaps" if more > 0 else "")


def _ts(ns: int) -> str:
    return pd.Timestamp(ns, tz="UTC").strftime("%Y-%m-%d %H:%M:%S")
