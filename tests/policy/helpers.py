"""Tiny hand-made traces for the simulator tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.trace import SimTrace


def trace(
    counts: list[list[int]] | np.ndarray,
    *,
    memory_mb: float | list[float] = 1024.0,
    concurrency: int | list[int] = 1,
    cold_start_s: float | list[float] = 1.0,
    duration_ms: float = 1000.0,
    gpus: float | list[float] = 0.0,
    bin: str = "1min",
) -> SimTrace:
    matrix = np.asarray(counts, dtype=np.int64)
    n = matrix.shape[0]

    def per_program(value: float | list[float] | int | list[int], dtype: type) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=dtype), (n,)).copy()

    return SimTrace(
        codes=np.array([f"p{i}" for i in range(n)], dtype=object),
        counts=matrix,
        start=pd.Timestamp("2026-01-05T00:00:00Z"),
        bin=pd.Timedelta(bin),
        cpu_millicores=per_program(500.0, float),
        memory_mb=per_program(memory_mb, float),
        gpus=per_program(gpus, float),
        concurrency=per_program(concurrency, np.int64),
        cold_start_s=per_program(cold_start_s, float),
        duration_ms=np.full(matrix.shape, float(duration_ms)),
    )


def invoked_at(length: int, minutes: list[int], count: int = 1) -> list[int]:
    row = [0] * length
    for m in minutes:
        row[m] = count
    return row
