"""Tasks that touch MLflow, an engine or the network declare retries and a timeout; only failures that may pass on
a second try (not bad input, not a model in the wrong state) are retried."""

from __future__ import annotations

from typing import Any

import pytest

from clonecast.errors import ActuatorError, DataValidationError, InputError, ModelError
from flows import pipeline

REMOTE = ("load_model", "train_register", "gate", "log_backtest", "deploy", "log_scores")


@pytest.mark.parametrize("name", REMOTE)
def test_tasks_that_touch_services_declare_retries_and_a_timeout(name: str) -> None:
    task = getattr(pipeline, name)
    assert task.retries >= 1 and task.retry_delay_seconds
    assert task.timeout_seconds is not None and task.timeout_seconds > 0
    assert task.retry_condition_fn is pipeline._transient


class _State:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def result(self, raise_on_failure: bool = True) -> Any:
        return self.error


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (ConnectionError("refused"), True),
        (ActuatorError("engine timed out"), True),
        (InputError("bad trace"), False),
        (ModelError("no champion"), False),
        (DataValidationError.__new__(DataValidationError), False),
    ],
)
def test_only_failures_that_may_pass_are_retried(error: BaseException, retried: bool) -> None:
    assert pipeline._transient(None, None, _State(error)) is retried
