"""Deploying clones (the deploy flow's job): the latest stored forecast, validated and fresh by the end of the data,
planned onto a fleet keeping the clones that exist, written, and applied through an actuator."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from actuators.base import Actuator, ApplyReport
from clonecast.settings import Settings
from jobs import apply as applying
from jobs import plan as planning
from policy.plan import ClonePlan
from traces.frames import Dataset
from traces.loaders.hosts import read_latency


@dataclass(frozen=True)
class Deployed:
    """The plan made, where it was written, and what the actuator did (None: a dry-run without an engine)."""

    plan: ClonePlan
    path: Path
    applied: ApplyReport | None
    actuator: str

    def summary(self) -> dict[str, object]:
        desired = self.plan.desired()
        return {
            "clones": sum(desired.values()),
            "hosts": len({h for _, h in desired}),
            "short_programs": len(self.plan.shortfall),
            "changed": self.applied.changed if self.applied else 0,
            "actuator": self.actuator,
            "plan": str(self.path),
        }


def deploy(
    dataset: Dataset,
    settings: Settings,
    *,
    actuator: str = "dry-run",
    hosts: Path | None = None,
    latency: Path | None = None,
    max_age: str | None = "15min",
    max_clones: int | None = None,
    namespace: str = "clonecast",
    engine: Actuator | None = None,
) -> Deployed:
    """Plan the latest stored forecast for `dataset` and apply it through the actuator ("dry-run", "docker",
    "kubernetes"). The plan keeps the clones that exist where they still fit (the engine's observation; a
    dry-run's are the previous plan's) and places by `latency` (default: the demo fleet's matrix when planning
    onto the demo fleet), holding one clone where the timing model makes the next invocation worth it
    (`chance_of_invocation`). `engine` replaces the actuator built from the settings. DataValidationError when the
    forecast is invalid or stale: nothing is actuated."""
    kind = applying.check_kind(actuator)
    fleet = applying.hosts(kind, settings, hosts)
    if engine is None:
        engine = applying.actuator(kind, dataset.programs, fleet, settings, namespace=namespace)
    if latency is None and hosts is None and kind == "dry-run":
        latency = applying.DEMO_FLEET / "latency.csv"
    path = planning.latest_plan_file(settings)
    now = planning.end_of(dataset)
    inputs = planning.Inputs(
        forecast=planning.latest_forecast(settings),
        programs=dataset.programs,
        hosts=fleet,
        latency=read_latency(latency) if latency else None,
        existing=applying.running(engine, path),
        source=f"latest forecast in {settings.forecasts_dir}",
        chance=planning.chance_of_invocation(dataset, pd.Timedelta(settings.freq)),
    )
    plan = planning.plan(
        inputs,
        settings,
        limits=settings.limits.model_copy(update={"max_age": max_age}),
        now=now,
        at=now,
        max_clones=max_clones,
    )
    planning.write(plan, path)
    return Deployed(plan, path, applying.apply(plan, engine, dry_run=kind == "dry-run"), kind)
