"""The front door (infra/frontdoor) against the real Docker Engine: cold starts through the actuator, warm reuse,
one clone per concurrent request beyond a clone's slots, errors, execution time, metrics and the keep-alive mode.

Every program code starts with `fdtest-` and carries a per-run suffix; only those programs' clones are removed."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pandas as pd
import pytest

from actuators.base import ActuatorError
from actuators.docker_engine import MANAGED, PLAN, PORT, PORTS, PROGRAM, DockerActuator

pytestmark = [pytest.mark.live, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]
FRONT_DOOR = ROOT / "infra" / "frontdoor" / "frontdoor.py"
IMAGE = "clonecast/workload:latest"
SUFFIX = uuid.uuid4().hex[:6]
NAMES = ("first", "pair", "timed", "counted", "idle", "broken", "act")


def code(name: str) -> str:
    return f"fdtest-{SUFFIX}-{name}"


def programs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "program_code": [code(n) for n in NAMES],
            "cpu_millicores": 100.0,
            "memory_mb": 64.0,
            "gpus": 0,
            "gpu_type": "",
            "concurrency": 1,
            "cold_start_s": 1.0,
            "image": [IMAGE if n != "broken" else "clonecast/no-such-image:latest" for n in NAMES],
        }
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Door:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, timeout: float = 30.0) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=timeout)

    def invoke(self, name: str, ms: int = 0) -> httpx.Response:
        return self.get(f"/invoke/{code(name)}?ms={ms}")


def start_door(tmp: Path, port: int, *extra: str, only: tuple[str, ...] = NAMES) -> Door:
    """The front door as a subprocess on `port` for the programs `only`, up when /healthz answers."""
    log, listed = tmp / f"frontdoor-{port}.log", tmp / f"programs-{port}.csv"
    known = programs()
    known[known["program_code"].isin([code(n) for n in only])].to_csv(listed, index=False)
    with log.open("w") as out:  # the child keeps the file open
        command = [sys.executable, str(FRONT_DOOR), "--port", str(port), "--programs", str(listed)]
        process = subprocess.Popen([*command, *extra], stdout=out, stderr=subprocess.STDOUT)
    door = Door(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, f"the front door exited: {log.read_text()}"
        try:
            if door.get("/healthz", timeout=1).status_code == 200:
                return door
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"the front door did not answer /healthz in 30 s: {log.read_text()}"
        time.sleep(0.2)


def stop_door(door: Door) -> None:
    door.process.terminate()
    try:
        door.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        door.process.kill()


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as e:
        pytest.fail(f"no Docker Engine ({e}): start it with `make up` (infra/docker/dockerd.sh start)")
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"no {IMAGE} image: build it with `infra/docker/dockerd.sh image`")
    yield client
    for name in NAMES:  # this run's clones only
        for container in client.containers.list(all=True, filters={"label": f"{PROGRAM}={code(name)}"}):
            container.remove(force=True)
    client.close()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("frontdoor")


@pytest.fixture(scope="module")
def door(engine: docker.DockerClient, workdir: Path) -> Iterator[Door]:
    door = start_door(workdir, free_port())
    yield door
    stop_door(door)


def clones(engine: docker.DockerClient, name: str) -> list[str]:
    return [c.id for c in engine.containers.list(filters={"label": f"{PROGRAM}={code(name)}"})]


def metric(text: str, name: str, program: str, extra: str = "") -> float | None:
    """A sample's value in Prometheus text, None when absent."""
    prefix = f'{name}{{{extra}program="{program}"}} ' if extra else f'{name}{{program="{program}"}} '
    found = [line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix)]
    return float(found[0]) if found else None


def test_a_first_request_cold_starts_a_clone_and_the_next_finds_it_warm(door: Door, engine) -> None:  # type: ignore[no-untyped-def]
    assert clones(engine, "first") == []
    first = door.invoke("first", 50)
    assert first.status_code == 200, first.text
    assert first.headers["X-Clonecast-Cold"] == "1"
    assert first.text.strip() == "ran 50 ms"
    running = clones(engine, "first")
    assert len(running) == 1
    assert running[0].startswith(first.headers["X-Clonecast-Clone"])
    second = door.invoke("first", 50)
    assert second.status_code == 200
    assert second.headers["X-Clonecast-Cold"] == "0"
    assert second.headers["X-Clonecast-Clone"] == first.headers["X-Clonecast-Clone"]
    assert clones(engine, "first") == running


def test_a_request_finding_its_only_clone_busy_cold_starts_a_second(door: Door, engine) -> None:  # type: ignore[no-untyped-def]
    assert door.invoke("pair").headers["X-Clonecast-Cold"] == "1"  # one warm clone, concurrency 1
    with ThreadPoolExecutor(3) as pool:
        running = [pool.submit(door.invoke, "pair", 6000) for _ in range(2)]
        seen: list[float | None] = []  # busy clones, polled until both serve
        while len(seen) < 25 and (not seen or seen[-1] != 2):
            time.sleep(0.2)
            seen.append(metric(door.get("/metrics").text, "clonecast_frontdoor_busy_clones", code("pair")))
        answers = [r.result() for r in running]
    assert seen[-1] == 2  # both clones serving
    assert metric(door.get("/metrics").text, "clonecast_frontdoor_busy_clones", code("pair")) == 0
    assert [a.status_code for a in answers] == [200, 200]
    assert sorted(a.headers["X-Clonecast-Cold"] for a in answers) == ["0", "1"]
    assert answers[0].headers["X-Clonecast-Clone"] != answers[1].headers["X-Clonecast-Clone"]
    assert len(clones(engine, "pair")) == 2


def test_an_unknown_program_is_404_with_its_name(door: Door) -> None:
    answer = door.get("/invoke/fdtest-nobody-knows?ms=5")
    assert answer.status_code == 404
    assert "unknown program 'fdtest-nobody-knows'" in answer.text


def test_a_clone_that_cannot_start_is_503_with_the_reason(door: Door) -> None:
    answer = door.invoke("broken")
    assert answer.status_code == 503
    assert f"could not start a clone of {code('broken')}" in answer.text
    assert "no-such-image" in answer.text


def test_a_request_runs_for_its_execution_time(door: Door) -> None:
    door.invoke("timed")  # the cold start happens here
    started = time.perf_counter()
    answer = door.invoke("timed", 300)
    took = time.perf_counter() - started
    assert answer.status_code == 200 and answer.headers["X-Clonecast-Cold"] == "0"
    assert 0.3 <= took < 1.5


def test_metrics_and_stats_count_what_was_sent(door: Door) -> None:
    sent = [door.invoke("counted", 20) for _ in range(4)]
    assert [a.headers["X-Clonecast-Cold"] for a in sent] == ["1", "0", "0", "0"]
    text = door.get("/metrics").text
    program = code("counted")
    assert metric(text, "clonecast_frontdoor_requests_total", program) == 4
    assert metric(text, "clonecast_frontdoor_cold_starts_total", program) == 1
    assert metric(text, "clonecast_frontdoor_responses_total", program, 'code="200",') == 4
    assert metric(text, "clonecast_frontdoor_request_seconds_count", program) == 4
    assert metric(text, "clonecast_frontdoor_inflight", program) == 0
    assert metric(text, "clonecast_frontdoor_clones", program) == 1
    busy = metric(text, "clonecast_frontdoor_busy_seconds_total", program)
    warm = metric(text, "clonecast_frontdoor_clone_seconds_total", program)
    assert busy is not None and warm is not None
    assert 4 * 0.02 <= busy <= warm  # four requests of 20 ms at least; a clone is never busier than warm
    stats = door.get("/stats").json()[program]
    assert (stats["requests"], stats["cold_starts"], stats["served"], stats["inflight"]) == (4, 1, 4, 0)
    assert stats["busy_s"] >= busy and stats["clone_s"] >= warm  # counters only grow


def test_keep_alive_removes_an_idle_clone_and_the_plain_door_never_does(  # type: ignore[no-untyped-def]
    door: Door, engine, workdir: Path
) -> None:
    assert door.invoke("first").status_code == 200  # the plain door's clone of `first` is idle from here on
    held = clones(engine, "first")
    reactive = start_door(workdir, free_port(), "--keep-alive", "2", only=("idle",))
    try:
        answer = reactive.invoke("idle", 10)
        assert answer.status_code == 200 and answer.headers["X-Clonecast-Cold"] == "1"
        assert len(clones(engine, "idle")) == 1  # not removed while it is fresh
        deadline = time.monotonic() + 10
        while clones(engine, "idle") and time.monotonic() < deadline:
            time.sleep(0.2)
        gone_after = 10 - (deadline - time.monotonic())
        assert clones(engine, "idle") == [], f"the idle clone still runs 10 s after its request: {reactive.log}"
        assert gone_after >= 2.0  # not before the keep-alive
        assert clones(engine, "first") == held  # the plain door never removes a clone, however long idle
        assert reactive.invoke("idle").headers["X-Clonecast-Cold"] == "1"  # the next request starts one again
    finally:
        stop_door(reactive)


def test_the_actuator_starts_a_labelled_clone_and_removes_only_clonecast_ones(engine) -> None:  # type: ignore[no-untyped-def]
    actuator = DockerActuator({"local": "unix:///var/run/docker.sock"}, programs(), pd.DataFrame({"host": ["local"]}))
    with ThreadPoolExecutor(4) as pool:  # concurrent starts must not take one port twice
        ids = list(pool.map(lambda _: actuator.start(code("act"), "local"), range(4)))
    listed = {c.id: c for c in actuator.containers("local", code("act"))}
    assert set(ids) == set(listed)
    labels = [c.attrs["Labels"] for c in listed.values()]
    assert {lab[PLAN] for lab in labels} == {"frontdoor"} and {lab[MANAGED] for lab in labels} == {"true"}
    ports = [int(lab[PORT]) for lab in labels]
    assert len(set(ports)) == 4 and all(p in PORTS for p in ports)
    with pytest.raises(ActuatorError, match="not in the programs frame"):
        actuator.start("fdtest-unknown", "local")
    actuator.remove(listed[ids[0]])
    actuator.remove(listed[ids[0]])  # already gone: nothing happens
    assert {c.id for c in actuator.containers("local", code("act"))} == set(ids[1:])
    foreign = engine.containers.run(IMAGE, detach=True, labels={"fdtest": SUFFIX})
    try:
        with pytest.raises(ActuatorError, match="not a clonecast clone"):
            actuator.remove(engine.containers.list(sparse=True, filters={"id": foreign.id})[0])
        foreign.reload()
        assert foreign.status == "running"
    finally:
        foreign.remove(force=True)
