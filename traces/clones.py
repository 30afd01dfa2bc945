"""Clones that serve a demand, by Little's law, and the resources they hold.

One formula for every stage: the forecast frame's expected resources, the cloning manager's targets and the
simulator's pools. A program whose requests run `duration_s` each keeps requests x duration_s / bin seconds
of them in flight on average; a container serves `concurrency` at once, so the clones needed are that over
`concurrency`, rounded up, and the resources they hold are clones x the container's request.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clonecast.errors import SchemaError
from traces.frames import CRITICALITY, DEFAULT_CRITICALITY

DEFAULT_COLD_START_S = 1.0
DEFAULT_DURATION_MS = 100.0  # when a trace records no execution time
CONTAINER = ("cpu_millicores", "memory_mb", "gpus")  # a container's request (programs frame columns)


def clones_needed(
    requests: np.ndarray,
    duration_s: np.ndarray,
    concurrency: np.ndarray,
    bin: pd.Timedelta,
    expected: np.ndarray | None = None,
) -> np.ndarray:
    """Clones that serve `requests` per bin by Little's law, at least one where a request is expected.

    `requests` [P, ...] per bin; `duration_s` broadcastable to it; `concurrency` [P]; `expected` (same
    shape as `requests`, default `requests`) is the count that decides "a request is expected", e.g. the
    requests of a wider forecast bin the bin lies in.
    """
    shape = (-1,) + (1,) * (requests.ndim - 1)
    busy = requests * duration_s / bin.total_seconds()  # mean requests in flight
    need = np.ceil(busy / concurrency.reshape(shape) - 1e-9)
    present = (requests if expected is None else expected) >= 1.0 - 1e-9
    return np.where(present, np.maximum(need, 1), 0).astype(np.int64)


def durations_s(programs: pd.DataFrame) -> np.ndarray:
    """Mean execution time per request in seconds [P]: the programs' `duration_ms`, the default where unknown."""
    known = programs["duration_ms"] if "duration_ms" in programs else pd.Series(np.nan, index=programs.index)
    return known.astype(float).fillna(DEFAULT_DURATION_MS).to_numpy() / 1000.0


def concurrencies(programs: pd.DataFrame) -> np.ndarray:
    """Requests one container serves at once [P] (1 where unknown)."""
    known = programs["concurrency"] if "concurrency" in programs else pd.Series(np.nan, index=programs.index)
    return np.maximum(known.astype(float).fillna(1).to_numpy(np.int64), 1)


def criticalities(programs: pd.DataFrame) -> np.ndarray:
    """Criticality class per program [P]: the programs' `criticality`, the default where unset or empty."""
    known = programs["criticality"] if "criticality" in programs else pd.Series("", index=programs.index)
    classes = known.astype(object).where(known.notna(), "").astype(str).str.strip().to_numpy(object)
    classes[classes == ""] = DEFAULT_CRITICALITY
    unknown = sorted(set(classes) - set(CRITICALITY))
    if unknown:
        raise SchemaError(
            f"programs.criticality: unknown class(es) {unknown[:3]}; one of {', '.join(CRITICALITY)} (empty = standard)"
        )
    return classes


def cold_start_weights(classes: np.ndarray) -> np.ndarray:
    """What a cold start of each program costs relative to a standard one's [P] (see traces.frames.CRITICALITY)."""
    return np.array([CRITICALITY[str(c)] for c in classes], dtype=float)


def clone_resources(requests: np.ndarray, programs: pd.DataFrame, bin: pd.Timedelta) -> dict[str, np.ndarray]:
    """CPU (millicores), memory (MB) and GPUs held by the clones serving `requests` [P, ...] per bin.

    `programs` has one row per row of `requests` (container request, `concurrency`, optional `duration_ms`);
    a container size it lacks counts as 0.
    """
    shape = (-1,) + (1,) * (requests.ndim - 1)
    duration = durations_s(programs).reshape(shape)
    clones = clones_needed(requests, duration, concurrencies(programs), bin)  # [P, ...]
    out = {}
    for column in CONTAINER:
        size = programs[column].astype(float).fillna(0).to_numpy() if column in programs else np.zeros(len(programs))
        out[column] = clones * size.reshape(shape)
    return out
