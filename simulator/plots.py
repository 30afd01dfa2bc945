"""Pareto plots: cold starts against wasted (Mode A) or idle (Mode B) memory, one line per policy family."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

AXES = {
    "a": [("wasted_memory_pct_of_keepalive10", "p75_app_cold_start_pct", "3rd-quartile app cold-start %")],
    "b": [
        ("idle_memory_pct_of_keepalive10", "cold_start_pct", "cold-start % of requests"),
        ("idle_memory_pct_of_keepalive10", "p75_app_cold_start_pct", "3rd-quartile app cold-start %"),
    ],
}
X_LABEL = {
    "a": "wasted memory time, % of fixed 10-minute keep-alive",
    "b": "idle memory GB-s, % of fixed 10-minute keep-alive",
}


def plot_pareto(points: pd.DataFrame, mode: str, path: Path, title: str) -> Path:
    """One panel per cold-start measure; the oracle is a star, keepalive:10 is circled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = AXES[mode]
    fig, axes = plt.subplots(1, len(panels), figsize=(7.5 * len(panels), 5.5), constrained_layout=True, squeeze=False)
    for ax, (x, y, label) in zip(axes[0], panels, strict=True):
        for family, group in points.groupby("family", sort=False):
            group = group.sort_values(x)
            if family == "oracle":
                ax.scatter(
                    group[x], group[y], marker="*", s=260, color="gold", edgecolor="black", zorder=5, label="oracle"
                )
                continue
            ax.plot(group[x], group[y], marker="o", ms=5, lw=1.2, label=family)
            for _, row in group.iterrows():
                ax.annotate(
                    _knob(row["policy"]), (row[x], row[y]), fontsize=7, xytext=(3, 3), textcoords="offset points"
                )
        reference = points[points["policy"] == "keepalive:10"]
        ax.scatter(reference[x], reference[y], s=180, facecolors="none", edgecolors="black", zorder=6)
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlabel(X_LABEL[mode])
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _knob(policy: str) -> str:
    return policy.partition(":")[2] or ""
