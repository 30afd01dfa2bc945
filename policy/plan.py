"""The cloning manager: forecast frame + programs + hosts (+ the clones that exist) -> a clone plan.

A plan holds ordered actions `{op: clone|remove, program_code, host, count, target, reason}` and the
target warm count per program, and serialises to JSON. Every action also carries the host's target count,
so a plan is replayable: applying it twice leaves the same clones as applying it once.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from clonecast.errors import DataValidationError, InputError
from policy.allocate import Budget, Capacity, allocate, clone_values
from policy.placement import HostArrays, latency_matrix, place
from policy.prewarm import COLD_START_COST_MINUTES, cold_start_cost_bins, worth_loading
from policy.targets import Objective, quantile_at, ready_bin, warm_targets
from traces.clones import (
    DEFAULT_COLD_START_S,
    clones_needed,
    cold_start_weights,
    concurrencies,
    criticalities,
    durations_s,
)
from traces.frames import forecast_frame, hosts_frame, programs_frame, quantile_columns

if TYPE_CHECKING:
    from clonecast.settings import Limits
    from traces.progress import Progress

State = dict[tuple[str, str], int]  # (program_code, host) -> clones


@dataclass(frozen=True)
class Action:
    """One step of a plan; `target` is the program's clone count on the host once it is done."""

    op: str
    program_code: str
    host: str
    count: int
    target: int
    reason: str


@dataclass(frozen=True)
class ClonePlan:
    """Ordered actions plus the target warm count per program, JSON-serialisable and replayable."""

    created: str
    origin: str
    bin_start: str
    actions: tuple[Action, ...]
    targets: dict[str, int]
    wanted: dict[str, int]
    levels: dict[str, float]
    shortfall: tuple[dict[str, Any], ...] = ()
    schedule: dict[str, list[int]] = field(default_factory=dict)
    placements: tuple[dict[str, Any], ...] = ()  # the whole desired state: {program_code, host, count}
    held: tuple[str, ...] = ()  # programs whose next invocation is worth holding one clone for (policy.prewarm)

    def desired(self) -> State:
        """Clones per (program, host) once the plan is done (what a reconcile converges to)."""
        return {(p["program_code"], p["host"]): int(p["count"]) for p in self.placements}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClonePlan:
        fields = {**data, "actions": tuple(Action(**a) for a in data["actions"])}
        fields["shortfall"] = tuple(data.get("shortfall", ()))
        fields["placements"] = tuple(data.get("placements", ()))
        fields["held"] = tuple(data.get("held", ()))
        return cls(**fields)


def apply(state: State, plan: ClonePlan) -> State:
    """Set every (program, host) an action names to the action's target; idempotent."""
    after = dict(state)
    for action in plan.actions:
        if action.target > 0:
            after[(action.program_code, action.host)] = action.target
        else:
            after.pop((action.program_code, action.host), None)
    return after


def state_from_frame(existing: pd.DataFrame | None) -> State:
    """Existing clones from a frame with program_code, host, count (one row per pair)."""
    if existing is None or existing.empty:
        return {}
    grouped = existing.groupby(["program_code", "host"], sort=True)["count"].sum()
    return {(str(p), str(h)): int(c) for (p, h), c in grouped.items() if c > 0}


@dataclass(frozen=True)
class ManagerSettings:
    """Objective, budget and how far ahead the plan looks."""

    objective: Objective = field(default_factory=Objective)
    budget: Budget = field(default_factory=Budget)
    cold_start_cost: float = COLD_START_COST_MINUTES  # container-minutes of holding a cold start is worth


def plan_clones(
    forecast: pd.DataFrame,
    programs: pd.DataFrame,
    hosts: pd.DataFrame,
    *,
    at: pd.Timestamp | None = None,
    existing: State | None = None,
    latency: pd.DataFrame | None = None,
    settings: ManagerSettings | None = None,
    chance: pd.Series | None = None,
) -> ClonePlan:
    """Plan the clones to hold now (`at`, default: the freshest forecast's origin) from the freshest forecast.

    Per program: enough for the current bin and for the bin that clones asked for now must be warm for, a
    cold start plus one decision interval ahead (the simulator's rule, `ready_bin`). A plan's decision
    interval is one forecast bin: plans are remade with each new forecast, too late for the next bin.
    `chance` (by program code: P(>= 1 invocation) in the next forecast bin, from the timing model) holds one
    clone where that is worth a cold start (policy.prewarm), as the simulator's predictive policy does.
    """
    settings = settings or ManagerSettings()
    existing = existing or {}
    origin, frame = _freshest(forecast, at)
    width = _width(frame)
    steps = np.sort(frame["step"].unique())
    codes = np.sort(frame["program_code"].astype(str).unique())
    profile = programs.set_index("program_code").reindex(codes)
    if profile["memory_mb"].isna().any():
        raise InputError(
            f"forecast names programs the programs frame lacks: {list(codes[profile['memory_mb'].isna()][:5])}; "
            "give the programs frame of the data the forecast was made from"
        )
    levels_available = quantile_columns(frame)
    grid = _grid(frame, codes, steps, ["yhat", *levels_available])  # column -> [P, S]

    cold = profile["cold_start_s"].fillna(DEFAULT_COLD_START_S).to_numpy(float)
    memory = profile["memory_mb"].to_numpy(float)
    cpu = profile["cpu_millicores"].to_numpy(float)
    gpus = profile["gpus"].fillna(0).to_numpy(np.int64)
    gpu_type = profile["gpu_type"].fillna("").astype(str).to_numpy(object)
    concurrency = concurrencies(profile)
    duration = durations_s(profile)
    classes = criticalities(profile)  # [P]
    weight = cold_start_weights(classes)  # [P] what a cold start costs relative to a standard program's

    level = settings.objective.levels(cold, memory, gpus, width, weight)  # [P]
    quantiles = {int(c[1:]): grid[c] for c in levels_available} or {50: grid["yhat"]}
    demand = quantile_at(level, quantiles)  # [P, S] requests per bin at each program's level
    schedule = clones_needed(demand, duration[:, None], concurrency, width)  # [P, S]
    first_bin = origin + (steps[0] - 1) * width
    now_s = ((at if at is not None else origin) - first_bin).total_seconds()
    current = min(max(int(now_s // width.total_seconds()), 0), len(steps) - 1)
    ready = ready_bin(now_s, cold, width.total_seconds(), width.total_seconds(), len(steps))  # [P]
    wanted = warm_targets(schedule, current, ready)
    timing = [""] * len(codes)
    worth = np.zeros(len(codes), dtype=bool)  # an invocation in the next bin is worth holding one clone for
    if chance is not None:
        p = chance.reindex(codes).fillna(0.0).to_numpy(float)
        cost = cold_start_cost_bins(settings.cold_start_cost, width / pd.Timedelta("1min"), weight)
        worth = worth_loading(p, cost)
        held = worth & (wanted < 1)
        wanted = np.where(held, 1, wanted)
        timing = [f"; P(invocation) {v:.2f} is worth holding one" if h else "" for v, h in zip(p, held, strict=True)]
    levels_sorted = np.array(sorted(quantiles), float) / 100.0
    needed_by_level = np.stack(
        [
            warm_targets(clones_needed(quantiles[k], duration[:, None], concurrency, width), current, ready)
            for k in sorted(quantiles)
        ],
        axis=1,
    )  # [P, L]
    deciding = np.where(schedule[np.arange(len(codes)), ready] >= schedule[:, current], ready, current)  # [P]
    for_bin = pd.DatetimeIndex([first_bin + int(b) * width for b in deciding])  # the bin `wanted` is for
    first_value = clone_values(
        needed_by_level, levels_sorted, cold, np.arange(len(codes)), np.ones(len(codes), np.int64), weight
    )

    host_arrays = HostArrays.from_frame(hosts)
    capacity = Capacity(
        cpu_millicores=float(host_arrays.cpu.sum()),
        memory_mb=float(host_arrays.memory.sum()),
        gpus_by_type=hosts.groupby(hosts["gpu_type"].fillna(""))["free_gpus"].sum().astype(int).to_dict(),
    )
    floor = _optional(profile, "floor", 0)
    cap = _optional(profile, "cap", np.iinfo(np.int64).max)
    granted = allocate(
        codes,
        wanted,
        needed_by_level,
        levels_sorted,
        cold,
        cpu,
        memory,
        gpus,
        gpu_type,
        capacity,
        floor,
        cap,
        settings.budget,
        weight,
    )

    region_index, regions = pd.factorize(
        profile["region"].fillna("") if "region" in profile else pd.Series([""] * len(codes))
    )
    latency_ms = latency_matrix([str(r) for r in regions], host_arrays.zones, latency)
    order = np.lexsort((np.arange(len(codes)), -first_value, gpus == 0))  # GPU programs, then most valuable
    host_index = {str(h): i for i, h in enumerate(host_arrays.names)}
    code_index = {c: i for i, c in enumerate(codes)}
    mine = [(code_index[p], host_index[h], c) for (p, h), c in existing.items() if p in code_index and h in host_index]
    existing_arrays = tuple(np.array([m[i] for m in mine], np.int64) for i in range(3)) if mine else None
    placement = place(
        granted,
        order,
        cpu,
        memory,
        gpus,
        gpu_type,
        region_index,
        host_arrays,
        latency_ms,
        existing_arrays,  # type: ignore[arg-type]
    )
    after: State = {
        (str(codes[p]), str(host_arrays.names[h])): int(c)
        for p, h, c in zip(placement.program, placement.host, placement.count, strict=True)
        if c > 0
    }
    placed = {str(codes[p]): 0 for p in range(len(codes))}
    for (p, _), c in after.items():
        placed[p] += c
    full = np.minimum(np.maximum(wanted, floor), cap)  # [P] what each program would get with room for all
    scarcity = _scarcity(granted, full, classes)
    notes = [t + s for t, s in zip(timing, scarcity, strict=True)]
    actions = _actions(existing, after, codes, wanted, granted, level, for_bin, notes)
    shortfall = tuple(
        {
            "program_code": str(codes[p]),
            "criticality": str(classes[p]),
            "wanted": int(wanted[p]),
            "granted": int(granted[p]),
            "placed": placed[str(codes[p])],
            "reason": "no host fits (fragmentation or GPU type)"
            if placement.unplaced[p]
            else f"scarce capacity or budget: {scarcity[p].removeprefix('; scarce: ')}",
        }
        for p in np.flatnonzero((granted < full) | (placement.unplaced > 0))
    )
    return ClonePlan(
        created=pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        origin=origin.isoformat(),
        bin_start=first_bin.isoformat(),
        actions=actions,
        targets=placed,
        wanted={str(c): int(w) for c, w in zip(codes, wanted, strict=True)},
        levels={str(c): round(float(v), 4) for c, v in zip(codes, level, strict=True)},
        shortfall=shortfall,
        schedule={str(c): row.tolist() for c, row in zip(codes, schedule, strict=True)},
        placements=tuple({"program_code": p, "host": h, "count": c} for (p, h), c in sorted(after.items())),
        held=tuple(str(c) for c in codes[worth]),
    )


def plan_checked(
    forecast: pd.DataFrame,
    programs: pd.DataFrame,
    hosts: pd.DataFrame,
    *,
    limits: Limits | None = None,
    now: pd.Timestamp | None = None,
    freq: pd.Timedelta | str | None = None,
    source: str = "",
    progress: Progress | None = None,
    at: pd.Timestamp | None = None,
    existing: State | None = None,
    latency: pd.DataFrame | None = None,
    settings: ManagerSettings | None = None,
    chance: pd.Series | None = None,
) -> ClonePlan:
    """Validate the forecast (fresh by `now`), programs and hosts, then plan from them (`plan_clones`);
    DataValidationError, carrying the report, when any check fails: nothing is planned from bad input."""
    from data_checks import validate  # here: Great Expectations loads only when a plan is checked

    report = validate(
        forecast=forecast,
        programs=programs,
        hosts=hosts,
        freq=freq,
        limits=limits,
        now=now,
        source=source,
        progress=progress,
    )
    if not report.success:
        raise DataValidationError(report)
    return plan_clones(
        forecast_frame(forecast),
        programs_frame(programs),
        hosts_frame(hosts),
        at=at,
        existing=existing,
        latency=latency,
        settings=settings,
        chance=chance,
    )


def _actions(
    before: State,
    after: State,
    codes: np.ndarray,
    wanted: np.ndarray,
    granted: np.ndarray,
    level: np.ndarray,
    for_bin: pd.DatetimeIndex,
    notes: list[str],
) -> tuple[Action, ...]:
    """Removals first (they free capacity), then clones; each with its reason (criticality, timing, scarcity)."""
    index = {str(c): i for i, c in enumerate(codes)}
    removes: list[Action] = []
    clones: list[Action] = []
    for key in sorted(set(before) | set(after)):
        program, host = key
        old, new = before.get(key, 0), after.get(key, 0)
        if old == new:
            continue
        p = index.get(program)
        if p is None:
            why = "program not in the forecast: nothing predicted"
        else:
            why = (
                f"q{level[p] * 100:.0f} forecast for {for_bin[p]:%Y-%m-%d %H:%M} UTC wants {wanted[p]} clone(s), "
                f"{granted[p]} granted{notes[p]}"
            )
        action = Action("clone" if new > old else "remove", program, host, abs(new - old), new, why)
        (clones if new > old else removes).append(action)
    return tuple(removes + clones)


def _scarcity(granted: np.ndarray, full: np.ndarray, classes: np.ndarray) -> list[str]:
    """Per program, the end of its reason: its criticality and, when capacity or budget fell short of any
    program, what it kept (" (standard)", "; scarce: kept (critical)", "; scarce: dropped (best-effort)")."""
    if (granted >= full).all():
        return [f" ({c})" for c in classes]
    notes = []
    for got, asked, cls in zip(granted.tolist(), full.tolist(), classes.tolist(), strict=True):
        kept = "kept" if got >= asked else "dropped" if got == 0 else f"{got} of {asked} kept"
        notes.append(f"; scarce: {kept} ({cls})")
    return notes


def _freshest(forecast: pd.DataFrame, at: pd.Timestamp | None) -> tuple[pd.Timestamp, pd.DataFrame]:
    origins = forecast["origin"]
    if at is not None:
        origins = origins[origins <= at]
        if origins.empty:
            raise InputError(
                f"no forecast was made by {at}; the earliest origin is {forecast['origin'].min()}: "
                "plan at a later time or give an older forecast"
            )
    origin = pd.Timestamp(origins.max())
    frame = forecast[forecast["origin"] == origin]
    if at is not None:
        frame = frame[frame["ts"] >= at.floor("s")]
    if frame.empty:
        raise InputError(f"the forecast made at {origin} has no bin at or after {at}: it is stale, make a fresh one")
    return origin, frame


def _width(frame: pd.DataFrame) -> pd.Timedelta:
    targets = np.sort(frame["ts"].unique())
    if len(targets) > 1:
        return pd.Timedelta(np.diff(targets).min())
    row = frame.iloc[0]
    return (row["ts"] - row["origin"]) / max(int(row["step"]) - 1, 1) if int(row["step"]) > 1 else pd.Timedelta("5min")


def _grid(frame: pd.DataFrame, codes: np.ndarray, steps: np.ndarray, columns: list[str]) -> dict[str, np.ndarray]:
    """Forecast columns as [P, S] matrices over programs and steps (0 where missing)."""
    rows = pd.Index(codes).get_indexer(frame["program_code"].astype(str))
    cols = np.searchsorted(steps, frame["step"].to_numpy())
    out = {}
    for column in columns:
        matrix = np.zeros((len(codes), len(steps)))
        matrix[rows, cols] = frame[column].to_numpy(float)
        out[column] = matrix
    return out


def _optional(profile: pd.DataFrame, column: str, default: int) -> np.ndarray:
    if column not in profile:
        return np.full(len(profile), default, np.int64)
    return profile[column].fillna(default).to_numpy(np.int64)
