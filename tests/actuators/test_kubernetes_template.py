"""The Kubernetes actuator's Deployment template and readiness rule, without a cluster."""

from __future__ import annotations

import numpy as np
import pandas as pd
from kubernetes import client as k8s

from actuators.kubernetes_engine import WORKLOAD_CHECK, KubernetesActuator, Probes, _ready
from tests.actuators.plans import plan_to, programs


def _container(actuator: KubernetesActuator, program: str) -> k8s.V1Container:
    return actuator.template(program, [], 1, plan_to({})).spec.template.spec.containers[0]


def test_the_template_probes_with_the_workload_check_after_the_cold_start_unless_overridden() -> None:
    frame = programs("api", "infer", "quiet").assign(cold_start_s=[1.0, 29.5, np.nan])
    own = Probes(readiness=k8s.V1Probe(http_get=k8s.V1HTTPGetAction(path="/healthz", port=9000)), liveness=None)
    actuator = KubernetesActuator(k8s.ApiClient(), "ns", frame, pd.DataFrame(), probes={"quiet": own})
    api, infer, quiet = (_container(actuator, p) for p in ("api", "infer", "quiet"))
    assert api.readiness_probe.var_exec.command == list(WORKLOAD_CHECK) == api.liveness_probe.var_exec.command
    assert (api.readiness_probe.period_seconds, api.readiness_probe.failure_threshold) == (2, 3)
    assert api.liveness_probe.initial_delay_seconds == 1 and infer.liveness_probe.initial_delay_seconds == 30
    assert quiet.readiness_probe.http_get.path == "/healthz" and quiet.liveness_probe is None
    body = k8s.ApiClient().sanitize_for_serialization(_container(actuator, "api"))
    assert set(body["readinessProbe"]) >= {"exec", "periodSeconds"} and "livenessProbe" in body


def test_a_pod_is_ready_only_with_its_ready_condition_and_every_container_ready() -> None:
    def pod(condition: str, containers: list[bool]) -> k8s.V1Pod:
        return k8s.V1Pod(
            status=k8s.V1PodStatus(
                conditions=[k8s.V1PodCondition(type="Ready", status=condition)],
                container_statuses=[
                    k8s.V1ContainerStatus(name=f"c{i}", ready=r, image="i", image_id="", restart_count=0)
                    for i, r in enumerate(containers)
                ],
            )
        )

    assert _ready(pod("True", [True, True]))
    assert not _ready(pod("False", [True]))
    assert not _ready(pod("True", [True, False]))
