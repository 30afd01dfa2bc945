"""The front door: the platform's ingress for tests and benchmarks, as Knative's activator or an API gateway.

GET /invoke/{program}?ms=N runs one request of the program for N ms on a clone (the workload's /cgi-bin/run):
on the least busy warm clone with a free slot (the program's `concurrency`). When none has one, the request waits
for a clone that is starting, and when none is, it starts one through the Docker actuator (a cold start; one start
at a time per program, so a burst does not turn into a storm of container starts) and waits; it takes the first
slot that comes free, on the new clone or a busy one. Responses carry X-Clonecast-Cold: 1 when the request waited
so (a container start was under way), else 0, and X-Clonecast-Clone (the clone that ran it).

Clones are the actuator's (labels clonecast.managed/program/host, serving on 127.0.0.1:<clonecast.port>), listed
once per REFRESH_S, never per request. With --keep-alive S the front door removes clones idle for S seconds (the
reactive baseline of OpenWhisk and Knative users); without it, it never removes one (a controller manages them).
GET /metrics: Prometheus metrics; GET /stats: the same totals as JSON per program; GET /healthz.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import uvicorn
from prometheus_client import CollectorRegistry, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from actuators.docker_engine import MANAGED, PORT, PROGRAM, SERVING_HEALTH_INTERVAL_S, DockerActuator
from clonecast.errors import ClonecastError
from clonecast.settings import Settings
from jobs.data import read_programs_any
from traces.clones import concurrencies
from traces.frames import programs_frame

log = logging.getLogger("clonecast.frontdoor")
REFRESH_S = 0.5  # how old the clone list may get
PROBE_S = 0.05  # between readiness probes of a starting clone
FORWARD = httpx.Timeout(None, connect=5.0)  # a request runs as long as it asks
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)


class UnavailableError(Exception):
    """No clone could take the request (a start failed or none came up in time)."""


@dataclass(eq=False)
class Clone:
    id: str
    address: str  # host:port it serves on
    container: Any  # the engine's list entry, for removal
    first_seen: float
    busy: int = 0
    warm: bool = False  # answered HTTP
    failed: bool = False  # never came up, or refused a connection
    idle_since: float = 0.0


@dataclass
class Pool:
    """One program's clones and its totals."""

    program: str
    concurrency: int
    clones: dict[str, Clone] = field(default_factory=dict)
    launching: int = 0  # starts asked of the engine whose clone is not listed yet
    requests: int = 0
    cold_starts: int = 0
    inflight: int = 0
    responses: Counter[int] = field(default_factory=Counter)
    clone_s: float = 0.0  # integral of warm clones over time
    busy_s: float = 0.0  # integral of warm clones serving at least one request
    last: float = field(default_factory=time.monotonic)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def warm(self) -> list[Clone]:
        return [c for c in self.clones.values() if c.warm]

    def advance(self, now: float) -> None:
        """Integrate clone- and busy-seconds up to `now` (call before any change of warm or busy clones)."""
        warm, dt = self.warm(), max(now - self.last, 0.0)
        self.clone_s += len(warm) * dt
        self.busy_s += sum(1 for c in warm if c.busy) * dt
        self.last = now

    def free(self) -> Clone | None:
        """The least busy warm clone with a free slot."""
        free = [c for c in self.warm() if c.busy < self.concurrency]
        return min(free, key=lambda c: c.busy) if free else None

    def starting(self) -> int:
        return self.launching + sum(1 for c in self.clones.values() if not c.warm and not c.failed)

    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self) -> None:
        await self._changed.wait()


class FrontDoor(Collector):
    """The clones of the known programs on one engine, the requests routed to them, and their metrics."""

    def __init__(
        self, actuator: DockerActuator, host: str, *, keep_alive_s: float | None = None, start_timeout_s: float = 30.0
    ) -> None:
        self.actuator, self.host = actuator, host
        self.keep_alive_s, self.start_timeout_s = keep_alive_s, start_timeout_s
        codes = actuator.programs.index.astype(str)
        self.concurrency = dict(zip(codes, concurrencies(actuator.programs).tolist(), strict=True))
        # every known program's counters exist (at 0) from the start: to Prometheus an idle program is one with no
        # new request, not one with no sample (which the live demand source reads as a target it cannot see)
        self.pools: dict[str, Pool] = {code: Pool(code, self.concurrency[code]) for code in codes}
        self.removed: set[str] = set()  # clones this front door removed (a listing may still hold them)
        self.tasks: set[asyncio.Task[None]] = set()  # probes and starts in progress (the loop holds weak refs)
        self.http = httpx.AsyncClient(limits=httpx.Limits(max_connections=None, max_keepalive_connections=0))
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "clonecast_frontdoor_request_seconds",
            "Request latency",
            ["program"],
            registry=self.registry,
            buckets=BUCKETS,
        )
        self.registry.register(self)  # collect() below: the totals of the pools

    def spawn(self, work: Any) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        task.add_done_callback(_log_failure)  # a start no waiting request asked about is still reported
        return task

    def pool(self, program: str) -> Pool:
        if program not in self.pools:
            self.pools[program] = Pool(program, self.concurrency[program])
        return self.pools[program]

    # clones ------------------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """List the clones (one engine call); new ones are probed until they answer, vanished ones dropped."""
        asked = time.monotonic()
        listed = await asyncio.to_thread(self.actuator.containers, self.host)
        now, seen = time.monotonic(), set()
        for container in listed:
            labels = container.attrs.get("Labels") or {}
            program, address = labels.get(PROGRAM, ""), _address(container)
            if program not in self.concurrency or address is None or not _live(container):
                continue
            seen.add(container.id)
            pool = self.pool(program)
            if container.id not in pool.clones and container.id not in self.removed:
                pool.clones[container.id] = clone = Clone(container.id, address, container, now)
                self.spawn(self.probe(pool, clone))
        self.removed &= seen
        for pool in self.pools.values():
            gone = [c for c in pool.clones.values() if c.id not in seen and c.first_seen < asked]
            if gone:
                pool.advance(now)
                for clone in gone:
                    del pool.clones[clone.id]
                pool.notify()

    async def probe(self, pool: Pool, clone: Clone) -> None:
        """Mark a clone warm once it answers HTTP, failed when it does not within the start timeout."""
        deadline = clone.first_seen + self.start_timeout_s
        while pool.clones.get(clone.id) is clone and time.monotonic() < deadline:
            try:
                if (await self.http.get(f"http://{clone.address}/", timeout=0.5)).status_code == 200:
                    now = time.monotonic()
                    pool.advance(now)
                    clone.warm, clone.idle_since = True, now
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(PROBE_S)
        clone.failed = not clone.warm
        pool.notify()

    async def launch(self, pool: Pool) -> None:
        """Start a clone (counted in pool.launching until the clone list holds it)."""
        try:
            cid = await asyncio.to_thread(self.actuator.start, pool.program, self.host)
            log.info("cold start: clone %s of %s", cid[:12], pool.program)
            await self.refresh()
            if cid not in pool.clones:
                raise UnavailableError(f"clone {cid[:12]} of {pool.program} exited right after its start")
        except (ClonecastError, OSError) as e:
            raise UnavailableError(f"could not start a clone of {pool.program}: {e}") from e
        finally:
            pool.launching -= 1
            pool.notify()

    async def acquire(self, pool: Pool) -> tuple[Clone, bool]:
        """A slot on a warm clone, and whether the request had to wait for one while a container started."""
        clone, mine = pool.free(), None
        cold = clone is None
        try:
            async with asyncio.timeout(self.start_timeout_s + 5):
                while (clone := pool.free()) is None:
                    if mine is not None and mine.done() and mine.exception() is not None:
                        raise UnavailableError(str(mine.exception()))
                    if pool.starting() == 0:  # every clone busy (or none at all) and none starting: a cold start
                        pool.launching += 1
                        mine = self.spawn(self.launch(pool))
                    await pool.changed()
        except TimeoutError as e:
            raise UnavailableError(f"no clone of {pool.program} free after {self.start_timeout_s + 5:g} s") from e
        pool.advance(time.monotonic())
        clone.busy += 1
        return clone, cold

    def release(self, pool: Pool, clone: Clone) -> None:
        now = time.monotonic()
        pool.advance(now)
        clone.busy -= 1
        clone.idle_since = now
        pool.notify()

    async def keep_alive(self) -> None:
        """Remove the clones idle for longer than the keep-alive (only with --keep-alive)."""
        if self.keep_alive_s is None:
            return
        now, leaving = time.monotonic(), []
        for pool in self.pools.values():
            idle = [c for c in pool.warm() if not c.busy and now - c.idle_since > self.keep_alive_s]
            if idle:
                pool.advance(now)
            for clone in idle:
                del pool.clones[clone.id]  # no request can take it from here on
                self.removed.add(clone.id)
                leaving.append(clone)
                log.info("keep-alive: removing clone %s of %s", clone.id[:12], pool.program)
        removals = [asyncio.to_thread(self.actuator.remove, c.container) for c in leaving]
        for clone, outcome in zip(leaving, await asyncio.gather(*removals, return_exceptions=True), strict=True):
            if isinstance(outcome, ClonecastError):
                log.warning("could not remove clone %s: %s", clone.id[:12], outcome)
            elif isinstance(outcome, BaseException):
                raise outcome

    async def run(self) -> None:
        """Refresh the clone list and apply the keep-alive every REFRESH_S."""
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                await self.refresh()
                await self.keep_alive()
            except ClonecastError as e:
                log.warning("engine: %s (keeping the last clone list)", e)
            except Exception:  # the loop must outlive any one failure
                log.exception("refreshing the clone list failed")
            now = time.monotonic()
            for pool in self.pools.values():
                pool.advance(now)

    # requests ----------------------------------------------------------------------------------------

    async def invoke(self, request: Request) -> Response:
        program, arrived = request.path_params["program"], time.perf_counter()
        if program not in self.concurrency:
            return PlainTextResponse(f"unknown program {program!r}: not in the front door's programs file\n", 404)
        pool = self.pool(program)
        pool.requests += 1
        pool.inflight += 1
        cold = False
        try:
            response = await self.forward(pool, request.url.query)
            cold = response.headers.get("X-Clonecast-Cold") == "1"
        except UnavailableError as e:
            response = PlainTextResponse(f"{e}\n", 503)
        finally:
            pool.inflight -= 1
        pool.cold_starts += cold
        pool.responses[response.status_code] += 1
        self.latency.labels(program).observe(time.perf_counter() - arrived)
        return response

    async def forward(self, pool: Pool, query: str) -> Response:
        """Run the request on a clone; a clone refusing the connection, or closing it before it answers (removed by a
        scale-down mid-request), is dropped and another one tried: the workload's requests are idempotent."""
        waited = False
        for _ in range(3):
            clone, cold = await self.acquire(pool)
            waited |= cold
            try:
                answer = await self.http.get(f"http://{clone.address}/cgi-bin/run?{query}", timeout=FORWARD)
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):  # gone, or removed mid-request
                pool.advance(time.monotonic())
                clone.warm, clone.failed = False, True  # gone: the next refresh drops it
                continue
            except httpx.HTTPError as e:
                return PlainTextResponse(f"clone {clone.id[:12]} of {pool.program} failed: {e!r}\n", 502)
            finally:
                self.release(pool, clone)
            headers = {"X-Clonecast-Cold": str(int(waited)), "X-Clonecast-Clone": clone.id[:12]}
            return Response(answer.content, answer.status_code, headers, answer.headers.get("content-type"))
        raise UnavailableError(f"no clone of {pool.program} accepted the connection (3 tried)")

    # metrics -----------------------------------------------------------------------------------------

    def stats(self) -> dict[str, dict[str, float]]:
        now = time.monotonic()
        for pool in self.pools.values():
            pool.advance(now)
        return {
            p.program: {
                "requests": p.requests,
                "cold_starts": p.cold_starts,
                "served": p.responses[200],
                "clone_s": p.clone_s,
                "busy_s": p.busy_s,
                "inflight": p.inflight,
                "clones": len(p.warm()),
                "busy_clones": sum(1 for c in p.warm() if c.busy),
            }
            for p in self.pools.values()
        }

    def collect(self) -> Iterator[Metric]:
        """The pools' totals as Prometheus metrics (called at each scrape)."""
        stats, name = self.stats(), "clonecast_frontdoor_"
        for key, metric, kind, text in (
            ("requests", "requests", CounterMetricFamily, "Requests received"),
            ("cold_starts", "cold_starts", CounterMetricFamily, "Requests that waited for a container start"),
            ("clone_s", "clone_seconds", CounterMetricFamily, "Warm clone-seconds"),
            ("busy_s", "busy_seconds", CounterMetricFamily, "Clone-seconds serving at least one request"),
            ("inflight", "inflight", GaugeMetricFamily, "Requests received and not answered yet"),
            ("clones", "clones", GaugeMetricFamily, "Warm clones"),
            ("busy_clones", "busy_clones", GaugeMetricFamily, "Warm clones serving at least one request"),
        ):
            family = kind(name + metric, text, labels=["program"])
            for program, values in stats.items():
                family.add_metric([program], values[key])
            yield family
        responses = CounterMetricFamily(name + "responses", "Responses by status code", labels=["program", "code"])
        for pool in self.pools.values():
            for code, count in sorted(pool.responses.items()):
                responses.add_metric([pool.program, str(code)], count)
        yield responses


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("%s", task.exception())


def _address(container: Any) -> str | None:
    """host:port of a local clone: its port label on the host network, else its bridge IP on port 8080."""
    labels = container.attrs.get("Labels") or {}
    networks = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
    if "host" in networks or not networks:
        return f"127.0.0.1:{labels[PORT]}" if PORT in labels else None
    ip = next((n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), None)
    return f"{ip}:8080" if ip else None


def _live(container: Any) -> bool:
    """Running and not reported unhealthy (a sparse list entry) and a clone of clonecast's."""
    attrs = container.attrs
    managed = (attrs.get("Labels") or {}).get(MANAGED) == "true"
    return managed and attrs.get("State") == "running" and "(unhealthy)" not in attrs.get("Status", "")


def build_app(door: FrontDoor) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await door.refresh()  # requests arriving first find the clones that already run
        task = asyncio.get_running_loop().create_task(door.run())
        yield
        task.cancel()
        await door.http.aclose()

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(door.registry), media_type="text/plain; version=0.0.4")

    async def stats(request: Request) -> Response:
        return JSONResponse(door.stats())

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    routes = [
        Route("/invoke/{program}", door.invoke),
        Route("/metrics", metrics),
        Route("/stats", stats),
        Route("/healthz", healthz),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--programs", type=Path, required=True, help="programs file (CSV/Parquet) or dataset dir")
    parser.add_argument(
        "--port", type=int, default=9181, help="port to serve on (default 9181, which Prometheus scrapes)"
    )
    parser.add_argument("--bind", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    parser.add_argument(
        "--keep-alive", type=float, metavar="SECONDS", help="remove clones idle this long (default: never)"
    )
    parser.add_argument(
        "--docker-host", help="Docker Engine URL (default: CLONECAST_DOCKER_HOST, DOCKER_HOST, the socket)"
    )
    parser.add_argument("--host-name", default="local", help="the engine's host name in clone labels (default local)")
    parser.add_argument("--start-timeout", type=float, default=30.0, help="seconds a clone may take to answer (30)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    disable_created_metrics()
    try:
        programs = programs_frame(read_programs_any(args.programs))
    except (ClonecastError, OSError) as e:
        parser.error(f"--programs {args.programs}: {e}")
    hosts = pd.DataFrame({"host": [args.host_name]})
    engine = {args.host_name: args.docker_host or Settings().docker_host}
    door = FrontDoor(
        DockerActuator(engine, programs, hosts, health_interval_s=SERVING_HEALTH_INTERVAL_S),  # it probes readiness
        args.host_name,
        keep_alive_s=args.keep_alive,
        start_timeout_s=args.start_timeout,
    )
    log.info("front door on %s:%d for %d programs, keep-alive %s", args.bind, args.port, len(programs), args.keep_alive)
    uvicorn.run(build_app(door), host=args.bind, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
