"""The Prefect flows end to end against the real Prefect server, worker and MLflow server that `make up`
starts (infra/services/services.sh), the real Docker Engine and the local Kubernetes plane."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.flows.conftest import RUN, services_env

pytestmark = pytest.mark.orchestration
ROOT = Path(__file__).resolve().parents[2]
NAME = f"orchestration-{os.getpid()}"  # a registered model of this test session only


@pytest.fixture(scope="module")
def stack(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Environment of this module: the services, a state dir, a synthetic trace, a champion, deployments."""
    from traces.store import write_dataset
    from traces.synthetic import SyntheticConfig, generate

    folder = tmp_path_factory.mktemp("orchestration")
    env = services_env() | {
        "CLONECAST_STATE_DIR": str(folder / "state"),
        "CLONECAST_REGISTERED_MODEL": NAME,
        "CLONECAST_KUBECONFIG": str(RUN / "k8s" / "admin.kubeconfig"),  # the plane `make up` starts
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    dataset = generate(SyntheticConfig(programs=5, days=9, seed=21))
    write_dataset(dataset, folder / "trace")
    drifted = dataset.requests.copy()
    last_day = drifted["ts"] > drifted["ts"].max() - pd.Timedelta("1D")
    drifted.loc[last_day, "requests"] = drifted.loc[last_day, "requests"] * 6
    write_dataset(type(dataset)(drifted, dataset.programs, dataset.events, dataset.freq), folder / "drifted")
    early = dataset.requests[~last_day]  # the champion learns all but the last day: drift and evaluate score that day
    write_dataset(type(dataset)(early, dataset.programs, dataset.events, dataset.freq), folder / "history")
    asyncio.run(_forget_deployments())  # an earlier session's deployments, with the runs they left scheduled
    deploy = subprocess.run(
        ["bash", str(ROOT / "infra" / "services" / "deploy.sh")], env=os.environ.copy(), capture_output=True, text=True
    )
    assert deploy.returncode == 0, deploy.stderr
    asyncio.run(_pause_schedules())  # no scheduled run fires in the middle of a test
    from flows.pipeline import promote_model, train_and_register

    train_and_register(str(folder / "history"), model="lightgbm", params={"n_estimators": 60}, stride=12)
    promote_model(str(folder / "history"))
    yield {"folder": folder, "trace": str(folder / "trace"), "drifted": str(folder / "drifted"), "env": env}
    from mlflow import MlflowClient

    uri = env["CLONECAST_TRACKING_URI"]
    MlflowClient(tracking_uri=uri, registry_uri=uri).delete_registered_model(NAME)
    asyncio.run(_forget_deployments())  # they point at this session's temporary state dir
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


async def _own_deployments(client: Any) -> list[Any]:
    """The deployments of prefect.yaml found on the server."""
    names = {d["name"] for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]}
    return [d for d in await client.read_deployments() if d.name in names]


async def _forget_deployments() -> None:
    """Delete this project's deployments: the server drops every run they scheduled (late ones included, which
    a worker would otherwise start all at once) and the automations they own go too."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        for deployment in await _own_deployments(client):
            await client.delete_resource_owned_automations(f"prefect.deployment.{deployment.id}")
            await client.delete_deployment(deployment.id)


async def _pause_schedules() -> None:
    """Keep the registered schedules but stop them firing: a test starts the runs it checks itself."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        for deployment in await _own_deployments(client):
            for schedule in deployment.schedules:
                await client.update_deployment_schedule(deployment.id, schedule.id, active=False)


def wait_for_run(deployment: str, after: float, timeout: float = 900) -> Any:
    """The first run of `deployment` created after the epoch time `after`, once it has reached a final state.
    `timeout` only bounds a hung run; the test asserts on the state the run reached."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    async def newest() -> Any:
        async with get_client() as client:
            found = await client.read_deployment_by_name(deployment)
            only = FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[found.id]))
            runs = await client.read_flow_runs(flow_run_filter=only)
        runs = [r for r in runs if r.created is not None and r.created.timestamp() >= after]
        return min(runs, key=lambda r: r.created) if runs else None

    deadline = time.time() + timeout
    run = None
    while time.time() < deadline:
        run = asyncio.run(newest())
        if run is not None and run.state is not None and run.state.is_final():
            return run
        time.sleep(3)
    raise AssertionError(f"no finished run of {deployment} within {timeout:.0f} s; newest: {run and run.state}")


@pytest.fixture(autouse=True)
def state_dir(stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Path:
    """This module's tests share one state dir (the deployments' flow runs write there too)."""
    monkeypatch.setenv("CLONECAST_STATE_DIR", stack["env"]["CLONECAST_STATE_DIR"])
    return Path(stack["env"]["CLONECAST_STATE_DIR"])


def run_deployment(name: str, parameters: dict[str, Any], env: dict[str, str], timeout: float = 900) -> Any:
    from prefect.deployments import run_deployment as run

    job = {"env": {k: v for k, v in env.items() if k.startswith("CLONECAST_")}}
    flow_run = run(name, parameters=parameters, job_variables=job, timeout=timeout)
    assert flow_run.state is not None and flow_run.state.is_completed(), f"{name}: {flow_run.state}"
    return flow_run


def test_deployments_carry_their_schedules_and_the_drift_automation(stack: dict[str, Any]) -> None:
    from prefect.client.orchestration import get_client

    async def read() -> tuple[dict[str, Any], list[Any]]:
        async with get_client() as client:
            deployments = {d.name: d for d in await client.read_deployments()}
            automations = await client.read_automations()
        return deployments, automations

    deployments, automations = asyncio.run(read())
    assert {"batch-predict", "deploy-clones", "monitor-drift", "evaluate", "retrain", "backfill"} <= set(deployments)
    intervals = {s.schedule.interval.total_seconds() for s in deployments["batch-predict"].schedules}
    assert intervals == {300.0}
    assert deployments["monitor-drift"].schedules[0].schedule.cron == "0 * * * *"
    triggers = [a for a in automations if "clonecast.drift.detected" in str(a.trigger)]
    assert triggers, "the drift automation was not created"


def test_batch_predict_through_the_worker_then_clones_on_docker_and_kubernetes(stack: dict[str, Any]) -> None:
    import docker

    from actuators.docker_engine import MANAGED
    from traces import forecast_store

    run_deployment("batch-predict/batch-predict", {"trace": stack["trace"]}, stack["env"])
    store = stack["folder"] / "state" / "forecasts" / "store"
    forecast = forecast_store.latest(store)
    assert forecast["program_code"].nunique() == 5 and forecast["step"].max() == 12

    from flows.pipeline import deploy_clones

    engine = docker.DockerClient(base_url=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"))
    try:
        result = deploy_clones(stack["trace"], actuator="docker", max_clones=4)
        clones = engine.containers.list(filters={"label": f"{MANAGED}=true"})
        assert result["clones"] == len(clones) > 0  # the plan's clones are running containers
        namespace = f"cc-orch-{os.getpid()}"
        _namespace(namespace)
        try:
            placed = deploy_clones(stack["trace"], actuator="kubernetes", max_clones=3, namespace=namespace)
            assert placed["clones"] > 0 and _running_pods(namespace, placed["clones"])
        finally:  # the hollow nodes have one CPU each: leave them free for the other tests
            _core().delete_namespace(namespace)
    finally:
        for container in engine.containers.list(all=True, filters={"label": f"{MANAGED}=true"}):
            container.remove(force=True)


def _core() -> Any:
    from kubernetes import client as k8s

    from actuators.kubernetes_engine import api_client

    return k8s.CoreV1Api(api_client(str(RUN / "k8s" / "admin.kubeconfig")))


def _namespace(name: str) -> None:
    from kubernetes import client as k8s

    _core().create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))


def _running_pods(namespace: str, count: int, timeout: float = 300) -> bool:
    core = _core()
    deadline = time.time() + timeout
    while time.time() < deadline:
        pods = core.list_namespaced_pod(namespace).items
        if sum(p.status.phase == "Running" for p in pods) >= count:
            return True
        time.sleep(2)
    return False


def test_backfill_twice_stores_identical_forecasts(stack: dict[str, Any]) -> None:
    from flows.pipeline import backfill
    from traces import forecast_store

    store = stack["folder"] / "state" / "forecasts" / "store"
    backfill("2026-01-13T00:00:00Z", "2026-01-13T03:00:00Z", trace=stack["trace"], every="1h")
    first = forecast_store.read(store, pd.Timestamp("2026-01-13", tz="UTC"), pd.Timestamp("2026-01-13T03:00Z"))
    backfill("2026-01-13T00:00:00Z", "2026-01-13T03:00:00Z", trace=stack["trace"], every="1h")
    second = forecast_store.read(store, pd.Timestamp("2026-01-13", tz="UTC"), pd.Timestamp("2026-01-13T03:00Z"))
    assert first["origin"].nunique() == 4 and len(first) == 4 * 5 * 12
    pd.testing.assert_frame_equal(first, second)
    assert not second.duplicated(["program_code", "origin", "ts"]).any()


def test_bad_or_stale_data_stops_before_actuation(
    stack: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import docker

    from actuators.docker_engine import MANAGED
    from flows.pipeline import DataError, batch_predict, deploy_clones, validate_data
    from traces.store import read_dataset, write_dataset

    broken = read_dataset(Path(stack["trace"]))
    broken.requests.loc[7, "requests"] = -5
    write_dataset(broken, stack["folder"] / "broken")  # the store writes what it is given
    state = validate_data(str(stack["folder"] / "broken"), return_state=True)
    assert state.is_failed()
    logs: list[str] = []
    deadline = time.time() + 120  # logs reach the server in batches, later on a busy machine
    while time.time() < deadline:
        logs = asyncio.run(_logs(state.state_details.flow_run_id))
        if any("expect_column_values_to_be_between" in line for line in logs):
            break
        time.sleep(1)
    assert any("expect_column_values_to_be_between" in line for line in logs), logs[-5:]

    monkeypatch.setenv("CLONECAST_STATE_DIR", str(tmp_path / "own"))  # a forecast store of this test only
    batch_predict(stack["trace"], as_of="2026-01-12T00:00:00Z")  # the newest stored forecast is 2 days old
    engine = docker.DockerClient(base_url=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"))
    before = len(engine.containers.list(all=True, filters={"label": f"{MANAGED}=true"}))
    with pytest.raises(DataError, match="fresh"):
        deploy_clones(stack["trace"], actuator="docker")
    assert len(engine.containers.list(all=True, filters={"label": f"{MANAGED}=true"})) == before


async def _logs(flow_run_id: Any) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    async with get_client() as client:
        found = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return [entry.message for entry in found]


def test_drift_event_starts_retraining_and_the_gate_decides(stack: dict[str, Any]) -> None:
    from flows.pipeline import monitor_drift
    from models import registry

    uri = stack["env"]["CLONECAST_TRACKING_URI"]
    before = registry.aliases(uri, NAME)
    quiet = monitor_drift(stack["trace"])
    assert not quiet["drifted"]
    emitted = time.time()
    report = monitor_drift(stack["drifted"])
    assert report["drifted"] and report["psi"] > 0.25
    retrained = wait_for_run("retrain/retrain", after=emitted)  # started by the automation, not by the test
    assert retrained.state.is_completed(), f"the automation's retrain run ended {retrained.state}"
    after = registry.aliases(uri, NAME)
    assert after.get("challenger") != before.get("challenger"), "the retrain run registered no challenger"
    with registry.tracking(uri) as client:
        tags = client.get_model_version(NAME, after["challenger"]).tags
    assert tags.get("gate") in {"promoted", "rejected"} and tags.get("gate_reason") and tags.get("gate_window")
    assert np.isfinite(float(registry.aliases(uri, NAME)["champion"]))
    with registry.tracking(uri) as client:  # the next tests score the champion on the day after its trained_until
        client.set_registered_model_alias(NAME, registry.CHAMPION, before[registry.CHAMPION])


ARTIFACTS = ROOT / "test-artifacts" / "screenshots"


def browse(url: str, screenshot: Path) -> str:
    """Render a page in headless Chromium: save a screenshot, return the rendered DOM."""
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"]
    flags.append("--virtual-time-budget=20000")  # let the single-page apps fetch and render
    shot = subprocess.run(["chromium", *flags, f"--screenshot={screenshot}", url], capture_output=True, timeout=90)
    assert shot.returncode == 0 and screenshot.stat().st_size > 10_000, shot.stderr[-500:]
    dom = subprocess.run(["chromium", *flags, "--dump-dom", url], capture_output=True, text=True, timeout=90)
    assert dom.returncode == 0, dom.stderr[-500:]
    return dom.stdout


def test_both_uis_show_the_deployments_and_the_registered_model(stack: dict[str, Any]) -> None:
    prefect_ui = stack["env"]["PREFECT_API_URL"].removesuffix("/api")
    page = browse(f"{prefect_ui}/deployments", ARTIFACTS / "prefect-deployments.png")
    assert "batch-predict" in page and "monitor-drift" in page and "Every 5 minutes" in page
    mlflow_ui = stack["env"]["CLONECAST_TRACKING_URI"]
    page = browse(f"{mlflow_ui}/#/models/{NAME}", ARTIFACTS / "mlflow-registered-model.png")
    assert NAME in page and "champion" in page and "challenger" in page


def test_evaluate_logs_the_champion_on_the_recent_window(stack: dict[str, Any]) -> None:
    from mlflow import MlflowClient

    from flows.pipeline import evaluate

    metrics = evaluate(stack["trace"], recent_days=1.0)
    assert metrics["backtest_mase"] > 0 and "sim_cost" in metrics
    uri = stack["env"]["CLONECAST_TRACKING_URI"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("clonecast-forecasting")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], "tags.kind = 'evaluate' and tags.alias = 'champion'")
    assert any(r.data.metrics.get("backtest_mase") == pytest.approx(metrics["backtest_mase"]) for r in runs)


def test_backtest_shards_by_program_code_on_dask(stack: dict[str, Any]) -> None:
    from flows.pipeline import backtest

    sharded = backtest(stack["trace"], model="ridge", shard_size=2, stride=12)
    whole = backtest(stack["trace"], model="ridge", shard_size=100, stride=12)
    assert (sharded["shards"], whole["shards"]) == (3, 1) and sharded["series"] == whole["series"] == 5
    assert sharded["backtest_mase"] == pytest.approx(whole["backtest_mase"])  # ridge is per series


def test_tuning_scores_shards_of_programs_on_dask_with_nested_runs(stack: dict[str, Any]) -> None:
    from mlflow import MlflowClient

    from flows.pipeline import tune

    out = tune(stack["trace"], model="lightgbm", trials=2, folds=1, shard_size=2)
    assert out["shards"] == 3 and np.isfinite(out["best_value"]) and out["best_params"]
    uri = stack["env"]["CLONECAST_TRACKING_URI"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("clonecast-tuning")
    assert experiment is not None
    children = client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{out['run_id']}'")
    assert len(children) == 2 and all("val_mase" in run.data.metrics for run in children)
