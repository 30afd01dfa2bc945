"""Replaying a trace in the simulator: the Setup built once (from a validated dataset), policy runs, Pareto sweeps,
and the simulator's cost of a model's backtest forecasts (what the gate and every training backtest report).

The cost of one run is a single number so that models can be ranked:
`cost = cold-start % (request-weighted) + memory_weight x wasted memory in % of keepalive:10`, i.e. by default
one point of cold starts weighs as much as ten points of memory wasted relative to a fixed 10-minute keep-alive.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clonecast.errors import ConfigError
from clonecast.settings import Settings
from models.backtest import BacktestResult
from models.baselines import RollingForecast, to_frame
from models.panel import Panel
from simulator.plots import plot_pareto
from simulator.pool import PoolSettings
from simulator.simulate import Setup, pareto, run_mode_a, run_mode_b
from simulator.trace import sim_trace
from traces.frames import Dataset
from traces.progress import NullProgress, Progress

MODES = ("a", "b")
ARRIVALS = ("uniform", "start")
POLICY = "predictive"
MEMORY_WEIGHT = 0.1


def setup(
    dataset: Dataset,
    settings: Settings,
    *,
    warmup_minutes: float,
    forecast: pd.DataFrame | None = None,
    tick_ms: int = 1000,
    arrivals: str = "uniform",
    progress: Progress | None = None,
) -> Setup:
    """The simulator's inputs from a validated dataset (and a validated forecast for seed/predictive policies)."""
    if arrivals not in ARRIVALS:
        raise ConfigError(f"arrivals must be uniform or start, not {arrivals!r}")
    (progress or NullProgress()).stage("building matrices")
    matrices = sim_trace(dataset)
    warmup = matrices.bins_for(warmup_minutes)
    if warmup >= matrices.bins:
        raise ConfigError(f"a warm-up of {warmup_minutes:g} minutes leaves no bins to score ({matrices.bins} bins)")
    pool = PoolSettings(tick_s=tick_ms / 1000.0, seed=settings.seed, arrivals=arrivals)
    return Setup(matrices, warmup, forecast=forecast, horizon=settings.horizon, pool=pool)


def run(setup: Setup, mode: str, policies: Sequence[str], progress: Progress | None = None) -> list[dict[str, Any]]:
    """One row of results per policy, in Mode A or B."""
    if mode not in MODES:
        raise ConfigError(f"mode must be a or b, not {mode!r}")
    results = (run_mode_a if mode == "a" else run_mode_b)(setup, policies, progress)
    return [r.to_dict() for r in results]


def sweep(
    setup: Setup, mode: str, folder: Path, stem: str, title: str, progress: Progress | None = None
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Every policy's knob swept; the Pareto points written as CSV and JSON and drawn as PNG under `folder`."""
    if mode not in MODES:
        raise ConfigError(f"mode must be a or b, not {mode!r}")
    points = pareto(setup, mode, progress)
    (progress or NullProgress()).stage("writing csv, json, png")
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / f"{stem}-mode-{mode}"
    points.to_csv(base.with_suffix(".csv"), index=False)
    base.with_suffix(".json").write_text(points.to_json(orient="records", indent=2) + "\n")
    picture = plot_pareto(points, mode, base.with_suffix(".png"), title)
    return points, {"csv": base.with_suffix(".csv"), "json": base.with_suffix(".json"), "plot": Path(picture)}


def pareto_plot(dataset: Dataset, settings: Settings, path: Path, title: str, *, warmup_days: float = 7) -> Path:
    """Mode A Pareto points of every policy family (seasonal-naive forecasts for predictive), drawn to `path`."""
    matrices = sim_trace(dataset)
    points = pareto(Setup(matrices, matrices.bins_for(warmup_days * 24 * 60), horizon=settings.horizon), "a")
    return Path(plot_pareto(points, "a", path, title))


def simulator_cost(
    dataset: Dataset,
    panel: Panel,
    result: BacktestResult,
    *,
    modes: Sequence[str] = ("a",),
    memory_weight: float = MEMORY_WEIGHT,
) -> dict[str, Any]:
    """Mode A (and B) of the predictive policy on the backtest window, fed by the backtest's forecasts."""
    trace = sim_trace(dataset)
    rolling = RollingForecast(origins=result.origins, yhat=result.point, quantiles=result.quantiles)
    frame = to_frame(rolling, panel.codes, panel.start, panel.width, panel.programs)
    first = panel.start + int(result.origins.min()) * panel.width
    warmup = int(np.searchsorted(trace.timestamps().asi8, first.value))
    costed = Setup(trace, warmup, forecast=frame, horizon=result.point.shape[2])
    out: dict[str, Any] = {}
    for mode in modes:
        row = run(costed, mode, [POLICY])[0]
        memory = row.get("wasted_memory_pct_of_keepalive10", row.get("idle_memory_pct_of_keepalive10")) or 0.0
        row["cost"] = float(row["cold_start_pct"]) + memory_weight * float(memory)
        out[mode] = row
    return out
