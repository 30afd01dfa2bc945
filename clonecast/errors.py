"""clonecast's own exceptions: every message says what was wrong, where, and what to do.

    ClonecastError
    ├── InputError (also a ValueError)   bad data, configuration or options: the user fixes the input
    │   ├── ConfigError                  a setting or command-line option
    │   ├── TraceFormatError             a file that cannot be read into frames at all
    │   ├── SchemaError                  a frame that does not match its canonical schema
    │   ├── DataValidationError          data that fails its expectation suite
    │   └── PlanError                    a clone plan that must not reach an engine
    ├── ModelError (also a ValueError)   a model or the registry is not in the state the call needs
    │   └── NothingToScoreError          no new data since the model was trained
    ├── ActuatorError                    an engine refused or failed an operation
    └── SourceError                      a metrics source (Prometheus) is unreachable, timed out or failed

Anything else that escapes a package (a bare ValueError, TypeError, KeyError...) is a bug in clonecast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from data_checks.report import ValidationReport


class ClonecastError(Exception):
    """Base of every error clonecast raises on purpose: the message is for the user, not a traceback."""


class InputError(ClonecastError, ValueError):
    """Bad data, configuration or options from the user (a file, a frame, a knob, a policy spec): fix the input."""


class ConfigError(InputError):
    """A setting or command-line option is wrong."""


class TraceFormatError(InputError):
    """An input file cannot be read into frames at all (encoding, layout, header, field counts)."""

    def __init__(self, check: str, path: str, detail: str, *, line: int | None = None) -> None:
        self.check = check
        self.path = path
        self.line = line
        self.detail = detail
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {detail} [{check}]")


class SchemaError(InputError):
    """A frame does not match its canonical schema (missing column, uncastable values)."""


class DataValidationError(InputError):
    """Data failed its expectation suite; carries the full report."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__(report.summary())


class PlanError(InputError):
    """A plan that must not reach an engine (unknown host, negative count, no image, too many GPUs)."""


class ModelError(ClonecastError, ValueError):
    """A model or the registry is not in the state the call needs (not fitted, no warm start, no such version)."""


class NothingToScoreError(ModelError):
    """No bin after a model's `trained_until` to score it on: no new data since it was trained."""


class ActuatorError(ClonecastError):
    """An engine (Docker, Kubernetes) refused or failed an operation; the engine's own error is chained."""


class SourceError(ClonecastError):
    """A metrics source (Prometheus) could not be read: unreachable, timed out or answered an HTTP error; the
    message names its URL, and the client's own error is chained."""
