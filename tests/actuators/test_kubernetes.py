"""The Kubernetes actuator against a real kube-apiserver with kubemark hollow nodes (infra/k8s/plane.sh)."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
import time
from contextlib import suppress
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import utils as k8s_utils

from actuators.base import ActuatorError, Observation
from actuators.kubernetes_engine import KubernetesActuator, api_client
from tests.actuators.plans import plan_to, programs

pytestmark = pytest.mark.kubernetes
ROOT = Path(__file__).resolve().parents[2]
RUN = Path(os.environ.get("CLONECAST_RUN_DIR", "/tmp/clonecast-run")) / "k8s"
NAMESPACE = "clonecast"
NODES = pd.DataFrame(
    {
        "host": ["node-a1", "node-a2", "node-b1", "node-b2"],
        "zone": ["zone-a", "zone-a", "zone-b", "zone-b"],
        "region": "local",
        "cpu_millicores": 4000.0,
        "memory_mb": 8192.0,
        "gpus": [0, 4, 0, 2],
        "gpu_type": ["", "T4", "", "A10"],
        "free_cpu_millicores": 4000.0,
        "free_memory_mb": 8192.0,
        "free_gpus": [0, 4, 0, 2],
    }
)


@pytest.fixture(scope="module")
def admin() -> k8s.ApiClient:
    api = api_client(str(RUN / "admin.kubeconfig"))
    k8s.CoreV1Api(api).list_node()  # a missing plane fails the tests, they are not skipped
    with (ROOT / "infra/k8s/rbac.yaml").open() as f:
        for doc in yaml.safe_load_all(f):
            try:
                k8s_utils.create_from_dict(api, doc)
            except k8s_utils.FailToCreateError as e:
                if any(x.status != 409 for x in e.api_exceptions):
                    raise
    return api


@pytest.fixture(scope="module")
def service_account(admin: k8s.ApiClient) -> k8s.ApiClient:
    """A client authenticated as the actuator's ServiceAccount (token secret made by the controller-manager)."""
    core = k8s.CoreV1Api(admin)
    for _ in range(120):
        account = core.read_namespaced_service_account("clonecast-actuator", NAMESPACE)
        if account.secrets:
            secret = core.read_namespaced_secret(account.secrets[0].name, NAMESPACE)
            token = base64.b64decode(secret.data["token"]).decode()
            host = admin.configuration.host
            return api_client(host=host, token=token, ca=str(RUN / "ca.crt"))
        time.sleep(0.5)
    raise AssertionError("no service-account token was issued (is kube-controller-manager running?)")


@pytest.fixture
def clean(admin: k8s.ApiClient) -> None:
    """Each test starts and ends with no Deployments and no pods in the namespace."""
    apps, core = k8s.AppsV1Api(admin), k8s.CoreV1Api(admin)

    def empty() -> bool:
        with suppress(k8s.exceptions.NotFoundException):  # the garbage collector may be faster
            for d in apps.list_namespaced_deployment(NAMESPACE).items:
                apps.delete_namespaced_deployment(d.metadata.name, NAMESPACE, propagation_policy="Background")
            for p in core.list_namespaced_pod(NAMESPACE).items:
                core.delete_namespaced_pod(p.metadata.name, NAMESPACE, grace_period_seconds=0)
        return not core.list_namespaced_pod(NAMESPACE).items and not apps.list_namespaced_deployment(NAMESPACE).items

    wait(empty, timeout=120, every=1.0)
    yield
    wait(empty, timeout=120, every=1.0)


def wait(predicate, timeout: float = 60.0, every: float = 0.5):  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


def observe_until(actuator: KubernetesActuator, predicate) -> Observation:  # type: ignore[no-untyped-def]
    """The first observation that satisfies `predicate` (within a minute)."""
    found: list[Observation] = []

    def check() -> bool:
        found[:] = [actuator.observe()]
        return bool(predicate(found[0]))

    wait(check)
    return found[0]


def frame(*codes: str, gpus: int = 0) -> pd.DataFrame:
    return programs(*codes, gpus=gpus)


def test_a_plan_yields_deployments_and_running_pods_on_the_planned_nodes(service_account, clean) -> None:  # type: ignore[no-untyped-def]
    actuator = KubernetesActuator(service_account, NAMESPACE, frame("api", "batch"), NODES)
    desired = {("api", "node-a1"): 2, ("api", "node-b1"): 1, ("batch", "node-b1"): 2}
    plan = plan_to(desired)
    report = actuator.apply(plan)
    assert report.ok, report.to_dict()
    deployments = actuator.deployments()
    assert {p: d.spec.replicas for p, d in deployments.items()} == {"api": 3, "batch": 2}
    seen = observe_until(actuator, lambda o: sum(o.clones.values()) == 5)
    assert {h for (p, h) in seen.clones if p == "api"} <= {"node-a1", "node-b1"}
    assert {h for (p, h) in seen.clones if p == "batch"} == {"node-b1"}
    again = actuator.apply(plan)
    assert again.ok and all(r.before == r.target for r in again.results)


def test_gpu_requests_beyond_capacity_stay_pending_and_are_reported(service_account, clean) -> None:  # type: ignore[no-untyped-def]
    # the planner's inventory is stale: it believes node-a2 has 8 GPUs, the cluster advertises 4
    stale = NODES.assign(gpus=[0, 8, 0, 2], free_gpus=[0, 8, 0, 2])
    actuator = KubernetesActuator(service_account, NAMESPACE, frame("infer", gpus=1), stale)
    actuator.apply(plan_to({("infer", "node-a2"): 4}))  # node-a2 has 4 T4s: all fit
    wait(lambda: actuator.observe().clones.get(("infer", "node-a2")) == 4)
    actuator.apply(plan_to({("infer", "node-a2"): 6}, before={("infer", "node-a2"): 4}))
    seen = observe_until(actuator, lambda o: o.pending.get("infer") == 2)
    assert seen.clones[("infer", "node-a2")] == 4  # two pods wait for GPUs: shortfall for the planner


def test_the_service_account_may_scale_here_and_nowhere_else(service_account, admin, clean) -> None:  # type: ignore[no-untyped-def]
    actuator = KubernetesActuator(service_account, NAMESPACE, frame("api"), NODES)
    actuator.apply(plan_to({("api", "node-a1"): 1}))
    actuator.apply(plan_to({("api", "node-a1"): 3}, before={("api", "node-a1"): 1}))
    assert actuator.deployments()["api"].spec.replicas == 3
    elsewhere = KubernetesActuator(service_account, "default", frame("api"), NODES)
    with pytest.raises(ActuatorError, match="HTTP 403"):
        elsewhere.deployments()
    with pytest.raises(k8s.exceptions.ApiException) as forbidden:
        k8s.CoreV1Api(service_account).list_node()
    assert forbidden.value.status == 403


def test_an_adopted_deployment_is_scaled_not_replaced(service_account, admin, clean) -> None:  # type: ignore[no-untyped-def]
    body = KubernetesActuator(admin, NAMESPACE, frame("legacy"), NODES).template("legacy", [], 1, plan_to({}))
    body.metadata.name = "users-own"
    body.metadata.labels = {"owner": "user"}  # not clonecast's: only the annotation marks it
    k8s.AppsV1Api(admin).create_namespaced_deployment(NAMESPACE, body)
    actuator = KubernetesActuator(service_account, NAMESPACE, frame("legacy"), NODES)
    actuator.apply(plan_to({("legacy", "node-a1"): 2}))
    adopted = k8s.AppsV1Api(admin).read_namespaced_deployment("users-own", NAMESPACE)
    assert adopted.spec.replicas == 2 and adopted.spec.template.spec.affinity is None
    assert [d.metadata.name for d in k8s.AppsV1Api(admin).list_namespaced_deployment(NAMESPACE).items] == ["users-own"]


def test_apiserver_restarted_mid_reconcile_converges_afterwards(service_account, clean) -> None:  # type: ignore[no-untyped-def]
    codes = [f"svc-{i}" for i in range(12)]
    small = frame(*codes).assign(cpu_millicores=10.0)  # hollow nodes advertise one CPU each
    actuator = KubernetesActuator(service_account, NAMESPACE, small, NODES)
    plan = plan_to({(c, "node-a1" if i % 2 else "node-b1"): 1 + i % 3 for i, c in enumerate(codes)})
    thread = threading.Thread(target=lambda: actuator.reconcile(plan))
    thread.start()
    time.sleep(0.3)
    subprocess.run([str(ROOT / "infra/k8s/plane.sh"), "restart-apiserver"], check=True, capture_output=True)
    thread.join(timeout=120)
    report = actuator.reconcile(plan)
    assert report.ok, report.to_dict()
    assert {p: d.spec.replicas for p, d in actuator.deployments().items()} == plan.targets
    wait(lambda: sum(actuator.observe().clones.values()) == sum(plan.targets.values()), timeout=90)
