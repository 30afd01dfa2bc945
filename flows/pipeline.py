"""Prefect 3 flows: the whole loop from validated data to clones, each task one call into `jobs`.

validate_data -> tune -> train_and_register (challenger) -> promote_model (the gate) -> batch_predict (every
5 minutes, champion forecasts keyed by (program_code, origin, ts)) -> deploy_clones (latest valid forecast ->
clone plan -> actuator); monitor_drift emits `clonecast.drift.detected`, which the automation in
prefect.yaml answers with `retrain` (train_and_register, then promote_model); backfill re-forecasts a date
range idempotently; evaluate runs the simulator on the recent window and logs it to MLflow.

Data are trace paths (any format clonecast reads); "now" is the end of the data, so replays and backfills
behave like live runs. Bad or stale data raise DataError before anything is actuated, naming the failed
expectation. Tasks that talk to MLflow, an engine or the network retry what may pass (never bad input).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from clonecast.errors import (
    ActuatorError,
    ClonecastError,
    DataValidationError,
    InputError,
    NothingToScoreError,
    SourceError,
)
from clonecast.settings import Settings
from jobs import backtest as backtesting
from jobs import data, monitor, predict, simulate
from jobs import deploy as deploying
from jobs import gate as gating
from jobs import train as training
from jobs import tune as tuning
from models.drift import DriftReport
from models.forecaster import TrainedForecaster
from models.panel import Panel
from models.registry import CHAMPION, Promotion
from models.tuning import score_fold
from traces.frames import Dataset

DRIFT_EVENT = "clonecast.drift.detected"


class DataError(InputError):
    """Invalid or stale data: the flow stops before any actuation."""


def _settings() -> Settings:
    return Settings()


class _Logged:
    """A job's progress as lines in the run's log (the Prefect UI and the console of a local run)."""

    def stage(self, description: str, total: float | None = None) -> None:
        get_run_logger().info(description)

    def advance(self, amount: float = 1.0) -> None:
        pass


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry what may pass on a second try (a server, an engine, the network), never bad input or a model in the
    wrong state."""
    try:
        error = state.result(raise_on_failure=False)
    except Exception:  # the failure cannot be read back: retry, as for any failure that is not ours
        return True
    return not isinstance(error, ClonecastError) or isinstance(error, ActuatorError | SourceError)


# tasks that touch MLflow, an engine or the network: retried when the failure may pass (see _transient)
RETRIED: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": 10,
    "retry_condition_fn": _transient,
    "cache_policy": NO_CACHE,
}


@contextmanager
def _refused(what: str) -> Iterator[None]:
    """DataValidationError as DataError: the report logged, the failed expectations named."""
    try:
        yield
    except DataValidationError as e:
        get_run_logger().error(e.report.summary())
        raise DataError(f"{what}: " + "; ".join(r.message() for r in e.report.failures)) from e


def dask_runner() -> Any:
    """Prefect's Dask task runner: the cluster at CLONECAST_DASK_ADDRESS, or a local one (2 workers)."""
    from prefect_dask import DaskTaskRunner

    address = _settings().dask_address
    if address:
        return DaskTaskRunner(address=address)
    logging.getLogger("distributed").setLevel(logging.WARNING)
    quiet = {"silence_logs": logging.WARNING, "dashboard_address": None}
    return DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": False} | quiet)


# -- tasks ---------------------------------------------------------------------------------------------


@task(name="load and validate", cache_policy=NO_CACHE)
def load_valid(trace: str | None, fmt: str = "auto", events: str | None = None) -> Dataset:
    """The trace (default: the synthetic dataset in the store), validated with the settings' limits and program
    defaults; `events` (a file) replaces its events table and is validated with it."""
    settings = _settings()
    path = data.trace_path(trace, settings)
    with _refused(f"{path}: invalid data"):
        return data.load_valid(path, fmt, settings, events=Path(events) if events is not None else None)


@task(name="panel", cache_policy=NO_CACHE)
def to_panel(dataset: Dataset) -> Panel:
    return Panel.from_dataset(dataset, _settings().freq)


@task(name="load model", timeout_seconds=600, **RETRIED)
def load_model(alias: str = CHAMPION) -> TrainedForecaster:
    settings = _settings()
    return predict.load_model(settings.mlflow_uri, settings.registered_model, alias)


@task(name="train and register", timeout_seconds=4 * 3600, **RETRIED)
def train_register(
    dataset: Dataset, panel: Panel, model: str | None, params: dict[str, Any] | None, stride: int
) -> training.Trained:
    """`model=None` refits the champion's recipe (its model and hyperparameters)."""
    s = _settings()
    recipe = training.recipe(s.mlflow_uri, s.registered_model, model)
    return training.train_and_register(
        dataset,
        panel,
        recipe,
        uri=s.mlflow_uri,
        name=s.registered_model,
        seed=s.seed,
        horizon=s.horizon,
        params=params,
        stride=stride,
        plots_dir=s.plots_dir,
        progress=_Logged(),
    )


@task(name="promotion gate", timeout_seconds=4 * 3600, **RETRIED)
def gate(dataset: Dataset, panel: Panel, margin: float | None, stride: int) -> Promotion:
    s = _settings()
    threshold = s.promotion_margin if margin is None else margin
    return gating.promote(dataset, panel, uri=s.mlflow_uri, name=s.registered_model, margin=threshold, stride=stride)


@task(name="forecast shard", cache_policy=NO_CACHE)
def forecast_shard(trained: TrainedForecaster, requests: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    return predict.forecast(trained, requests, events)


@task(name="validate and store forecast", cache_policy=NO_CACHE)
def store_forecast(frame: pd.DataFrame, programs: pd.DataFrame) -> list[Path]:
    settings = _settings()
    with _refused("forecast refused, nothing stored"):
        return predict.store(predict.validated(frame, programs, settings.limits), settings.forecasts_dir)


@task(name="backtest shard", cache_policy=NO_CACHE)
def backtest_shard(model: str, panel: Panel, seed: int, horizon: int, stride: int) -> pd.DataFrame:
    return backtesting.per_series(model, panel, seed=seed, horizon=horizon, stride=stride)


@task(name="log backtest", timeout_seconds=600, **RETRIED)
def log_backtest(model: str, table: pd.DataFrame) -> dict[str, float]:
    return backtesting.log_backtest(_settings().mlflow_uri, model, table)


@task(name="tuning fold shard", cache_policy=NO_CACHE)
def fold_shard(name: str, params: dict[str, Any], seed: int, panel: Panel, fold: Any, horizon: int) -> float:
    return score_fold(name, params, seed, panel, fold, horizon)


@task(name="deploy", timeout_seconds=1800, **RETRIED)
def deploy(
    dataset: Dataset,
    actuator: str,
    hosts: str | None,
    latency: str | None,
    max_age: str,
    max_clones: int | None,
    namespace: str,
) -> deploying.Deployed:
    """Plan the latest forecast onto the fleet and apply it (re-observed and re-planned on a retry)."""
    return deploying.deploy(
        dataset,
        _settings(),
        actuator=actuator,
        hosts=Path(hosts) if hosts else None,
        latency=Path(latency) if latency else None,
        max_age=max_age,
        max_clones=max_clones,
        namespace=namespace,
    )


@task(name="pull from Prometheus", timeout_seconds=600, **RETRIED)
def pull_bins(dataset: Path) -> dict[str, Any]:
    from live.clock import Clock
    from live.metrics import PrometheusSource, pull

    settings = _settings()
    source = PrometheusSource(
        settings.prometheus_url, settings.prometheus_query, freq=pd.Timedelta(settings.freq), clock=Clock.real()
    )
    pulled = pull(dataset, source, limits=settings.limits)
    return {"dataset": str(dataset), "new_rows": pulled.new_rows, "first": pulled.first, "last": pulled.last}


@task(name="recent scores", cache_policy=NO_CACHE)
def recent_scores(
    trained: TrainedForecaster, dataset: Dataset, panel: Panel, recent_days: float
) -> backtesting.Evaluation:
    return monitor.recent_scores(trained, dataset, panel, recent_days=recent_days)


@task(name="log evaluation", timeout_seconds=600, **RETRIED)
def log_scores(evaluation: backtesting.Evaluation) -> dict[str, float]:
    settings = _settings()
    return monitor.log_scores(settings.mlflow_uri, settings.registered_model, evaluation)


@task(name="drift", cache_policy=NO_CACHE)
def drift(trained: TrainedForecaster, panel: Panel) -> DriftReport:
    return monitor.drift(trained, panel)


@task(name="pareto plot", cache_policy=NO_CACHE)
def pareto_plot(dataset: Dataset) -> str:
    """Mode A Pareto points of every policy family on the trace (seasonal-naive forecasts for predictive)."""
    settings = _settings()
    path = settings.plots_dir / "demo-pareto-mode-a.png"
    return str(simulate.pareto_plot(dataset, settings, path, "synthetic trace: mode A"))


def sharded_scorer(shard_size: int) -> Any:
    """A fold scorer that fits and scores one model per shard of `shard_size` programs, on the task runner."""

    def scorer(name: str, params: dict[str, Any], seed: int, panel: Panel, fold: Any, horizon: int) -> float:
        parts = backtesting.shards(list(range(len(panel.codes))), shard_size)
        futures = [fold_shard.submit(name, params, seed, panel.select(p), fold, horizon) for p in parts]
        return float(np.average([f.result() for f in futures], weights=[len(p) for p in parts]))

    return scorer


# -- flows ---------------------------------------------------------------------------------------------


@flow(name="validate-data", log_prints=True)
def validate_data(trace: str | None = None, fmt: str = "auto") -> dict[str, Any]:
    """Load a trace and run every data check; fails (naming the expectations) on invalid data."""
    dataset = load_valid(trace, fmt)
    summary = {"programs": int(dataset.requests["program_code"].nunique()), "rows": len(dataset.requests)}
    print(f"valid: {summary}")
    return summary


@flow(name="tune", log_prints=True, task_runner=dask_runner())
def tune(
    trace: str | None = None,
    model: str = "lightgbm",
    trials: int = 10,
    timeout: float | None = None,
    folds: int = 3,
    shard_size: int = 500,
) -> dict[str, Any]:
    """Optuna search with every trial a nested MLflow run; each fold of a trial is scored shard by shard
    (programs by code, `shard_size` each) on the Dask task runner. Returns the best params."""
    panel = to_panel(load_valid(trace))
    scorer = sharded_scorer(shard_size)
    result, run_id = tuning.tune(model, panel, _settings(), trials=trials, timeout=timeout, folds=folds, scorer=scorer)
    shards = len(backtesting.shards(list(panel.codes), shard_size))
    print(f"best validation MASE {result.best_value:.3f} over {shards} shard(s) (parent run {run_id})")
    return {"best_value": result.best_value, "best_params": result.best_params, "run_id": run_id, "shards": shards}


@flow(name="train-and-register", log_prints=True)
def train_and_register(
    trace: str | None = None, model: str | None = "hybrid", params: dict[str, Any] | None = None, stride: int = 3
) -> dict[str, Any]:
    """Backtest, train on all data and register the model as the `challenger`; `model=None` refits the
    champion's recipe (its model and hyperparameters) on the data."""
    dataset = load_valid(trace)
    outcome = train_register(dataset, to_panel(dataset), model, params, stride)
    assert outcome.registered is not None
    metrics = outcome.evaluation.metrics()
    print(
        f"{outcome.trained.name}: MASE {metrics['backtest_mase']:.3f}, "
        f"registered v{outcome.registered.version} as challenger"
    )
    return {"version": outcome.registered.version, **metrics}


@flow(name="promote-model", log_prints=True)
def promote_model(trace: str | None = None, margin: float | None = None, stride: int = 3) -> dict[str, Any]:
    """The gate: challenger and champion scored on one out-of-sample window of the trace in this run; the
    challenger is promoted only if it beats the champion on MASE and simulator cost."""
    dataset = load_valid(trace)
    outcome = gate(dataset, to_panel(dataset), margin, stride)
    print(f"challenger v{outcome.challenger}: {'promoted' if outcome.decision.promote else 'rejected'}")
    print(outcome.decision.reason)
    return {"promoted": outcome.decision.promote, "reason": outcome.decision.reason, "version": outcome.challenger}


@flow(name="retrain", log_prints=True)
def retrain(trace: str | None = None, model: str | None = None, margin: float | None = None) -> dict[str, Any]:
    """What the drift automation and CI run: train_and_register (default: the champion's recipe refitted on the
    data, so a drift retrain keeps its tuned hyperparameters), then promote_model on the same trace."""
    trained = train_and_register(trace, model)
    return {"trained": trained, "promotion": promote_model(trace, margin)}


@flow(name="batch-predict", log_prints=True, task_runner=dask_runner())
def batch_predict(
    trace: str | None = None, as_of: str | None = None, shard_size: int = 500, events: str | None = None
) -> dict[str, Any]:
    """Champion forecasts for every program from the data up to `as_of` (default: the end of the data),
    sharded by program code, validated, stored keyed by (program_code, origin, ts); re-running replaces the
    origin. Scheduled events (an `events` file, default: the dataset's events table) shape the bins they fall in."""
    dataset = load_valid(trace, events=events)
    trained = load_model()
    requests = predict.history(trained, dataset, as_of)
    codes = sorted(map(str, requests["program_code"].unique()))
    parts = predict.by_program(requests, backtesting.shards(codes, shard_size))
    futures = [forecast_shard.submit(trained, part, dataset.events) for part in parts]
    frame = pd.concat([f.result() for f in futures], ignore_index=True)
    written = store_forecast(frame, dataset.programs)
    origin = frame["origin"].iloc[0]
    print(f"{len(codes)} programs x {frame['step'].max()} steps from {origin} -> {written[0]}")
    return {"origin": str(origin), "rows": len(frame), "file": str(written[0])}


@flow(name="backfill", log_prints=True)
def backfill(start: str, end: str, trace: str | None = None, every: str = "1h") -> dict[str, Any]:
    """Forecasts as they would have been made at every `every` from `start` to `end` (inclusive);
    idempotent: an origin is stored once, and re-runs replace it with identical rows."""
    origins = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq=every)
    if origins.empty:
        raise DataError(f"no origins between {start} and {end} every {every}")
    made = [batch_predict(trace, as_of=str(origin)) for origin in origins]
    print(f"backfilled {len(made)} origins from {origins[0]} to {origins[-1]}")
    return {"origins": [m["origin"] for m in made]}


@flow(name="deploy-clones", log_prints=True)
def deploy_clones(
    trace: str | None = None,
    actuator: str = "dry-run",
    hosts: str | None = None,
    max_age: str = "15min",
    max_clones: int | None = None,
    namespace: str = "clonecast",
    latency: str | None = None,
) -> dict[str, Any]:
    """The deployment flow: the latest stored forecast, validated and fresh (within `max_age` of the end of
    the data), becomes a clone plan applied by the actuator ("dry-run", "docker" or "kubernetes").

    The plan keeps the clones that exist where they still fit (the actuator's observation; a dry-run's are
    the previous plan's) and places by `latency` (CSV: request source region per row, host zone per column,
    ms; default: the demo fleet's matrix when planning onto the demo fleet). The kubernetes actuator reads the
    cluster from CLONECAST_KUBECONFIG (or KUBECONFIG), the docker one the engine at CLONECAST_DOCKER_HOST."""
    dataset = load_valid(trace)
    with _refused("forecast refused, nothing actuated"):
        deployed = deploy(dataset, actuator, hosts, latency, max_age, max_clones, namespace)
    summary = deployed.summary()
    print(f"plan {deployed.plan.origin}: {summary['clones']} clones on {summary['hosts']} hosts via {actuator}")
    return summary


@flow(name="pull-metrics", log_prints=True)
def pull_metrics(dataset: str | None = None) -> dict[str, Any]:
    """Live demand into the dataset store: the bins that completed since its last one, read from Prometheus
    (CLONECAST_PROMETHEUS_URL, CLONECAST_PROMETHEUS_QUERY), validated against its programs and appended atomically
    (invalid metrics are refused, nothing written). The dataset (default `<state>/datasets/live`, made by
    `clonecast ingest ... --name live`) is then what batch-predict, deploy-clones and monitor-drift read as
    `trace`; `clonecast run` does the same every bin and corrects between them."""
    target = Path(dataset) if dataset else _settings().datasets_dir / "live"
    with _refused("metrics refused, nothing stored"):
        summary = pull_bins(target)
    print(f"{summary['new_rows']} new rows in {target} ({summary['first']} .. {summary['last']})")
    return summary


@flow(name="monitor-drift", log_prints=True)
def monitor_drift(trace: str | None = None) -> dict[str, Any]:
    """Input drift and forecast-error drift of the champion on the newest day; emits DRIFT_EVENT when past
    a threshold (the automation then retrains)."""
    settings = _settings()
    dataset = load_valid(trace)
    trained = load_model()
    report = drift(trained, to_panel(dataset))
    if report.note:
        print(f"{report.note}: no drift claimed")
    else:
        print(
            f"PSI {report.psi:.3f}, level x{report.level_ratio:.2f}, recent MASE {report.recent_mase:.3f} "
            f"(trained {report.trained_mase:.3f}): {'DRIFT' if report.drifted else 'no drift'}"
        )
    if report.drifted:
        emit_event(
            DRIFT_EVENT,
            resource={"prefect.resource.id": f"clonecast.model.{settings.registered_model}"},
            payload={"trace": str(data.trace_path(trace, settings)), "model": trained.name, **report.to_dict()},
        )
    return report.to_dict()


@flow(name="backtest", log_prints=True, task_runner=dask_runner())
def backtest(
    trace: str | None = None, model: str = "lightgbm", shard_size: int = 500, stride: int = 3
) -> dict[str, Any]:
    """Rolling-origin backtest sharded by program code on Dask (one model per shard of `shard_size`
    programs); the per-series scores are joined and logged to MLflow."""
    settings = _settings()
    panel = to_panel(load_valid(trace))
    futures = [
        backtest_shard.submit(model, panel.select(part), settings.seed, settings.horizon, stride)
        for part in backtesting.shards(list(range(len(panel.codes))), shard_size)
    ]
    table = pd.concat([f.result() for f in futures])
    metrics = log_backtest(model, table)
    print(f"{model} on {len(table)} series in {len(futures)} shard(s): {metrics}")
    return metrics | {"shards": len(futures), "series": len(table)}


@flow(name="evaluate", log_prints=True)
def evaluate(trace: str | None = None, recent_days: float = 2.0) -> dict[str, Any]:
    """The champion as it serves, on the recent window after its trained_until: backtest and simulator cost
    (Mode A), logged to MLflow; when no bin follows its trained_until, says so and logs nothing."""
    dataset = load_valid(trace)
    try:
        evaluation = recent_scores(load_model(), dataset, to_panel(dataset), recent_days)
    except NothingToScoreError as e:
        print(f"{e}: nothing logged")
        return {"scored": False, "reason": str(e)}
    metrics = log_scores(evaluation)
    print(f"champion on the last {recent_days:g} days: {metrics}")
    return metrics


@flow(name="demo", log_prints=True)
def demo_pipeline(trace: str, model: str = "lightgbm", actuator: str = "dry-run") -> dict[str, Any]:
    """The whole loop once, for `make demo`: validate -> train and register -> gate -> batch prediction ->
    clone plan (dry-run or local Docker) -> drift check -> Pareto plot of the policies on the trace."""
    validate_data(trace)
    trained = train_and_register(trace, model=model, params=DEMO_PARAMS.get(model), stride=12)
    promoted = promote_model(trace)
    predicted = batch_predict(trace)
    deployed = deploy_clones(trace, actuator=actuator)
    drifted = monitor_drift(trace)
    pareto_png = pareto_plot(load_valid(trace))
    return {
        "trained": trained,
        "promoted": promoted,
        "predicted": predicted,
        "deployed": deployed,
        "drift": drifted,
        "pareto": pareto_png,
    }


DEMO_PARAMS: dict[str, dict[str, Any]] = {"lightgbm": {"stride": 12, "n_estimators": 200}}
