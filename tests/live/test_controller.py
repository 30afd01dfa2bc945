"""The live controller's logic with in-memory stand-ins for Prometheus and the engine (the real ones are
exercised by tests/live/test_live_loop.py): the forecast loop plans from the pulled history, the scaling loop
corrects it from in-flight requests and health, and nothing is actuated while an input is missing or bad."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from actuators.base import ApplyReport, Observation
from clonecast.errors import DataValidationError, SourceError
from clonecast.settings import Settings
from data_checks.report import ValidationReport
from live import controller as live_controller
from live.clock import Clock
from live.controller import Controller, LiveJournal, LivePrograms, LiveSettings, baseline_forecaster, spread
from policy.plan import ClonePlan
from traces.frames import Dataset, empty_events, programs_frame, requests_frame
from traces.store import write_dataset

START = pd.Timestamp("2026-01-05T00:00:00Z")
CODES = ("busy", "quiet")


def history(days: float = 1.0) -> Dataset:
    """`busy`: 20 requests every 5-minute bin; `quiet`: none."""
    ts = pd.date_range(START, periods=int(days * 288), freq="5min")
    rows = [{"program_code": c, "ts": t, "requests": 20 if c == "busy" else 0} for c in CODES for t in ts]
    programs = pd.DataFrame(
        {
            "program_code": list(CODES),
            "image": "clonecast/workload:latest",
            "memory_mb": 64.0,
            "cpu_millicores": 100.0,
            "concurrency": 1,
            "duration_ms": 3000.0,  # 20 per 300 s x 3 s = 0.2 in flight: one clone
            "cold_start_s": 1.0,
            "gpus": 0,
            "gpu_type": "",
        }
    )
    return Dataset(requests_frame(pd.DataFrame(rows)), programs_frame(programs), empty_events(), pd.Timedelta("5min"))


@dataclass
class FakeEngine:
    """An engine that does what it is told: clones per (program, host), failing ones, calls recorded."""

    clones: dict[tuple[str, str], int] = field(default_factory=dict)
    unhealthy: dict[tuple[str, str], int] = field(default_factory=dict)
    calls: list[dict[tuple[str, str], int]] = field(default_factory=list)
    broken: bool = False

    def observe(self) -> Observation:
        if self.broken:
            raise SourceError("engine unreachable")
        return Observation(clones=dict(self.clones), unhealthy=dict(self.unhealthy))

    def apply(self, plan: ClonePlan, *, dry_run: bool = False) -> ApplyReport:
        raise AssertionError("the controller reconciles")

    def reconcile(self, plan: ClonePlan, *, dry_run: bool = False) -> ApplyReport:
        desired = plan.desired()
        self.calls.append(desired)
        for key, count in desired.items():
            self.clones[key] = count
            self.unhealthy.pop(key, None)
        return ApplyReport()


@dataclass
class FakeLoad:
    inflight: dict[str, float] = field(default_factory=dict)
    down: bool = False

    def read(self, codes: np.ndarray, mean_s: float, peak_s: float) -> tuple[np.ndarray, np.ndarray]:
        if self.down:
            raise SourceError("Prometheus at http://127.0.0.1:9090 did not answer")
        return self._values(codes), self.peak(codes, peak_s)

    def peak(self, codes: np.ndarray, seconds: float) -> np.ndarray:
        if self.down:
            raise SourceError("Prometheus at http://127.0.0.1:9090 did not answer")
        return np.round(self._values(codes)).astype(np.int64)

    def _values(self, codes: np.ndarray) -> np.ndarray:
        return np.array([self.inflight.get(str(c), 0.0) for c in codes])


@dataclass
class Pulled:
    dataset: Dataset
    new_rows: int = 0


class Harness:
    """A controller at trace time `now` over a stored history; `pull` and the clock are in the test's hands."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: Dataset) -> None:
        self.store = write_dataset(data, tmp_path / "store")
        self.data = data
        self.failure: Exception | None = None
        self.now = data.requests["ts"].max() + pd.Timedelta("5min")
        monkeypatch.setattr(live_controller, "pull", self._pull)
        self.engine, self.load = FakeEngine(), FakeLoad()
        clock = Clock(wall_origin=pd.Timestamp.now(tz="UTC"), trace_origin=self.now, speed=1.0)
        monkeypatch.setattr(Clock, "now", lambda _: self.now)
        settings = Settings()
        self.controller = Controller(
            store=self.store,
            source=None,  # type: ignore[arg-type]  # pull is replaced
            load=self.load,  # type: ignore[arg-type]
            engine=self.engine,
            hosts=pd.DataFrame(
                {"host": ["local"], "zone": ["a"], "region": ["r"], "cpu_millicores": [16000.0], "memory_mb": [16384.0]}
            ).assign(gpus=0, gpu_type="", free_cpu_millicores=16000.0, free_memory_mb=16384.0, free_gpus=0),
            forecaster=baseline_forecaster(settings),
            settings=settings,
            live=LiveSettings(speed=1.0, tick_s=5.0),
            clock=clock,
            journal=LiveJournal(),
        )

    def _pull(self, store: Path, source: object, *, limits: object) -> Pulled:
        if self.failure is not None:
            raise self.failure
        return Pulled(self.data)

    def clones(self, program: str) -> int:
        return sum(c for (p, _), c in self.engine.clones.items() if p == program)


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    return Harness(tmp_path, monkeypatch, history())


def test_spread_adds_where_planned_and_removes_from_the_fullest() -> None:
    existing = {("a", "h1"): 1, ("b", "h1"): 3, ("b", "h2"): 1}
    preferred = {("a", "h2"): 2}
    state = spread({"a": 3, "b": 2, "c": 1}, existing, preferred, ["h1", "h2"])
    assert state == {("a", "h1"): 1, ("a", "h2"): 2, ("b", "h1"): 1, ("b", "h2"): 1, ("c", "h1"): 1}
    assert spread({"a": 0}, existing, {}, ["h1"]) == {("a", "h1"): 0}


def test_programs_are_sized_from_the_programs_frame() -> None:
    programs = LivePrograms.from_frame(history().programs, pd.Timedelta("5min"))
    assert programs.codes.tolist() == ["busy", "quiet"]
    assert programs.duration_ms.tolist() == [3000.0, 3000.0]
    assert programs.concurrency.tolist() == [1, 1]


def test_a_forecast_plans_and_a_tick_converges_the_engine(harness: Harness) -> None:
    assert harness.controller.forecast()
    target = harness.controller.tick()
    assert target is not None
    # busy: 20 per bin every bin, seasonal-naive says 20 again: one clone (0.2 in flight); quiet: never invoked
    assert harness.clones("busy") >= 1
    assert harness.clones("quiet") == 0
    kinds = [e["kind"] for e in harness.controller.journal.entries]
    assert kinds[0] == "forecast" and "decision" in kinds


def test_clones_worth_holding_follow_the_peaks_seen_at_each_bin(harness: Harness) -> None:
    """`busy` is invoked every bin (P = 1) and peaked at 4 busy clones in each bin seen: the peak model makes each
    of the 4 worth holding for the next bin (the simulator's rule), whatever the forecast's mean (one clone)."""
    harness.load.inflight["busy"] = 4.0
    for _ in range(3):
        assert harness.controller.forecast()
        harness.now += pd.Timedelta("5min")
    harness.load.inflight["busy"] = 0.0  # nothing in flight now: the floor alone holds them
    harness.now -= pd.Timedelta("5min")
    assert harness.controller.tick() is not None
    assert harness.clones("busy") == 4
    assert harness.clones("quiet") == 0
    assert harness.controller.journal.of("forecast")[-1]["holding"] == 4


def test_an_unforecast_burst_panics_at_the_next_tick(harness: Harness) -> None:
    harness.controller.forecast()
    harness.controller.tick()
    before = harness.clones("quiet")
    harness.load.inflight["quiet"] = 6.0  # six requests in flight where none were forecast
    harness.now += pd.Timedelta("5s")
    harness.controller.tick()
    assert harness.clones("quiet") >= before + 6
    panic = [e for e in harness.controller.journal.of("decision") if e["program"] == "quiet"]
    assert panic and panic[-1]["reason"] == "under-prediction: panic"


def test_a_failed_clone_is_replaced_at_the_next_tick(harness: Harness) -> None:
    harness.controller.forecast()
    harness.controller.tick()
    healthy = harness.clones("busy")
    harness.engine.clones[("busy", "local")] -= 1
    harness.engine.unhealthy[("busy", "local")] = 1
    harness.now += pd.Timedelta("5s")
    harness.controller.tick()
    assert harness.clones("busy") == healthy
    assert harness.engine.unhealthy == {}
    assert harness.controller.journal.of("decision")[-1]["reason"] == "replace unhealthy clones"


@pytest.mark.parametrize(
    "failure, cause",
    [
        (SourceError("Prometheus at http://127.0.0.1:9090 is unreachable"), "prometheus"),
        (DataValidationError(ValidationReport(source="prometheus", results=())), "invalid-data"),
    ],
)
def test_nothing_is_actuated_while_demand_cannot_be_read(harness: Harness, failure: Exception, cause: str) -> None:
    harness.controller.forecast()
    harness.controller.tick()
    calls = len(harness.engine.calls)
    harness.failure = failure
    harness.now += pd.Timedelta("5min")
    assert not harness.controller.forecast()
    harness.load.down = True
    harness.load.inflight["quiet"] = 50.0  # would panic if it were read
    harness.now += pd.Timedelta("5s")
    assert harness.controller.tick() is None
    assert len(harness.engine.calls) == calls
    holds = harness.controller.journal.of("hold")
    assert [(h["loop"], h["cause"]) for h in holds] == [("forecast", cause), ("tick", "observe")]
    assert harness.controller.metrics.holding._value.get() == 1
    # the causes go away: it resumes by itself
    harness.failure, harness.load.down = None, False
    assert harness.controller.forecast()
    assert harness.controller.tick() is not None
    assert harness.controller.journal.entries[-1]["kind"] in ("decision", "resume", "forecast")
    assert harness.controller.journal.of("resume")


def test_stale_data_never_actuate(harness: Harness) -> None:
    harness.controller.forecast()
    harness.controller.tick()
    calls = len(harness.engine.calls)
    harness.now += pd.Timedelta("20min")  # no new bin for four bins
    assert not harness.controller.forecast()
    assert harness.controller.tick() is None
    assert len(harness.engine.calls) == calls
    assert harness.controller.journal.of("hold")[0]["cause"] == "stale-data"
