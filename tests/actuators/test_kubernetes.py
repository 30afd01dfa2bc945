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
from actuators.kubernetes_engine import WORKLOAD_CHECK, KubernetesActuator, Probes, api_client, exec_probe
from tests.actuators.plans import plan_to, programs

pytestmark = pytest.mark.kubernetes
ROOT = Path(__file__).resolve().parents[2]
RUN = Path(os.environ.get("CLONECAST_RUN_DIR", "/tmp/clonecast-run")) / "k8s"
NAMESPACE = "clonecast"
UNSCHEDULABLE_RETRY_S = 60 + 30  # kube-scheduler re-queues a pod it failed to bind after at most this
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
    # a pod whose binding failed while the apiserver was down waits in kube-scheduler's unschedulable queue:
    # 60 s there, flushed every 30 s (v1.20, not configurable); the bound leaves room for a loaded machine
    wait(
        lambda: sum(actuator.observe().clones.values()) == sum(plan.targets.values()), timeout=UNSCHEDULABLE_RETRY_S * 3
    )


def test_clones_carry_readiness_and_liveness_probes_overridable_per_program(service_account, clean) -> None:  # type: ignore[no-untyped-def]
    own = Probes(readiness=k8s.V1Probe(tcp_socket=k8s.V1TCPSocketAction(port=9000), period_seconds=5), liveness=None)
    programs = frame("api", "batch").assign(cold_start_s=[1.0, 30.0])
    actuator = KubernetesActuator(service_account, NAMESPACE, programs, NODES, probes={"batch": own})
    assert actuator.apply(plan_to({("api", "node-a1"): 2, ("batch", "node-b1"): 1})).ok
    stored = {p: d.spec.template.spec.containers[0] for p, d in actuator.deployments().items()}
    ready, live = stored["api"].readiness_probe, stored["api"].liveness_probe
    assert ready.var_exec.command == list(WORKLOAD_CHECK) and live.var_exec.command == list(WORKLOAD_CHECK)
    assert (ready.period_seconds, ready.failure_threshold) == (2, 3) and live.initial_delay_seconds == 1
    assert str(stored["batch"].readiness_probe.tcp_socket.port) == "9000" and stored["batch"].liveness_probe is None
    # the hollow kubelet runs the exec probe (its fake runtime answers it): the clones become Ready, and count
    observe_until(actuator, lambda o: o.clones.get(("api", "node-a1")) == 2)


def test_a_pod_that_is_not_ready_is_not_counted_as_warm(service_account, admin, clean) -> None:  # type: ignore[no-untyped-def]
    actuator = KubernetesActuator(service_account, NAMESPACE, frame("api"), NODES, unready_grace_s=0.0)
    actuator.apply(plan_to({("api", "node-a1"): 2}))
    observe_until(actuator, lambda o: o.clones.get(("api", "node-a1")) == 2)
    core = k8s.CoreV1Api(admin)

    def observed_while_unready() -> Observation | None:
        """Mark one pod not ready through the status subresource, observe, and check the kubelet has not yet
        written its own status back (it reconciles every few seconds); None to try again."""
        pod = core.list_namespaced_pod(NAMESPACE).items[0]
        for condition in pod.status.conditions:
            if condition.type in ("Ready", "ContainersReady"):
                condition.status = "False"
        for status in pod.status.container_statuses:
            status.ready = False
        try:
            core.replace_namespaced_pod_status(pod.metadata.name, NAMESPACE, pod)
        except k8s.exceptions.ApiException as e:
            if e.status == 409:  # the kubelet wrote in between
                return None
            raise
        seen = actuator.observe()
        after = core.read_namespaced_pod_status(pod.metadata.name, NAMESPACE)
        still = all(c.status == "False" for c in after.status.conditions if c.type == "Ready")
        return seen if still else None

    seen = wait(observed_while_unready, timeout=60, every=0.5)
    assert seen.clones == {("api", "node-a1"): 1}  # the running, not ready pod is not capacity
    assert seen.unhealthy == {("api", "node-a1"): 1}  # past the grace period (0 s here): replaced on reconcile


def test_an_adopted_deployment_keeps_its_own_probes(service_account, admin, clean) -> None:  # type: ignore[no-untyped-def]
    own = Probes(readiness=exec_probe(["/bin/true"], period_seconds=7), liveness=None)
    body = KubernetesActuator(admin, NAMESPACE, frame("legacy"), NODES, probes={"legacy": own}).template(
        "legacy", ["node-a1"], 1, plan_to({})
    )
    body.metadata.name = "users-own"
    body.metadata.labels = {"owner": "user"}
    k8s.AppsV1Api(admin).create_namespaced_deployment(NAMESPACE, body)
    actuator = KubernetesActuator(service_account, NAMESPACE, frame("legacy"), NODES)  # default probes for its own
    assert actuator.apply(plan_to({("legacy", "node-a1"): 3})).ok
    container = k8s.AppsV1Api(admin).read_namespaced_deployment("users-own", NAMESPACE).spec.template.spec.containers[0]
    assert container.readiness_probe.var_exec.command == ["/bin/true"] and container.readiness_probe.period_seconds == 7
    assert container.liveness_probe is None
    observe_until(actuator, lambda o: sum(c for (p, _), c in o.clones.items() if p == "legacy") == 3)
