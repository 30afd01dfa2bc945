"""Plots of a trace for people who would rather look than read (PNG files, matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from traces.frames import Dataset, freq_name

EVENT_COLOURS = {"campaign": "tab:orange", "scheduled_job": "tab:green", "news": "tab:red"}


def plot_trace(dataset: Dataset, path: Path, *, examples: int = 4) -> Path:
    """Total demand with the event windows shaded, and a week of a few example programs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    requests = dataset.requests
    total = requests.groupby("ts")["requests"].sum()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(13, 7), constrained_layout=True)
    top.plot(total.index, total.to_numpy(), lw=0.6, color="tab:blue")
    seen: set[str] = set()
    for event in dataset.events.itertuples(index=False):
        colour = EVENT_COLOURS.get(event.kind, "grey")
        label = event.kind if event.kind not in seen else None
        seen.add(event.kind)
        if event.kind == "scheduled_job":  # many short per-program jobs: a rug, not spans
            top.axvline(event.start, ymax=0.04, color=colour, lw=0.8, label=label)
        else:
            alpha = 0.25 if event.program_code == "" else 0.12
            top.axvspan(event.start, event.end, color=colour, alpha=alpha, label=label)
    title = f"{dataset.format or 'trace'}: total requests per {freq_name(dataset.freq)} bin"
    top.set_title(title + (" (events shaded; scheduled jobs as ticks)" if seen else ""))
    top.set_ylabel("requests / bin")
    if seen:
        top.legend(loc="upper right", fontsize=8)

    busiest = requests.groupby("program_code")["requests"].sum().sort_values(ascending=False)
    prefixes = busiest.index.to_series().str.split("-").str[0]
    picks = list(busiest.groupby(prefixes.to_numpy()).head(1).index[:examples])
    week = requests[requests["ts"] < requests["ts"].min() + pd.Timedelta(days=7)]
    for code in picks:
        series = week[week["program_code"] == code]
        bottom.plot(series["ts"], series["requests"], lw=0.7, label=code)
    bottom.set_yscale("symlog")
    bottom.set_title("first week of example programs (symlog)")
    bottom.set_ylabel("requests / bin")
    bottom.legend(loc="upper right", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
