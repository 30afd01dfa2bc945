"""A trace as matrices for the simulator: invocations [programs, bins] plus per-program resources."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from clonecast.errors import InputError
from traces.clones import DEFAULT_COLD_START_S, DEFAULT_DURATION_MS, cold_start_weights, criticalities
from traces.frames import Dataset


@dataclass(frozen=True)
class SimTrace:
    """Invocation counts on a complete grid with what each program's container needs."""

    codes: np.ndarray  # [P] program codes
    counts: np.ndarray  # [P, T] invocations per bin
    start: pd.Timestamp  # start of bin 0 (UTC)
    bin: pd.Timedelta  # bin width
    cpu_millicores: np.ndarray  # [P] per container
    memory_mb: np.ndarray  # [P] per container
    gpus: np.ndarray  # [P] per container
    concurrency: np.ndarray  # [P] requests one container serves at once
    cold_start_s: np.ndarray  # [P]
    duration_ms: np.ndarray  # [P, T] mean execution time per request in the bin
    criticality: np.ndarray | None = None  # [P] class (traces.frames.CRITICALITY); None = all standard

    @property
    def programs(self) -> int:
        return int(self.counts.shape[0])

    @property
    def bins(self) -> int:
        return int(self.counts.shape[1])

    @property
    def bin_minutes(self) -> float:
        return self.bin / pd.Timedelta("1min")

    @property
    def weight(self) -> np.ndarray:
        """What a cold start of each program costs relative to a standard program's [P] (its criticality)."""
        return np.ones(self.programs) if self.criticality is None else cold_start_weights(self.criticality)

    def bins_for(self, minutes: float) -> int:
        """How many whole bins cover `minutes` (rounded up)."""
        return int(np.ceil(minutes / self.bin_minutes - 1e-9))

    def with_counts(self, counts: np.ndarray) -> SimTrace:
        """The same programs with other invocation counts (tests, what-if runs)."""
        return replace(self, counts=counts)

    def window(self, first: int, bins: int) -> SimTrace:
        """The same programs over bins first .. first + bins - 1 (a slice of a long trace)."""
        if not 0 <= first < self.bins or bins < 1:
            raise InputError(f"window of {bins} bins from bin {first} lies outside the trace's {self.bins} bins")
        last = min(first + bins, self.bins)
        return replace(
            self,
            counts=self.counts[:, first:last],
            duration_ms=self.duration_ms[:, first:last],
            start=self.start + first * self.bin,
        )

    def timestamps(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, periods=self.bins, freq=self.bin).as_unit("ns")


def sim_trace(dataset: Dataset) -> SimTrace:
    """Matrices from a canonical dataset (complete grid, sorted by program and time)."""
    requests = dataset.requests
    codes = requests["program_code"].unique()
    n_bins = requests["ts"].nunique()
    if len(requests) != len(codes) * n_bins:
        raise InputError(
            f"the requests frame is not on a complete grid ({len(requests)} rows for {len(codes)} programs x "
            f"{n_bins} bins); validate and resample it first"
        )
    shape = (len(codes), n_bins)
    counts = requests["requests"].to_numpy(dtype=np.int64).reshape(shape)  # [P, T]
    programs = dataset.programs.set_index("program_code").reindex(codes)
    if programs["memory_mb"].isna().any():
        missing = list(programs.index[programs["memory_mb"].isna()][:3])
        raise InputError(
            f"programs frame lacks {missing}...; every program needs its resources: add their rows (memory_mb at least)"
        )
    if "duration_ms" in programs.columns:
        mean_ms = programs["duration_ms"].fillna(DEFAULT_DURATION_MS).to_numpy(dtype=float)
    else:
        mean_ms = np.full(len(codes), DEFAULT_DURATION_MS)
    if "duration_ms" in requests.columns:
        per_bin = requests["duration_ms"].to_numpy(dtype=float).reshape(shape)
        duration = np.where(np.isnan(per_bin), mean_ms[:, None], per_bin)
    else:
        duration = np.broadcast_to(mean_ms[:, None], shape)
    return SimTrace(
        codes=np.asarray(codes, dtype=object),
        counts=counts,
        start=pd.Timestamp(requests["ts"].min()),
        bin=pd.Timedelta(dataset.freq),
        cpu_millicores=programs["cpu_millicores"].to_numpy(dtype=float),
        memory_mb=programs["memory_mb"].to_numpy(dtype=float),
        gpus=programs["gpus"].to_numpy(dtype=float),
        concurrency=np.maximum(programs["concurrency"].to_numpy(dtype=np.int64), 1),
        cold_start_s=programs["cold_start_s"].fillna(DEFAULT_COLD_START_S).to_numpy(dtype=float),
        duration_ms=np.asarray(duration, dtype=float),
        criticality=criticalities(programs),
    )
