"""Plausible ranges that data checks hold data to."""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel, Field, field_validator

from traces.frames import parse_duration


class Limits(BaseModel):
    """Bounds beyond which a value is taken for a corruption rather than for demand."""

    max_requests_per_minute: float = Field(1e7, gt=0, description="per program; scaled to the bin width")
    earliest: str = Field("1990-01-01T00:00:00Z", description="no trace is older than this")
    future_tolerance: str = Field("1h", description="how far past 'now' a timestamp may lie (clock skew)")
    max_age: str | None = Field(
        None,
        description="freshness: the newest timestamp must be at most this old (off for historical traces)",
    )
    max_cpu_millicores: float = Field(1_024_000.0, gt=0)
    max_memory_mb: float = Field(4_194_304.0, gt=0, description="4 TiB")
    max_gpus: int = Field(64, ge=0)
    max_concurrency: int = Field(100_000, ge=1)
    max_cold_start_s: float = Field(3600.0, gt=0)
    max_duration_ms: float = Field(86_400_000.0, gt=0, description="one day")
    max_event_magnitude: float = Field(1000.0, gt=0)
    max_horizon_steps: int = Field(2016, ge=1, description="a week of 5-minute bins")
    examples: int = Field(5, ge=1, le=100, description="example rows shown per failed expectation")

    @field_validator("future_tolerance", "max_age")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("earliest")
    @classmethod
    def _timestamp(cls, value: str) -> str:
        try:
            stamp = pd.Timestamp(value)
        except ValueError as e:
            raise ValueError(f"{value!r} is not a timestamp") from e
        if stamp.tzinfo is None:
            raise ValueError(f"{value!r} needs a UTC offset, e.g. 1990-01-01T00:00:00Z")
        return value
