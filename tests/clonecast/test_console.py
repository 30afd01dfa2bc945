"""Readable output when stdout is not a terminal: tables keep their natural width instead of being cut to 80
columns (`invoca…`), and progress is plain lines."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from clonecast import console
from clonecast.cli import app


def test_a_piped_table_keeps_every_header_and_name_in_full(
    runner: CliRunner, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = runner.invoke(app, ["generate", "--programs", "4", "--days", "2", "--name", "tiny", "--no-plot"])
    assert made.exit_code == 0, made.output
    monkeypatch.setattr(console.stdout, "width", 80)  # what rich assumes for a pipe (the tests' COLUMNS aside)
    trace = str(state_dir / "datasets" / "tiny")
    result = runner.invoke(app, ["simulate", "--trace", trace, "-p", "keepalive:10", "-p", "hybrid-histogram"])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "policy" in line)
    for column in ("invocations", "cold starts", "p75 app cold %", "wasted GB-min", "wasted % of ka10"):
        assert f" {column} " in header, header
    assert "│ hybrid-histogram │" in result.output and "…" not in result.output
    assert max(len(line) for line in result.output.splitlines()) > 80


def test_progress_on_a_pipe_is_a_plain_line_per_stage_as_it_starts() -> None:
    out = io.StringIO()
    with console.RichProgress(Console(file=out, width=80)) as progress:
        progress.stage("fitting lightgbm", total=3)
        progress.advance()
        assert re.fullmatch(r"\[ +\d+\.\d s\] fitting lightgbm\n", out.getvalue())  # before the work is done
        progress.stage("forecasting")
    assert [line.split("] ")[1] for line in out.getvalue().splitlines()] == ["fitting lightgbm", "forecasting"]
