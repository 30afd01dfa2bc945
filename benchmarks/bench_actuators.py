"""Benchmark: the actuators on the real engines started by `make up`.

Targets: 50 Docker clones up and healthy in <= 10 s; reconcile 500 Deployments in <= 30 s.
Also reports the start time of a cold clone (from the image) against a warm one (from a committed
template). Baselines measured in the same run: one `docker run` of the same image (Docker), one scale
call on an existing Deployment (Kubernetes).

    python benchmarks/bench_actuators.py
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import docker
import pandas as pd

RUN = Path(os.environ.get("CLONECAST_RUN_DIR", "/tmp/clonecast-run")) / "k8s"
URL = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
IMAGE = "clonecast/workload:latest"


def frames(codes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    programs = pd.DataFrame(
        {
            "program_code": codes,
            "cpu_millicores": 10.0,
            "memory_mb": 16.0,
            "gpus": 0,
            "gpu_type": "",
            "concurrency": 1,
            "cold_start_s": 1.0,
            "image": IMAGE,
        }
    )
    hosts = pd.DataFrame(
        {
            "host": ["h1"],
            "zone": "z",
            "region": "r",
            "cpu_millicores": 1e6,
            "memory_mb": 1e7,
            "gpus": 0,
            "gpu_type": "",
            "free_cpu_millicores": 1e6,
            "free_memory_mb": 1e7,
            "free_gpus": 0,
        }
    )
    return programs, hosts


def docker_bench() -> None:
    from actuators.docker_engine import MANAGED, DockerActuator, wait_all_healthy, wait_all_serving, wait_healthy
    from tests.actuators.plans import plan_to

    client = docker.DockerClient(base_url=URL)
    programs, hosts = frames(["bench"])
    start = time.perf_counter()
    single = client.containers.run(
        IMAGE, detach=True, labels={MANAGED: "true", "clonecast.program": "x", "clonecast.host": "x"}
    )
    wait_healthy(single)
    baseline = time.perf_counter() - start
    single.remove(force=True)

    actuator = DockerActuator({"h1": URL}, programs, hosts)
    start = time.perf_counter()
    actuator.apply(plan_to({("bench", "h1"): 50}))
    started = time.perf_counter() - start
    wait_all_serving(actuator, "h1", "bench", 50)
    serving = time.perf_counter() - start
    wait_all_healthy(actuator, "h1", "bench", 50)
    total = time.perf_counter() - start
    clones = actuator.containers("h1", "bench")
    print(f"  docker: one `docker run` until healthy (baseline) {baseline:6.2f} s")
    print(f"  docker: 50 clones started (apply returned)   {started:6.2f} s")
    print(f"  docker: 50 clones answering HTTP             {serving:6.2f} s  {serving / baseline:5.1f}x")
    print(
        f"  docker: 50 clones reported healthy by Docker {total:6.2f} s  {total / baseline:5.1f}x   "
        f"target <= 10 s: {'OK' if total <= 10 else 'MISSED'} (first check one interval after start)"
    )
    for c in clones:
        c.remove(force=True)

    def start_times(use_templates: bool) -> list[float]:
        runner = DockerActuator({"h1": URL}, programs, hosts, use_templates=use_templates)
        if use_templates:
            runner.template("bench", "h1")  # committed once, not timed
        times = []
        for _ in range(5):
            t = time.perf_counter()
            runner.apply(plan_to({("bench", "h1"): 1}))
            wait_healthy(runner.containers("h1", "bench")[0])
            times.append(time.perf_counter() - t)
            runner.reconcile(plan_to({("bench", "h1"): 0}))
        return times

    cold_times, warm_times = start_times(False), start_times(True)
    print(
        f"  docker: cold clone (image) create->healthy   median {statistics.median(cold_times):5.2f} s "
        f"(min {min(cold_times):.2f})"
    )
    print(
        f"  docker: warm clone (template) create->healthy median {statistics.median(warm_times):5.2f} s "
        f"(min {min(warm_times):.2f})"
    )
    for c in client.containers.list(all=True, filters={"label": f"{MANAGED}=true"}):
        c.remove(force=True)


def kubernetes_bench() -> None:
    from kubernetes import client as k8s

    from actuators.kubernetes_engine import KubernetesActuator, api_client
    from tests.actuators.plans import plan_to

    api = api_client(str(RUN / "admin.kubeconfig"))
    namespace = "clonecast-bench"
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    if namespace not in {n.metadata.name for n in core.list_namespace().items}:
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
    codes = [f"svc-{i:03d}" for i in range(500)]
    programs, _ = frames(codes)
    nodes = pd.DataFrame(
        {
            "host": ["node-a1", "node-b1"],
            "zone": ["zone-a", "zone-b"],
            "region": "local",
            "cpu_millicores": 4000.0,
            "memory_mb": 8192.0,
            "gpus": 0,
            "gpu_type": "",
            "free_cpu_millicores": 4000.0,
            "free_memory_mb": 8192.0,
            "free_gpus": 0,
        }
    )
    actuator = KubernetesActuator(api, namespace, programs, nodes)
    plan = plan_to({(c, "node-a1"): 0 for c in codes} | {(codes[0], "node-a1"): 1})
    actuator.reconcile(plan_to({(codes[0], "node-a1"): 1}))
    start = time.perf_counter()
    actuator._scale(actuator.deployments()[codes[0]].metadata.name, 1)
    baseline = time.perf_counter() - start
    start = time.perf_counter()
    report = actuator.reconcile(plan)
    first = time.perf_counter() - start
    start = time.perf_counter()
    again = actuator.reconcile(plan)
    steady = time.perf_counter() - start
    print(f"  kubernetes: one scale call (baseline)         {baseline:6.3f} s")
    print(
        f"  kubernetes: reconcile 500 Deployments (create) {first:6.2f} s  ok={report.ok}   "
        f"target <= 30 s: {'OK' if first <= 30 else 'MISSED'}"
    )
    print(f"  kubernetes: reconcile 500 Deployments (steady) {steady:6.2f} s  ok={again.ok}")
    core.delete_namespace(namespace)
    del apps


def main() -> int:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    docker_bench()
    if (RUN / "admin.kubeconfig").exists():
        kubernetes_bench()
    else:
        print(f"  kubernetes: skipped, no plane at {RUN} (run `make up`)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
