"""Resampling a requests frame to wider bins (5 minutes for forecasting) on a complete grid."""

from __future__ import annotations

import pandas as pd

from traces.frames import REQUESTS, requests_frame


def resample(requests: pd.DataFrame, freq: str | pd.Timedelta = "5min") -> pd.DataFrame:
    """Sum requests into `freq` bins aligned to the epoch, every program on every bin (explicit zeros).

    Optional per-request means (duration, memory, ...) are averaged weighted by requests; bins with no
    requests leave them missing.
    """
    width = pd.Timedelta(freq)
    means = [c.name for c in REQUESTS.columns if not c.required and c.name in requests.columns]
    binned = pd.DataFrame(
        {
            "program_code": requests["program_code"].astype("category"),
            "ts": requests["ts"].dt.floor(width),
            "requests": requests["requests"],
        }
    )
    for column in means:
        present = requests[column].notna()
        binned[f"{column}:sum"] = (requests[column] * requests["requests"]).where(present)
        binned[f"{column}:weight"] = requests["requests"].where(present, 0)
    summed = binned.groupby(["program_code", "ts"], observed=True, sort=False).sum(min_count=1)
    if len(requests):
        grid = pd.date_range(binned["ts"].min(), binned["ts"].max(), freq=width)
        codes = binned["program_code"].cat.categories
        summed = summed.reindex(pd.MultiIndex.from_product([codes, grid], names=["program_code", "ts"]))
    out = summed.reset_index()
    out["requests"] = out["requests"].fillna(0)
    for column in means:
        weight = out.pop(f"{column}:weight")
        out[column] = (out.pop(f"{column}:sum") / weight).where(weight > 0)
    return requests_frame(out)
