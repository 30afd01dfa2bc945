"""Backtest plots: forecast against actual with the 80 % interval, and the error of every series."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.backtest import BacktestResult


def plot_forecast(result: BacktestResult, timestamps: pd.DatetimeIndex, path: Path, series: int = 4) -> Path:
    """The one-step-ahead and one-hour-ahead forecasts of the busiest series against the actuals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    busiest = np.argsort(-result.actual.sum(axis=(1, 2)))[:series]
    fig, axes = plt.subplots(len(busiest), 1, figsize=(12, 2.6 * len(busiest)), squeeze=False, sharex=True)
    when = timestamps[result.origins]
    last = result.point.shape[2] - 1
    for ax, row in zip(axes[:, 0], busiest, strict=True):
        ax.plot(when, result.actual[row, :, 0], color="black", lw=0.8, label="actual")
        ax.plot(when, result.point[row, :, 0], color="tab:blue", lw=0.9, label="forecast, 5 min ahead")
        if 10 in result.quantiles and 90 in result.quantiles:
            ax.fill_between(
                when,
                result.quantiles[10][row, :, 0],
                result.quantiles[90][row, :, 0],
                color="tab:blue",
                alpha=0.2,
                lw=0,
                label="80 % interval",
            )
        shifted = timestamps[np.minimum(result.origins + last, len(timestamps) - 1)]
        ax.plot(shifted, result.point[row, :, last], color="tab:orange", lw=0.7, alpha=0.8, label="1 h ahead")
        ax.set_title(str(result.codes[row])[:60], fontsize=9, loc="left")
        ax.set_ylabel("requests / bin")
    axes[0, 0].legend(loc="upper right", fontsize=8, ncols=4)
    fig.suptitle(f"{result.model}: forecast vs actual on the test window", fontsize=11)
    return _save(fig, path)


def plot_series_errors(per_series: pd.DataFrame, path: Path, title: str, top: int = 40) -> Path:
    """MASE and 80 % coverage per series (the worst `top` by MASE)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = per_series.sort_values("mase", ascending=False).head(top)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, max(3.0, 0.25 * len(table) + 1.5)), sharey=True)
    labels = [str(s)[:32] for s in table.index]
    left.barh(labels, table["mase"], color="tab:blue")
    left.axvline(1.0, color="grey", ls="--", lw=0.8)
    left.set_xlabel("MASE (1 = daily seasonal naive)")
    left.invert_yaxis()
    if "coverage_80" in table:
        right.barh(labels, table["coverage_80"], color="tab:green")
        right.axvspan(0.77, 0.83, color="grey", alpha=0.2)
        right.set_xlabel("80 % interval coverage (target 0.80 +- 0.03)")
        right.set_xlim(0, 1)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def plot_calibration(tables: dict[str, np.ndarray], path: Path, title: str) -> Path:
    """Reliability diagram of per-bin invocation probabilities (models.timing.calibration tables, by model):
    observed frequency against mean predicted probability, with how many bins fell in each decile."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    left.plot([0, 1], [0, 1], color="grey", ls="--", lw=0.8, label="perfectly calibrated")
    width = 0.09 / max(len(tables), 1)
    for i, (name, table) in enumerate(tables.items()):
        used = table[:, 2] > 0
        left.plot(table[used, 0], table[used, 1], marker="o", label=name)
        right.bar(np.arange(len(table)) / len(table) + 0.005 + (i + 0.5) * width, table[:, 2], width=width, label=name)
    left.set_xlabel("predicted P(invoked in the bin)")
    left.set_ylabel("observed frequency")
    left.set_xlim(0, 1)
    left.set_ylim(0, 1)
    left.legend(fontsize=8)
    right.set_yscale("log")
    right.set_xlabel("predicted probability (decile)")
    right.set_ylabel("program-bins")
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    """Lay the figure out, write it as PNG at `path` and free it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
