"""Kubernetes hosts for re-planning: capacity held by clonecast's own pods counts as free (the hosts contract),
so planning again on a cluster full of clonecast's clones keeps them instead of flapping 4 -> 0 -> 4."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from kubernetes import client as k8s

from actuators import kubernetes_engine
from actuators.kubernetes_engine import MANAGED_BY, PROGRAM_ID, KubernetesActuator, node_hosts, program_id
from policy.plan import ClonePlan, State, plan_clones
from tests.actuators import test_kubernetes as plane
from tests.actuators.test_kubernetes import NAMESPACE, wait

ORIGIN = pd.Timestamp("2026-01-05T12:00:00Z")
CYCLES = 5
admin, service_account, clean = plane.admin, plane.service_account, plane.clean  # the real plane's fixtures


def programs() -> pd.DataFrame:
    """One GPU program on T4s whose forecast wants 6 clones (more than the 4 T4s the cluster has)."""
    return pd.DataFrame(
        {
            "program_code": ["infer"],
            "cpu_millicores": [100.0],
            "memory_mb": [32.0],
            "gpus": [1],
            "gpu_type": ["T4"],
            "concurrency": [1],
            "cold_start_s": [30.0],
            "image": ["clonecast/workload:latest"],
            "duration_ms": [60_000.0],  # clones = requests per 5-minute bin / 5
        }
    )


def forecast(origin: pd.Timestamp = ORIGIN) -> pd.DataFrame:
    steps = np.arange(1, 13)
    return pd.DataFrame(
        {
            "program_code": "infer",
            "origin": origin,
            "ts": origin + (steps - 1) * pd.Timedelta("5min"),
            "step": steps,
            "yhat": 30.0,
            "q50": 30.0,
            "q90": 30.0,
            "cpu_millicores": 0.0,
            "memory_mb": 0.0,
            "gpus": 0.0,
        }
    )


def replan(
    hosts: Callable[[], pd.DataFrame], existing: Callable[[], State], apply: Callable[[ClonePlan], None]
) -> list[int]:
    """Plan CYCLES times from the hosts and clones seen each time, applying every plan; the targets."""
    targets = []
    for _ in range(CYCLES):
        plan = plan_clones(forecast(), programs(), hosts(), existing=existing())
        apply(plan)
        targets.append(plan.targets["infer"])
    return targets


class FakeCluster:
    """What `node_hosts` reads through CoreV1Api: one 4-GPU node, a system pod, and the clones a plan made."""

    def __init__(self) -> None:
        self.node = k8s.V1Node(
            metadata=k8s.V1ObjectMeta(
                name="gpu-node", labels={"topology.kubernetes.io/zone": "zone-a", "clonecast.io/gpu-type": "T4"}
            ),
            spec=k8s.V1NodeSpec(),
            status=k8s.V1NodeStatus(
                allocatable={"cpu": "16", "memory": "64Gi", "nvidia.com/gpu": "4"},
                conditions=[k8s.V1NodeCondition(type="Ready", status="True")],
            ),
        )
        self.system = self.pod("kube-proxy", {"app": "kube-proxy"}, cpu="1", gpus=None)
        self.clones: State = {}

    @staticmethod
    def pod(name: str, labels: dict[str, str], *, cpu: str, gpus: str | None) -> k8s.V1Pod:
        limits = {"nvidia.com/gpu": gpus} if gpus else None
        container = k8s.V1Container(
            name="c", resources=k8s.V1ResourceRequirements(requests={"cpu": cpu, "memory": "32Mi"}, limits=limits)
        )
        return k8s.V1Pod(
            metadata=k8s.V1ObjectMeta(name=name, labels=labels),
            spec=k8s.V1PodSpec(containers=[container], node_name="gpu-node"),
            status=k8s.V1PodStatus(phase="Running"),
        )

    def list_node(self) -> Any:
        return SimpleNamespace(items=[self.node])

    def list_pod_for_all_namespaces(self) -> Any:
        labels = {PROGRAM_ID: program_id("infer"), MANAGED_BY: "clonecast"}
        clones = [
            self.pod(f"{program}-{host}-{i}", labels, cpu="100m", gpus="1")
            for (program, host), count in self.clones.items()
            for i in range(count)
        ]
        return SimpleNamespace(items=[self.system, *clones])

    def apply(self, plan: ClonePlan) -> None:
        self.clones = plan.desired()


def test_replanning_a_cluster_full_of_clonecasts_own_clones_is_stable(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = FakeCluster()
    monkeypatch.setattr(kubernetes_engine.k8s, "CoreV1Api", lambda api: cluster)
    hosts = node_hosts(k8s.ApiClient())
    assert hosts.loc[0, "free_cpu_millicores"] == pytest.approx(15_000.0)  # other pods still hold capacity

    targets = replan(lambda: node_hosts(k8s.ApiClient()), lambda: dict(cluster.clones), cluster.apply)

    assert targets == [4] * CYCLES  # 4 T4s: 4 clones, every cycle (was 4 -> 0 -> 4 -> 0 -> 4)
    assert cluster.clones == {("infer", "gpu-node"): 4}
    seen = node_hosts(k8s.ApiClient())
    assert seen.loc[0, "free_gpus"] == 4 and seen.loc[0, "free_cpu_millicores"] == pytest.approx(15_000.0)


@pytest.mark.kubernetes
def test_replanning_the_real_plane_with_only_clonecasts_pods_is_stable(service_account, admin, clean) -> None:  # type: ignore[no-untyped-def]
    """node-a2 advertises 4 T4s; 5 cycles of hosts -> plan (with the observed clones) -> reconcile."""
    actuator = KubernetesActuator(service_account, NAMESPACE, programs(), node_hosts(admin))

    def apply(plan: ClonePlan) -> None:
        assert actuator.reconcile(plan).ok
        wanted = plan.targets["infer"]
        wait(lambda: sum(actuator.observe().clones.values()) == wanted, timeout=120)

    targets = replan(lambda: node_hosts(admin), lambda: actuator.observe().clones, apply)

    assert targets == [4] * CYCLES
    assert actuator.observe().clones == {("infer", "node-a2"): 4}
