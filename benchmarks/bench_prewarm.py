"""Benchmark: pre-warming from the timing model against the anchors, on the Azure 2019 sample (8-hour warm-up).

Everything is measured in this run, on the same window:

- the timing model's Brier score after the warm-up, with the clock model (timers at a minute of the hour) and
  against two baselines of the same model (each program's own idle times only; the pooled hazard only), and its
  calibration;
- Mode A (the "Serverless in the Wild" metric) of the predictive sweep (cold-start cost in container-minutes)
  against the keep-alive and hybrid-histogram sweeps: ratios to hybrid-histogram at the default cost, and
  whether every anchor point is dominated (<= on both axes) by a predictive point;
- a renewal oracle: the same expected-cost rule on each program's idle-time hazard measured over the whole
  day (the future included), i.e. what perfect knowledge of every program's idle-time distribution gives; in
  Mode B and on the GenAI trace it is `predictive` itself with that hazard in place of the timing model
  (`oracle-timing:c...`), a bound on what a better timing model could give the same decisions;
- with --mode-b: Mode B cold-start % of predictive against reactive-kpa and hybrid-histogram at equal idle
  memory (interpolated along their sweeps; slow, about a minute per policy);
- with --genai: GPU serving on the Alibaba GenAI LoRA request trace (programs = base models, cold start = the
  trace's median base-model load latency), days 4-5 of the 23 scored after day 3 as warm-up (with
  --genai-whole-trace: days 2-23 after day 1, about ten minutes more), Mode B: mean and p99 added latency and idle
  GPU-seconds of predictive against reactive-kpa and keep-alive.

    python benchmarks/bench_prewarm.py [TRACE_DIR] [--mode-b] [--genai [--genai-whole-trace]] [--plot PNG]
        [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from traces.shared import shared_traces_dir

TRACES = shared_traces_dir() or Path("../shared/data/traces")
DEFAULT = TRACES / "azure_functions_2019_invitro_sample1350"
GENAI = TRACES / "alibaba_genai_serving_2026_gentd26" / "lora_request_trace.csv.gz"
GENAI_POLICIES = ["reactive-kpa", "reactive-kpa:300", "keepalive:10", "predictive:c1", "predictive"]
WARMUP = 480
ANCHORS = ("keepalive", "hybrid-histogram")
MODE_B = ("predictive", "reactive-kpa", "hybrid-histogram")  # families of simulator.simulate.SWEEPS["b"]
ORACLE_COSTS = [10.0, 30.0, 50.0]  # oracle-timing points, Mode B (the predictive sweep's around the anchors)
GENAI_ORACLE_COSTS = [1.0, 3.0, 10.0, 30.0]


def renewal_oracle(counts: np.ndarray, cost: float) -> np.ndarray:
    """Loaded [P, T] by the expected-cost rule on each program's hazard of idle times over the whole trace."""
    from policy.prewarm import worth_loading

    return worth_loading(renewal_probability(counts), cost)


def renewal_probability(counts: np.ndarray) -> np.ndarray:
    """P(invoked) per bin [P, T] from each program's hazard of idle times over the whole trace (the future too)."""
    from simulator.apps import last_execution

    n_programs, n_bins = counts.shape
    last = last_execution(counts)
    age = np.clip(np.arange(n_bins)[None, :] - last, 0, n_bins)
    hazard = np.zeros((n_programs, n_bins + 1))
    for p in range(n_programs):
        gaps = np.diff(np.flatnonzero(counts[p] > 0))
        if gaps.size:
            ended = np.bincount(gaps, minlength=n_bins + 1).astype(float)
            at_risk = np.cumsum(ended[::-1])[::-1]
            hazard[p] = np.divide(ended, at_risk, out=np.zeros_like(ended), where=at_risk > 0)
    return np.where(last >= 0, np.take_along_axis(hazard, age, axis=1), 0.0)


def oracle_timing_points(setup: Any, costs: list[float]) -> dict[str, Any]:
    """Mode B results of `predictive` at each cost with the renewal oracle in place of its timing model."""
    from dataclasses import dataclass

    from models.timing import TimingModel
    from simulator.policies import Predictive
    from simulator.pool import simulate_pool

    @dataclass(frozen=True)
    class OracleTiming(TimingModel):
        def replay(self, counts: np.ndarray, lead: int = 1) -> np.ndarray:
            return renewal_probability(counts)  # at the bin itself whatever the lead: generous, as a bound should be

    rows = {}
    for cost in costs:
        policy = Predictive(cold_start_cost=cost, timing=OracleTiming())
        controller = policy.controller(setup.trace, setup.context([policy]))
        name = f"oracle-timing:c{cost:g}"
        rows[name] = simulate_pool(name, setup.trace, controller, setup.warmup_bins, setup.pool)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--mode-b", action="store_true", help="also compare Mode B at equal idle memory (slow)")
    parser.add_argument("--genai", action="store_true", help="also GPU serving on the GenAI LoRA trace (slow)")
    parser.add_argument("--genai-whole-trace", action="store_true", help="--genai on all 23 days (slower)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--plot", type=Path, help="write the timing model's calibration plot (PNG) here")
    args = parser.parse_args()
    if not args.trace.exists():
        print(f"skipped: {args.trace} not found (pass the Azure 2019 sample directory)")
        return 0
    from models.timing import ClockModel, TimingModel, brier, calibration
    from policy.prewarm import COLD_START_COST_MINUTES, with_clock
    from simulator.apps import score
    from simulator.simulate import REFERENCE, SWEEPS, Setup, run_mode_a, run_mode_b
    from simulator.trace import sim_trace
    from traces.loaders import load

    setup = Setup(sim_trace(load(args.trace).canonical()), warmup_bins=WARMUP)
    counts = setup.trace.counts
    print(f"Azure 2019 sample: {setup.trace.programs} programs x {setup.trace.bins} minutes, warm-up {WARMUP}")
    out: dict[str, Any] = {}

    variants = {
        "timing model": TimingModel(),
        "own idle times only": TimingModel(prior_weight=1e-9),
        "pooled hazard only": TimingModel(prior_weight=1e9),
    }
    chances = {name: model.replay(counts) for name, model in variants.items()}
    clock = ClockModel().replay(counts, setup.trace.start, setup.trace.bin)
    chances = {"timing model + clock": with_clock(chances["timing model"], clock), **chances}
    scores = {name: brier(chance, counts, WARMUP) for name, chance in chances.items()}
    base = scores["pooled hazard only"]
    print("\nBrier score of P(invoked in the next minute), after the warm-up (lower is better)")
    for name, value in scores.items():
        print(f"  {name:<22} {value:.5f}   {value / base:5.2f}x pooled")
    tables = {name: calibration(chance, counts, WARMUP) for name, chance in chances.items()}
    table = tables["timing model + clock"]
    print("  calibration (timing model + clock): " + ", ".join(f"{p:.2f}->{f:.2f}" for p, f, n in table if n > 0))
    out["brier"] = scores
    if args.plot:
        from models.plots import plot_calibration

        title = f"{args.trace.name}: P(invoked in the next minute) after a {WARMUP}-minute warm-up"
        print(f"  calibration plot: {plot_calibration(tables, args.plot, title)}")

    specs = [s for family in (*ANCHORS, "predictive") for s in SWEEPS["a"][family]]
    rows = {r.policy: r for r in run_mode_a(setup, specs)}
    reference = rows[REFERENCE].wasted_memory_gb_min if REFERENCE in rows else None
    for cost in sorted({COLD_START_COST_MINUTES, 1.0, 3.0, 30.0, 100.0, 300.0, 1000.0}):
        result = score(f"renewal-oracle:c{cost:g}", setup.trace, renewal_oracle(counts, cost), WARMUP)
        rows[result.policy] = result
    print("\nMode A: p75 app cold-start %, wasted memory % of keepalive:10")
    for name, r in rows.items():
        memory = 100.0 * r.wasted_memory_gb_min / reference if reference else float("nan")
        print(
            f"  {name:<26} p75 {r.p75_app_cold_start_pct:6.1f}   median {r.median_app_cold_start_pct:5.1f}   "
            f"requests {r.cold_start_pct:5.2f} %   memory {memory:6.1f} %"
        )
    default, anchor = rows["predictive"], rows["hybrid-histogram"]
    ratio_cold = default.p75_app_cold_start_pct / anchor.p75_app_cold_start_pct
    ratio_memory = default.wasted_memory_gb_min / anchor.wasted_memory_gb_min
    print(
        f"\n  predictive / hybrid-histogram at the default cost: p75 {ratio_cold:.2f}x (target <= 0.5: "
        f"{'OK' if ratio_cold <= 0.5 else 'MISSED'}), wasted memory {ratio_memory:.2f}x (target <= 0.5: "
        f"{'OK' if ratio_memory <= 0.5 else 'MISSED'})"
    )
    predictive = [rows[s] for s in SWEEPS["a"]["predictive"]]
    undominated = [
        s
        for family in ANCHORS
        for s in SWEEPS["a"][family]
        if not any(
            p.p75_app_cold_start_pct <= rows[s].p75_app_cold_start_pct
            and p.wasted_memory_gb_min <= rows[s].wasted_memory_gb_min
            for p in predictive
        )
    ]
    anchors = sum(len(SWEEPS["a"][f]) for f in ANCHORS)
    print(
        f"  anchor points dominated by a predictive point: {anchors - len(undominated)} of {anchors}; "
        f"not dominated: {', '.join(undominated) or 'none'}"
    )
    out["mode_a"] = {name: r.to_dict() for name, r in rows.items()}
    out["mode_a_ratios"] = {"p75_cold": ratio_cold, "wasted_memory": ratio_memory, "undominated": undominated}

    if args.mode_b:
        out["mode_b"] = mode_b(setup, run_mode_b, SWEEPS["b"])
    if args.genai:
        out["genai"] = genai(GENAI, Setup, run_mode_b, sim_trace, load, args.genai_whole_trace)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=float))
        print(f"\nwrote {args.json}")
    return 0


def mode_b(setup: Any, run_mode_b: Any, sweeps: dict[str, list[str]]) -> dict[str, Any]:
    """Request-weighted cold-start % of each predictive point (its cost sweep) against each anchor's sweep at the
    same idle memory."""
    specs = {family: [s for s in sweeps[family] if not s.startswith("predictive:q")] for family in MODE_B}
    rows = {r.policy: r for r in run_mode_b(setup, [s for family in specs.values() for s in family])}
    some = rows[specs["predictive"][0]]
    reference = some.idle_memory_gb_s / some.idle_memory_pct_of_keepalive10  # keepalive:10's, per percent
    oracles = oracle_timing_points(setup, ORACLE_COSTS)
    rows |= {
        name: replace(r, idle_memory_pct_of_keepalive10=r.idle_memory_gb_s / reference) for name, r in oracles.items()
    }
    print("\nMode B: request-weighted cold-start %, idle memory % of keepalive:10")
    for name, r in rows.items():
        print(
            f"  {name:<24} cold {r.cold_start_pct:6.2f} %   idle memory {r.idle_memory_pct_of_keepalive10:6.1f} %   "
            f"added latency mean {r.added_latency_mean_s:.3f} s"
        )
    out: dict[str, Any] = {name: r.to_dict() for name, r in rows.items()}
    for anchor, target in (("reactive-kpa", 0.33), ("hybrid-histogram", 0.5)):
        sweep = sorted((rows[s].idle_memory_pct_of_keepalive10, rows[s].cold_start_pct) for s in specs[anchor])
        memory, cold = np.array(sweep).T
        for spec in [*specs["predictive"], *oracles]:
            r = rows[spec]
            if r.idle_memory_pct_of_keepalive10 > memory[-1]:
                print(f"  {spec} vs {anchor}: idle memory {r.idle_memory_pct_of_keepalive10:.0f} % above its sweep")
                continue
            # below the sweep: against its least-memory point, which has more memory (so the ratio is an upper bound)
            below = r.idle_memory_pct_of_keepalive10 < memory[0]
            ratio = r.cold_start_pct / float(np.interp(r.idle_memory_pct_of_keepalive10, memory, cold))
            if spec in oracles:
                verdict = "a bound, future included"
            elif ratio <= target or not below:
                verdict = "OK" if ratio <= target else "MISSED"
            else:
                verdict = "not decided: the anchor has more memory there"
            print(
                f"  {spec} vs {anchor} at {'less' if below else 'equal'} idle memory: {'at most ' if below else ''}"
                f"{ratio:.3f}x (target <= {target}: {verdict})"
            )
            out[f"{spec} / {anchor}"] = ratio
    return out


def genai(path: Path, setup_class: Any, run_mode_b: Any, sim_trace: Any, load: Any, whole: bool) -> dict[str, Any]:
    """Mode B on the GenAI LoRA trace after a day of warm-up (two days of it, or all): added latency and idle
    GPU-seconds."""
    if not path.exists():
        print(f"\nGenAI: skipped, {path} not found")
        return {}
    day = 1440
    trace = sim_trace(load(path).canonical())  # minute bins
    trace = trace if whole else trace.window(2 * day, 3 * day)  # days 3-5 of the 23
    print(
        f"\nGenAI LoRA trace, Mode B: {trace.programs} base models, {int(trace.counts[:, day:].sum())} requests "
        f"scored, cold start {float(trace.cold_start_s.max()):.1f} s"
    )
    setup = setup_class(trace, warmup_bins=day)
    rows = {r.policy: r for r in run_mode_b(setup, GENAI_POLICIES, normalise=False)}
    rows |= oracle_timing_points(setup, GENAI_ORACLE_COSTS)
    base = rows["reactive-kpa"]
    for name, r in rows.items():
        latency, idle = r.added_latency_mean_s / base.added_latency_mean_s, r.idle_gpu_s / base.idle_gpu_s
        print(
            f"  {name:<18} added latency mean {r.added_latency_mean_s:6.2f} s ({latency:4.2f}x kpa)   "
            f"p99 {r.added_latency_p99_s:5.1f} s   idle GPU-s {r.idle_gpu_s:9.0f} ({idle:4.2f}x kpa)"
        )
    sweep = sorted((r.idle_gpu_s, r.added_latency_mean_s) for name, r in rows.items() if name.startswith("oracle"))
    idle, latency = np.array(sweep).T
    at_kpa = float(np.interp(base.idle_gpu_s, idle, latency)) / base.added_latency_mean_s
    print(f"  oracle-timing at reactive-kpa's idle GPU-s (interpolated): {at_kpa:.2f}x its mean latency (a bound)")
    return {name: r.to_dict() for name, r in rows.items()} | {"oracle_timing_latency_at_kpa_idle": at_kpa}


if __name__ == "__main__":
    raise SystemExit(main())
