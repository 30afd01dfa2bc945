"""Bad input to a package function is a ClonecastError naming the place, never a bare ValueError: the CLI
catches clonecast's own errors only, so anything else it sees is a bug."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from clonecast import errors
from clonecast.errors import ClonecastError, ConfigError, InputError, ModelError
from tests.policy.test_plan_lead import ORIGIN, forecast, hosts, programs

STAGES = ("traces", "data_checks", "models", "policy", "simulator", "actuators", "jobs", "flows")


def test_the_hierarchy_is_small_and_user_errors_stay_value_errors() -> None:
    own = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, ClonecastError)]
    assert 5 <= len(own) <= 11  # a class per way a caller reacts: SourceError (a metrics source away) holds the loop
    for cls in own:
        assert cls.__doc__, f"{cls.__name__} says when it is raised"
    for cls in (InputError, ModelError, errors.SchemaError, errors.TraceFormatError, errors.PlanError):
        assert issubclass(cls, ValueError)  # callers that caught ValueError before still do
    assert not issubclass(errors.ActuatorError, ValueError)
    assert not issubclass(errors.SourceError, ValueError)  # an unreachable Prometheus is not bad input


def test_actuator_errors_are_the_hierarchys_own() -> None:
    from actuators.base import ActuatorError

    assert ActuatorError is errors.ActuatorError


def test_the_errors_module_imports_no_stage() -> None:
    code = "import sys, clonecast.errors; print(sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert not [stage for stage in STAGES if f"'{stage}'" in loaded]


def synthetic_without_programs() -> Any:
    from traces.synthetic import SyntheticConfig

    return SyntheticConfig(programs=0)


def unknown_model() -> Any:
    from models.catalog import make_model

    return make_model("prophet")


def unknown_policy() -> Any:
    from simulator.policies import make_policy

    return make_policy("keepalive:soon")


def no_stored_forecasts(tmp_path: Path) -> Any:
    from traces.forecast_store import latest

    return latest(tmp_path / "forecasts")


def too_short_for_a_test_window() -> Any:
    from models.backtest import split_point

    return split_point(SimpleNamespace(bins=300, season=288), test_fraction=0.3, horizon=12)  # type: ignore[arg-type]


def no_tuning_folds() -> Any:
    from models.tuning import validation_folds

    return validation_folds(None, folds=0, horizon=12, stride=1, validation_fraction=0.2)  # type: ignore[arg-type]


def plan_before_any_forecast() -> Any:
    from policy.plan import plan_clones

    return plan_clones(forecast([5.0, 5.0]), programs(1.0), hosts(), at=ORIGIN - pd.Timedelta("1h"))


def forecast_with_an_unfitted_model() -> Any:
    from models.gbm import GradientBoosting

    return GradientBoosting().point(None, None, 12)  # type: ignore[arg-type]


def warm_start_without_an_update() -> Any:
    from models.forecaster import update

    return update(SimpleNamespace(codes=["a"], model=object(), name="naive"), SimpleNamespace(codes=["a"]))  # type: ignore[arg-type]


CASES: list[tuple[Callable[..., Any], type[ClonecastError], str]] = [
    (synthetic_without_programs, ConfigError, r"synthetic trace: programs=0, days=\d+; give at least one program"),
    (unknown_model, ConfigError, r"unknown model 'prophet'; choose one of hybrid, lstm"),
    (unknown_policy, ConfigError, r"bad knob in policy 'keepalive:soon'"),
    (no_stored_forecasts, InputError, r"no stored forecasts in .*forecasts: run batch prediction first"),
    (too_short_for_a_test_window, InputError, r"300 bins leave no room for a test window of 30%.*give it more data"),
    (no_tuning_folds, ConfigError, r"tuning: folds=0, horizon=12, stride=1; each must be at least 1"),
    (plan_before_any_forecast, InputError, r"no forecast was made by 2026-01-05 11:00:00\+00:00.*plan at a later"),
    (forecast_with_an_unfitted_model, ModelError, r"LightGBM model was never fitted: fit it"),
    (warm_start_without_an_update, ModelError, r"the model naive has no warm start; train it again"),
]


@pytest.mark.parametrize(("call", "kind", "message"), CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_input_to_a_package_function_is_a_clonecast_error_naming_the_place(
    call: Callable[..., Any], kind: type[ClonecastError], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ClonecastError, match=message) as error:
        call(tmp_path) if call is no_stored_forecasts else call()
    assert isinstance(error.value, kind)
