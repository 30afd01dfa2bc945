"""Pareto plots: cold starts against wasted (Mode A) or idle (Mode B) memory, one line per policy family.

The axes are linear and zoomed to the sweep's points up to the frontier's last one (the one with the most memory:
a point with more memory than that is beaten by it on both axes, and is named in the legend with its figures
instead of stretching the axis); the oracle (no cold start, no waste) is a star where it falls inside them and a
legend entry with its figures where it does not. Only each family's ends and
keepalive:10 (the 100 % reference) are labelled, each label placed where it overlaps no other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

AXES = {
    "a": [("wasted_memory_pct_of_keepalive10", "p75_app_cold_start_pct", "3rd-quartile app cold-start %")],
    "b": [
        ("idle_memory_pct_of_keepalive10", "cold_start_pct", "cold-start % of requests"),
        ("idle_memory_pct_of_keepalive10", "p75_app_cold_start_pct", "3rd-quartile app cold-start %"),
    ],
}
X_LABEL = {
    "a": "wasted memory time, % of the fixed 10-minute keep-alive's",
    "b": "idle memory GB-s, % of the fixed 10-minute keep-alive's",
}
REFERENCE = "keepalive:10"
# where a label may go, in points from its point (tried in this order): right, left, above, below, further out
OFFSETS = [(6, 4), (-6, 4), (6, -11), (-6, -11), (0, 10), (0, -16), (14, 14), (-14, 14), (14, -20), (-14, -20)]


def plot_pareto(points: pd.DataFrame, mode: str, path: Path, title: str) -> Path:
    """One panel per cold-start measure, with the policies' frontier, the oracle and keepalive:10 marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = AXES[mode]
    fig, axes = plt.subplots(1, len(panels), figsize=(8 * len(panels), 6), constrained_layout=True, squeeze=False)
    labels = []
    for ax, (x, y, label) in zip(axes[0], panels, strict=True):
        labels.append(_panel(ax, points, x, y))
        ax.set_xlabel(X_LABEL[mode])
        ax.set_ylabel(label)
        ax.set_title(f"{label} against memory (lower left is better)", fontsize=10)
    fig.suptitle(title, fontsize=12)
    fig.canvas.draw()  # labels are placed against the drawn layout
    for ax, pending in zip(axes[0], labels, strict=True):
        _place_labels(ax, pending, fig.canvas.get_renderer())  # type: ignore[attr-defined]
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


Label = tuple[str, tuple[float, float], str]  # text, the point it names, colour


def _panel(ax: Any, points: pd.DataFrame, x: str, y: str) -> list[Label]:
    """The families' lines, the frontier, keepalive:10 circled, the oracle, linear limits around the frontier;
    returns the labels to place once the layout is drawn."""
    swept = points[points["family"] != "oracle"]
    frontier = _frontier(swept, x, y)
    shown, beyond = _around_frontier(swept, frontier, x)
    labels: list[Label] = []
    for family, group in swept.groupby("family", sort=False):
        group = group.sort_values([x, y])
        (line,) = ax.plot(group[x], group[y], marker="o", ms=5, lw=1.4, label=family, zorder=3)
        ends = [group.iloc[0]] if len(group) == 1 else [group.iloc[0], group.iloc[-1]]
        for row in ends:
            if row["policy"] != REFERENCE and row["policy"] in shown["policy"].to_numpy():
                labels.append((row["policy"], (row[x], row[y]), line.get_color()))
    ax.step(frontier[x], frontier[y], where="post", color="grey", lw=3, alpha=0.3, zorder=2, label="Pareto frontier")
    reference = swept[swept["policy"] == REFERENCE]
    if len(reference):
        ax.scatter(reference[x], reference[y], s=200, facecolors="none", edgecolors="black", lw=1.4, zorder=6)
        labels.append((f"{REFERENCE} (= 100 %)", (reference[x].iloc[0], reference[y].iloc[0]), "black"))
    if len(beyond):
        where = ", ".join(f"{r['policy']} ({r[y]:.1f} % at {r[x]:.0f} %)" for _, r in beyond.sort_values(x).iterrows())
        ax.plot([], [], " ", label=f"beaten on both axes, off them:\n{where}")
    x_lim, y_lim = _limits(shown[x]), _limits(shown[y], floor=0.0)
    ax.set_xlim(*x_lim)
    ax.set_ylim(*y_lim)
    for _, row in points[points["family"] == "oracle"].iterrows():
        inside = x_lim[0] <= row[x] <= x_lim[1] and y_lim[0] <= row[y] <= y_lim[1]
        where = f"{row[y]:.1f} % at {row[x]:.0f} %"
        ax.scatter(
            [row[x]] if inside else [],
            [row[y]] if inside else [],
            marker="*",
            s=320,
            color="gold",
            edgecolor="black",
            zorder=7,
            label=f"oracle ({where})" if inside else f"oracle: {where}, off the axes",
        )
        if inside:
            labels.append(("oracle", (row[x], row[y]), "black"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right", framealpha=0.9)
    return labels


def _frontier(points: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """The points no other beats on both axes, by increasing x."""
    ordered = points.sort_values([x, y])
    best = ordered[y].cummin()
    return ordered[ordered[y] <= best.shift(fill_value=float("inf")) - 1e-12]


def _around_frontier(swept: pd.DataFrame, frontier: pd.DataFrame, x: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The points up to the frontier's last x, and those beyond it (each beaten by that last point on both axes)."""
    inside = swept[x] <= frontier[x].max()
    return swept[inside], swept[~inside]


def _limits(values: pd.Series, floor: float | None = None) -> tuple[float, float]:
    """The values' range with a margin (8 % each side), from `floor` at the lowest."""
    low, high = float(values.min()), float(values.max())
    margin = max(high - low, abs(high) * 0.1, 1.0) * 0.08
    low = low - margin if floor is None else max(low - margin, floor - margin)
    return low, high + margin


def _place_labels(ax: Any, labels: list[Label], renderer: Any) -> None:
    """Put each label at the first offset where it overlaps no other label, no marker and not the legend (or
    leave it out where none is free)."""
    from matplotlib.transforms import Bbox

    taken = [ax.get_legend().get_window_extent(renderer)] if ax.get_legend() else []
    for line in ax.get_lines():  # the markers, so that no label covers a point
        if line.get_marker() not in (None, "None", ""):
            for px, py in ax.transData.transform(line.get_xydata()):
                taken.append(Bbox([[px - 4, py - 4], [px + 4, py + 4]]))
    frame = ax.get_window_extent(renderer)
    for text, (x, y), color in labels:
        for dx, dy in OFFSETS:
            label = ax.annotate(
                text,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                fontsize=8,
                color=color,
                ha="left" if dx >= 0 else "right",
                zorder=8,
            )
            box = label.get_window_extent(renderer).expanded(1.05, 1.15)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if inside and not any(box.overlaps(other) for other in taken):
                taken.append(box)
                break
            label.remove()
