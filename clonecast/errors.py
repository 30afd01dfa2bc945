"""clonecast's own exceptions: every message says what was wrong, where, and what to do."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from data_checks.report import ValidationReport


class ClonecastError(Exception):
    """Base of every error clonecast raises on purpose."""


class ConfigError(ClonecastError):
    """A setting or command-line option is wrong."""


class TraceFormatError(ClonecastError):
    """An input file cannot be read into frames at all (encoding, layout, header, field counts)."""

    def __init__(self, check: str, path: str, detail: str, *, line: int | None = None) -> None:
        self.check = check
        self.path = path
        self.line = line
        self.detail = detail
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {detail} [{check}]")


class SchemaError(ClonecastError):
    """A frame does not match its canonical schema (missing column, uncastable values)."""


class DataValidationError(ClonecastError):
    """Data failed its expectation suite; carries the full report."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__(report.summary())


class NothingToScoreError(ClonecastError):
    """No bin after a model's `trained_until` to score it on: no new data since it was trained."""
