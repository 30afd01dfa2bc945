"""Placement of granted clones onto hosts.

Hard constraints: CPU, memory and GPU count fit the host's free amounts; a GPU program lands only on hosts
with its GPU type (any type when it names none). Preferences, as one score in milliseconds-equivalent:
existing clones stay (minimal churn); latency from the host's zone to where the program's requests come from
(a latency matrix); spread (another clone of the program on the same host +1000, in the same zone +10);
CPU clones off GPU hosts (+25); smaller hosts first as a tie-breaker (a static best fit, keeping big hosts
for big clones). Deterministic: remaining ties break on host order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SPREAD_MS = 1000.0  # a second clone of a program on the same host weighs like this much latency
ZONE_MS = 10.0  # ... in the same zone
GPU_HOST_MS = 25.0  # a CPU clone on a GPU host
BEST_FIT_MS = 1e-3  # tie-breaker: smaller hosts first (a static best fit)


@dataclass(frozen=True)
class Placement:
    """Clones per (program, host) as parallel arrays, and what could not be placed per program."""

    program: np.ndarray  # [N] program index
    host: np.ndarray  # [N] host index
    count: np.ndarray  # [N] clones
    unplaced: np.ndarray  # [P] granted clones that fit on no host


@dataclass(frozen=True)
class HostArrays:
    """The hosts frame as arrays, with free amounts that placement uses up."""

    names: np.ndarray
    zone: np.ndarray  # [H] zone index
    zones: list[str]
    cpu: np.ndarray
    memory: np.ndarray
    gpus: np.ndarray
    gpu_type: np.ndarray

    @classmethod
    def from_frame(cls, hosts: pd.DataFrame) -> HostArrays:
        zone_index, zones = pd.factorize(hosts["zone"])
        return cls(
            names=hosts["host"].to_numpy(dtype=object),
            zone=zone_index,
            zones=[str(z) for z in zones],
            cpu=hosts["free_cpu_millicores"].to_numpy(dtype=float).copy(),
            memory=hosts["free_memory_mb"].to_numpy(dtype=float).copy(),
            gpus=hosts["free_gpus"].to_numpy(dtype=np.int64).copy(),
            gpu_type=hosts["gpu_type"].fillna("").to_numpy(dtype=object),
        )


def latency_matrix(regions: list[str], zones: list[str], latency: pd.DataFrame | None) -> np.ndarray:
    """[R, Z] milliseconds from each request source region to each host zone (0 where unknown)."""
    if latency is None:
        return np.zeros((len(regions), len(zones)))
    table = latency.reindex(index=regions, columns=zones)
    return table.fillna(0.0).to_numpy(dtype=float)


def place(
    granted: np.ndarray,
    order: np.ndarray,
    cpu: np.ndarray,
    memory: np.ndarray,
    gpus: np.ndarray,
    gpu_type: np.ndarray,
    region: np.ndarray,
    hosts: HostArrays,
    latency: np.ndarray,
    existing: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Placement:
    """Place `granted` clones per program; existing (program, host, count) are kept first.

    Programs with the same needs (CPU, memory, GPUs, GPU type, request source) are placed together, in the
    order their most important member has in `order`, which lets one score vector serve the whole group.
    """
    n_programs = len(granted)
    placed: dict[tuple[int, int], int] = {}
    mine: dict[int, list[tuple[int, int]]] = {}
    kept = np.zeros(n_programs, np.int64)
    if existing is not None:
        for p, h, c in _keep(existing, granted):
            placed[(p, h)] = c
            mine.setdefault(p, []).append((h, c))
            kept[p] += c
            hosts.cpu[h] -= cpu[p] * c
            hosts.memory[h] -= memory[p] * c
            hosts.gpus[h] -= gpus[p] * c
    size = hosts.cpu / max(hosts.cpu.max(), 1.0) + hosts.memory / max(hosts.memory.max(), 1.0)
    tiebreak = BEST_FIT_MS * np.argsort(np.argsort(size, kind="stable"), kind="stable") / max(len(size), 1)
    zone_masks = [hosts.zone == z for z in range(len(hosts.zones))]
    gpu_host = hosts.gpus > 0
    profile = pd.MultiIndex.from_arrays([cpu, memory, gpus, gpu_type, region]).factorize()[0]
    first_seen = pd.Series(profile[order]).drop_duplicates()
    unplaced = np.zeros(n_programs, np.int64)
    for group in first_seen.tolist():
        members = order[profile[order] == group]
        p0 = members[0]
        fits = (hosts.cpu >= cpu[p0]) & (hosts.memory >= memory[p0]) & (hosts.gpus >= gpus[p0])
        if gpus[p0] > 0 and gpu_type[p0]:
            fits &= hosts.gpu_type == gpu_type[p0]
        score = latency[region[p0], hosts.zone] + tiebreak  # [H] ms to the program's request source
        if gpus[p0] == 0:
            score = score + GPU_HOST_MS * gpu_host  # keep GPU hosts for GPU clones
        masked = np.where(fits, score, np.inf)
        for p in members.tolist():
            need = int(granted[p] - kept[p])
            if need <= 0:
                continue
            penalties = list(mine.get(p, []))
            for h, c in penalties:
                _penalise(masked, h, c, zone_masks[hosts.zone[h]])
            while need > 0:
                h = int(masked.argmin())  # the first host among equals
                if not np.isfinite(masked[h]):
                    unplaced[p] += need
                    break
                placed[(p, h)] = placed.get((p, h), 0) + 1
                hosts.cpu[h] -= cpu[p]
                hosts.memory[h] -= memory[p]
                hosts.gpus[h] -= gpus[p]
                if hosts.cpu[h] < cpu[p] or hosts.memory[h] < memory[p] or hosts.gpus[h] < gpus[p]:
                    masked[h] = np.inf
                need -= 1
                if need:
                    _penalise(masked, h, 1, zone_masks[hosts.zone[h]])
                    penalties.append((h, 1))
            for h, c in penalties:
                _penalise(masked, h, -c, zone_masks[hosts.zone[h]])
    keys = np.array(list(placed), dtype=np.int64).reshape(-1, 2)
    counts = np.array(list(placed.values()), dtype=np.int64)
    return Placement(program=keys[:, 0], host=keys[:, 1], count=counts, unplaced=unplaced)


def _penalise(masked: np.ndarray, host: int, clones: int, zone: np.ndarray) -> None:
    """Add (or with negative `clones`, take back) the spread penalty of clones on a host and in its zone."""
    masked[host] += SPREAD_MS * clones
    masked[zone] += ZONE_MS * clones


def _keep(existing: tuple[np.ndarray, np.ndarray, np.ndarray], granted: np.ndarray) -> list[tuple[int, int, int]]:
    """Existing clones to keep: up to the grant per program, fewest-per-host first dropped last (spread)."""
    program, host, count = existing
    order = np.lexsort((host, -count, program))  # per program: hosts holding more clones first
    left = granted.astype(np.int64).copy()
    keep = []
    for i in order:
        p = int(program[i])
        c = int(min(count[i], left[p]))
        if c > 0:
            keep.append((p, int(host[i]), c))
            left[p] -= c
    return keep
