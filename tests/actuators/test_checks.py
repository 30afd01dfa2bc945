"""Bad plans never reach an engine."""

from __future__ import annotations

import pytest

from actuators.docker_engine import DockerActuator
from clonecast.errors import PlanError
from tests.actuators.plans import hosts, plan_to, programs


def refusing_factory(url: str) -> object:
    raise AssertionError("the engine was called for a plan that should have been rejected")


@pytest.mark.parametrize(
    ("desired", "frame", "message"),
    [
        ({("a", "nowhere"): 1}, programs("a"), "unknown host 'nowhere'"),
        ({("ghost", "h1"): 1}, programs("a"), "program 'ghost' is not in the programs frame"),
        ({("a", "h1"): 1}, programs("a", image=""), "no image to clone"),
        ({("a", "h1"): 3}, programs("a", gpus=2), "puts 6 GPUs on a host that has 4"),
    ],
)
def test_bad_plans_are_rejected_before_any_engine_call(desired: dict, frame, message: str) -> None:  # type: ignore[no-untyped-def]
    actuator = DockerActuator(
        {"h1": "unix:///nowhere.sock"}, frame, hosts("h1", gpus=4), client_factory=refusing_factory
    )
    with pytest.raises(PlanError, match=message):
        actuator.apply(plan_to(desired))
    with pytest.raises(PlanError, match=message):
        actuator.reconcile(plan_to(desired))


def test_negative_counts_are_rejected() -> None:
    plan = plan_to({("a", "h1"): 1})
    broken = plan.__class__(
        **{**plan.__dict__, "actions": (plan.actions[0].__class__("clone", "a", "h1", -2, -2, "x"),)}
    )
    actuator = DockerActuator(
        {"h1": "unix:///nowhere.sock"}, programs("a"), hosts("h1"), client_factory=refusing_factory
    )
    with pytest.raises(PlanError, match="negative count"):
        actuator.apply(broken)
