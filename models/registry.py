"""The MLflow side of forecasting (with `registry_tracking`, the only modules that import mlflow).

A trained forecaster is logged as a pyfunc model with an explicit signature (input: recent history as
program_code, ts, requests; output: the canonical forecast frame) into a registered model; versions carry
the aliases `challenger` (newly trained) and `champion` (serving). `promote` applies the gate of
`models.evaluation.gate` to both versions scored in the same run on one out-of-sample window (the caller's
`compare`, e.g. `jobs.gate.compare`), and moves `champion` only when the challenger wins; the decision,
both figures and the window are written on the challenger's version as tags, so the registry UI shows why.

Scheduled events do not travel through the pyfunc interface (its input is a history frame); the flows and
the CLI load the native forecaster with `load` and pass the events frame to `forecast`.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm
import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import torch
from mlflow import MlflowClient
from mlflow.environment_variables import MLFLOW_REGISTRY_URI
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import ColSpec, Schema, TensorSpec

from clonecast.errors import ModelError
from models.evaluation import Comparison, Decision, Scores, gate
from models.forecaster import TrainedForecaster
from traces.clones import CONTAINER

EXPERIMENT = "clonecast-forecasting"
logging.getLogger("mlflow").setLevel(logging.ERROR)  # its cloudpickle advice and table migrations are noise here
CHAMPION, CHALLENGER = "champion", "challenger"
MASE_METRIC, COST_METRIC = "backtest_mase", "sim_cost"


class ForecastModel(PythonModel):
    """pyfunc wrapper: history frame in, forecast frame out; MLflow's datetime columns are naive UTC. The
    actuals in the history recalibrate the intervals, as in `TrainedForecaster.forecast`."""

    def __init__(self, trained: TrainedForecaster) -> None:
        self.trained = trained

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        frame = model_input.copy()
        ts = pd.to_datetime(frame["ts"])
        frame["ts"] = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
        frame["program_code"] = frame["program_code"].astype(str)
        forecast = self.trained.forecast(frame)
        forecast["program_code"] = forecast["program_code"].astype(str)
        for column in ("origin", "ts"):
            forecast[column] = forecast[column].dt.tz_convert("UTC").dt.tz_localize(None)
        return forecast


def signature(trained: TrainedForecaster) -> ModelSignature:
    inputs = Schema([ColSpec("string", "program_code"), ColSpec("datetime", "ts"), ColSpec("double", "requests")])
    columns: list[ColSpec | TensorSpec] = [
        ColSpec("string", "program_code"),
        ColSpec("datetime", "origin"),
        ColSpec("datetime", "ts"),
    ]
    columns += [ColSpec("long", "step"), ColSpec("double", "yhat")]
    columns += [ColSpec("double", f"q{level}") for level in sorted(trained.levels)]
    columns += [ColSpec("double", name) for name in CONTAINER]
    return ModelSignature(inputs=inputs, outputs=Schema(columns))


@contextmanager
def tracking(uri: str) -> Iterator[MlflowClient]:
    """Point the process' tracking and registry URIs at `uri` for the block (MLflow's fluent calls, such as
    `start_run` and `pyfunc.load_model`, read them) and yield a client bound to `uri`.

    Afterwards both are back exactly as they were: a URI that was not set is unset again, rather than pinned
    to MLflow's default store (`mlflow.db` in the working directory) and exported to subprocesses.
    """
    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    previous_registry = MLFLOW_REGISTRY_URI.get()  # set_registry_uri mirrors a set URI into this variable
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield MlflowClient(tracking_uri=uri, registry_uri=uri)
    finally:
        mlflow.set_tracking_uri(previous)  # type: ignore[arg-type]  # None unsets it (and its variable)
        if previous_registry is not None:
            mlflow.set_registry_uri(previous_registry)
        else:
            mlflow.set_registry_uri(None)  # type: ignore[arg-type]  # None unsets it, but not its variable
            MLFLOW_REGISTRY_URI.unset()


def experiment(client: MlflowClient, uri: str, name: str = EXPERIMENT) -> str:
    """The experiment's id; created with artifacts next to a SQLite store so nothing lands in the cwd."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    return str(client.create_experiment(name, artifact_location=artifact_location(uri)))


def artifact_location(uri: str) -> str | None:
    """Artifacts of a SQLite store go next to it (not into the working directory); a server decides itself."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
    return None


def flat_params(obj: Any, prefix: str = "") -> dict[str, Any]:
    """A model's scalar knobs as MLflow params (nested dataclasses as `part.knob`)."""
    out: dict[str, Any] = {}
    if not dataclasses.is_dataclass(obj):
        return out
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out |= flat_params(value, f"{prefix}{f.name}.")
        elif isinstance(value, bool | int | float | str | tuple):
            out[f"{prefix}{f.name}"] = value
    return out


@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    run_id: str


def register(
    trained: TrainedForecaster,
    *,
    uri: str,
    name: str,
    params: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    artifacts: list[Path] | None = None,
    tags: dict[str, str] | None = None,
    alias: str = CHALLENGER,
) -> Registered:
    """Log a run (params, metrics, plots, the pyfunc model) and register it as a new version under `alias`."""
    with tracking(uri) as client:
        experiment_id = experiment(client, uri)
        run_name = f"{trained.name}-{pd.Timestamp.now(tz='UTC'):%Y%m%dT%H%M%S}"
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
            mlflow.log_params(flat_params(trained.model) | (params or {}))
            mlflow.log_metrics({k: float(v) for k, v in (metrics or {}).items() if np.isfinite(v)})
            mlflow.set_tags({"model": trained.name, "trained_until": str(trained.trained_until)} | (tags or {}))
            for path in artifacts or []:
                mlflow.log_artifact(str(path), artifact_path="plots" if path.suffix == ".png" else None)
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=ForecastModel(trained),
                signature=signature(trained),
                registered_model_name=name,
                pip_requirements=[
                    f"torch=={torch.__version__.split('+')[0]}",
                    f"lightgbm=={lightgbm.__version__}",
                    f"pandas=={pd.__version__}",
                    f"numpy=={np.__version__}",
                ],
            )
        version = str(info.registered_model_version)
        client.set_registered_model_alias(name, alias, version)
        client.set_model_version_tag(name, version, "model", trained.name)
        return Registered(name, version, run.info.run_id)


def load(uri: str, name: str, alias: str = CHAMPION) -> TrainedForecaster:
    """The native forecaster behind `models:/<name>@<alias>` (events can be passed to its forecast)."""
    model = load_pyfunc(uri, name, alias)
    wrapper = model.unwrap_python_model()
    if not isinstance(wrapper, ForecastModel):
        raise ModelError(
            f"models:/{name}@{alias} in {uri} is not a clonecast forecaster; register one with clonecast train"
        )
    return wrapper.trained


def load_pyfunc(uri: str, name: str, alias: str = CHAMPION) -> Any:
    return _pyfunc(uri, f"models:/{name}@{alias}")


def _pyfunc(uri: str, model_uri: str) -> Any:
    with tracking(uri):
        try:
            return mlflow.pyfunc.load_model(model_uri)
        except MlflowException as e:
            raise ModelError(
                f"no model at {model_uri} in {uri}: {e.message}; train and register one, or check the name and alias"
            ) from e


def _version(uri: str, name: str, version: str) -> TrainedForecaster:
    """The native forecaster of one version (what an alias pointed at when it was read)."""
    wrapper = _pyfunc(uri, f"models:/{name}/{version}").unwrap_python_model()
    if not isinstance(wrapper, ForecastModel):
        raise ModelError(f"models:/{name}/{version} in {uri} is not a clonecast forecaster")
    return wrapper.trained


def aliases(uri: str, name: str) -> dict[str, str]:
    """alias -> version of a registered model (empty when it does not exist)."""
    with tracking(uri) as client:
        try:
            return {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}
        except MlflowException:
            return {}


@dataclass(frozen=True)
class Promotion:
    decision: Decision
    challenger: str
    champion: str | None  # the champion's version before the decision
    comparison: Comparison | None = None  # both scored on one window (None: no champion to compare with)


Compare = Callable[[TrainedForecaster, TrainedForecaster], Comparison]


def promote(uri: str, name: str, margin: float, compare: Compare) -> Promotion:
    """Gate the challenger against the champion, both scored now by `compare(challenger, champion)` on one
    out-of-sample window (never the metrics each logged at its own training); move `champion` to the
    challenger if it wins. The decision, both figures and the window are tagged on the challenger's version."""
    found = aliases(uri, name)
    if CHALLENGER not in found:
        raise ModelError(
            f"registered model {name!r} has no {CHALLENGER!r} version in {uri}; train and register a challenger first"
        )
    challenger, champion = found[CHALLENGER], found.get(CHAMPION)
    comparison = None
    if champion == challenger:
        decision = Decision(False, f"version {challenger} is already the champion")
    elif champion is None:
        decision = gate(Scores(float("nan"), float("nan")), None, margin)
    else:
        comparison = compare(_version(uri, name, challenger), _version(uri, name, champion))
        verdict = gate(comparison.challenger, comparison.champion, margin)
        decision = Decision(verdict.promote, f"{verdict.reason}: {comparison.describe()}")
    with tracking(uri) as client:
        tags = {"gate": "promoted" if decision.promote else "rejected", "gate_reason": decision.reason}
        if comparison is not None:
            tags |= comparison.tags() | {"gate_champion_version": str(champion)}
        for key, value in tags.items():
            client.set_model_version_tag(name, challenger, key, value)
        if decision.promote:
            client.set_registered_model_alias(name, CHAMPION, challenger)
    return Promotion(decision, challenger, champion, comparison)


def log_evaluation(uri: str, name: str, metrics: dict[str, float], alias: str = CHAMPION) -> str:
    """A run with the metrics of the `alias` version on recent data (tagged with the version)."""
    with tracking(uri) as client:
        version = client.get_model_version_by_alias(name, alias).version
        with mlflow.start_run(experiment_id=experiment(client, uri), run_name=f"evaluate-{name}-v{version}") as run:
            mlflow.set_tags({"kind": "evaluate", "model_version": str(version), "alias": alias})
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
        return str(run.info.run_id)


def log_backtest(uri: str, model: str, metrics: dict[str, float], per_series: pd.DataFrame) -> str:
    """A run with a backtest's mean scores and its per-series table (CSV artifact)."""
    with tracking(uri) as client:
        with mlflow.start_run(experiment_id=experiment(client, uri), run_name=f"backtest-{model}") as run:
            mlflow.set_tags({"kind": "backtest", "model": model})
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
            folder = artifact_dir()
            per_series.to_csv(folder / "per_series.csv")
            mlflow.log_artifact(str(folder / "per_series.csv"))
        return str(run.info.run_id)


def artifact_dir() -> Path:
    """A scratch folder for plots before they are logged."""
    return Path(tempfile.mkdtemp(prefix="clonecast-artifacts-"))
