"""Prioritisation under scarcity: which clones to grant when hosts cannot hold every target.

Each wanted clone (program p, k-th clone) is worth the cold starts it is expected to avoid,
P(need >= k) x cold_start_s x the weight of the program's criticality (a critical program's cold start
costs four standard ones), where P comes from the clones needed at each forecast quantile (a wide
interval keeps P high for more clones). Clones are granted in order of that value per unit of the
scarce resource they use: GPUs for GPU programs, granted first against the GPUs of their type, then
the dominant CPU/memory share for the others. Floors are granted before everything, caps and a global
budget are never exceeded, and ties break on program code then k, so the result is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from policy.targets import chance_at_least


@dataclass(frozen=True)
class Budget:
    """Global limits on what the manager may hold warm (None = no limit)."""

    max_clones: int | None = None
    max_memory_mb: float | None = None
    max_gpus: int | None = None


@dataclass(frozen=True)
class Capacity:
    """Aggregate free resources for clones, GPUs per type ("" = GPUs of any type)."""

    cpu_millicores: float
    memory_mb: float
    gpus_by_type: dict[str, int]


def clone_values(
    needed: np.ndarray,
    levels: np.ndarray,
    cold_start_s: np.ndarray,
    program: np.ndarray,
    kth: np.ndarray,
    weight: np.ndarray | None = None,
) -> np.ndarray:
    """Value of the `kth` clone of `program` for each candidate [C].

    `needed` [P, L] are the clones needed at the quantile `levels` [L] (0..1, ascending);
    P(need >= k) = 1 - (the highest level whose need is below k), an empirical step CDF. `weight` [P]
    scales each program's cold starts (its criticality; default 1).
    """
    value = chance_at_least(needed[program], levels, kth[:, None]) * cold_start_s[program]  # [C]
    return value if weight is None else value * weight[program]


def allocate(
    codes: np.ndarray,
    target: np.ndarray,
    needed: np.ndarray,
    levels: np.ndarray,
    cold_start_s: np.ndarray,
    cpu: np.ndarray,
    memory: np.ndarray,
    gpus: np.ndarray,
    gpu_type: np.ndarray,
    capacity: Capacity,
    floor: np.ndarray | None = None,
    cap: np.ndarray | None = None,
    budget: Budget | None = None,
    weight: np.ndarray | None = None,
) -> np.ndarray:
    """Clones granted per program [P] (<= max(target, floor), <= cap, within capacity and budget).

    `needed` [P, L] are the clones needed at each quantile `levels` [L]; they value each clone, with
    `weight` [P] (criticality) scaling a program's cold starts."""
    n = len(codes)
    floor = np.zeros(n, np.int64) if floor is None else floor
    cap = np.full(n, np.iinfo(np.int64).max) if cap is None else cap
    budget = budget or Budget()
    wanted = np.minimum(np.maximum(target, floor), cap)  # [P]
    upto = int(wanted.max()) if n else 0
    if upto == 0:
        return np.zeros(n, np.int64)
    program, kth = np.nonzero(np.arange(1, upto + 1)[None, :] <= wanted[:, None])  # candidates
    kth = kth + 1
    value = clone_values(needed, levels, cold_start_s, program, kth, weight)
    gpu = gpus[program] > 0
    share = np.maximum(
        cpu[program] / max(capacity.cpu_millicores, 1e-9), memory[program] / max(capacity.memory_mb, 1e-9)
    )
    scarce = np.where(gpu, gpus[program], share)
    density = value / np.maximum(scarce, 1e-12)
    must = kth <= floor[program]
    rank = np.argsort(np.asarray(codes, dtype=str), kind="stable")
    order_of_code = np.empty(n, np.int64)
    order_of_code[rank] = np.arange(n)
    # floors first, then GPU clones, then by value per scarce unit; ties by program code, then k
    order = np.lexsort((kth, order_of_code[program], -density, ~gpu, ~must))
    granted = np.zeros(n, np.int64)
    cpu_left, memory_left = capacity.cpu_millicores, capacity.memory_mb
    gpus_left = dict(capacity.gpus_by_type)
    clones_left = budget.max_clones if budget.max_clones is not None else np.inf
    budget_memory = budget.max_memory_mb if budget.max_memory_mb is not None else np.inf
    budget_gpus = budget.max_gpus if budget.max_gpus is not None else np.inf
    for i in order:
        p = program[i]
        if clones_left < 1 or cpu[p] > cpu_left or memory[p] > memory_left or memory[p] > budget_memory:
            continue
        if gpus[p] > 0:
            kind = _gpu_pool(gpus_left, gpu_type[p], gpus[p])
            if kind is None or gpus[p] > budget_gpus:
                continue
            gpus_left[kind] -= gpus[p]
            budget_gpus -= gpus[p]
        granted[p] += 1
        clones_left -= 1
        cpu_left -= cpu[p]
        memory_left -= memory[p]
        budget_memory -= memory[p]
    return granted


def _gpu_pool(left: dict[str, int], wanted_type: str, count: int) -> str | None:
    """The GPU type a clone draws from: its own type, or (for "any") the type with most GPUs left."""
    if wanted_type:
        return wanted_type if left.get(wanted_type, 0) >= count else None
    best = max(sorted(left), key=lambda t: left[t], default=None)
    return best if best is not None and left[best] >= count else None
