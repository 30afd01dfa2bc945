"""Mode A: app-level simulation, the metric of "Serverless in the Wild" (Shahrad et al., USENIX ATC'20).

Per program and bin (a minute on the Azure traces) a policy says whether the program is loaded *before*
the bin's invocations arrive. An invoked bin that finds the program unloaded costs one cold start (the
first invocation loads it; the rest of the bin is warm). A loaded bin without invocations wastes the
program's memory for the bin. Only bins after the warm-up are scored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from simulator.trace import SimTrace


@dataclass(frozen=True)
class ModeAResult:
    """Mode A outcome of one policy on the evaluation window."""

    policy: str
    apps: int  # programs invoked at least once in the evaluation window
    invocations: int
    cold_starts: int
    cold_start_pct: float  # request-weighted
    p75_app_cold_start_pct: float  # 3rd quartile over apps of per-app cold-start %
    median_app_cold_start_pct: float
    wasted_memory_gb_min: float  # loaded without executing
    loaded_bins: int
    wasted_memory_pct_of_keepalive10: float | None = None
    mode: str = "a"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def score(policy: str, trace: SimTrace, loaded: np.ndarray, warmup_bins: int) -> ModeAResult:
    """Cold starts and wasted memory of a loaded-before-invocation matrix [P, T], after the warm-up."""
    if loaded.shape != trace.counts.shape:
        raise ValueError(f"loaded matrix {loaded.shape} does not match the trace {trace.counts.shape}")
    counts = trace.counts[:, warmup_bins:]  # [P, E]
    state = loaded[:, warmup_bins:]  # [P, E]
    invoked = counts > 0
    cold = (invoked & ~state).sum(axis=1)  # [P]
    idle_bins = (state & ~invoked).sum(axis=1)  # [P]
    return ModeAResult(
        policy=policy,
        **cold_start_summary(cold, counts.sum(axis=1)),
        wasted_memory_gb_min=float((idle_bins * trace.memory_mb).sum() / 1024.0 * trace.bin_minutes),
        loaded_bins=int(state.sum()),
    )


def cold_start_summary(cold: np.ndarray, invocations: np.ndarray) -> dict[str, Any]:
    """Request-weighted and per-app cold-start figures from per-program counts [P] (both modes)."""
    apps = invocations > 0
    per_app = 100.0 * cold[apps] / invocations[apps]
    total = int(invocations.sum())
    return {
        "apps": int(apps.sum()),
        "invocations": total,
        "cold_starts": int(cold.sum()),
        "cold_start_pct": 100.0 * float(cold.sum()) / total if total else 0.0,
        "p75_app_cold_start_pct": float(np.percentile(per_app, 75)) if len(per_app) else 0.0,
        "median_app_cold_start_pct": float(np.percentile(per_app, 50)) if len(per_app) else 0.0,
    }


def last_execution(counts: np.ndarray) -> np.ndarray:
    """For every bin, the index of the latest earlier bin with invocations (-1 when none) [P, T]."""
    _n_programs, n_bins = counts.shape
    marks = np.where(counts > 0, np.arange(n_bins)[None, :], -1)  # [P, T]
    upto = np.maximum.accumulate(marks, axis=1)  # latest execution at or before t
    before = np.empty_like(upto)
    before[:, 0] = -1
    before[:, 1:] = upto[:, :-1]  # strictly before t
    return before


def keepalive_loaded(counts: np.ndarray, keep_bins: float) -> np.ndarray:
    """Loaded while an execution happened within the last `keep_bins` bins (inf = forever after the first)."""
    last = last_execution(counts)
    since = np.arange(counts.shape[1])[None, :] - last  # [P, T] bins since the last execution
    return (last >= 0) & (since <= keep_bins)
