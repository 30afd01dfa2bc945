"""Planning clones: read the forecast, programs, hosts and latency, validate them, plan, write the plan. The CLI's
`plan` reads everything from files; the deploy flow plans the latest stored forecast for a validated dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from clonecast.settings import Limits, Settings
from models.panel import Panel
from models.timing import ClockModel, TimingModel
from policy.allocate import Budget
from policy.plan import ClonePlan, ManagerSettings, State, plan_checked, state_from_frame
from policy.prewarm import with_clock
from policy.targets import Objective
from traces import forecast_store
from traces.frames import Dataset
from traces.loaders.hosts import read_latency
from traces.loaders.long import read_forecast
from traces.progress import Progress


@dataclass(frozen=True)
class Inputs:
    """What a plan is made from (frames as read: `plan` validates them)."""

    forecast: pd.DataFrame
    programs: pd.DataFrame
    hosts: pd.DataFrame
    latency: pd.DataFrame | None = None
    existing: State | None = None
    source: str = ""
    chance: pd.Series | None = None  # P(>= 1 invocation in the next forecast bin) by program (chance_of_invocation)


def read_inputs(
    forecast: Path,
    programs: Path,
    hosts: Path,
    *,
    latency: Path | None = None,
    existing: Path | None = None,
    zones: int = 3,
    ahead: pd.Timedelta,
) -> Inputs:
    """The inputs of a plan from files: forecast, programs (a file, or a dataset directory: its programs frame,
    and its requests give the timing model's chance of an invocation within `ahead`, the forecast bin, of its
    end), hosts (a hosts file or an openb node list spread over `zones`), the latency matrix and the clones
    that exist (CSV)."""
    from traces.loaders.hosts import read_hosts
    from traces.loaders.long import read_programs
    from traces.store import is_dataset_dir, read_dataset

    dataset = read_dataset(programs) if is_dataset_dir(programs) else None
    return Inputs(
        forecast=read_forecast(forecast),
        programs=read_programs(programs) if dataset is None else dataset.programs,
        hosts=read_hosts(hosts, zones=zones),
        latency=read_latency(latency) if latency else None,
        existing=state_from_frame(pd.read_csv(existing)) if existing else None,
        source=f"{forecast} + {hosts} + {programs}",
        chance=None if dataset is None else chance_of_invocation(dataset, ahead),
    )


def chance_of_invocation(dataset: Dataset, ahead: pd.Timedelta, model: TimingModel | None = None) -> pd.Series:
    """P(>= 1 invocation within `ahead` of the dataset's end) per program, from the timing model over its bins,
    raised to the clock model's (a timer's minute of the hour)."""
    panel = Panel.from_dataset(dataset, dataset.freq)  # [P, T] at the dataset's own bins
    state = (model or TimingModel()).state(len(panel.codes))
    clock = ClockModel().state(len(panel.codes), panel.start, panel.width)
    for column in panel.values.T:
        state.observe(column > 0)
        clock.observe(column > 0)
    steps = max(1, round(ahead / panel.width))
    return pd.Series(with_clock(state.within(steps), clock.within(steps)), index=panel.codes.astype(str), name="chance")


def latest_forecast(settings: Settings) -> pd.DataFrame:
    """The newest forecast in the store (what batch prediction wrote)."""
    return forecast_store.latest(settings.forecasts_dir)


def end_of(dataset: Dataset) -> pd.Timestamp:
    """'Now' for a dataset: the end of its last bin (replays and backfills behave like live runs)."""
    return dataset.requests["ts"].max() + pd.Timedelta(dataset.freq)


def plan(
    inputs: Inputs,
    settings: Settings,
    *,
    limits: Limits | None = None,
    now: pd.Timestamp | None = None,
    at: pd.Timestamp | None = None,
    objective: Objective | None = None,
    max_clones: int | None = None,
    progress: Progress | None = None,
) -> ClonePlan:
    """Validate the inputs (the forecast fresh by `now`) and plan from them; DataValidationError, carrying the
    report, when any check fails: nothing is planned from bad input."""
    manager = ManagerSettings(objective=objective or Objective(), budget=Budget(max_clones=max_clones))
    return plan_checked(
        inputs.forecast,
        inputs.programs,
        inputs.hosts,
        limits=limits or settings.limits,
        now=now,
        freq=settings.freq,
        source=inputs.source,
        progress=progress,
        at=at,
        existing=inputs.existing,
        latency=inputs.latency,
        settings=manager,
        chance=inputs.chance,
    )


def write(plan: ClonePlan, path: Path) -> Path:
    """The plan as JSON at `path` (replayable: `clonecast apply --plan`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(plan.to_json() + "\n")
    return path


def latest_plan_file(settings: Settings) -> Path:
    """Where the deploy flow keeps its newest plan (a dry-run re-plans from it)."""
    return settings.state_dir / "plans" / "latest-plan.json"
