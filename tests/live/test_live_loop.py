"""The live loop end to end on the real parts `make up` starts: the Docker Engine, Prometheus (scraping the front
door on :9181 every second) and the front door (infra/frontdoor) started here, the controller in a thread, a
history in a dataset store, and requests replayed at 60x (a 5-minute bin lasts 5 s).

Program codes carry a per-test suffix, so Prometheus series and clones of one test never meet another's."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pandas as pd
import pytest
from prometheus_api_client import PrometheusConnect

from clonecast.settings import Settings
from jobs.apply import LOCAL_FLEET
from live.clock import Clock
from live.controller import Controller, LiveSettings, build
from live.replay import replay
from traces.frames import Dataset, empty_events, programs_frame, requests_frame
from traces.store import write_dataset

pytestmark = [pytest.mark.live, pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = "http://127.0.0.1:9090"
DOOR = "http://127.0.0.1:9181"
SPEED = 60.0  # a trace minute per wall second
TICK_S = 1.0
MINUTE = pd.Timedelta("1min")
BURST = pd.Timestamp("2026-01-07T10:00:00Z")  # day 3, 10:00; days 1 and 2 had the same burst


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module", autouse=True)
def services() -> None:
    if not ready(f"{PROMETHEUS}/-/ready"):
        pytest.fail("Prometheus is not ready on 127.0.0.1:9090: start the services with `make up`")
    try:
        docker.from_env().ping()
    except docker.errors.DockerException as e:
        pytest.fail(f"no Docker Engine ({e}): start the services with `make up`")


@dataclass
class Loop:
    """The parts of one test: codes, the front door, the controller and its thread."""

    codes: dict[str, str]
    history: Dataset
    controller: Controller
    clock: Clock
    stop: threading.Event

    def clones(self, name: str, *, live_only: bool = True) -> list[docker.models.containers.Container]:
        found = docker.from_env().containers.list(
            all=not live_only, filters={"label": [f"clonecast.program={self.codes[name]}"]}
        )
        return [c for c in found if c.labels.get("clonecast.template") != "true"]

    def decisions(self, name: str) -> list[dict[str, object]]:
        return [e for e in self.controller.journal.of("decision") if e["program"] == self.codes[name]]

    def wait_trace(self, when: pd.Timestamp) -> None:
        time.sleep(max(0.0, (self.clock.wall(when) - pd.Timestamp.now(tz="UTC")).total_seconds()))


START = BURST - pd.Timedelta("10min")  # the replays begin at 09:50 of day 3, where the history ends


def make_history(codes: dict[str, str]) -> Dataset:
    """Two days up to 09:50 of day 3. `sched`: 40 requests in each of the two bins from 10:00 every day, nothing
    else; `steady`: 10 per bin; `surprise`: nothing ever."""
    ts = pd.date_range(START - pd.Timedelta("2D"), START, freq="5min", inclusive="left")
    burst = (ts.hour == 10) & (ts.minute < 10)
    counts = {"sched": [40 if b else 0 for b in burst], "steady": [10] * len(ts), "surprise": [0] * len(ts)}
    rows = [
        {"program_code": codes[name], "ts": t, "requests": n}
        for name, values in counts.items()
        for t, n in zip(ts, values, strict=True)
    ]
    programs = pd.DataFrame(
        {
            "program_code": [codes[n] for n in counts],
            "image": "clonecast/workload:latest",
            "memory_mb": 32.0,
            "cpu_millicores": 100.0,
            "concurrency": [4, 4, 1],
            "duration_ms": [600.0, 600.0, 180_000.0],  # surprise: 3 s of wall time each at 60x
            "cold_start_s": 1.0,
            "gpus": 0,
            "gpu_type": "",
        }
    )
    return Dataset(requests_frame(pd.DataFrame(rows)), programs_frame(programs), empty_events(), pd.Timedelta("5min"))


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[Loop]:
    suffix = uuid.uuid4().hex[:6]
    codes = {name: f"lv-{name}-{suffix}" for name in ("sched", "steady", "surprise")}
    data = make_history(codes)
    store = write_dataset(data, tmp_path / "store")
    programs_file = tmp_path / "programs.csv"
    data.programs.to_csv(programs_file, index=False)
    with (tmp_path / "frontdoor.log").open("w") as log:  # the child keeps the file open
        door = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "infra" / "frontdoor" / "frontdoor.py"),
                "--port",
                "9181",
                "--programs",
                str(programs_file),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while not ready(f"{DOOR}/healthz"):
        assert door.poll() is None, (tmp_path / "frontdoor.log").read_text()
        assert time.monotonic() < deadline, "the front door did not come up in 30 s"
        time.sleep(0.2)
    settings = Settings(prometheus_url=PROMETHEUS)
    clock = Clock(wall_origin=pd.Timestamp.now(tz="UTC") + pd.Timedelta(seconds=3), trace_origin=START, speed=SPEED)
    controller = build(
        store,
        settings,
        LiveSettings(speed=SPEED, tick_s=TICK_S),
        clock=clock,
        actuator="docker",
        hosts=LOCAL_FLEET / "docker-hosts.csv",
        forecaster="seasonal-naive",
        journal=tmp_path / "journal.jsonl",
    )
    stop = threading.Event()
    thread = threading.Thread(target=controller.run, kwargs={"stop": stop.is_set}, daemon=True)
    state = Loop(codes, data, controller, clock, stop)
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        thread.join(timeout=30)
        door.terminate()
        door.wait(timeout=30)
        client = docker.from_env()
        for code in codes.values():
            for container in client.containers.list(all=True, filters={"label": [f"clonecast.program={code}"]}):
                container.remove(force=True)


def requests_of(loop: Loop, name: str, first: pd.Timestamp, minutes: int, per_minute: int) -> pd.DataFrame:
    ts = pd.date_range(first, periods=minutes, freq="1min")
    return requests_frame(pd.DataFrame({"program_code": loop.codes[name], "ts": ts, "requests": per_minute}))


def test_requests_counted_by_prometheus_equal_requests_sent(loop: Loop) -> None:
    sent = requests_of(loop, "steady", BURST - pd.Timedelta("9min"), 3, 7)
    loop.wait_trace(BURST - pd.Timedelta("9min"))
    result = replay(
        sent, loop.history.programs, DOOR, speed=SPEED, start=sent["ts"].min(), end=BURST, seed=1, freq=MINUTE
    )
    assert result.requests_sent == 21 == result.requests_served
    query = f'sum(clonecast_frontdoor_requests_total{{program="{loop.codes["steady"]}"}})'
    prometheus = PrometheusConnect(url=PROMETHEUS, disable_ssl=True)
    deadline, counted = time.monotonic() + 10, None
    while time.monotonic() < deadline:
        found = prometheus.custom_query(query)
        counted = float(found[0]["value"][1]) if found else None
        if counted == result.requests_sent:
            break
        time.sleep(0.5)
    assert counted == result.requests_sent


def test_a_scheduled_burst_finds_its_clones_warm(loop: Loop) -> None:
    burst = requests_of(loop, "sched", BURST, 5, 8)  # as on the days before: 40 in the bin from 10:00
    loop.wait_trace(BURST - pd.Timedelta("30s"))
    assert len(loop.clones("sched")) >= 1, (
        f"no clone of the burst's program warm at 09:59:30: {loop.controller.journal.entries[-5:]}"
    )
    result = replay(
        burst, loop.history.programs, DOOR, speed=SPEED, start=BURST, end=BURST + pd.Timedelta("5min"), freq=MINUTE
    )
    first_minute = result.rows[result.rows["scheduled"] < BURST + pd.Timedelta("1min")]
    assert len(first_minute) == 8
    assert int(first_minute["cold"].sum()) == 0
    assert result.requests_served == 40


def test_an_unforecast_burst_panics_within_two_ticks(loop: Loop) -> None:
    burst = requests_of(loop, "surprise", BURST - pd.Timedelta("5min"), 1, 12)
    loop.wait_trace(BURST - pd.Timedelta("5min"))
    started = time.monotonic()
    thread = threading.Thread(
        target=replay,
        args=(burst, loop.history.programs, DOOR),
        kwargs={"speed": SPEED, "start": burst["ts"].min(), "end": BURST, "freq": MINUTE},
        daemon=True,
    )
    thread.start()
    deadline = started + 2 * TICK_S + 3.0  # two ticks, plus a scrape and the one-second averaging window
    panic = []
    while time.monotonic() < deadline and not panic:
        panic = [d for d in loop.decisions("surprise") if d["reason"] == "under-prediction: panic"]
        time.sleep(0.1)
    thread.join(timeout=30)
    assert panic, f"no panic decision within {deadline - started:.1f} s: {loop.decisions('surprise')}"
    assert int(panic[0]["after"]) > int(panic[0]["before"])


def test_a_clone_killed_from_outside_is_replaced_within_two_ticks(loop: Loop) -> None:
    loop.wait_trace(BURST - pd.Timedelta("8min"))
    deadline = time.monotonic() + 10
    while len(loop.clones("steady")) < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    held = len(loop.clones("steady"))
    assert held >= 1, "the controller holds no clone of a program invoked every bin"
    victim = loop.clones("steady")[0]
    victim.kill()
    killed = time.monotonic()
    while time.monotonic() < killed + 2 * TICK_S + 4.0:  # two ticks, plus the engine's start of a clone
        ids = {c.id for c in loop.clones("steady")}
        if len(ids) >= held and victim.id not in ids:
            break
        time.sleep(0.2)
    ids = {c.id for c in loop.clones("steady")}
    assert victim.id not in ids and len(ids) >= held
    assert any(d["reason"] == "replace unhealthy clones" for d in loop.decisions("steady")) or len(ids) >= held


def prometheus_script(action: str) -> None:
    subprocess.run([str(ROOT / "infra" / "prometheus" / "prometheus.sh"), action], check=True, timeout=120)


def test_prometheus_stopped_mid_run_holds_the_clones_and_the_controller_resumes(loop: Loop) -> None:
    loop.wait_trace(BURST - pd.Timedelta("8min"))
    try:
        prometheus_script("stop")
        time.sleep(3 * TICK_S)
        before = {c.id for name in loop.codes for c in loop.clones(name)}
        time.sleep(3 * TICK_S)
        after = {c.id for name in loop.codes for c in loop.clones(name)}
        assert before == after  # nothing actuated while blind
        holds = loop.controller.journal.of("hold")
        assert holds and holds[-1]["cause"] in ("prometheus", "observe")
        assert "Prometheus" in str(holds[-1]["reason"])
    finally:
        prometheus_script("start")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and loop.controller.holding is not None:
        time.sleep(0.2)
    assert loop.controller.holding is None
    assert loop.controller.journal.of("resume")
