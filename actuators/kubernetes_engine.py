"""Kubernetes actuator: one Deployment per program code, replicas through the scale subresource.

A program's Deployment is created from a template (image, CPU/memory requests, `nvidia.com/gpu` limits,
node affinity to the hosts the plan chose, spread over zones), or the user's own Deployment is adopted when
it carries the annotation `clonecast.io/program: <code>` (then clonecast only scales it: its pod template,
probes included, stays the user's). Clones carry a readiness and a liveness probe (by default the workload
image's own health check, overridable per program), and only Ready pods count as warm clones. Replicas are set
through the scale subresource with the observed resourceVersion; conflicts are retried. Pods that cannot be
scheduled (Pending) are read back as capacity shortfall for the planner; failed pods, and pods running but
not ready past a grace period, are deleted on reconcile so the Deployment replaces them. Client errors are
re-raised as ActuatorError.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import pandas as pd
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_incrementing
from tenacity.wait import wait_base
from urllib3.exceptions import HTTPError

from actuators.base import ActuatorError, ApplyReport, Observation
from actuators.checks import check_plan
from policy.plan import ClonePlan

MANAGED_BY = "app.kubernetes.io/managed-by"
PROGRAM_ID = "clonecast.io/program-id"  # label: a DNS-safe id
PROGRAM = "clonecast.io/program"  # annotation: the program code itself (also marks adopted Deployments)
ZONE = "topology.kubernetes.io/zone"
GPU = "nvidia.com/gpu"
# the workload image's health check (infra/docker/workload/Dockerfile HEALTHCHECK): its httpd answers on $PORT
WORKLOAD_CHECK = ("/bin/busybox", "sh", "-c", "/bin/busybox wget -q -O /dev/null http://127.0.0.1:${PORT:-8080}/")
ATTEMPTS = 8  # tries of an API call before its error is reported
BACKOFF: wait_base = wait_incrementing(start=0.2, increment=0.2)  # 0.2, 0.4, ... 1.4 s between them
T = TypeVar("T")


def program_id(code: str) -> str:
    """A label-value and DNS-1123 safe id for a program code (hash-suffixed when shortened)."""
    clean = re.sub(r"[^a-z0-9-]", "-", code.lower()).strip("-") or "program"
    if clean == code.lower() and len(clean) <= 40:
        return clean
    return f"{clean[:30].strip('-')}-{hashlib.sha1(code.encode()).hexdigest()[:8]}"


@contextmanager
def api_errors(what: str) -> Iterator[None]:
    """Kubernetes API and transport errors become ActuatorError (status and reason kept)."""
    try:
        yield
    except ApiException as e:
        raise ActuatorError(f"{what}: HTTP {e.status} {e.reason}") from e
    except (HTTPError, OSError) as e:
        raise ActuatorError(f"{what}: API server unreachable ({e})") from e


def transient(error: BaseException, *, conflicts: bool = True) -> bool:
    """Worth another try: the API server unreachable or busy (5xx, 429), or a resourceVersion conflict (409)
    when `conflicts` (a create's 409 means it exists: not transient)."""
    if isinstance(error, ApiException):
        status = error.status or 0
        return status >= 500 or status == 429 or (conflicts and status == 409)
    return isinstance(error, (HTTPError, OSError))


def retry(call: Callable[[], T], *, conflicts: bool = True) -> T:
    """`call`, tried again on transient errors (ATTEMPTS in all); the last error is raised for `api_errors`."""
    retrying = Retrying(
        retry=retry_if_exception(partial(transient, conflicts=conflicts)),
        stop=stop_after_attempt(ATTEMPTS),
        wait=BACKOFF,
        reraise=True,
    )
    return retrying(call)


@dataclass(frozen=True)
class Probes:
    """The readiness and liveness probes of a clone's container (None: no such probe)."""

    readiness: k8s.V1Probe | None
    liveness: k8s.V1Probe | None

    @classmethod
    def workload(cls, cold_start_s: float = 0.0) -> Probes:
        """The workload image's health check, as Docker runs it (every 2 s, 3 s timeout, 3 failures): not ready
        while it fails; restarted after 3 failures 10 s apart, not before a cold start has passed."""
        return cls(
            readiness=exec_probe(WORKLOAD_CHECK, period_seconds=2, timeout_seconds=3, failure_threshold=3),
            liveness=exec_probe(
                WORKLOAD_CHECK,
                initial_delay_seconds=math.ceil(cold_start_s),
                period_seconds=10,
                timeout_seconds=3,
                failure_threshold=3,
            ),
        )


def exec_probe(command: Sequence[str], **timing: int) -> k8s.V1Probe:
    """A probe that runs `command` in the container (exit 0 = pass), with `V1Probe` timing fields."""
    probe = k8s.V1Probe(**timing)
    probe.var_exec = k8s.V1ExecAction(command=list(command))  # "exec": set by attribute, the keyword is an alias
    return probe


class KubernetesActuator:
    """Deployments in one namespace; `hosts` are the cluster's nodes (host = node name).

    `probes` overrides the clone probes per program code (default: `Probes.workload` after its cold start)."""

    def __init__(
        self,
        api: k8s.ApiClient,
        namespace: str,
        programs: pd.DataFrame,
        hosts: pd.DataFrame,
        *,
        unready_grace_s: float = 60.0,
        probes: Mapping[str, Probes] | None = None,
    ) -> None:
        self.unready_grace_s = unready_grace_s  # a running pod not ready for longer than this is failing
        self.probes = dict(probes or {})
        self.apps = k8s.AppsV1Api(api)
        self.core = k8s.CoreV1Api(api)
        self.namespace = namespace
        self.programs = programs.set_index("program_code")
        self.hosts = hosts

    # observe -----------------------------------------------------------------------------------------

    def deployments(self) -> dict[str, Any]:
        """program code -> its Deployment (created by clonecast or adopted by annotation)."""
        with api_errors(f"list Deployments in {self.namespace}"):
            items: list[Any] = retry(lambda: self.apps.list_namespaced_deployment(self.namespace)).items
        return {d.metadata.annotations[PROGRAM]: d for d in items if PROGRAM in (d.metadata.annotations or {})}

    def observe(self) -> Observation:
        seen = Observation()
        with api_errors(f"list pods in {self.namespace}"):
            pods: list[Any] = retry(
                lambda: self.core.list_namespaced_pod(self.namespace, label_selector=PROGRAM_ID)
            ).items
        ids = {program_id(code): code for code in self.deployments()}
        for pod in pods:
            code = ids.get((pod.metadata.labels or {}).get(PROGRAM_ID, ""))
            if code is None or pod.metadata.deletion_timestamp is not None:
                continue
            phase = pod.status.phase
            if phase == "Pending":
                seen.pending[code] = seen.pending.get(code, 0) + 1
            elif phase == "Running" and _ready(pod):
                key = (code, pod.spec.node_name)
                seen.clones[key] = seen.clones.get(key, 0) + 1
            elif _failing(pod, self.unready_grace_s):
                key = (code, pod.spec.node_name or "")
                seen.unhealthy[key] = seen.unhealthy.get(key, 0) + 1
        return seen

    # act ---------------------------------------------------------------------------------------------

    def apply(self, plan: ClonePlan, *, dry_run: bool = False) -> ApplyReport:
        check_plan(plan, self.programs.reset_index(), self.hosts)
        return self._converge(plan, dry_run=dry_run, replace_failed=False)

    def reconcile(self, plan: ClonePlan, *, dry_run: bool = False) -> ApplyReport:
        check_plan(plan, self.programs.reset_index(), self.hosts)
        return self._converge(plan, dry_run=dry_run, replace_failed=True)

    def _converge(self, plan: ClonePlan, *, dry_run: bool, replace_failed: bool) -> ApplyReport:
        report = ApplyReport(dry_run=dry_run)
        existing = self.deployments()
        desired = plan.desired()
        for program, target in sorted(plan.targets.items()):
            nodes = sorted(h for (p, h), c in desired.items() if p == program and c > 0)
            current = existing.get(program)
            before = int(current.spec.replicas or 0) if current is not None else 0
            work = partial(self._program, program, nodes, target, current, plan, dry_run, replace_failed)
            report.attempt(program, ",".join(nodes), target, work, before=before)
        return report

    def _program(
        self,
        program: str,
        nodes: list[str],
        target: int,
        current: Any,
        plan: ClonePlan,
        dry_run: bool,
        replace_failed: bool,
    ) -> dict[str, Any]:
        """Converge one program's Deployment: create or adopt, place, scale, replace failing pods."""
        before = int(current.spec.replicas or 0) if current is not None else 0
        if dry_run:
            return {"status": "dry-run"}
        if current is None:
            self._create(program, nodes, target, plan)
        else:
            if _owned(current) and nodes:
                self._place(current, nodes)
            self._scale(current.metadata.name, target)
        replaced = self._replace_failed(program) if replace_failed else 0
        return {"created": max(target - before, 0), "removed": max(before - target, 0), "replaced": replaced}

    def _create(self, program: str, nodes: list[str], replicas: int, plan: ClonePlan) -> None:
        body: Any = self.template(program, nodes, replicas, plan)
        with api_errors(f"create the Deployment of {program}"):
            try:
                retry(lambda: self.apps.create_namespaced_deployment(self.namespace, body), conflicts=False)
            except ApiException as e:
                if e.status != 409:  # created by an earlier, interrupted reconcile: scale it instead
                    raise
                self._scale(body.metadata.name, replicas)

    def _scale(self, name: str, replicas: int) -> None:
        def attempt() -> None:
            scale: Any = self.apps.read_namespaced_deployment_scale(name, self.namespace)
            if scale.spec.replicas == replicas:
                return
            scale.spec.replicas = replicas  # the read resourceVersion makes a concurrent change a 409
            self.apps.replace_namespaced_deployment_scale(name, self.namespace, scale)

        with api_errors(f"scale {name} to {replicas}"):
            retry(attempt)

    def _place(self, deployment: Any, nodes: list[str]) -> None:
        wanted = _affinity(nodes)
        if deployment.spec.template.spec.affinity == wanted:
            return
        patch = {"spec": {"template": {"spec": {"affinity": k8s.ApiClient().sanitize_for_serialization(wanted)}}}}
        with api_errors(f"move {deployment.metadata.name} to {nodes}"):
            retry(lambda: self.apps.patch_namespaced_deployment(deployment.metadata.name, self.namespace, patch))

    def _replace_failed(self, program: str) -> int:
        """Delete the program's failing pods (see `_failing`); the Deployment starts new ones."""
        with api_errors(f"list pods of {program}"):
            pods: list[Any] = retry(
                lambda: self.core.list_namespaced_pod(
                    self.namespace, label_selector=f"{PROGRAM_ID}={program_id(program)}"
                )
            ).items
        failed = [p for p in pods if _failing(p, self.unready_grace_s)]
        for pod in failed:
            with api_errors(f"replace pod {pod.metadata.name}"):
                try:
                    retry(partial(self.core.delete_namespaced_pod, pod.metadata.name, self.namespace), conflicts=False)
                except ApiException as e:
                    if e.status != 404:
                        raise
        return len(failed)

    def template(self, program: str, nodes: list[str], replicas: int, plan: ClonePlan) -> k8s.V1Deployment:
        """The Deployment clonecast creates for a program."""
        profile = self.programs.loc[program]
        ident = program_id(program)
        gpus = int(profile.get("gpus", 0) or 0)
        requests = {
            "cpu": f"{int(float(profile['cpu_millicores']))}m",
            "memory": f"{int(float(profile['memory_mb']))}Mi",
        }
        limits = dict(requests) | ({GPU: str(gpus)} if gpus else {})
        labels = {PROGRAM_ID: ident, MANAGED_BY: "clonecast"}
        cold_start_s = profile.get("cold_start_s")
        probes = self.probes.get(program) or Probes.workload(0.0 if pd.isna(cold_start_s) else float(cold_start_s))
        container = k8s.V1Container(
            name="clone",
            image=str(profile["image"]),
            resources=k8s.V1ResourceRequirements(requests=requests | ({GPU: str(gpus)} if gpus else {}), limits=limits),
            readiness_probe=probes.readiness,
            liveness_probe=probes.liveness,
        )
        spread = k8s.V1TopologySpreadConstraint(
            max_skew=1,
            topology_key=ZONE,
            when_unsatisfiable="ScheduleAnyway",
            label_selector=k8s.V1LabelSelector(match_labels={PROGRAM_ID: ident}),
        )
        pod = k8s.V1PodSpec(
            containers=[container], affinity=_affinity(nodes) if nodes else None, topology_spread_constraints=[spread]
        )
        return k8s.V1Deployment(
            metadata=k8s.V1ObjectMeta(
                name=f"cc-{ident}"[:63].rstrip("-"),
                labels=labels,
                annotations={PROGRAM: program, "clonecast.io/plan": plan.origin},
            ),
            spec=k8s.V1DeploymentSpec(
                replicas=replicas,
                selector=k8s.V1LabelSelector(match_labels={PROGRAM_ID: ident}),
                template=k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels=labels), spec=pod),
            ),
        )


def _affinity(nodes: list[str]) -> k8s.V1Affinity:
    term = k8s.V1NodeSelectorTerm(
        match_expressions=[k8s.V1NodeSelectorRequirement(key="kubernetes.io/hostname", operator="In", values=nodes)]
    )
    return k8s.V1Affinity(
        node_affinity=k8s.V1NodeAffinity(
            required_during_scheduling_ignored_during_execution=k8s.V1NodeSelector(node_selector_terms=[term])
        )
    )


def _managed(pod: Any) -> bool:
    """A clone of clonecast's: the program-id label its Deployments give their pods (what `observe` counts)."""
    return PROGRAM_ID in (pod.metadata.labels or {})


def _owned(deployment: Any) -> bool:
    return (deployment.metadata.labels or {}).get(MANAGED_BY) == "clonecast"


def _failing(pod: Any, grace_s: float) -> bool:
    """Failed or lost, or running but not ready for longer than the grace period (still starting otherwise)."""
    if pod.status.phase in ("Failed", "Unknown"):
        return True
    if pod.status.phase != "Running" or _ready(pod):
        return False
    started = pod.status.start_time
    return started is not None and (datetime.now(UTC) - started).total_seconds() > grace_s


def _ready(pod: Any) -> bool:
    """Ready to serve: the pod's Ready condition (its readiness probes pass) and every container ready."""
    ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
    return ready and all(c.ready for c in pod.status.container_statuses or [])


def api_client(
    kubeconfig: str | None = None, *, host: str | None = None, token: str | None = None, ca: str | None = None
) -> k8s.ApiClient:
    """An API client from a kubeconfig file, or from a server URL, bearer token and CA file."""
    if kubeconfig:
        from kubernetes import config as k8s_config

        configuration = k8s.Configuration()
        k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        configuration = k8s.Configuration(host=host, api_key={"authorization": f"Bearer {token}"})
        configuration.ssl_ca_cert = ca
    configuration.retries = 0
    return k8s.ApiClient(configuration)


def _quantity(text: str | None) -> float:
    """A Kubernetes quantity as a number: CPU in millicores ("1", "500m"), memory in MB ("3840Mi", "4Gi")."""
    if not text:
        return 0.0
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in sorted(units.items(), key=lambda item: -len(item[0])):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def node_hosts(api: k8s.ApiClient, region: str = "local") -> pd.DataFrame:
    """The cluster's Ready nodes as a hosts frame: allocatable capacity, and what pods other than clonecast's
    own (labelled with a program id) do not request; clonecast's clones count as free, the hosts contract,
    so re-planning can keep or move them."""
    core = k8s.CoreV1Api(api)
    with api_errors("list nodes and pods"):
        nodes: list[Any] = retry(core.list_node).items
        pods: list[Any] = retry(core.list_pod_for_all_namespaces).items
    requested: dict[str, list[float]] = {}
    for pod in pods:
        if not pod.spec.node_name or pod.status.phase in ("Succeeded", "Failed") or _managed(pod):
            continue
        used = requested.setdefault(pod.spec.node_name, [0.0, 0.0, 0.0])
        for container in pod.spec.containers:
            asked = (container.resources.requests or {}) if container.resources else {}
            limits = (container.resources.limits or {}) if container.resources else {}
            used[0] += _quantity(asked.get("cpu")) * 1000
            used[1] += _quantity(asked.get("memory")) / 2**20
            used[2] += _quantity(limits.get(GPU))
    rows = []
    for node in nodes:
        ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
        if not ready or node.spec.unschedulable:
            continue
        labels, free = node.metadata.labels or {}, node.status.allocatable or {}
        cpu, memory, gpus = _quantity(free.get("cpu")) * 1000, _quantity(free.get("memory")) / 2**20, free.get(GPU)
        used = requested.get(node.metadata.name, [0.0, 0.0, 0.0])
        gpu_type = labels.get("clonecast.io/gpu-type", "")
        rows.append(
            {
                "host": node.metadata.name,
                "zone": labels.get(ZONE, ""),
                "region": region,
                "cpu_millicores": cpu,
                "memory_mb": memory,
                "gpus": int(_quantity(gpus)),
                "gpu_type": "" if gpu_type in ("", "none") else gpu_type,
                "free_cpu_millicores": max(cpu - used[0], 0.0),
                "free_memory_mb": max(memory - used[1], 0.0),
                "free_gpus": max(int(_quantity(gpus) - used[2]), 0),
            }
        )
    return pd.DataFrame(rows)
