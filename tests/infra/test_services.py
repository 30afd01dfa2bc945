"""The local orchestration services (infra/services/services.sh): the Prefect server with a process work pool
and a worker polling it, and the MLflow tracking server with its artifact proxy.

These talk to the running services and fail (never skip) when they are down: start them with
`infra/services/services.sh start` (or `make up`).
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.orchestration
RUN = Path(os.environ.get("CLONECAST_RUN_DIR", "/tmp/clonecast-run"))


def _services_env() -> dict[str, str]:
    """The URLs services.sh wrote, else the defaults it would use."""
    env = {
        "PREFECT_API_URL": f"http://127.0.0.1:{os.environ.get('CLONECAST_PREFECT_PORT', '4200')}/api",
        "CLONECAST_WORK_POOL": os.environ.get("CLONECAST_WORK_POOL", "clonecast-process"),
        "CLONECAST_TRACKING_URI": f"http://127.0.0.1:{os.environ.get('CLONECAST_MLFLOW_PORT', '5000')}",
    }
    path = RUN / "services.env"
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not line.startswith("#"):
                env[key.strip()] = value.strip()
    return env


SERVICES = _services_env()
DOWN = "is it running? start it with infra/services/services.sh start"


def _get(url: str) -> httpx.Response:
    try:
        return httpx.get(url, timeout=5)
    except httpx.TransportError as e:
        pytest.fail(f"{url} does not answer ({e!r}); {DOWN}")


def test_prefect_server_has_the_work_pool_and_a_polling_worker() -> None:
    api, pool = SERVICES["PREFECT_API_URL"], SERVICES["CLONECAST_WORK_POOL"]
    health = _get(f"{api}/health")
    assert health.status_code == 200 and health.json() is True, health.text

    with httpx.Client(base_url=api, timeout=5) as client:
        pools = client.post("/work_pools/filter", json={"work_pools": {"name": {"any_": [pool]}}}).json()
        assert [p["name"] for p in pools] == [pool], f"work pool {pool!r} missing: {pools}"
        assert pools[0]["type"] == "process"

        deadline = time.monotonic() + 20  # a worker started a moment ago may not have sent its heartbeat yet
        while True:
            status = client.get(f"/work_pools/{pool}").json()["status"]
            workers = client.post(f"/work_pools/{pool}/workers/filter", json={}).json()
            now = datetime.now(UTC)
            fresh = [
                w
                for w in workers
                if w["status"] == "ONLINE"
                and w["last_heartbeat_time"]
                and (now - datetime.fromisoformat(w["last_heartbeat_time"])).total_seconds()
                < 3 * (w.get("heartbeat_interval_seconds") or 30)
            ]
            if status == "READY" and fresh:
                break
            assert time.monotonic() < deadline, f"no worker is polling {pool!r} (status {status}): {workers}"
            time.sleep(1)


def test_mlflow_server_tracks_runs_and_proxies_artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = SERVICES["CLONECAST_TRACKING_URI"]
    health = _get(f"{uri}/health")
    assert health.status_code == 200, health.text
    # fail fast instead of MLflow's default retries with back-off
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = f"clonecast-services-test-{uuid.uuid4().hex[:8]}"
    experiment_id = client.create_experiment(name)
    try:
        experiment = client.get_experiment(experiment_id)
        assert experiment.artifact_location.startswith("mlflow-artifacts:"), experiment.artifact_location

        run = client.create_run(experiment_id)
        client.log_metric(run.info.run_id, "mase", 0.87, step=1)
        client.log_param(run.info.run_id, "model", "gbm")
        artifact = tmp_path / "forecast.csv"
        artifact.write_text("ts,demand\n2024-01-01T00:00:00Z,42\n")
        client.log_artifact(run.info.run_id, str(artifact), artifact_path="plots")
        client.set_terminated(run.info.run_id)

        fetched = client.get_run(run.info.run_id)
        assert fetched.data.metrics == {"mase": 0.87}
        assert fetched.data.params == {"model": "gbm"}
        assert fetched.info.status == "FINISHED"
        assert [f.path for f in client.list_artifacts(run.info.run_id, "plots")] == ["plots/forecast.csv"]
        local = client.download_artifacts(run.info.run_id, "plots/forecast.csv", str(tmp_path / "back"))
        assert Path(local).read_text() == artifact.read_text()

        # the registry answers through the same server (aliases, not stages)
        model = f"{name}-model"
        client.create_registered_model(model)
        try:
            version = client.create_model_version(model, f"runs:/{run.info.run_id}/plots", run_id=run.info.run_id)
            client.set_registered_model_alias(model, "champion", version.version)
            assert client.get_model_version_by_alias(model, "champion").run_id == run.info.run_id
        finally:
            client.delete_registered_model(model)
    finally:
        client.delete_experiment(experiment_id)
