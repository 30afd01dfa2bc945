"""Prefect 3 flows: the whole loop from validated data to clones, each task one call into the packages.

validate_data -> tune -> train_and_register (challenger) -> promote_model (the gate) -> batch_predict (every
5 minutes, champion forecasts keyed by (program_code, origin, ts)) -> deploy_clones (latest valid forecast ->
clone plan -> actuator); monitor_drift emits `clonecast.drift.detected`, which the automation in
prefect.yaml answers with `retrain` (train_and_register, then promote_model); backfill re-forecasts a date
range idempotently; evaluate runs the simulator on the recent window and logs it to MLflow.

Data are trace paths (any format clonecast reads); "now" is the end of the data, so replays and backfills
behave like live runs. Bad or stale data raise before anything is actuated, naming the failed expectation.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.events import emit_event

from clonecast.settings import Settings
from models import registry
from models.panel import Panel
from traces.frames import Dataset

DRIFT_EVENT = "clonecast.drift.detected"
DEMO_INFRA = Path(__file__).resolve().parents[1] / "infra" / "demo"
LOCAL_INFRA = Path(__file__).resolve().parents[1] / "infra" / "local"


class DataError(ValueError):
    """Invalid or stale data: the flow stops before any actuation."""


def _settings() -> Settings:
    return Settings()


def _shards(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


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


def _trace(trace: str | None) -> str:
    """The trace path, default: the synthetic dataset in the state dir (made by `clonecast generate`)."""
    return trace or str((_settings().datasets_dir / "synthetic").resolve())


@task(name="load and validate")
def load_valid(trace: str | None, fmt: str = "auto", events: str | None = None) -> Dataset:
    """The trace, validated; `events` (a file) replaces its events table and is validated with it."""
    from data_checks import check_source

    settings = _settings()
    trace = _trace(trace)
    dataset, report = check_source(
        Path(trace), fmt, limits=settings.limits, events=Path(events) if events is not None else None
    )
    if dataset is None or not report.success:
        _refuse(report, f"{trace}: invalid data")
    return dataset.canonical()


def _refuse(report: Any, what: str) -> NoReturn:
    """Log the validation report and stop the flow, naming the failed expectations."""
    get_run_logger().error(report.summary())
    raise DataError(f"{what}: " + "; ".join(r.message() for r in report.failures))


@task(name="panel")
def to_panel(dataset: Dataset) -> Panel:
    return Panel.from_dataset(dataset, _settings().freq)


@task(name="forecast shard")
def forecast_shard(trained: Any, requests: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    return trained.forecast(requests, events)


@task(name="backtest shard")
def backtest_shard(model: str, panel: Panel, seed: int, horizon: int, stride: int) -> pd.DataFrame:
    from models.backtest import backtest as run
    from models.catalog import make_model

    return run(make_model(model, seed, horizon), panel, horizon=horizon, stride=stride).per_series


@task(name="tuning fold shard")
def fold_shard(name: str, params: dict[str, Any], seed: int, panel: Panel, fold: Any, horizon: int) -> float:
    from models.tuning import score_fold

    return score_fold(name, params, seed, panel, fold, horizon)


def sharded_scorer(shard_size: int) -> Any:
    """A fold scorer that fits and scores one model per shard of `shard_size` programs, on the task runner."""

    def scorer(name: str, params: dict[str, Any], seed: int, panel: Panel, fold: Any, horizon: int) -> float:
        parts = _shards(list(range(len(panel.codes))), shard_size)
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
    from models.registry_runs import tune_logged

    settings = _settings()
    panel = to_panel(load_valid(trace))
    result, run_id = tune_logged(
        model,
        panel,
        tracking_uri=settings.mlflow_uri,
        artifact_location=registry.artifact_location(settings.mlflow_uri),
        n_trials=trials,
        timeout=timeout,
        folds=folds,
        seed=settings.seed,
        horizon=settings.horizon,
        scorer=sharded_scorer(shard_size),
    )
    shards = len(_shards(list(panel.codes), shard_size))
    print(f"best validation MASE {result.best_value:.3f} over {shards} shard(s) (parent run {run_id})")
    return {"best_value": result.best_value, "best_params": result.best_params, "run_id": run_id, "shards": shards}


@flow(name="train-and-register", log_prints=True)
def train_and_register(
    trace: str | None = None, model: str | None = "hybrid", params: dict[str, Any] | None = None, stride: int = 3
) -> dict[str, Any]:
    """Backtest, train on all data and register the model as the `challenger`; `model=None` refits the
    champion's recipe (its model and hyperparameters) on the data."""
    from models.pipeline import train_and_register as run

    settings = _settings()
    dataset = load_valid(trace)
    panel = to_panel(dataset)
    recipe = model or registry.load(settings.mlflow_uri, settings.registered_model, registry.CHAMPION).model
    outcome = run(
        dataset,
        panel,
        recipe,
        uri=settings.mlflow_uri,
        name=settings.registered_model,
        seed=settings.seed,
        horizon=settings.horizon,
        params=params,
        stride=stride,
        plots_dir=settings.plots_dir,
    )
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
    from models.pipeline import promote

    settings = _settings()
    dataset = load_valid(trace)
    outcome = promote(
        dataset,
        to_panel(dataset),
        uri=settings.mlflow_uri,
        name=settings.registered_model,
        margin=settings.promotion_margin if margin is None else margin,
        stride=stride,
    )
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
    sharded by program code, stored keyed by (program_code, origin, ts); re-running replaces the origin.
    Scheduled events (an `events` file, default: the dataset's events table) shape the bins they fall in."""
    from traces import forecast_store

    settings = _settings()
    dataset = load_valid(trace, events=events)
    trained = registry.load(settings.mlflow_uri, settings.registered_model, registry.CHAMPION)
    requests = trained.history(dataset, as_of)
    codes = sorted(map(str, requests["program_code"].unique()))
    futures = [
        forecast_shard.submit(trained, requests[requests["program_code"].isin(part)], dataset.events)
        for part in _shards(codes, shard_size)
    ]
    frame = pd.concat([f.result() for f in futures], ignore_index=True)
    written = forecast_store.write(settings.forecasts_dir, frame)
    origin = frame["origin"].iloc[0]
    print(f"{len(codes)} programs x {frame['step'].max()} steps from {origin} -> {written[0]}")
    return {"origin": str(origin), "rows": len(frame), "file": str(written[0])}


@flow(name="backfill", log_prints=True)
def backfill(start: str, end: str, trace: str | None = None, every: str = "1h") -> dict[str, Any]:
    """Forecasts as they would have been made at every `every` from `start` to `end` (inclusive);
    idempotent: an origin is stored once, and re-runs replace it with identical rows."""
    origins = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq=every)
    if origins.empty:
        raise ValueError(f"no origins between {start} and {end} every {every}")
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
    ms; default: the demo fleet's matrix when planning onto the demo fleet)."""
    from clonecast.errors import DataValidationError
    from policy.allocate import Budget
    from policy.plan import ManagerSettings, plan_checked
    from traces import forecast_store
    from traces.frames import hosts_frame
    from traces.loaders.hosts import read_hosts, read_latency

    settings = _settings()
    dataset = load_valid(trace)
    forecast = forecast_store.latest(settings.forecasts_dir)
    host_rows = read_hosts(Path(hosts)) if hosts else _hosts(actuator)
    demo_fleet = hosts is None and actuator == "dry-run"
    latency_file = Path(latency) if latency else DEMO_INFRA / "latency.csv" if demo_fleet else None
    now = dataset.requests["ts"].max() + pd.Timedelta(dataset.freq)
    limits = settings.limits.model_copy(update={"max_age": max_age})
    plan_file = settings.state_dir / "plans" / "latest-plan.json"
    engine = _actuator(actuator, dataset.programs, hosts_frame(host_rows), namespace)
    try:
        plan = plan_checked(
            forecast,
            dataset.programs,
            host_rows,
            limits=limits,
            now=now,
            at=now,
            existing=engine.observe().clones if engine else _planned(plan_file),
            latency=read_latency(latency_file) if latency_file else None,
            settings=ManagerSettings(budget=Budget(max_clones=max_clones)),
        )
    except DataValidationError as e:
        _refuse(e.report, "forecast refused, nothing actuated")
    plan_file.parent.mkdir(parents=True, exist_ok=True)
    plan_file.write_text(plan.to_json() + "\n")
    applied = engine.reconcile(plan, dry_run=actuator == "dry-run") if engine else None
    wanted = sum(plan.desired().values())
    print(f"plan {plan.origin}: {wanted} clones on {len({h for _, h in plan.desired()})} hosts via {actuator}")
    if applied is not None and not applied.ok:
        raise RuntimeError(f"actuation failed: {[r for r in applied.results if r.status not in ('ok', 'dry-run')]}")
    return {
        "clones": wanted,
        "hosts": len({h for _, h in plan.desired()}),
        "short_programs": len(plan.shortfall),
        "changed": applied.changed if applied else 0,
        "actuator": actuator,
        "plan": str(plan_file),
    }


def _planned(plan_file: Path) -> dict[tuple[str, str], int]:
    """The clones a previous plan left (what a dry-run starts from); none before the first plan."""
    from policy.plan import ClonePlan

    if not plan_file.exists():
        return {}
    return ClonePlan.from_dict(json.loads(plan_file.read_text())).desired()


def _kubeconfig() -> str:
    return os.environ.get("KUBECONFIG", "/tmp/clonecast-run/k8s/admin.kubeconfig")


def _hosts(kind: str) -> pd.DataFrame:
    """Default hosts: the demo fleet (dry-run), this machine's engine (docker), the cluster's nodes."""
    from traces.loaders.hosts import read_hosts

    if kind == "kubernetes":
        from actuators.kubernetes_engine import api_client, node_hosts

        return node_hosts(api_client(_kubeconfig()))
    return read_hosts(LOCAL_INFRA / "docker-hosts.csv" if kind == "docker" else DEMO_INFRA / "hosts.csv")


def _actuator(kind: str, programs: pd.DataFrame, hosts: pd.DataFrame, namespace: str) -> Any:
    if kind == "dry-run":
        return None
    if kind == "docker":
        from actuators.docker_engine import DockerActuator

        url = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        return DockerActuator({h: url for h in hosts["host"]}, programs, hosts)
    if kind == "kubernetes":
        from actuators.kubernetes_engine import KubernetesActuator, api_client

        return KubernetesActuator(api_client(_kubeconfig()), namespace, programs, hosts)
    raise ValueError(f"actuator must be dry-run, docker or kubernetes, not {kind!r}")


@flow(name="monitor-drift", log_prints=True)
def monitor_drift(trace: str | None = None) -> dict[str, Any]:
    """Input drift and forecast-error drift of the champion on the newest day; emits DRIFT_EVENT when past
    a threshold (the automation then retrains)."""
    from models.drift import detect

    settings = _settings()
    dataset = load_valid(trace)
    trained = registry.load(settings.mlflow_uri, settings.registered_model, registry.CHAMPION)
    panel = to_panel(dataset)
    report = detect(trained, panel.select([i for i, c in enumerate(panel.codes) if c in set(trained.codes)]))
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
            payload={"trace": _trace(trace), "model": trained.name, **report.to_dict()},
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
    rows = list(range(len(panel.codes)))
    futures = [
        backtest_shard.submit(model, panel.select(part), settings.seed, settings.horizon, stride)
        for part in _shards(rows, shard_size)
    ]
    table = pd.concat([f.result() for f in futures])
    metrics = {"backtest_mase": float(table["mase"].mean()), "backtest_wape": float(table["wape"].mean())}
    metrics |= {c: float(table[c].mean()) for c in table if c.startswith("coverage_")}
    registry.log_backtest(settings.mlflow_uri, model, metrics, table)
    print(f"{model} on {len(table)} series in {len(futures)} shard(s): {metrics}")
    return metrics | {"shards": len(futures), "series": len(table)}


@flow(name="evaluate", log_prints=True)
def evaluate(trace: str | None = None, recent_days: float = 2.0) -> dict[str, Any]:
    """The champion as it serves, on the recent window after its trained_until: backtest and simulator cost
    (Mode A), logged to MLflow; when no bin follows its trained_until, says so and logs nothing."""
    from clonecast.errors import NothingToScoreError
    from models.pipeline import evaluate_trained

    settings = _settings()
    dataset = load_valid(trace)
    panel = to_panel(dataset)
    trained = registry.load(settings.mlflow_uri, settings.registered_model, registry.CHAMPION)
    share = min(0.5, recent_days * panel.season / panel.bins)
    try:
        evaluation = evaluate_trained(trained, dataset, panel, test_fraction=share, stride=3)
    except NothingToScoreError as e:
        print(f"{e}: nothing logged")
        return {"scored": False, "reason": str(e)}
    metrics = evaluation.metrics()
    registry.log_evaluation(settings.mlflow_uri, settings.registered_model, metrics)
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
    drift = monitor_drift(trace)
    pareto_png = pareto_plot(trace)
    return {
        "trained": trained,
        "promoted": promoted,
        "predicted": predicted,
        "deployed": deployed,
        "drift": drift,
        "pareto": pareto_png,
    }


DEMO_PARAMS: dict[str, dict[str, Any]] = {"lightgbm": {"stride": 12, "n_estimators": 200}}


@task(name="pareto plot")
def pareto_plot(trace: str) -> str:
    """Mode A Pareto points of every policy family on the trace (seasonal-naive forecasts for predictive)."""
    from simulator.plots import plot_pareto
    from simulator.simulate import Setup, pareto
    from simulator.trace import sim_trace

    settings = _settings()
    matrices = sim_trace(load_valid.fn(trace))
    points = pareto(Setup(matrices, matrices.bins_for(7 * 24 * 60), horizon=settings.horizon), "a")
    path = plot_pareto(points, "a", settings.plots_dir / "demo-pareto-mode-a.png", "synthetic trace: mode A")
    return str(path)
