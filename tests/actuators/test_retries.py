"""Transient engine errors are tried again a bounded number of times; others, and persistent ones, surface as
ActuatorError with the engine's error chained (fake clients: no engine needed)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest
import requests
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from tenacity import wait_none

from actuators import docker_engine, kubernetes_engine
from actuators.base import ActuatorError
from actuators.docker_engine import DockerActuator, wait_all_healthy
from actuators.kubernetes_engine import KubernetesActuator
from tests.actuators.plans import hosts, plan_to, programs


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_engine, "BACKOFF", wait_none())
    monkeypatch.setattr(kubernetes_engine, "BACKOFF", wait_none())


class Flaky:
    """A call that raises each of `errors` in turn, then returns `result`; counts its calls."""

    def __init__(self, errors: list[BaseException], result: Any = None) -> None:
        self.errors, self.result, self.calls = list(errors), result, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def always(error: Callable[[], BaseException]) -> Flaky:
    return Flaky([error() for _ in range(100)])


def docker_actuator(list_call: Flaky) -> DockerActuator:
    client = SimpleNamespace(containers=SimpleNamespace(list=list_call), close=lambda: None)
    return DockerActuator({"h1": "fake://"}, programs("api"), hosts("h1"), client_factory=lambda url: client)


def api_error(status: int) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code, response.reason, response.url = status, "engine says no", "http://engine/containers/json"
    return docker.errors.APIError("engine says no", response=response)


def test_docker_transient_errors_are_tried_again() -> None:
    listing = Flaky([requests.exceptions.ConnectionError("engine restarting"), api_error(503)], result=[])
    assert docker_actuator(listing).observe().clones == {}
    assert listing.calls == 3


def test_docker_persistent_errors_surface_as_actuator_errors_after_a_bounded_number_of_tries() -> None:
    listing = always(lambda: requests.exceptions.ConnectionError("engine gone"))
    with pytest.raises(ActuatorError, match="list clones on h1: engine unreachable") as error:
        docker_actuator(listing).observe()
    assert isinstance(error.value.__cause__, requests.exceptions.ConnectionError)
    assert listing.calls == docker_engine.ATTEMPTS


def test_docker_errors_that_another_try_cannot_fix_are_not_retried() -> None:
    listing = always(lambda: api_error(400))
    with pytest.raises(ActuatorError, match="list clones on h1") as error:
        docker_actuator(listing).observe()
    assert isinstance(error.value.__cause__, docker.errors.APIError) and listing.calls == 1


def test_docker_polls_ride_out_transient_errors_and_time_out_as_actuator_errors() -> None:
    healthy = Flaky([requests.exceptions.ConnectionError("blip")], result=[object(), object()])
    actuator = docker_actuator(healthy)
    assert wait_all_healthy(actuator, "h1", "api", 2, timeout=5) < 5
    assert healthy.calls == 2
    never = docker_actuator(Flaky([], result=[]))
    with pytest.raises(ActuatorError, match=r"fewer than 2 healthy clones after 0\.3 s"):
        wait_all_healthy(never, "h1", "api", 2, timeout=0.3)


def kubernetes_actuator(apps: Any) -> KubernetesActuator:
    actuator = KubernetesActuator(k8s.ApiClient(), "ns", programs("api"), hosts("h1"))
    actuator.apps = apps
    return actuator


class Deployments:
    """AppsV1Api over one Deployment: each call raises its errors first; reads of the scale give a fresh copy."""

    def __init__(
        self,
        replicas: int,
        *,
        read: tuple[BaseException, ...] = (),
        replace: tuple[BaseException, ...] = (),
        create: tuple[BaseException, ...] = (),
    ) -> None:
        self.replicas = replicas
        self.read, self.replace, self.create = Flaky(list(read)), Flaky(list(replace)), Flaky(list(create))

    def create_namespaced_deployment(self, namespace: str, body: Any) -> None:
        self.create(namespace, body)

    def read_namespaced_deployment_scale(self, name: str, namespace: str) -> Any:
        self.read(name, namespace)
        return SimpleNamespace(spec=SimpleNamespace(replicas=self.replicas))

    def replace_namespaced_deployment_scale(self, name: str, namespace: str, scale: Any) -> None:
        self.replace(name, namespace, scale)
        self.replicas = scale.spec.replicas


def test_kubernetes_conflicts_and_outages_are_tried_again() -> None:
    apps = Deployments(1, read=(ApiException(status=503),), replace=(ApiException(status=409),))
    kubernetes_actuator(apps)._scale("cc-api", 3)
    assert apps.read.calls == 3  # the 503, then a fresh read after the 409
    assert apps.replace.calls == 2 and apps.replicas == 3


def test_kubernetes_persistent_errors_surface_as_actuator_errors_after_a_bounded_number_of_tries() -> None:
    listing = always(lambda: ApiException(status=503, reason="Service Unavailable"))
    with pytest.raises(ActuatorError, match="list Deployments in ns: HTTP 503") as error:
        kubernetes_actuator(SimpleNamespace(list_namespaced_deployment=listing)).deployments()
    assert isinstance(error.value.__cause__, ApiException)
    assert listing.calls == kubernetes_engine.ATTEMPTS
    forbidden = always(lambda: ApiException(status=403, reason="Forbidden"))
    with pytest.raises(ActuatorError, match="HTTP 403"):
        kubernetes_actuator(SimpleNamespace(list_namespaced_deployment=forbidden)).deployments()
    assert forbidden.calls == 1


def test_kubernetes_create_of_an_existing_deployment_scales_it_at_once() -> None:
    apps = Deployments(1, create=(ApiException(status=409, reason="AlreadyExists"),) * 10)
    kubernetes_actuator(apps)._create("api", ["h1"], 2, plan_to({("api", "h1"): 2}))
    assert apps.create.calls == 1  # a 409 on create means it exists: no retry
    assert apps.replicas == 2
