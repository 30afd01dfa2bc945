"""The Docker actuator against a real Docker Engine (started by `make test` through infra/docker/dockerd.sh)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import docker
import pytest

from actuators.base import ActuatorError
from actuators.docker_engine import (
    MANAGED,
    PORTS,
    SERVING_HEALTH_INTERVAL_S,
    DockerActuator,
    wait_all_serving,
    wait_healthy,
)
from tests.actuators.plans import hosts, plan_to, programs

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[2]
URL = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


@pytest.fixture
def engine() -> docker.DockerClient:
    client = docker.DockerClient(base_url=URL)
    client.ping()  # a missing engine fails the test, it is not skipped
    for leftover in client.containers.list(all=True, filters={"label": f"{MANAGED}=true"}):
        leftover.remove(force=True)  # start from no clones, whatever ran before
    yield client
    for container in client.containers.list(all=True, filters={"label": f"{MANAGED}=true"}):
        container.remove(force=True)
    client.close()


@pytest.fixture
def actuator(engine: docker.DockerClient) -> DockerActuator:
    return DockerActuator({"h1": URL, "h2": URL}, programs("api", "batch"), hosts("h1", "h2"))


def counts(engine: docker.DockerClient) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for c in engine.containers.list(all=True, filters={"label": f"{MANAGED}=true"}, sparse=True):
        labels = c.attrs["Labels"]
        key = (labels["clonecast.program"], labels["clonecast.host"])
        found[key] = found.get(key, 0) + 1
    return found


def test_a_plan_creates_its_clones_and_a_second_apply_is_a_no_op(actuator: DockerActuator, engine) -> None:  # type: ignore[no-untyped-def]
    desired = {("api", "h1"): 2, ("api", "h2"): 1, ("batch", "h2"): 2}
    plan = plan_to(desired)
    report = actuator.apply(plan)
    assert report.ok and report.changed == 5
    assert counts(engine) == desired
    container = engine.containers.list(filters={"label": "clonecast.program=api"})[0]
    assert container.attrs["HostConfig"]["NanoCpus"] == 100_000_000  # 100 millicores
    assert container.attrs["HostConfig"]["Memory"] == 32 * 1024 * 1024
    assert container.labels["clonecast.plan"] == plan.origin
    again = actuator.apply(plan)
    assert again.ok and again.changed == 0
    assert actuator.observe().clones == desired


def test_removal_removes_exactly_the_planned_clones_and_never_foreign_ones(actuator: DockerActuator, engine) -> None:  # type: ignore[no-untyped-def]
    foreign = engine.containers.run("clonecast/workload:latest", detach=True, name="not-clonecast")
    try:
        first = {("api", "h1"): 3, ("batch", "h1"): 1}
        actuator.apply(plan_to(first))
        keep = {c.id for c in engine.containers.list(filters={"label": "clonecast.program=batch"})}
        second = {("api", "h1"): 1, ("batch", "h1"): 1}
        report = actuator.apply(plan_to(second, before=first))
        assert report.ok and sum(r.removed for r in report.results) == 2
        assert counts(engine) == second
        assert {c.id for c in engine.containers.list(filters={"label": "clonecast.program=batch"})} == keep
        emptied = actuator.reconcile(plan_to({("api", "h1"): 0, ("batch", "h1"): 0}))  # programs covered, none wanted
        assert emptied.ok and counts(engine) == {}
        foreign.reload()
        assert foreign.status == "running"  # never touched
    finally:
        foreign.remove(force=True)


def test_a_clone_killed_from_outside_is_replaced(actuator: DockerActuator, engine) -> None:  # type: ignore[no-untyped-def]
    plan = plan_to({("api", "h1"): 2})
    actuator.apply(plan)
    victim = engine.containers.list(filters={"label": "clonecast.program=api"})[0]
    victim.kill()
    assert actuator.observe().unhealthy == {("api", "h1"): 1}
    report = actuator.reconcile(plan)
    assert report.ok and sum(r.replaced for r in report.results) == 1 and sum(r.created for r in report.results) == 1
    assert actuator.observe().clones == {("api", "h1"): 2} and actuator.observe().unhealthy == {}
    for container in engine.containers.list(filters={"label": "clonecast.program=api"}):
        wait_healthy(container, timeout=20)


def test_dockerd_restarted_mid_apply_converges_without_orphans_or_duplicates(actuator: DockerActuator, engine) -> None:  # type: ignore[no-untyped-def]
    desired = {("api", "h1"): 12, ("batch", "h2"): 12}
    plan = plan_to(desired)
    done: dict[str, object] = {}
    thread = threading.Thread(target=lambda: done.setdefault("report", actuator.apply(plan)))
    thread.start()
    deadline = time.time() + 30
    while sum(counts(engine).values()) < 4 and time.time() < deadline:
        time.sleep(0.05)
    subprocess.run([str(ROOT / "infra/docker/dockerd.sh"), "restart"], check=True, capture_output=True)
    thread.join(timeout=120)
    assert not thread.is_alive()
    for host in ("h1", "h2"):
        actuator.forget(host)
    report = actuator.reconcile(plan)
    assert report.ok, report.to_dict()
    assert counts(docker.DockerClient(base_url=URL)) == desired  # no orphans, no duplicates
    assert actuator.observe().clones == desired and actuator.observe().unhealthy == {}


def test_templates_are_committed_once_and_cloned_from(engine) -> None:  # type: ignore[no-untyped-def]
    actuator = DockerActuator({"h1": URL}, programs("api"), hosts("h1"), use_templates=True)
    actuator.apply(plan_to({("api", "h1"): 3}))
    images = {c.image.tags[0] for c in engine.containers.list(filters={"label": "clonecast.program=api"})}
    assert images == {"clonecast-template/api:warm"}
    assert actuator.templates == {("api", "h1"): "clonecast-template/api:warm"}


def test_host_network_clones_each_serve_on_their_own_port(actuator: DockerActuator, engine) -> None:  # type: ignore[no-untyped-def]
    actuator.apply(plan_to({("api", "h1"): 2, ("batch", "h2"): 2}))  # h1 and h2 share one engine here
    clones = engine.containers.list(filters={"label": f"{MANAGED}=true"})
    ports = sorted(int(c.labels["clonecast.port"]) for c in clones)
    assert ports == [PORTS.start + i for i in range(4)]
    assert wait_all_serving(actuator, "h1", "api", 2, timeout=20) < 20
    assert wait_all_serving(actuator, "h2", "batch", 2, timeout=20) < 20
    for clone in clones:
        assert clone.attrs["HostConfig"]["NetworkMode"] == "host"
        assert f"PORT={clone.labels['clonecast.port']}" in clone.attrs["Config"]["Env"]
    first = {("api", "h1"): 2, ("batch", "h2"): 2}
    emptied = {("api", "h1"): 0, ("batch", "h2"): 2}
    actuator.apply(plan_to(emptied, before=first))
    actuator.apply(plan_to({("api", "h1"): 1, ("batch", "h2"): 2}, before=emptied))  # freed ports are reused
    after = sorted(
        int(c.labels["clonecast.port"]) for c in engine.containers.list(filters={"label": f"{MANAGED}=true"})
    )
    assert len(set(after)) == 3 and after[0] == PORTS.start


def test_serving_clones_keep_the_images_health_check_at_dockers_default_interval(engine) -> None:  # type: ignore[no-untyped-def]
    serving = DockerActuator({"h1": URL}, programs("api"), hosts("h1"), health_interval_s=SERVING_HEALTH_INTERVAL_S)
    serving.start("api", "h1")
    DockerActuator({"h1": URL}, programs("batch"), hosts("h1")).start("batch", "h1")
    image = engine.images.get("clonecast/workload:latest").attrs["Config"]["Healthcheck"]
    checks = {c.labels["clonecast.program"]: c.attrs["Config"]["Healthcheck"] for c in engine.containers.list()}
    assert checks["api"]["Interval"] == 30 * 10**9 and checks["api"]["Test"] == image["Test"]
    assert checks["batch"]["Interval"] == image["Interval"] == 2 * 10**9  # the image's own
    with pytest.raises(ActuatorError, match="at least 1 s"):
        DockerActuator({"h1": URL}, programs("api"), hosts("h1"), health_interval_s=0.5)
