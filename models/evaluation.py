"""The promotion gate's decision: what it compares (backtest MASE and the simulator's cost, both scored on one
out-of-sample window in one run by `jobs.gate.compare`) and the rule that promotes a challenger only when it beats
the champion by the margin on both."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
