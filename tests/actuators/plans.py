"""Hand-made plans and frames for the actuator tests."""

from __future__ import annotations

import pandas as pd

from policy.plan import Action, ClonePlan, State, apply


def plan_to(desired: State, before: State | None = None, origin: str = "2026-01-05T12:00:00+00:00") -> ClonePlan:
    """A plan whose actions take `before` to `desired` (targets per program included)."""
    before = before or {}
    actions = []
    for key in sorted(set(before) | set(desired)):
        old, new = before.get(key, 0), desired.get(key, 0)
        if old != new:
            actions.append(Action("clone" if new > old else "remove", key[0], key[1], abs(new - old), new, "test"))
    targets: dict[str, int] = {}
    for (program, _), count in desired.items():
        targets[program] = targets.get(program, 0) + count
    plan = ClonePlan(
        created=origin,
        origin=origin,
        bin_start=origin,
        actions=tuple(actions),
        targets=targets,
        wanted=dict(targets),
        levels={p: 0.9 for p in targets},
        placements=tuple({"program_code": p, "host": h, "count": c} for (p, h), c in sorted(desired.items()) if c),
    )
    assert apply(before, plan) == {k: v for k, v in desired.items() if v}
    return plan


def programs(*codes: str, image: str = "clonecast/workload:latest", gpus: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "program_code": list(codes),
            "cpu_millicores": 100.0,
            "memory_mb": 32.0,
            "gpus": gpus,
            "gpu_type": "",
            "concurrency": 1,
            "cold_start_s": 1.0,
            "image": image,
        }
    )


def hosts(*names: str, gpus: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "host": list(names),
            "zone": "z",
            "region": "r",
            "cpu_millicores": 64000.0,
            "memory_mb": 65536.0,
            "gpus": gpus,
            "gpu_type": "T4" if gpus else "",
            "free_cpu_millicores": 64000.0,
            "free_memory_mb": 65536.0,
            "free_gpus": gpus,
        }
    )
