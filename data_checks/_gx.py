"""Great Expectations 1.x behind one module: an ephemeral context, one pandas asset per frame, and the
custom expectation clonecast needs (exact dtypes, which GX's type expectations cannot say for tz-aware
timestamps). Imported lazily by `data_checks.validate`, so importing clonecast does not import GX.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any, ClassVar

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.expectation import BatchExpectation

from data_checks.suites import Expect


class ExpectColumnDtypeToBeIn(BatchExpectation):
    """Expect a column's pandas dtype (timezone included) to be one of the given dtype names."""

    column: str
    dtypes: list[str]

    metric_dependencies = ("table.column_types",)
    success_keys = ("column", "dtypes")
    library_metadata: ClassVar[dict[str, Any]] = {"maturity": "production", "tags": ["clonecast"]}

    def _validate(
        self, metrics: dict[str, Any], runtime_configuration: dict | None = None, execution_engine: Any = None
    ) -> dict[str, Any]:
        types = {d["name"]: str(d["type"]) for d in metrics["table.column_types"]}
        observed = types.get(self.column)
        return {"success": observed in self.dtypes, "result": {"observed_value": observed}}


_CUSTOM = {"expect_column_dtype_to_be_in": ExpectColumnDtypeToBeIn}


def expectation(spec: Expect, index: int) -> Any:
    """The GX expectation object for a spec, tagged with its position in the suite."""
    cls = _CUSTOM.get(spec.type) or getattr(gxe, re.sub(r"(?:^|_)(\w)", lambda m: m[1].upper(), spec.type))
    return cls(**spec.kwargs, meta={"clonecast_index": index, "check": spec.check})


@functools.cache
def _context() -> Any:
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


@functools.cache
def _source() -> Any:
    return _context().data_sources.add_pandas("clonecast")


@functools.cache
def _batch_definition(frame_name: str) -> Any:
    return _source().add_dataframe_asset(frame_name).add_batch_definition_whole_dataframe("whole")


def run(frame_name: str, frame: pd.DataFrame, specs: list[Expect], examples: int) -> list[dict[str, Any]]:
    """Validate `frame` against `specs`; one plain dict per spec, in spec order."""
    if not specs:
        return []
    batch = _batch_definition(frame_name).get_batch(batch_parameters={"dataframe": frame})
    suite = gx.ExpectationSuite(name=f"clonecast.{frame_name}")
    for i, spec in enumerate(specs):
        suite.add_expectation(expectation(spec, i))
    result = batch.validate(suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": examples})
    out: list[dict[str, Any]] = [{}] * len(specs)
    for r in result.results:
        index = r.expectation_config.meta["clonecast_index"]
        info = r.exception_info or {}
        errors = [
            v.get("exception_message") for v in info.values() if isinstance(v, dict) and v.get("raised_exception")
        ]
        if info.get("raised_exception"):
            errors.append(info.get("exception_message"))
        out[index] = {
            "success": bool(r.success),
            "result": dict(r.result or {}),
            "error": "; ".join(str(e) for e in errors if e) or None,
        }
    return out
