"""Data checks: Great Expectations suites for the canonical frames and one `validate()` entry point."""

from clonecast.settings import Limits
from data_checks.report import ExpectationResult, ValidationReport
from data_checks.validate import check_source, validate, validate_dataset

__all__ = ["ExpectationResult", "Limits", "ValidationReport", "check_source", "validate", "validate_dataset"]
