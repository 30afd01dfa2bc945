"""Benchmark: the simulator on the Azure 2019 sample (1,350 functions x 1,440 minutes, 8-hour warm-up).

Targets: Mode A for all baselines <= 10 s in total; Mode B <= 60 s per policy; peak memory
<= 2 GB. Ratios are against keepalive:10 measured in the same run (the cheapest policy of each mode).

    python benchmarks/bench_simulator.py [TRACE_DIR] [--mode-b-policies p1,p2,...]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from traces.shared import shared_traces_dir

DEFAULT = (shared_traces_dir() or Path("../shared/data/traces")) / "azure_functions_2019_invitro_sample1350"
BASELINES = ["keepalive:10", "hybrid-histogram", "reactive-kpa", "reactive-hpa", "seed", "predictive:q90", "oracle"]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("trace", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--mode-b-policies", default=",".join(BASELINES))
    args = parser.parse_args()
    if not args.trace.exists():
        print(f"skipped: {args.trace} not found (pass the Azure 2019 sample directory)")
        return 0
    from simulator.simulate import Setup, run_mode_a, run_mode_b
    from simulator.trace import sim_trace
    from traces.loaders import load

    setup = Setup(sim_trace(load(args.trace).canonical()), warmup_bins=480)
    print(f"Azure 2019 sample: {setup.trace.programs} programs x {setup.trace.bins} bins, warm-up 480")

    start = time.perf_counter()
    run_mode_a(setup, ["keepalive:10"])
    base_a = time.perf_counter() - start
    start = time.perf_counter()
    results = run_mode_a(setup, BASELINES)
    all_a = time.perf_counter() - start
    print(f"  mode A keepalive:10 (baseline)     {base_a:7.2f} s")
    print(
        f"  mode A all {len(results)} baselines (+ forecasts) {all_a:7.2f} s   {all_a / base_a:6.1f}x   "
        f"target <= 10 s: {'OK' if all_a <= 10 else 'MISSED'}"
    )

    timings = {}
    for spec in args.mode_b_policies.split(","):
        start = time.perf_counter()
        run_mode_b(setup, [spec], normalise=False)
        timings[spec] = time.perf_counter() - start
    base_b = timings.get("keepalive:10") or next(iter(timings.values()))
    for spec, seconds in timings.items():
        print(
            f"  mode B {spec:<26} {seconds:7.2f} s   {seconds / base_b:6.2f}x   "
            f"target <= 60 s: {'OK' if seconds <= 60 else 'MISSED'}"
        )
    print(
        f"  peak RSS                           {peak_mb():7.0f} MB   target <= 2048 MB: "
        f"{'OK' if peak_mb() <= 2048 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
