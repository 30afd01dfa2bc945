"""The actuator protocol and the results it reports; no engine imports here."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from clonecast.errors import ActuatorError
from policy.plan import ClonePlan, State


@dataclass
class Observation:
    """What an engine runs now: live clones and failing ones per (program, host), unplaceable per program."""

    clones: State = field(default_factory=dict)
    unhealthy: State = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)

    def total(self, program: str) -> int:
        return sum(c for (p, _), c in self.clones.items() if p == program)


@dataclass(frozen=True)
class ActionResult:
    """What happened to one (program, host) pair."""

    program_code: str
    host: str
    target: int
    before: int
    created: int = 0
    removed: int = 0
    replaced: int = 0
    status: str = "ok"  # ok | failed | dry-run
    error: str = ""
    seconds: float = 0.0


@dataclass
class ApplyReport:
    """Per-pair results of an apply or reconcile."""

    results: list[ActionResult] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return all(r.status in ("ok", "dry-run") for r in self.results)

    @property
    def changed(self) -> int:
        return sum(r.created + r.removed + r.replaced for r in self.results)

    def attempt(
        self, program: str, where: str, target: int, work: Callable[[], dict[str, Any]], *, before: int = 0
    ) -> None:
        """Run one pair's work, timing it; its counts (and `before`, when it knows better) or its failure."""
        start = time.perf_counter()
        try:
            counts = {"before": before, **work()}
        except ActuatorError as e:
            self.results.append(
                ActionResult(
                    program, where, target, before, status="failed", error=str(e), seconds=time.perf_counter() - start
                )
            )
            return
        self.results.append(ActionResult(program, where, target, seconds=time.perf_counter() - start, **counts))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "changed": self.changed,
            "dry_run": self.dry_run,
            "results": [asdict(r) for r in self.results],
        }


class Actuator(Protocol):
    """Turns clone plans into containers on one kind of engine."""

    def observe(self) -> Observation:
        """Clones that exist now (only clonecast's own)."""
        ...

    def apply(self, plan: ClonePlan, *, dry_run: bool = False) -> ApplyReport:
        """Carry out the plan's actions (each converges its pair to the action's target)."""
        ...

    def reconcile(self, plan: ClonePlan, *, dry_run: bool = False) -> ApplyReport:
        """Converge everything the plan covers to its desired state, replacing failing clones."""
        ...
