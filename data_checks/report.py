"""The typed result of a validation: one entry per expectation, with example rows for failures."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from clonecast.errors import DataValidationError


@dataclass(frozen=True)
class ExpectationResult:
    """One expectation on one frame: what it guards, whether it held, and rows that broke it."""

    frame: str
    expectation: str
    check: str
    columns: tuple[str, ...] = ()
    success: bool = True
    observed: Any = None
    unexpected_count: int | None = None
    examples: tuple[dict[str, Any], ...] = ()
    detail: str = ""

    @property
    def where(self) -> str:
        return f"{self.frame}.{','.join(self.columns)}" if self.columns else self.frame

    def facts(self) -> list[str]:
        """What was seen: unexpected count, observed value, detail."""
        facts = []
        if self.unexpected_count is not None:
            facts.append(f"{self.unexpected_count:,} unexpected")
        if self.observed is not None:
            facts.append(f"observed {self.observed}")
        if self.detail:
            facts.append(self.detail)
        return facts

    def message(self) -> str:
        """A line that names the failed expectation, the place and what was seen."""
        return "; ".join([f"{self.where}: {self.expectation} failed ({self.check})", *self.facts()])


@dataclass(frozen=True)
class ValidationReport:
    """Every expectation run on a source, in order; `success` only if all held."""

    source: str
    results: tuple[ExpectationResult, ...]
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    @property
    def failures(self) -> tuple[ExpectationResult, ...]:
        return tuple(r for r in self.results if not r.success)

    def summary(self) -> str:
        if self.success:
            return f"{self.source}: all {len(self.results)} expectations held"
        lines = [f"{self.source}: {len(self.failures)} of {len(self.results)} expectations failed"]
        lines += [f"- {r.message()}" for r in self.failures]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "success": self.success,
            "rows": self.rows,
            "evaluated": len(self.results),
            "failed": len(self.failures),
            "results": [_jsonable(asdict(r)) for r in self.results],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def raise_for_failures(self) -> None:
        """Raise DataValidationError when any expectation failed."""
        if not self.success:
            raise DataValidationError(self)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, pd.Timestamp | datetime | date):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, pd.Timedelta):
        return str(value)
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def plain(value: Any) -> Any:
    """A value as it should appear in a report (JSON-safe)."""
    return _jsonable(value)
