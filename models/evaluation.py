"""What a model is worth to the autoscaler: the simulator's cost of the predictive policy fed by the model's
backtest forecasts on the same window, and the promotion gate that compares a challenger with the champion
(both scored on one out-of-sample window in one run: `models.pipeline.compare`).

The cost of one run is a single number so that models can be ranked:
`cost = cold-start % (request-weighted) + memory_weight x wasted memory in % of keepalive:10`, i.e. by default
one point of cold starts weighs as much as ten points of memory wasted relative to a fixed 10-minute keep-alive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.backtest import BacktestResult
from models.baselines import RollingForecast, to_frame
from models.panel import Panel
from traces.frames import Dataset

POLICY = "predictive"
MEMORY_WEIGHT = 0.1


def simulator_cost(
    dataset: Dataset,
    panel: Panel,
    result: BacktestResult,
    *,
    modes: Sequence[str] = ("a",),
    memory_weight: float = MEMORY_WEIGHT,
) -> dict[str, Any]:
    """Mode A (and B) of the predictive policy on the backtest window, fed by the backtest's forecasts."""
    from simulator.simulate import Setup, run_mode_a, run_mode_b
    from simulator.trace import sim_trace

    trace = sim_trace(dataset)
    rolling = RollingForecast(origins=result.origins, yhat=result.point, quantiles=result.quantiles)
    frame = to_frame(rolling, panel.codes, panel.start, panel.width, panel.programs)
    first = panel.start + int(result.origins.min()) * panel.width
    warmup = int(np.searchsorted(trace.timestamps().asi8, first.value))
    setup = Setup(trace, warmup, forecast=frame, horizon=result.point.shape[2])
    out: dict[str, Any] = {}
    for mode in modes:
        run = run_mode_a if mode == "a" else run_mode_b
        row = run(setup, [POLICY])[0].to_dict()
        memory = row.get("wasted_memory_pct_of_keepalive10", row.get("idle_memory_pct_of_keepalive10")) or 0.0
        row["cost"] = float(row["cold_start_pct"]) + memory_weight * float(memory)  # type: ignore[arg-type]
        out[mode] = row
    return out


@dataclass(frozen=True)
class Scores:
    """What the gate compares: mean backtest MASE and the simulator cost (lower is better)."""

    mase: float
    sim_cost: float


@dataclass(frozen=True)
class Comparison:
    """Challenger and champion scored on one out-of-sample window in one run (`window` says which and how)."""

    challenger: Scores
    champion: Scores
    window: str

    def describe(self) -> str:
        c, p = self.challenger, self.champion
        return (
            f"challenger MASE {c.mase:.3f} vs champion {p.mase:.3f}, simulator cost {c.sim_cost:.2f} vs "
            f"{p.sim_cost:.2f}, on {self.window}"
        )

    def tags(self) -> dict[str, str]:
        """Both figures and the window, as tags of the challenger's version."""
        return {
            "gate_window": self.window,
            "gate_challenger_mase": str(float(self.challenger.mase)),
            "gate_champion_mase": str(float(self.champion.mase)),
            "gate_challenger_sim_cost": str(float(self.challenger.sim_cost)),
            "gate_champion_sim_cost": str(float(self.champion.sim_cost)),
        }


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def gate(challenger: Scores, champion: Scores | None, margin: float) -> Decision:
    """Promote only a challenger that beats the champion by `margin` (relative) on MASE and on the cost."""
    if champion is None:
        return Decision(True, "no champion yet")
    gains = {
        "MASE": _gain(champion.mase, challenger.mase),
        "simulator cost": _gain(champion.sim_cost, challenger.sim_cost),
    }
    short = [f"{what} {gain:+.1%}" for what, gain in gains.items() if not gain >= margin]
    told = ", ".join(f"{what} {gain:+.1%}" for what, gain in gains.items())
    if short:
        return Decision(False, f"challenger does not beat the champion by {margin:.0%} on both ({told})")
    return Decision(True, f"challenger beats the champion by at least {margin:.0%} ({told})")


def _gain(champion: float, challenger: float) -> float:
    """Relative improvement of the challenger (positive = better); nan when it cannot be told."""
    if not (np.isfinite(champion) and np.isfinite(challenger)):
        return float("nan")
    if champion == challenger:
        return 0.0
    return (champion - challenger) / max(abs(champion), 1e-12)
