"""Checks a plan must pass before any call to an engine."""

from __future__ import annotations

import pandas as pd

from clonecast.errors import PlanError
from policy.plan import ClonePlan


def check_plan(plan: ClonePlan, programs: pd.DataFrame, hosts: pd.DataFrame) -> None:
    """Raise PlanError listing every problem: unknown host or program, negative count, no image, GPUs."""
    profile = programs.set_index("program_code")
    capacity = hosts.set_index("host")
    problems: list[str] = []
    desired = plan.desired()
    pairs = {(a.program_code, a.host, a.count, a.target) for a in plan.actions}
    pairs |= {(p, h, c, c) for (p, h), c in desired.items()}
    for program, host, count, target in sorted(pairs):
        where = f"{program} on {host}"
        if count < 0 or target < 0:
            problems.append(f"{where}: negative count ({count}) or target ({target})")
        if host not in capacity.index:
            problems.append(f"{where}: unknown host {host!r}")
        if program not in profile.index:
            problems.append(f"{where}: program {program!r} is not in the programs frame")
            continue
        image = profile.at[program, "image"]
        if not isinstance(image, str) or not image.strip():
            problems.append(f"{where}: the program has no image to clone")
    gpus_per_host: dict[str, int] = {}
    for (program, host), count in desired.items():
        if program in profile.index and host in capacity.index:
            gpus_per_host[host] = gpus_per_host.get(host, 0) + int(profile.at[program, "gpus"]) * count
    for host, wanted in sorted(gpus_per_host.items()):
        have = int(capacity.at[host, "gpus"])
        if wanted > have:
            problems.append(f"{host}: the plan puts {wanted} GPUs on a host that has {have}")
    if problems:
        raise PlanError(
            f"plan rejected before any engine call ({len(problems)} problem(s)):\n- " + "\n- ".join(problems)
        )
