"""The corruption matrix: each corrupted input makes `clonecast validate` and `clonecast ingest` exit 2 with
a message naming the failed expectation, and `ingest` writes nothing to the canonical store."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clonecast.cli import app
from tests.traces import files


@dataclass(frozen=True)
class Corruption:
    name: str
    make: Callable[[Path], list[str]]  # writes files under the directory, returns CLI arguments
    expectation: str  # the failed expectation the message must name
    also: str = ""  # another fragment the output must show (place, value or reason)
    trace: bool = True  # False for forecast files (validate only)


def _long(tmp: Path, edit: Callable[[list[str]], list[str]] | None = None, **extra: Path) -> list[str]:
    path = files.long_requests(tmp / "requests.csv")
    if edit:
        path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")
    args = [str(path), "--format", "long"]
    for option, value in extra.items():
        args += [f"--{option}", str(value)]
    return args


def _cell(lines: list[str], row: int, column: int, value: str) -> list[str]:
    fields = lines[row].split(",")
    fields[column] = value
    lines[row] = ",".join(fields)
    return lines


def _huawei(tmp: Path, edit: Callable[[list[str]], list[str]]) -> list[str]:
    path = files.huawei(tmp / "datacentre.csv")
    path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")
    return [str(path), "--format", "huawei"]


def _swap(lines: list[str], a: int, b: int) -> list[str]:
    lines[a], lines[b] = lines[b], lines[a]
    return lines


def _events(tmp: Path, text: str) -> list[str]:
    events = tmp / "events.csv"
    events.write_text("start,end,kind,magnitude,program_code\n" + text)
    return _long(tmp, events=events, programs=files.long_programs(tmp / "programs.csv"))


def _programs(tmp: Path, edit: Callable[[list[str]], list[str]]) -> list[str]:
    path = files.long_programs(tmp / "programs.csv")
    path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")
    return _long(tmp, programs=path)


def _azure_bad_minutes(tmp: Path) -> list[str]:
    inv = files.azure2019(tmp / "az")
    text = gzip.decompress(inv.read_bytes()).decode().replace("minute_5,", "minute_50,", 1)
    inv.write_bytes(gzip.compress(text.encode()))
    return [str(inv), "--format", "azure2019"]


def _forecast(tmp: Path, edit: Callable[[list[str]], list[str]], *extra: str) -> list[str]:
    path = files.forecast(tmp / "forecast.csv")
    path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")
    return [str(path), "--format", "forecast", *extra]


def _write(tmp: Path, name: str, data: bytes, fmt: str = "long") -> list[str]:
    path = tmp / name
    path.write_bytes(data)
    return [str(path), "--format", fmt]


CASES = [
    Corruption(
        "negative count",
        lambda t: _long(t, lambda ls: _cell(ls, 3, 2, "-3")),
        "expect_column_values_to_be_between",
        "non-negative counts",
    ),
    Corruption(
        "NaN count",
        lambda t: _long(t, lambda ls: _cell(ls, 4, 2, "")),
        "expect_column_values_to_not_be_null",
        "requests.requests",
    ),
    Corruption(
        "duplicate key",
        lambda t: _long(t, lambda ls: [*ls, ls[5]]),
        "expect_compound_columns_to_be_unique",
        "one row per program and bin",
    ),
    Corruption(
        "missing column",
        lambda t: _long(t, lambda ls: [",".join(line.split(",")[:2]) for line in ls]),
        "expect_column_to_exist",
        "requests.requests",
    ),
    Corruption(
        "wrong dtype",
        lambda t: _long(t, lambda ls: _cell(ls, 2, 2, "many")),
        "expect_column_dtype_to_be_in",
        "not numbers",
    ),
    Corruption(
        "fractional count",
        lambda t: _long(t, lambda ls: _cell(ls, 2, 2, "2.5")),
        "expect_column_dtype_to_be_in",
        "not whole numbers",
    ),
    Corruption(
        "unsorted timestamps",
        lambda t: _huawei(t, lambda ls: _swap(ls, 3, 4)),
        "expect_column_values_to_be_increasing",
        "time_axis.ts",
    ),
    Corruption(
        "duplicated timestamps",
        lambda t: _huawei(t, lambda ls: [*ls[:4], ls[3], *ls[4:]]),
        "expect_column_values_to_be_increasing",
        "time_axis.ts",
    ),
    Corruption(
        "unparseable date",
        lambda t: _huawei(t, lambda ls: _cell(ls, 2, 0, "2016-07-01 25:99:00")),
        "expect_column_values_to_not_be_null",
        "time_axis.ts",
    ),
    Corruption(
        "gap in the grid",
        lambda t: _long(t, lambda ls: ls[:15] + ls[18:]),
        "expect_column_values_to_be_between",
        "2026-01-05 00:10:00..2026-01-05 00:20:00 (3 bins)",
    ),
    Corruption(
        "misaligned timestamp",
        lambda t: _long(t, lambda ls: _cell(ls, 3, 1, "2026-01-05T00:12:00Z")),
        "expect_column_values_to_be_between",
        "timestamps on the bin grid",
    ),
    Corruption(
        "naive timestamps",
        lambda t: _long(t, lambda ls: [line.replace("Z,", ",") for line in ls]),
        "expect_column_dtype_to_be_in",
        "timezone",
    ),
    Corruption(
        "mixed timezone conventions",
        lambda t: _long(t, lambda ls: _cell(ls, 3, 1, "2026-01-05T00:10:00")),
        "expect_timestamps_to_share_one_timezone_convention",
    ),
    Corruption("empty file", lambda t: _write(t, "empty.csv", b""), "expect_file_to_be_non_empty"),
    Corruption(
        "header only",
        lambda t: _write(t, "header.csv", b"program_code,ts,requests\n"),
        "expect_table_row_count_to_be_between",
    ),
    Corruption(
        "non-UTF-8 bytes",
        lambda t: _write(t, "latin.csv", b"program_code,ts,requests\ncaf\xe9,2026-01-05T00:00:00Z,1\n"),
        "expect_file_to_be_utf8",
        "line",
    ),
    Corruption(
        "truncated row",
        lambda t: _long(t, lambda ls: [*ls[:-1], ls[-1].rsplit(",", 1)[0]]),
        "expect_rows_to_have_header_field_count",
        "truncated",
    ),
    Corruption(
        "corrupt gzip",
        lambda t: _write(t, "cut.csv.gz", gzip.compress(b"program_code,ts,requests\n" * 50)[:30]),
        "expect_file_to_be_readable",
    ),
    Corruption(
        "absurd magnitude",
        lambda t: _long(t, lambda ls: _cell(ls, 6, 2, "90000000000000")),
        "expect_column_values_to_be_between",
        "at most",
    ),
    Corruption(
        "future timestamps",
        lambda t: _long(t, lambda ls: [line.replace("2026-01-05", "2099-01-05") for line in ls]),
        "expect_column_values_to_be_between",
        "none in the future",
    ),
    Corruption(
        "events for unknown programs",
        lambda t: _events(t, "2026-01-05T00:10:00Z,2026-01-05T00:30:00Z,campaign,2.0,ghost\n"),
        "expect_column_values_to_be_in_set",
        "ghost",
    ),
    Corruption(
        "event ends before it starts",
        lambda t: _events(t, "2026-01-05T00:30:00Z,2026-01-05T00:10:00Z,campaign,2.0,a\n"),
        "expect_column_pair_values_a_to_be_greater_than_b",
        "ends after it starts",
    ),
    Corruption(
        "unknown event kind",
        lambda t: _events(t, "2026-01-05T00:10:00Z,2026-01-05T00:30:00Z,alien_invasion,2.0,a\n"),
        "expect_column_values_to_be_in_set",
        "alien_invasion",
    ),
    Corruption(
        "negative program memory",
        lambda t: _programs(t, lambda ls: _cell(ls, 1, 2, "-256")),
        "expect_column_values_to_be_between",
        "programs.memory_mb",
    ),
    Corruption(
        "duplicate program",
        lambda t: _programs(t, lambda ls: [*ls, ls[1]]),
        "expect_column_values_to_be_unique",
        "programs.program_code",
    ),
    Corruption(
        "requests for an unlisted program",
        lambda t: _programs(t, lambda ls: ls[:2]),
        "expect_column_values_to_be_in_set",
        "requests.program_code",
    ),
    Corruption("azure minute columns out of order", _azure_bad_minutes, "expect_minute_columns_to_be_consecutive"),
    Corruption(
        "huawei column without pool",
        lambda t: _huawei(t, lambda ls: [ls[0].replace("---pool22-300-128", ""), *ls[1:]]),
        "expect_column_names_to_match_huawei_pattern",
    ),
    Corruption(
        "forecast quantiles cross",
        lambda t: _forecast(t, lambda ls: _cell(ls, 2, 7, "1.0")),
        "expect_column_pair_values_a_to_be_greater_than_b",
        "quantiles do not cross",
        trace=False,
    ),
    Corruption(
        "stale forecast",
        lambda t: _forecast(t, lambda ls: ls, "--max-age", "15min"),
        "expect_column_max_to_be_between",
        "fresh",
        trace=False,
    ),
]


def test_the_matrix_has_at_least_fifteen_distinct_corruptions() -> None:
    assert len({c.name for c in CASES}) >= 15


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_validate_exits_2_naming_the_failed_expectation(tmp_path: Path, runner: CliRunner, case: Corruption) -> None:
    result = runner.invoke(app, ["validate", *case.make(tmp_path)])
    assert result.exit_code == 2, result.output
    assert case.expectation in result.output
    assert case.also in result.output
    assert "invalid" in result.output


@pytest.mark.parametrize("case", [c for c in CASES if c.trace], ids=lambda c: c.name)
def test_ingest_exits_2_and_writes_nothing(tmp_path: Path, runner: CliRunner, case: Corruption) -> None:
    store, inputs = tmp_path / "store", tmp_path / "in"
    inputs.mkdir()
    result = runner.invoke(app, ["ingest", *case.make(inputs), "--store", str(store), "--name", "x"])
    assert result.exit_code == 2, result.output
    assert case.expectation in result.output
    assert not store.exists() or not any(store.iterdir())


def test_the_uncorrupted_inputs_are_valid(tmp_path: Path, runner: CliRunner) -> None:
    """Guards the matrix: every failure above comes from its corruption, not from the base files."""
    for args in (
        _long(
            tmp_path,
            events=files.long_events(tmp_path / "e.csv"),
            programs=files.long_programs(tmp_path / "p.csv"),
        ),
        _huawei(tmp_path, lambda ls: ls),
        [str(files.azure2019(tmp_path / "az")), "--format", "azure2019"],
        _forecast(tmp_path, lambda ls: ls),
    ):
        result = runner.invoke(app, ["validate", *args])
        assert result.exit_code == 0, result.output
