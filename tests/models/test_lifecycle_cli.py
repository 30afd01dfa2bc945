"""The model lifecycle through the CLI on a real SQLite MLflow store: train -> promote -> predict -> update ->
promote (gate), with the simulator's cost in every backtest."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from clonecast.cli import app
from models import registry
from traces.store import write_dataset
from traces.synthetic import SyntheticConfig, generate


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lifecycle")
    dataset = generate(SyntheticConfig(programs=4, days=6, seed=8))
    write_dataset(dataset, folder / "trace")
    early = dataset.requests[dataset.requests["ts"] <= dataset.requests["ts"].max() - pd.Timedelta("1D")]
    write_dataset(type(dataset)(early, dataset.programs, dataset.events, dataset.freq), folder / "history")
    return folder / "trace"


@pytest.fixture(scope="module")
def history(trace: Path) -> Path:
    """The trace without its last day (what the first champion learns; `update` then has a new day)."""
    return trace.parent / "history"


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_train_promote_predict_update(
    tmp_path: Path, trace: Path, history: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLONECAST_STATE_DIR", str(tmp_path / "state"))
    uri = f"sqlite:///{tmp_path / 'state' / 'mlflow.db'}"
    out = tmp_path / "train.json"
    knobs = json.dumps({"n_estimators": 40})
    run(
        "train", "--trace", str(history), "--model", "lightgbm", "--params", knobs, "--stride", "12", "--json", str(out)
    )
    scores = json.loads(out.read_text())
    assert scores["model"] == "lightgbm" and set(scores["coverage"]) == {"50", "80", "90"}
    assert scores["simulator"]["a"]["cost"] >= 0 and scores["version"] == "1"
    assert registry.aliases(uri, "clonecast-demand") == {"challenger": "1"}

    assert "promoted" in run("promote", "--trace", str(history))
    forecast_file = tmp_path / "forecast.csv"
    run("predict", "--trace", str(trace), "--out", str(forecast_file))
    forecast = pd.read_csv(forecast_file)
    assert len(forecast) == 4 * 12 and forecast["yhat"].ge(0).all()

    run("update", "--trace", str(trace), "--stride", "12")
    versions = registry.aliases(uri, "clonecast-demand")
    assert versions == {"champion": "1", "challenger": "2"}
    gate = CliRunner().invoke(app, ["promote", "--trace", str(trace), "--margin", "0.9", "--strict", "--stride", "12"])
    assert gate.exit_code == 3 and "rejected" in gate.output
    assert registry.aliases(uri, "clonecast-demand")["champion"] == "1"


def test_bad_requests_get_clear_errors(tmp_path: Path, trace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLONECAST_STATE_DIR", str(tmp_path / "empty"))
    missing = CliRunner().invoke(app, ["predict", "--trace", str(trace)])
    assert missing.exit_code == 2 and "no model at models:/clonecast-demand@champion" in missing.output
    nothing = CliRunner().invoke(app, ["promote", "--trace", str(trace)])
    assert nothing.exit_code == 2 and "no 'challenger' version" in nothing.output
    knobs = CliRunner().invoke(app, ["train", "--trace", str(trace), "--model", "lightgbm", "--params", "{not json"])
    assert knobs.exit_code == 2 and "--params is not JSON" in knobs.output
    unknown = CliRunner().invoke(
        app, ["train", "--trace", str(trace), "--model", "lightgbm", "--params", '{"wings": 2}']
    )
    assert unknown.exit_code == 2 and "wings" in unknown.output


def test_retrain_ci_exit_code_follows_the_gate(tmp_path: Path, trace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLONECAST_STATE_DIR", str(tmp_path / "ci"))
    first = CliRunner().invoke(app, ["retrain", "--ci", "--trace", str(trace), "--model", "ridge", "--stride", "12"])
    assert first.exit_code == 0 and "promoted" in first.output, first.output
    same = CliRunner().invoke(app, ["retrain", "--ci", "--trace", str(trace), "--model", "ridge", "--stride", "12"])
    assert same.exit_code == 3 and "rejected" in same.output  # an equal model does not beat the champion
    uri = f"sqlite:///{tmp_path / 'ci' / 'mlflow.db'}"
    assert registry.aliases(uri, "clonecast-demand") == {"champion": "1", "challenger": "2"}
