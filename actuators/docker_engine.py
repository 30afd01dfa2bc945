"""Docker actuator: clones are containers on one Docker Engine per host (docker SDK).

A clone is a container from the program's image (or from a warmed template committed once from it),
labelled `clonecast.managed`, `clonecast.program`, `clonecast.host` and `clonecast.plan`, with CPU and
memory limits, GPUs through device requests on GPU hosts, and the image's health check (at the image's interval, or
`health_interval_s`: each check is an exec in the container, and at a 2-s interval a hundred idle clones keep two
cores busy, so clones behind an ingress that probes readiness over HTTP are checked at Docker's default 30 s; a
check only has to catch a clone that hangs after it started). Clones share the
image's layers copy-on-write (overlay2). By default clones run on the host network, each serving on its own
port (env `PORT`, label `clonecast.port`, the lowest free one in `PORTS`): no network namespace and veth pair
to set up halves the start time of a clone on a small host; `network="bridge"` isolates them instead.
Only containers carrying clonecast's labels are ever touched, and every operation converges a (program, host)
pair to a count, so applying twice changes nothing and a reconcile after a crash leaves neither orphans nor
duplicates. Idempotent engine calls (listing, removal, the health polls) are tried again on transient errors;
what still fails is an ActuatorError with the engine's error chained.
"""

from __future__ import annotations

import random
import re
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from functools import partial
from typing import Any, TypeVar

import docker
import docker.errors
import pandas as pd
from docker.types import DeviceRequest
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_result,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_fixed,
)
from tenacity.wait import wait_base

from actuators.base import ActuatorError, ApplyReport, Observation
from actuators.checks import check_plan
from policy.plan import ClonePlan

MANAGED = "clonecast.managed"
PROGRAM = "clonecast.program"
HOST = "clonecast.host"
PLAN = "clonecast.plan"
TEMPLATE = "clonecast.template"
PORT = "clonecast.port"
PORTS = range(21000, 30000)  # below the ephemeral range, clear of the kubelets (20250..)
BRIDGE_PORT = 8080  # the port clones serve on with network="bridge"
LIVE_STATES = {"running", "restarting"}
STARTING_S = 30.0  # a clone created this recently and not started yet is starting (another caller's start), not failed
PARALLEL_STARTS = 16
SERVING_HEALTH_INTERVAL_S = 30.0  # Docker's default health-check interval, for clones serving live traffic
MIN_CPU_MILLICORES = 100.0  # below this the CFS quota starves the health check's exec
ATTEMPTS = 4  # tries of an idempotent engine call before its error is reported
BACKOFF: wait_base = wait_exponential(multiplier=0.2, max=2.0)  # 0.2, 0.4, 0.8 s between them
T = TypeVar("T")


def slug(text: str) -> str:
    """A container-name-safe form of a program code."""
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", text)[:40]


@contextmanager
def engine_errors(what: str) -> Iterator[None]:
    """Docker SDK and connection errors become ActuatorError naming the operation."""
    try:
        yield
    except docker.errors.DockerException as e:
        raise ActuatorError(f"{what}: {e}") from e
    except OSError as e:  # the engine went away mid-call
        raise ActuatorError(f"{what}: engine unreachable ({e})") from e


def transient(error: BaseException) -> bool:
    """Worth another try: the engine unreachable (restarting), busy (5xx, 429) or mid-change (409)."""
    if isinstance(error, docker.errors.APIError):
        status = error.status_code
        return status is not None and (status >= 500 or status in (409, 429))
    return isinstance(error, OSError)


def engine_call(what: str, call: Callable[[], T]) -> T:
    """An idempotent engine call, tried again on transient errors (ATTEMPTS in all); its error as ActuatorError."""
    retrying = Retrying(
        retry=retry_if_exception(transient), stop=stop_after_attempt(ATTEMPTS), wait=BACKOFF, reraise=True
    )
    with engine_errors(what):
        return retrying(call)


def poll(what: str, done: Callable[[], bool], timeout: float, interval: float) -> bool:
    """Call `done` every `interval` s until it holds (True) or `timeout` s have passed (False). Transient engine
    errors count as "not yet"; any other error, or the last transient one at the timeout, is an ActuatorError."""
    retrying = Retrying(
        retry=retry_if_result(lambda ok: not ok) | retry_if_exception(transient),
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        retry_error_callback=_last_outcome,
    )
    with engine_errors(what):
        return bool(retrying(done))


def _last_outcome(state: RetryCallState) -> Any:
    """The last attempt's answer, or its error raised again."""
    assert state.outcome is not None
    return state.outcome.result()


class DockerActuator:
    """One Docker Engine per host; `engines` maps host name -> DOCKER_HOST URL."""

    def __init__(
        self,
        engines: dict[str, str],
        programs: pd.DataFrame,
        hosts: pd.DataFrame,
        *,
        use_templates: bool = False,
        client_factory: Callable[[str], Any] | None = None,
        timeout: int = 30,
        network: str = "host",
        health_interval_s: float | None = None,
    ) -> None:
        if network not in {"host", "bridge"}:
            raise ActuatorError(f"network must be 'host' or 'bridge', not {network!r}")
        if health_interval_s is not None and health_interval_s < 1:
            raise ActuatorError(f"the health-check interval must be at least 1 s, not {health_interval_s:g}")
        self.health_interval_s = health_interval_s
        self.engines = engines
        self.programs = programs.set_index("program_code")
        self.hosts = hosts
        self.use_templates = use_templates
        self.network = network
        self._factory = client_factory or (
            lambda url: docker.DockerClient(base_url=url, timeout=timeout, max_pool_size=2 * PARALLEL_STARTS)
        )
        self._clients: dict[str, Any] = {}
        self.templates: dict[tuple[str, str], str] = {}
        self._claimed: set[int] = set()  # ports of clones `start` is creating (not yet listed by the engine)
        self._claim = threading.RLock()

    def client(self, host: str) -> Any:
        if host not in self.engines:
            raise ActuatorError(f"no Docker Engine configured for host {host!r}")
        if host not in self._clients:
            with engine_errors(f"connect to the engine of {host}"):
                self._clients[host] = self._factory(self.engines[host])
        return self._clients[host]

    def forget(self, host: str) -> None:
        """Drop a cached client (after the engine restarted)."""
        client = self._clients.pop(host, None)
        if client is not None:
            client.close()

    # observe -----------------------------------------------------------------------------------------

    def containers(self, host: str, program: str | None = None) -> list[Any]:
        """clonecast's clones on a host (all states), optionally of one program."""
        labels = [f"{MANAGED}=true", f"{HOST}={host}"] + ([f"{PROGRAM}={program}"] if program else [])
        client = self.client(host)
        found = engine_call(  # sparse: one call, no inspect per container to race
            f"list clones on {host}",
            lambda: client.containers.list(all=True, filters={"label": labels}, sparse=True),
        )
        return [c for c in found if _labels(c).get(TEMPLATE) != "true"]

    def observe(self) -> Observation:
        seen = Observation()
        for host in self.engines:
            for container in self.containers(host):
                key = (_labels(container)[PROGRAM], host)
                bucket = seen.clones if _live(container) else seen.unhealthy
                bucket[key] = bucket.get(key, 0) + 1
        return seen

    # act ---------------------------------------------------------------------------------------------

    def apply(self, plan: ClonePlan, *, dry_run: bool = False) -> ApplyReport:
        check_plan(plan, self.programs.reset_index(), self.hosts)
        pairs = [(a.program_code, a.host, a.target) for a in plan.actions]
        return self._converge(pairs, plan, dry_run=dry_run, replace_failed=False)

    def reconcile(self, plan: ClonePlan, *, dry_run: bool = False) -> ApplyReport:
        check_plan(plan, self.programs.reset_index(), self.hosts)
        desired = plan.desired()
        covered = set(plan.targets)
        for host in self.engines:  # clones of covered programs that the plan no longer places go
            for container in self.containers(host):
                key = (_labels(container)[PROGRAM], host)
                if key[0] in covered and key not in desired:
                    desired[key] = 0
        pairs = [(p, h, c) for (p, h), c in sorted(desired.items()) if h in self.engines]
        return self._converge(pairs, plan, dry_run=dry_run, replace_failed=True)

    def _converge(
        self, pairs: list[tuple[str, str, int]], plan: ClonePlan, *, dry_run: bool, replace_failed: bool
    ) -> ApplyReport:
        report = ApplyReport(dry_run=dry_run)
        for program, host, target in pairs:
            work = partial(self._pair, program, host, target, plan, dry_run, replace_failed)
            report.attempt(program, host, target, work)
        return report

    def _pair(
        self, program: str, host: str, target: int, plan: ClonePlan, dry_run: bool, replace_failed: bool
    ) -> dict[str, Any]:
        """Converge one (program, host) pair; failures drop the cached client (the engine may have restarted)."""
        try:
            existing = self.containers(host, program)
            live = [c for c in existing if _live(c)]
            failed = [c for c in existing if not _live(c)]
            if dry_run:
                return {"before": len(live), "status": "dry-run"}
            newest = sorted(live, key=lambda c: c.attrs.get("Created", ""), reverse=True)
            extra = newest[: max(len(live) - target, 0)]
            # in parallel: a removal under load takes seconds, one after another they add up
            _in_parallel(self._remove, (failed if replace_failed else []) + extra)
            created = self._create_many(program, host, plan, max(target - len(live), 0))
        except ActuatorError:
            self.forget(host)
            raise
        return {
            "before": len(live),
            "created": created,
            "removed": len(extra),
            "replaced": len(failed) if replace_failed else 0,
        }

    def start(self, program: str, host: str, origin: str = "frontdoor") -> str:
        """Start one clone of a program on a host now, outside any plan (an ingress's cold start); its container id.

        Thread-safe; on the host network it takes a random free port, so that concurrent starts (of this process,
        or of a controller's `apply`, which takes the lowest) seldom collide."""
        if program not in self.programs.index:
            raise ActuatorError(f"cannot start a clone of {program!r}: not in the programs frame")
        if self.use_templates:
            self.template(program, host)
        if self.network != "host":
            return str(self._create(program, host, origin, BRIDGE_PORT))
        with self._claim:
            port = self._free_ports(host, 1, spread=True)[0]
            self._claimed.add(port)
        try:
            return str(self._create(program, host, origin, port))
        finally:
            with self._claim:
                self._claimed.discard(port)

    def remove(self, container: Any) -> None:
        """Remove one clone listed by `containers` (nothing happens when it is already gone)."""
        if _labels(container).get(MANAGED) != "true":
            raise ActuatorError(f"container {container.id[:12]} is not a clonecast clone; it is left alone")
        self._remove(container)

    def _create_many(self, program: str, host: str, plan: ClonePlan, count: int) -> int:
        """Start `count` clones in parallel (the engine creates containers concurrently)."""
        if count <= 0:
            return 0
        if self.use_templates:
            self.template(program, host)  # commit once before the parallel starts
        ports = self._free_ports(host, count) if self.network == "host" else [BRIDGE_PORT] * count
        _in_parallel(lambda port: self._create(program, host, plan.origin, port), ports)
        return count

    def _free_ports(self, host: str, count: int, *, spread: bool = False) -> list[int]:
        """`count` ports of PORTS that no clone on the host's engine (any program, any state) holds and no `start` in
        progress claims: the lowest ones, or random ones with `spread`."""
        client = self.client(host)
        found = engine_call(
            f"list clone ports on {host}",
            lambda: client.containers.list(all=True, filters={"label": PORT}, sparse=True),
        )
        taken = {_labels(c).get(PORT) for c in found}
        with self._claim:
            free = [port for port in PORTS if str(port) not in taken and port not in self._claimed]
        if len(free) < count:
            raise ActuatorError(f"{host}: only {len(free)} free clone ports in {PORTS.start}..{PORTS.stop - 1}")
        return random.sample(free, count) if spread else free[:count]

    def _create(self, program: str, host: str, origin: str, port: int) -> Any:
        profile = self.programs.loc[program]
        image = self.template(program, host) if self.use_templates else str(profile["image"])
        gpus = int(profile.get("gpus", 0) or 0)
        options: dict[str, Any] = {
            "detach": True,
            "name": f"cc-{slug(program)}-{uuid.uuid4().hex[:8]}",
            "labels": {
                MANAGED: "true",
                PROGRAM: program,
                HOST: host,
                PLAN: origin,
                TEMPLATE: "false",
                PORT: str(port),
            },
            "nano_cpus": int(max(float(profile["cpu_millicores"]), MIN_CPU_MILLICORES) * 1_000_000),
            "mem_limit": f"{max(int(float(profile['memory_mb'])), 6)}m",
        }
        if gpus:
            options["device_requests"] = [DeviceRequest(count=gpus, capabilities=[["gpu"]])]
        api = self.client(host).api  # low level: create + start, without the SDK's extra inspect
        host_config = api.create_host_config(
            nano_cpus=options.pop("nano_cpus"),
            mem_limit=options.pop("mem_limit"),
            device_requests=options.pop("device_requests", None),
            network_mode=self.network,
        )
        interval = self.health_interval_s
        with engine_errors(f"start a clone of {program} on {host}"):
            created = api.create_container(
                image,
                name=options["name"],
                labels=options["labels"],
                environment={"PORT": str(port)},
                host_config=host_config,
                detach=True,
                # the image's check at another interval (the engine keeps the fields left out from the image)
                healthcheck=None if interval is None else {"interval": int(interval * 1e9)},
            )
            api.start(created["Id"])
        return created["Id"]

    def _remove(self, container: Any) -> None:
        def remove() -> None:
            with suppress(docker.errors.NotFound):  # already gone: the goal is reached
                container.remove(force=True)

        engine_call(f"remove clone {container.id[:12]}", remove)

    def template(self, program: str, host: str) -> str:
        """A warmed template image for the program on a host, committed once and reused."""
        key = (program, host)
        if key not in self.templates:
            image = str(self.programs.loc[program, "image"])
            tag = f"clonecast-template/{slug(program).lower()}:warm"
            with engine_errors(f"commit a warmed template of {program} on {host}"):
                client = self.client(host)
                warm = client.containers.run(
                    image, detach=True, labels={MANAGED: "true", PROGRAM: program, HOST: host, TEMPLATE: "true"}
                )
                wait_healthy(warm, timeout=30)
                warm.commit(repository=tag.split(":")[0], tag="warm")
                warm.remove(force=True)
            self.templates[key] = tag
        return self.templates[key]


def wait_all_healthy(actuator: DockerActuator, host: str, program: str, count: int, timeout: float = 60.0) -> float:
    """Seconds until `count` clones of a program on a host report healthy (one cheap list call per poll)."""
    start = time.perf_counter()
    labels = [f"{MANAGED}=true", f"{HOST}={host}", f"{PROGRAM}={program}"]

    def all_healthy() -> bool:
        healthy = actuator.client(host).containers.list(filters={"label": labels, "health": "healthy"}, sparse=True)
        return len(healthy) >= count

    if not poll(f"list healthy clones on {host}", all_healthy, timeout, 0.25):
        raise ActuatorError(f"{program} on {host}: fewer than {count} healthy clones after {timeout:g} s")
    return time.perf_counter() - start


def wait_all_serving(actuator: DockerActuator, host: str, program: str, count: int, *, timeout: float = 60.0) -> float:
    """Seconds until `count` clones answer HTTP on their address (the engine must be local).

    A readiness probe from outside the container: faster than waiting for the first Docker health check,
    which runs one check interval after start."""
    start = time.perf_counter()
    labels = [f"{MANAGED}=true", f"{HOST}={host}", f"{PROGRAM}={program}"]
    serving: set[str] = set()

    def all_serving() -> bool:
        for container in actuator.client(host).containers.list(filters={"label": labels}, sparse=True):
            if container.id in serving:
                continue
            address = _address(container)
            if address and _answers(f"http://{address}/"):
                serving.add(container.id)
        return len(serving) >= count

    if not poll(f"list clones on {host}", all_serving, timeout, 0.1):
        raise ActuatorError(f"{program} on {host}: {len(serving)} of {count} clones serving after {timeout:g} s")
    return time.perf_counter() - start


def _address(container: Any) -> str | None:
    """host:port a local clone serves on (host network: its port label; bridge: its bridge IP)."""
    labels = _labels(container)
    networks = container.attrs.get("NetworkSettings", {}).get("Networks", {})
    if "host" in networks or not networks:
        return f"127.0.0.1:{labels[PORT]}" if PORT in labels else None
    ip = next((n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), None)
    return f"{ip}:{BRIDGE_PORT}" if ip else None


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _labels(container: Any) -> dict[str, str]:
    """Labels of a container from a sparse list entry or a full inspect."""
    labels = container.attrs.get("Labels")
    return dict(labels) if labels is not None else dict(container.labels)


def _live(container: Any) -> bool:
    """Running (or restarting) and not reported unhealthy by its health check, or created moments ago and about to
    start (between another caller's create and start); list or inspect attrs."""
    state = container.attrs.get("State", {})
    if isinstance(state, str):  # a sparse list entry: State "running", Status "Up 3 s (unhealthy)", Created (epoch s)
        if state == "created":
            return _created_within(container.attrs.get("Created"), STARTING_S)
        return state in LIVE_STATES and "(unhealthy)" not in container.attrs.get("Status", "")
    if state.get("Status") == "created":
        return _created_within(container.attrs.get("Created"), STARTING_S)
    if state.get("Status") not in LIVE_STATES:
        return False
    return state.get("Health", {}).get("Status") != "unhealthy"


def _created_within(created: Any, seconds: float) -> bool:
    """Whether a container's creation time (epoch seconds from a list, ISO 8601 from an inspect) is that recent."""
    if created is None:
        return False
    stamp = pd.Timestamp(created, unit="s", tz="UTC") if isinstance(created, int | float) else pd.Timestamp(created)
    return (pd.Timestamp.now(tz="UTC") - stamp).total_seconds() < seconds


def wait_healthy(container: Any, timeout: float = 30.0) -> float:
    """Seconds until the container's health check passes (or it runs, when it has none)."""
    start = time.perf_counter()

    def healthy() -> bool:
        container.reload()
        state = container.attrs.get("State", {})
        health = state.get("Health", {}).get("Status")
        if health == "healthy" or (health is None and state.get("Status") == "running"):
            return True
        if state.get("Status") in ("exited", "dead"):
            raise ActuatorError(f"clone {container.name} exited: {state.get('Error') or state.get('ExitCode')}")
        return False

    if not poll(f"inspect clone {container.name}", healthy, timeout, 0.05):
        raise ActuatorError(f"clone {container.name} not healthy after {timeout:g} s")
    return time.perf_counter() - start


def _in_parallel(call: Callable[[Any], Any], items: list[Any]) -> None:
    """`call` on each item in parallel (the engine serves concurrent calls); the first error is raised."""
    if not items:
        return
    with ThreadPoolExecutor(max_workers=min(len(items), PARALLEL_STARTS)) as pool:
        futures = [pool.submit(call, item) for item in items]
        errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]  # type: ignore[misc]
