"""Reading trace files: whole, gzip-aware, strict UTF-8, with field-count checks before parsing.

Structural problems raise TraceFormatError naming the check, the file and the line, so that a file that
cannot become frames is reported as clearly as data that fails an expectation.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from pathlib import Path

import pandas as pd

from clonecast.errors import TraceFormatError
from traces.progress import NullProgress, Progress

_CHUNK = 1 << 20


def read_bytes(path: Path, progress: Progress | None = None) -> bytes:
    """The file's bytes, gunzipped when it is gzip; progress counts compressed bytes read."""
    progress = progress or NullProgress()
    if not path.is_file():
        raise TraceFormatError("expect_file_to_exist", str(path), "no such file")
    size = path.stat().st_size
    if size == 0:
        raise TraceFormatError("expect_file_to_be_non_empty", str(path), "the file is empty (0 bytes)")
    progress.stage(f"reading {path.name}", total=size)
    with path.open("rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw) if gz else raw
        parts, last = [], 0
        try:
            while chunk := stream.read(_CHUNK):
                parts.append(chunk)
                progress.advance(raw.tell() - last)
                last = raw.tell()
        except (OSError, EOFError, zlib.error) as e:
            raise TraceFormatError(
                "expect_file_to_be_readable",
                str(path),
                f"corrupt gzip stream after {sum(map(len, parts))} bytes: {e}",
            ) from e
    data = b"".join(parts)
    if not data.strip():
        raise TraceFormatError("expect_file_to_be_non_empty", str(path), "the file holds no data")
    return data


def read_header(path: Path) -> list[str]:
    """The first line of a (possibly gzipped) CSV file, split into column names."""
    if not path.is_file():
        raise TraceFormatError("expect_file_to_exist", str(path), "no such file")
    with path.open("rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw) if gz else raw
        try:
            first = stream.readline(1 << 20).decode("utf-8-sig", errors="replace")
        except (OSError, EOFError, zlib.error) as e:
            raise TraceFormatError("expect_file_to_be_readable", str(path), f"corrupt gzip stream: {e}") from e
    return [c.strip() for c in first.strip().split(",")]


def read_text(path: Path, progress: Progress | None = None) -> str:
    """The file as text; raises TraceFormatError on bytes that are not UTF-8 (line and byte offset named)."""
    data = read_bytes(path, progress)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        bad = data[e.start : e.start + 4]
        raise TraceFormatError(
            "expect_file_to_be_utf8",
            str(path),
            f"byte {e.start} ({bad!r}) is not UTF-8; re-encode the file as UTF-8",
            line=line,
        ) from e


def check_field_counts(text: str, path: Path) -> None:
    """Every row must have as many fields as the header (catches truncated and run-on rows)."""
    lines = text.splitlines()
    if '"' in text:
        counts = [len(row) for row in csv.reader(lines)]
    else:
        counts = [line.count(",") + 1 for line in lines]
    header = counts[0]
    for number, (line, n) in enumerate(zip(lines, counts, strict=True), start=1):
        if n != header and line.strip():
            kind = "truncated" if n < header else "has extra fields"
            raise TraceFormatError(
                "expect_rows_to_have_header_field_count",
                str(path),
                f"row {kind}: {n} fields where the header has {header}",
                line=number,
            )


def read_csv(path: Path, progress: Progress | None = None, **kwargs: object) -> pd.DataFrame:
    """A CSV file as a frame after the encoding and field-count checks; values keep pandas' inference."""
    text = read_text(path, progress)
    check_field_counts(text, path)
    try:
        return pd.read_csv(io.StringIO(text), **kwargs)
    except (pd.errors.ParserError, ValueError) as e:
        raise TraceFormatError("expect_file_to_parse_as_csv", str(path), str(e)) from e


def read_table(path: Path, progress: Progress | None = None) -> pd.DataFrame:
    """A CSV (optionally gzipped) or Parquet file as a frame."""
    if path.suffix == ".parquet":
        if not path.is_file():
            raise TraceFormatError("expect_file_to_exist", str(path), "no such file")
        try:
            return pd.read_parquet(path)
        except Exception as e:  # pyarrow raises many types for a bad file
            raise TraceFormatError("expect_file_to_parse_as_parquet", str(path), str(e)) from e
    return read_csv(path, progress)
