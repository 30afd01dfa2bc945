"""A seeded synthetic trace: many programs with daily and weekly seasonality, bursty and sparse programs,
GPU programs, and injected external events (campaigns, scheduled cron jobs, news) returned as the
ground-truth events table. It is the demo's embedded default and the forecasters' controlled test bed.

Demand model, per program p and bin t (all vectorised over a [P, T] matrix):

    rate[p, t] = base[p] * daily[p, t] * weekly[p, t] * bursts[p, t] * events[p, t]
    requests[p, t] ~ Poisson(Gamma(shape=dispersion, scale=rate / dispersion))

An event multiplies the rate of its program (or of every program when `program_code` is empty) by its
`magnitude` over [start, end): campaigns and scheduled jobs at full magnitude, news decaying from its
magnitude towards 1. Bursts of bursty programs are intrinsic (not in the events table).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from clonecast.errors import ConfigError
from traces.frames import Dataset, empty_events, events_frame, programs_frame, requests_frame
from traces.loaders.common import long_from_wide, time_grid

GPU_TYPES = ("T4", "A10", "V100M32")
REGIONS = ("eu-west", "us-east")


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of the synthetic trace; every default is the demo's."""

    programs: int = 120
    """number of program codes"""
    days: int = 21
    """length of the trace (three weeks: enough for weekly seasonality)"""
    freq: str = "5min"
    """bin width"""
    start: str = "2026-01-05T00:00:00Z"
    """first bin (a Monday, UTC)"""
    seed: int = 7
    """everything random derives from this"""
    bursty_share: float = 0.15
    """share of programs with intrinsic on/off bursts"""
    sparse_share: float = 0.20
    """share of programs with well under one request per bin"""
    gpu_share: float = 0.10
    """share of GPU programs (1-2 GPUs per container, long cold starts)"""
    cron_share: float = 0.10
    """share of programs driven by daily scheduled jobs (in the events table)"""
    campaigns: int = 8
    """campaign surges (a few hours, x1.5-4) on random programs, a quarter of them on all programs"""
    news: int = 3
    """news spikes on every program (1-4 hours, decaying from x1.5-3)"""
    median_rate: float = 30.0
    """median requests per bin of a steady program at its daily mean"""
    rate_sigma: float = 1.0
    """log-normal spread of program rates"""
    daily_amplitude: float = 0.6
    """swing of the daily cycle around its mean (0 = flat, <1)"""
    weekend_dip: float = 0.35
    """largest drop of demand on Saturday and Sunday (0..1)"""
    dispersion: float = 20.0
    """gamma-Poisson shape: lower = noisier counts"""

    def __post_init__(self) -> None:
        shares = self.bursty_share + self.sparse_share + self.gpu_share + self.cron_share
        if self.programs < 1 or self.days < 1:
            raise ConfigError(
                f"synthetic trace: programs={self.programs}, days={self.days}; give at least one program and one day"
            )
        if not 0 <= shares <= 1:
            raise ConfigError(
                f"synthetic trace: the bursty, sparse, GPU and cron program shares add up to {shares:.2f}; "
                "make their sum lie in [0, 1]"
            )
        if not 0 <= self.daily_amplitude < 1 or not 0 <= self.weekend_dip < 1:
            raise ConfigError(
                f"synthetic trace: daily_amplitude={self.daily_amplitude}, weekend_dip={self.weekend_dip}; "
                "both must lie in [0, 1)"
            )


def generate(config: SyntheticConfig | None = None) -> Dataset:
    """Generate the synthetic trace: requests, programs and the ground-truth events."""
    cfg = config or SyntheticConfig()
    rng = np.random.default_rng(cfg.seed)
    width = pd.Timedelta(cfg.freq)
    n_bins = int(pd.Timedelta(days=cfg.days) / width)
    grid = time_grid(pd.Timestamp(cfg.start), n_bins, width)
    kinds = _assign_kinds(cfg, rng)
    codes = np.array([f"{kind}-{i:03d}" for i, kind in enumerate(kinds)])
    programs = _programs(codes, kinds, rng)

    hours = ((grid - grid[0]) / pd.Timedelta("1h")).to_numpy() + grid[0].hour + grid[0].minute / 60  # [T]
    hour_of_day = hours % 24  # [T]
    weekend = np.asarray(grid.dayofweek >= 5)  # [T]
    rate = _base_rates(cfg, kinds, rng)[:, None]  # [P, 1]
    peak = rng.uniform(9, 21, size=(len(codes), 1))  # [P, 1]
    amplitude = cfg.daily_amplitude * rng.uniform(0.5, 1.0, size=(len(codes), 1))
    daily = 1 + amplitude * np.cos(2 * np.pi * (hour_of_day[None, :] - peak) / 24)  # [P, T]
    dip = cfg.weekend_dip * rng.uniform(0.3, 1.0, size=(len(codes), 1))
    weekly = np.where(weekend[None, :], 1 - dip, 1.0)  # [P, T]
    rate = rate * daily * weekly * _bursts(kinds, n_bins, width, rng)

    events = _events(cfg, codes, kinds, grid, width, rng)
    rate = rate * _event_multiplier(events, codes, grid, width)
    counts = rng.poisson(rng.gamma(cfg.dispersion, rate / cfg.dispersion))  # [P, T]

    requests = long_from_wide(codes, grid, counts)
    mean_ms = programs["duration_ms"].to_numpy()[:, None]
    duration = mean_ms * rng.lognormal(0.0, 0.1, size=counts.shape)  # [P, T]
    requests["duration_ms"] = np.where(counts > 0, duration, np.nan).reshape(-1)
    source = "synthetic(" + ", ".join(f"{k}={v}" for k, v in asdict(cfg).items()) + ")"
    return Dataset(
        requests=requests_frame(requests),
        programs=programs_frame(programs),
        events=events_frame(events),
        freq=width,
        source=source,
        format="synthetic",
        notes=[
            f"synthetic: {len(codes)} programs x {n_bins} bins of {cfg.freq}, {len(events)} events, seed {cfg.seed}"
        ],
    )


def _assign_kinds(cfg: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    shares = {
        "burst": cfg.bursty_share,
        "rare": cfg.sparse_share,
        "gpu": cfg.gpu_share,
        "cron": cfg.cron_share,
    }
    kinds: list[str] = []
    for kind, share in shares.items():
        kinds += [kind] * round(share * cfg.programs)
    kinds = kinds[: cfg.programs]
    kinds += ["web"] * (cfg.programs - len(kinds))
    return rng.permutation(np.array(kinds))


def _base_rates(cfg: SyntheticConfig, kinds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rate = cfg.median_rate * rng.lognormal(0.0, cfg.rate_sigma, size=len(kinds))
    rate = np.where(kinds == "rare", rng.uniform(0.02, 0.5, size=len(kinds)), rate)
    rate = np.where(kinds == "gpu", rng.uniform(1.0, 8.0, size=len(kinds)), rate)
    return np.where(kinds == "cron", rate * 0.2, rate)


def _bursts(kinds: np.ndarray, n_bins: int, width: pd.Timedelta, rng: np.random.Generator) -> np.ndarray:
    """Multiplier of intrinsic bursts: bursty programs jump x3-10 for 15-90 minutes, ~3 times a day."""
    out = np.ones((len(kinds), n_bins))  # [P, T]
    per_day = pd.Timedelta("1D") / width
    for p in np.flatnonzero(kinds == "burst"):
        starts = np.flatnonzero(rng.random(n_bins) < 3 / per_day)
        lengths = np.maximum(1, (rng.uniform(15, 90, size=len(starts)) / (width / pd.Timedelta("1min"))).astype(int))
        for s, n in zip(starts, lengths, strict=True):
            out[p, s : s + n] = rng.uniform(3, 10)
    return out


def _events(
    cfg: SyntheticConfig,
    codes: np.ndarray,
    kinds: np.ndarray,
    grid: pd.DatetimeIndex,
    width: pd.Timedelta,
    rng: np.random.Generator,
) -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    busy = codes[np.isin(kinds, ["web", "burst", "gpu"])]
    span = grid[-1] - grid[0]
    for _ in range(cfg.campaigns):
        start = grid[0] + span * rng.uniform(0.1, 0.95)
        target = "" if rng.random() < 0.25 or len(busy) == 0 else str(rng.choice(busy))
        hours = rng.uniform(3, 12)
        rows.append(_event(start, hours, "campaign", rng.uniform(1.5, 4.0), target, width))
    for code in codes[kinds == "cron"]:
        at = pd.Timedelta(hours=int(rng.integers(0, 24)), minutes=int(rng.choice([0, 15, 30, 45])))
        minutes = rng.uniform(15, 45)
        magnitude = rng.uniform(5, 20)
        for day in pd.date_range(grid[0].normalize(), grid[-1], freq="1D"):
            if day + at >= grid[0]:
                rows.append(_event(day + at, minutes / 60, "scheduled_job", magnitude, str(code), width))
    for _ in range(cfg.news):
        start = grid[0] + span * rng.uniform(0.1, 0.95)
        rows.append(_event(start, rng.uniform(1, 4), "news", rng.uniform(1.5, 3.0), "", width))
    if not rows:
        return empty_events()
    events = pd.DataFrame(rows)
    events = events[events["start"] <= grid[-1]]
    return events.sort_values(["start", "program_code"]).reset_index(drop=True)


def _event(
    start: pd.Timestamp, hours: float, kind: str, magnitude: float, code: str, width: pd.Timedelta
) -> dict[str, object]:
    start = start.floor(width)
    end = max(start + width, (start + pd.Timedelta(hours=hours)).ceil(width))
    return {
        "start": start,
        "end": end,
        "kind": kind,
        "magnitude": round(float(magnitude), 3),
        "program_code": code,
    }


def _event_multiplier(
    events: pd.DataFrame, codes: np.ndarray, grid: pd.DatetimeIndex, width: pd.Timedelta
) -> np.ndarray:
    out = np.ones((len(codes), len(grid)))  # [P, T]
    index = {code: i for i, code in enumerate(codes)}
    for event in events.itertuples(index=False):
        a = int((event.start - grid[0]) / width)
        b = min(len(grid), int((event.end - grid[0]) / width))
        if b <= a:
            continue
        if event.kind == "news":
            shape = 1 + (event.magnitude - 1) * np.exp(-3 * np.arange(b - a) / (b - a))  # decays to ~1.05x
        else:
            shape = np.full(b - a, event.magnitude)
        rows = slice(None) if event.program_code == "" else index[event.program_code]
        out[rows, a:b] *= shape
    return out


def _programs(codes: np.ndarray, kinds: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    n = len(codes)
    gpu = kinds == "gpu"
    return pd.DataFrame(
        {
            "program_code": codes,
            "cpu_millicores": np.where(gpu, 4000.0, rng.choice([100.0, 250.0, 500.0, 1000.0, 2000.0], size=n)),
            "memory_mb": np.where(gpu, 16384.0, rng.choice([128.0, 256.0, 512.0, 1024.0, 2048.0], size=n)),
            "gpus": np.where(gpu, rng.choice([1, 2], size=n, p=[0.7, 0.3]), 0),
            "gpu_type": np.where(gpu, rng.choice(GPU_TYPES, size=n), ""),
            "concurrency": np.where(gpu, 1, rng.choice([1, 4, 8, 16], size=n)),
            "cold_start_s": np.where(gpu, rng.uniform(20, 60, size=n), rng.lognormal(np.log(1.0), 0.5, size=n)).round(
                2
            ),
            "image": "clonecast/workload:latest",
            "duration_ms": np.where(
                gpu, rng.uniform(2000, 30000, size=n), rng.lognormal(np.log(200), 1.0, size=n)
            ).round(1),
            "region": rng.choice(REGIONS, size=n),
        }
    )
