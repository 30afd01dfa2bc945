from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from clonecast import __version__
from clonecast.cli import app
from clonecast.settings import Settings
from tests.traces import files
from traces.store import read_dataset


def registered(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command under a click command (sub-command groups walked), with its path of names."""
    for name, sub in getattr(command, "commands", {}).items():
        yield (*path, name), sub
        yield from registered(sub, (*path, name))


COMMANDS = dict(registered(typer.main.get_command(app)))  # read from the app: a new command is covered by itself


def words(text: str) -> str:
    """The text with any run of whitespace (rich's wrapping and padding) as one space."""
    return " ".join(text.split())


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_explains_itself(runner: CliRunner, path: tuple[str, ...]) -> None:
    help_text = COMMANDS[path].help
    assert help_text, f"clonecast {' '.join(path)} has no docstring"
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert f"Usage: clonecast {' '.join(path)} [OPTIONS]" in result.output
    assert words(help_text.split("\n\n")[0]) in words(result.output)  # its own first paragraph
    assert "--help" in result.output and "Show this message and exit." in result.output


def test_top_level_help_lists_every_command(runner: CliRunner) -> None:
    assert len(COMMANDS) >= 16
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    listed = re.findall(r"^│ ([a-z][a-z-]*) ", result.output, flags=re.MULTILINE)
    assert listed == [path[0] for path in COMMANDS if len(path) == 1]
    assert runner.invoke(app, ["--version"]).output == f"clonecast {__version__}\n"


def test_ingest_writes_canonical_parquet_and_lists_it(tmp_path: Path, runner: CliRunner, state_dir: Path) -> None:
    requests = files.long_requests(tmp_path / "r.csv")
    events = files.long_events(tmp_path / "e.csv")
    programs = files.long_programs(tmp_path / "p.csv")
    args = ["ingest", str(requests), "--events", str(events), "--programs", str(programs), "--name", "shop"]
    result = runner.invoke(app, [*args, "--resample", "15min"])
    assert result.exit_code == 0, result.output
    stored = read_dataset(state_dir / "datasets" / "shop")
    assert stored.freq == pd.Timedelta("15min")
    assert stored.requests["requests"].sum() == pd.read_csv(requests)["requests"].sum()
    assert len(stored.requests) == 2 * 4  # 2 programs x 4 quarter hours, zeros explicit
    assert str(stored.requests["ts"].dtype) == "datetime64[ns, UTC]"
    assert stored.events["program_code"].tolist() == ["a", ""]
    listing = runner.invoke(app, ["datasets"])
    assert "shop" in listing.output and "15min" in listing.output


def test_ingest_real_azure_sample_into_5_minute_bins(traces_dir: Path, tmp_path: Path, runner: CliRunner) -> None:
    result = runner.invoke(
        app,
        [
            "ingest",
            str(traces_dir / "azure_functions_2019_invitro_sample1350"),
            "--resample",
            "5min",
            "--store",
            str(tmp_path),
            "--name",
            "azure",
        ],
    )
    assert result.exit_code == 0, result.output
    stored = read_dataset(tmp_path / "azure")
    assert len(stored.requests) == 1350 * 288
    assert int(stored.requests["requests"].sum()) == 927_272


def test_generate_with_knobs_and_json_report(tmp_path: Path, runner: CliRunner, state_dir: Path) -> None:
    result = runner.invoke(app, ["generate", "--programs", "8", "--days", "2", "--seed", "5", "--name", "tiny"])
    assert result.exit_code == 0, result.output
    assert (state_dir / "plots" / "tiny.png").stat().st_size > 10_000
    report = tmp_path / "report.json"
    checked = runner.invoke(app, ["validate", str(state_dir / "datasets" / "tiny"), "--json", str(report)])
    assert checked.exit_code == 0, checked.output
    data = json.loads(report.read_text())
    assert data["success"] is True and data["rows"]["programs"] == 8


def test_bad_options_are_usage_errors(runner: CliRunner) -> None:
    assert runner.invoke(app, ["generate", "--programs", "0"]).exit_code == 2
    assert runner.invoke(app, ["generate", "--name", "../escape"]).exit_code == 2
    result = runner.invoke(app, ["validate", "x.csv", "--max-age", "soon"])
    assert result.exit_code == 2 and "duration" in result.output


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLONECAST_STATE_DIR", str(tmp_path / "s"))
    monkeypatch.setenv("CLONECAST_HORIZON", "24")
    monkeypatch.setenv("CLONECAST_LIMITS__MAX_AGE", "15min")
    settings = Settings()
    assert settings.datasets_dir == tmp_path / "s" / "datasets"
    assert settings.horizon == 24 and settings.limits.max_age == "15min"
    monkeypatch.setenv("CLONECAST_FREQ", "fortnightly")
    with pytest.raises(ValueError, match="duration"):
        Settings()


def test_demo_runs_from_a_clean_directory(tmp_path: Path, state_dir: Path) -> None:
    """The real entry point in a fresh process, as `make demo` runs it."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | {"CLONECAST_STATE_DIR": str(state_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "clonecast", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"^valid: all \d+ expectations held", done.stdout, flags=re.MULTILINE), done.stdout[-3000:]
    assert "\nclone plan   " in done.stdout and "forecaster   lightgbm v1" in done.stdout
    assert read_dataset(state_dir / "datasets" / "synthetic").programs.shape[0] == 120
    for made in ("plots/synthetic.png", "plots/lightgbm-forecast.png", "plots/demo-pareto-mode-a.png"):
        assert (state_dir / made).is_file(), made
    plan = json.loads((state_dir / "plans" / "latest-plan.json").read_text())
    assert sum(t for t in plan["targets"].values()) > 0
    assert len(list((state_dir / "forecasts" / "store").glob("origin=*.parquet"))) == 1
    assert (state_dir / "mlflow.db").is_file()


REAL = [
    "azure_functions_2019_invitro_sample1350",
    "huawei_tsfm_datacentre3/datacentre_3.csv",
    "alibaba_genai_serving_2026_gentd26/lora_request_trace.csv.gz",
    "web_request_rate_nasa1995_twitter2021/nasa_http_1995_per_minute.csv.gz",
    "web_request_rate_nasa1995_twitter2021/twitter_stream_2021_08_per_minute.csv.gz",
]


@pytest.mark.real_traces
@pytest.mark.parametrize("relative", REAL)
def test_validate_passes_on_the_shared_real_traces(traces_dir: Path, runner: CliRunner, relative: str) -> None:
    result = runner.invoke(app, ["validate", str(traces_dir / relative)])
    assert result.exit_code == 0, result.output
    assert re.search(r"^valid: all \d+ expectations held", result.output, flags=re.MULTILINE), result.output


@pytest.mark.real_traces
def test_validate_entry_point_exit_codes(traces_dir: Path, tmp_path: Path) -> None:
    """The installed `clonecast` script: 0 on a real trace, 2 on a corrupted copy of it."""
    script = Path(sys.executable).with_name("clonecast")
    source = traces_dir / "huawei_tsfm_datacentre3" / "datacentre_3.csv"
    ok = subprocess.run([script, "validate", source], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    lines = source.read_text().splitlines()
    lines[100] = lines[100].replace(",", ",-", 1)  # a negative count in the first function
    corrupted = tmp_path / "datacentre_3.csv"
    corrupted.write_text("\n".join(lines) + "\n")
    bad = subprocess.run([script, "validate", corrupted], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert "expect_column_values_to_be_between" in bad.stdout
