"""Shared fixtures: the shared real traces (skipped with a reason when absent), small synthetic data,
an isolated state directory and the CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("COLUMNS", "250")  # rich wraps at the terminal width; keep messages on one line

import pandas as pd
import pytest
from typer.testing import CliRunner

from traces.frames import Dataset
from traces.shared import shared_traces_dir
from traces.synthetic import SyntheticConfig, generate


@pytest.fixture(scope="session")
def traces_dir() -> Path:
    found = shared_traces_dir()
    if found is None:
        pytest.skip("shared real traces not found (set CLONECAST_TRACES_DIR or place them at ../shared/data/traces)")
    return found


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own CLONECAST_STATE_DIR."""
    state = tmp_path / "state"
    monkeypatch.setenv("CLONECAST_STATE_DIR", str(state))
    return state


@pytest.fixture(scope="session")
def small() -> Dataset:
    """A small synthetic trace: 12 programs over 3 days."""
    return generate(SyntheticConfig(programs=12, days=3, campaigns=2, news=1, seed=3))


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")
