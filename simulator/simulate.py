"""Running policies through both simulator modes, and Pareto sweeps of their knobs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pandas as pd

from simulator.apps import ModeAResult, score
from simulator.forecasts import forecast_view, seasonal_naive_forecast
from simulator.policies import KeepAlive, Oracle, Policy, Predictive, Seed, SimContext, decision_lead, make_policy
from simulator.pool import ModeBResult, PoolSettings, oracle_result, simulate_pool
from simulator.trace import SimTrace
from traces.progress import NullProgress, Progress

REFERENCE = "keepalive:10"

SWEEPS = {
    "a": {
        "keepalive": [
            "keepalive:1",
            "keepalive:2",
            "keepalive:5",
            "keepalive:10",
            "keepalive:20",
            "keepalive:30",
            "keepalive:60",
            "keepalive:120",
            "keepalive:240",
        ],
        "hybrid-histogram": ["hybrid-histogram:60", "hybrid-histogram:120", "hybrid-histogram", "hybrid-histogram:480"],
        "reactive-kpa": ["reactive-kpa:30", "reactive-kpa", "reactive-kpa:120", "reactive-kpa:300"],
        "reactive-hpa": ["reactive-hpa:1,min0", "reactive-hpa:5,min0", "reactive-hpa:15,min0", "reactive-hpa"],
        "seed": ["seed"],
        "predictive": [
            "predictive:c1",
            "predictive:c3",
            "predictive",
            "predictive:c30",
            "predictive:c50",
            "predictive:c100",
            "predictive:c300",
            "predictive:c1000",
        ],
        "oracle": ["oracle"],
    },
    "b": {
        "keepalive": ["keepalive:1", "keepalive:5", "keepalive:10", "keepalive:30", "keepalive:60"],
        "hybrid-histogram": ["hybrid-histogram:60", "hybrid-histogram", "hybrid-histogram:480"],
        "reactive-kpa": ["reactive-kpa:30", "reactive-kpa", "reactive-kpa:300", "reactive-kpa:900"],
        "reactive-hpa": ["reactive-hpa:5,min0", "reactive-hpa"],
        "seed": ["seed"],
        "predictive": [
            "predictive:c1",
            "predictive:c3",
            "predictive",
            "predictive:c30",
            "predictive:c50",
            "predictive:c100",
            "predictive:q50",
        ],
        "oracle": ["oracle"],
    },
}


@dataclass(frozen=True)
class Setup:
    """One simulation's inputs: trace, warm-up and (for forecast-driven policies) forecasts."""

    trace: SimTrace
    warmup_bins: int
    forecast: pd.DataFrame | None = None
    horizon: int = 12
    pool: PoolSettings = field(default_factory=PoolSettings)

    def context(self, policies: Sequence[Policy]) -> SimContext:
        """Build forecast views once when a policy needs them (seasonal naive when none was given)."""
        if not any(isinstance(p, Seed | Predictive) for p in policies):
            return SimContext(self.warmup_bins)
        frame = self.forecast
        if frame is None:
            frame = seasonal_naive_forecast(self.trace, self.warmup_bins, self.horizon)
        return SimContext(self.warmup_bins, frame, view=forecast_view(frame, self.trace, decision_lead(self.trace)))


def run_mode_a(setup: Setup, specs: Sequence[str], progress: Progress | None = None) -> list[ModeAResult]:
    """Mode A results, wasted memory normalised to keepalive:10 = 100 %."""
    progress = progress or NullProgress()
    policies = [make_policy(s) for s in specs]
    ctx = setup.context(policies)
    reference = score(REFERENCE, setup.trace, KeepAlive(10).loaded(setup.trace, ctx), setup.warmup_bins)
    progress.stage("mode A", total=len(policies))
    results = []
    for policy in policies:
        result = score(policy.name, setup.trace, policy.loaded(setup.trace, ctx), setup.warmup_bins)
        results.append(
            replace(
                result,
                wasted_memory_pct_of_keepalive10=_pct(result.wasted_memory_gb_min, reference.wasted_memory_gb_min),
            )
        )
        progress.advance()
    return results


def run_mode_b(
    setup: Setup, specs: Sequence[str], progress: Progress | None = None, normalise: bool = True
) -> list[ModeBResult]:
    """Mode B results; idle memory normalised to keepalive:10 = 100 % when `normalise`."""
    progress = progress or NullProgress()
    policies = [make_policy(s) for s in specs]
    ctx = setup.context(policies)
    results: dict[str, ModeBResult] = {}
    order = [REFERENCE] if normalise and REFERENCE not in [p.name for p in policies] else []
    order += [p.name for p in policies]
    by_name = {p.name: p for p in policies} | {REFERENCE: KeepAlive(10)}
    for name in order:
        policy = by_name[name]
        if isinstance(policy, Oracle):
            results[name] = oracle_result(setup.trace, setup.warmup_bins)
            continue
        progress.stage(f"mode B: {name}", total=setup.trace.bins)
        results[name] = simulate_pool(
            name, setup.trace, policy.controller(setup.trace, ctx), setup.warmup_bins, setup.pool, progress
        )
    reference = results.get(REFERENCE)
    out = []
    for policy in policies:
        result = results[policy.name]
        if reference is not None:
            result = replace(
                result, idle_memory_pct_of_keepalive10=_pct(result.idle_memory_gb_s, reference.idle_memory_gb_s)
            )
        out.append(result)
    return out


def pareto(setup: Setup, mode: str, progress: Progress | None = None) -> pd.DataFrame:
    """Every policy family across its knob, one row per point."""
    families = [(family, spec) for family, specs in SWEEPS[mode].items() for spec in specs]
    specs = [spec for _, spec in families]
    results: Sequence[ModeAResult | ModeBResult] = (
        run_mode_a(setup, specs, progress) if mode == "a" else run_mode_b(setup, specs, progress)
    )
    return pd.DataFrame([{"family": family, **r.to_dict()} for (family, _), r in zip(families, results, strict=True)])


def _pct(value: float, reference: float) -> float | None:
    return 100.0 * value / reference if reference else None
