"""Benchmark: the cloning manager on the Alibaba openb inventory (1,523 nodes).

Targets: plan 50,000 program codes onto the inventory in <= 2 s; a one-hour, 12-step plan
update for 10,000 programs (new forecast, existing clones) in <= 1 s. The baseline, run in the same
process, places one clone per program round-robin over hosts with no fit, latency or spread checks.

    python benchmarks/bench_planner.py [OPENB_NODE_LIST]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from traces.shared import shared_traces_dir

DEFAULT = (
    shared_traces_dir() or Path("../shared/data/traces")
) / "alibaba_gpu_cluster_2023_openb/openb_node_list_all_node.csv"
ORIGIN = pd.Timestamp("2026-01-05T12:00:00Z")


def programs(n: int, rng: np.random.Generator) -> pd.DataFrame:
    gpu = rng.random(n) < 0.05
    return pd.DataFrame(
        {
            "program_code": [f"p{i:05d}" for i in range(n)],
            "cpu_millicores": np.where(gpu, 4000.0, rng.choice([100.0, 250.0, 500.0, 1000.0], n)),
            "memory_mb": np.where(gpu, 16384.0, rng.choice([128.0, 256.0, 512.0, 1024.0], n)),
            "gpus": np.where(gpu, 1, 0),
            "gpu_type": np.where(gpu, rng.choice(["T4", "G2", "P100", "V100M16"], n), ""),
            "concurrency": rng.choice([1, 4, 8], n),
            "cold_start_s": np.where(gpu, 30.0, 1.0),
            "image": "img",
            "duration_ms": rng.lognormal(np.log(300), 1.0, n),
            "region": rng.choice(["openb"], n),
        }
    )


def forecast(codes: pd.Series, origin: pd.Timestamp, rng: np.random.Generator) -> pd.DataFrame:
    n, steps = len(codes), 12
    level = rng.lognormal(np.log(20), 1.5, n)
    yhat = np.repeat(level, steps) * rng.uniform(0.8, 1.2, n * steps)
    frame = pd.DataFrame(
        {
            "program_code": np.repeat(codes.to_numpy(), steps),
            "origin": origin,
            "ts": origin + pd.to_timedelta(np.tile(np.arange(steps) * 5, n), unit="min"),
            "step": np.tile(np.arange(1, steps + 1), n),
            "yhat": yhat,
        }
    )
    for q, factor in ((10, 0.6), (50, 1.0), (90, 1.6), (99, 2.2)):
        frame[f"q{q}"] = yhat * factor
    for column in ("cpu_millicores", "memory_mb", "gpus"):
        frame[column] = 0.0
    return frame


def round_robin(n: int, hosts: int) -> np.ndarray:
    return np.arange(n) % hosts


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    if not path.exists():
        print(f"skipped: {path} not found (pass openb_node_list_all_node.csv)")
        return 0
    from policy.plan import apply, plan_clones
    from traces.frames import hosts_frame
    from traces.loaders.hosts import read_hosts

    rng = np.random.default_rng(7)
    hosts = hosts_frame(read_hosts(path))
    print(f"openb: {len(hosts):,} hosts, {int(hosts['gpus'].sum()):,} GPUs")

    big = programs(50_000, rng)
    big_forecast = forecast(big["program_code"], ORIGIN, rng)
    start = time.perf_counter()
    round_robin(50_000, len(hosts))
    baseline = time.perf_counter() - start
    start = time.perf_counter()
    plan = plan_clones(big_forecast, big, hosts)
    full = time.perf_counter() - start
    placed, wanted = sum(plan.targets.values()), sum(plan.wanted.values())
    print(f"  baseline round-robin, 50,000 clones       {baseline:8.4f} s")
    print(
        f"  plan 50,000 programs ({wanted:,} clones wanted, {placed:,} placed, {len(plan.shortfall):,} short)"
        f" {full:6.2f} s  {full / baseline:9.0f}x baseline   target <= 2 s: {'OK' if full <= 2 else 'MISSED'}"
    )

    small = programs(10_000, rng)
    first = plan_clones(forecast(small["program_code"], ORIGIN, rng), small, hosts)
    state = apply({}, first)
    later = forecast(small["program_code"], ORIGIN + pd.Timedelta("5min"), rng)
    start = time.perf_counter()
    update = plan_clones(later, small, hosts, existing=state)
    seconds = time.perf_counter() - start
    print(
        f"  12-step update, 10,000 programs ({len(update.actions):,} actions, schedule of "
        f"{len(next(iter(update.schedule.values())))} steps) {seconds:6.2f} s   target <= 1 s: "
        f"{'OK' if seconds <= 1 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
