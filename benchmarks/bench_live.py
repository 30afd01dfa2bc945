"""Benchmark: the live loop on the real Docker Engine, predictive against the reactive baseline, and the
simulator's figures for the same window (the sim-to-real gap).

The same trace window is replayed twice as real HTTP requests through the front door (infra/frontdoor), time
compressed by --speed (12: a trace minute in 5 s; execution times are compressed alike):

- predictive: `clonecast run` manages the clones (the forecast from the bins Prometheus has seen, the cloning
  manager, the timing model's pre-warming and the scaling policy), the front door only cold-starts a clone when
  a request finds none free;
- reactive: the front door alone, starting a clone when a request finds none free and removing it after a fixed
  10-minute keep-alive (the baseline OpenWhisk and Knative users get).

Per run it prints requests sent and served, cold starts (requests that waited for a container start), latency
p50/p99, idle container-seconds (warm clone-seconds not serving, from the front door's counters, in wall
seconds), and the simulator's Mode B figures for the same programs and window (idle seconds scaled to wall
time), twice: with the trace's cold starts, and with cold starts as long as a start on the engine takes in the
compressed replay (2 wall seconds, x speed in trace time: what compressing the trace does to a container start,
which does not compress); then the ratios predictive / reactive. Needs `make up` (dockerd, Prometheus).

    python benchmarks/bench_live.py [--trace PATH] [--format F] [--top 30] [--start-hours 8] [--hours 2]
                                    [--speed 12] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from traces.shared import shared_traces_dir

ROOT = Path(__file__).resolve().parents[1]
TRACES = shared_traces_dir() or ROOT.parent / "shared" / "data" / "traces"
DEFAULT = TRACES / "azure_functions_2019_invitro_sample1350"
FRONT_DOOR = ROOT / "infra" / "frontdoor" / "frontdoor.py"
PORT = 9181  # the front door's port Prometheus scrapes (infra/prometheus/prometheus.yml)
KEEP_ALIVE_MIN = 10.0


def window(args: argparse.Namespace) -> tuple[Any, pd.Timestamp, pd.Timestamp]:
    """The busiest `top` programs of the trace, and the window [start, end) in trace time."""
    from traces.frames import Dataset
    from traces.loaders import load

    data = load(args.trace, args.format).canonical()
    requests = data.requests
    busiest = requests.groupby("program_code", observed=True)["requests"].sum().nlargest(args.top).index
    start = requests["ts"].min() + pd.Timedelta(hours=args.start_hours)
    end = start + pd.Timedelta(hours=args.hours)
    keep = requests["program_code"].isin(busiest) & (requests["ts"] < end)
    programs = data.programs[data.programs["program_code"].isin(busiest)]
    chosen = Dataset(requests[keep].reset_index(drop=True), programs, data.events, data.freq, source=data.source)
    return chosen.canonical(), start, end


def clear(programs: pd.DataFrame) -> None:
    """Remove every clone of these programs from the local engine."""
    from actuators.docker_engine import DockerActuator
    from clonecast.settings import Settings
    from jobs.apply import LOCAL_FLEET
    from policy.plan import ClonePlan
    from traces.loaders.hosts import read_hosts

    hosts = read_hosts(LOCAL_FLEET / "docker-hosts.csv")
    engine = DockerActuator({h: Settings().docker_host for h in hosts["host"]}, programs, hosts)
    codes = programs["program_code"].astype(str).tolist()
    zero = tuple({"program_code": c, "host": str(hosts["host"].iloc[0]), "count": 0} for c in codes)
    empty = ClonePlan("", "bench-live", "", (), dict.fromkeys(codes, 0), {}, {}, placements=zero)
    engine.reconcile(empty)


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer in {timeout:g} s")


def spawn(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A child process writing to `log` (it keeps the file open; this process does not)."""
    with log.open("w") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def stats() -> dict[str, dict[str, float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/stats", timeout=5) as response:
        return dict(json.load(response))


def run_live(mode: str, data: Any, start: pd.Timestamp, end: pd.Timestamp, args: argparse.Namespace) -> dict[str, Any]:
    """One replay of the window through the front door, managed by `clonecast run` (predictive) or not (reactive)."""
    from live.replay import replay
    from traces.resample import resample
    from traces.store import write_dataset

    work = Path(tempfile.mkdtemp(prefix=f"bench-live-{mode}-"))
    programs_file = work / "programs.csv"
    data.programs.to_csv(programs_file, index=False)
    clear(data.programs)
    door_cmd = [sys.executable, str(FRONT_DOOR), "--port", str(PORT), "--programs", str(programs_file)]
    if mode == "reactive":
        door_cmd += ["--keep-alive", f"{KEEP_ALIVE_MIN * 60 / args.speed:g}"]
    processes = [spawn(door_cmd, work / "frontdoor.log")]
    try:
        wait_http(f"http://127.0.0.1:{PORT}/healthz")
        wall_start = pd.Timestamp.now(tz="UTC") + pd.Timedelta(seconds=20)  # the controller's first plan lands first
        if mode == "predictive":
            past = data.requests[data.requests["ts"] < start]
            from traces.frames import Dataset

            history = Dataset(resample(past, pd.Timedelta("5min")), data.programs, data.events, pd.Timedelta("5min"))
            store = write_dataset(history.canonical(), work / "store")
            from live.metrics import counter_query

            codes = "|".join(data.programs["program_code"].astype(str))  # the replayed programs' series only
            env = {
                **os.environ,
                "CLONECAST_STATE_DIR": str(work / "state"),
                "CLONECAST_PROMETHEUS_QUERY": counter_query(
                    f'clonecast_frontdoor_requests_total{{program=~"{codes}"}}'
                ),
            }
            run_cmd = [
                str(Path(sys.executable).with_name("clonecast")), "run", "--dataset", str(store),
                "--actuator", "docker", "--forecaster", "seasonal-naive", "--speed", f"{args.speed:g}",
                "--trace-start", start.isoformat(), "--wall-start", wall_start.isoformat(),
                "--for", f"{args.hours}h", "--tick", "1", "--journal", str(work / "journal.jsonl"),
            ]  # fmt: skip
            processes.append(spawn(run_cmd, work / "run.log", env))
        time.sleep(max(0.0, (wall_start - pd.Timestamp.now(tz="UTC")).total_seconds()))
        before = stats()
        result = replay(
            data.requests, data.programs, f"http://127.0.0.1:{PORT}", speed=args.speed, start=start, end=end, seed=7
        )
        after = stats()
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        clear(data.programs)
    idle = sum(
        (after[p]["clone_s"] - before.get(p, {}).get("clone_s", 0.0))
        - (after[p]["busy_s"] - before.get(p, {}).get("busy_s", 0.0))
        for p in after
    )
    summary = result.to_dict()
    return {
        "requests_sent": summary["requests_sent"],
        "requests_served": summary["requests_served"],
        "cold_starts": summary["cold_starts"],
        "latency_p50_s": summary["latency_p50_s"],
        "latency_p99_s": summary["latency_p99_s"],
        "idle_container_s": round(idle, 1),
        "failed": summary["failed"],  # answers other than 200 by status (0: none came)
        "per_program": summary["per_program"],
        "work_dir": str(work),
    }


def simulated(data: Any, start: pd.Timestamp, speed: float, engine_start_s: float | None = None) -> dict[str, Any]:
    """The simulator's Mode B figures for the same programs and window (warm-up: the bins before it); with
    `engine_start_s`, each cold start lasts that many wall seconds of the compressed replay (x speed in trace
    time), as a container start on the engine does, instead of the trace's own cold start."""
    from simulator.simulate import Setup, run_mode_b
    from simulator.trace import sim_trace

    trace = sim_trace(data)
    if engine_start_s is not None:
        trace = replace(trace, cold_start_s=np.maximum(trace.cold_start_s, engine_start_s * speed))
    warmup = trace.bins_for((start - data.requests["ts"].min()) / pd.Timedelta("1min"))
    rows = {r.policy: r for r in run_mode_b(Setup(trace, warmup_bins=warmup), ["predictive", "keepalive:10"])}
    out = {}
    for mode, policy in (("predictive", "predictive"), ("reactive", "keepalive:10")):
        r = rows[policy]
        out[mode] = {
            "policy": policy,
            "requests": r.invocations,
            "cold_starts": r.cold_starts,
            "cold_start_pct": round(r.cold_start_pct, 3),
            "idle_container_s": round(r.idle_container_s / speed, 1),  # wall seconds of the compressed replay
            "cold_start_s": float(np.median(trace.cold_start_s)),  # trace seconds
        }
    return out


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trace", type=Path, default=DEFAULT, help="any trace clonecast reads (default: Azure 2019)")
    parser.add_argument("--format", default="auto", help="its format (default: told from the file)")
    parser.add_argument("--top", type=int, default=30, help="the busiest programs replayed")
    parser.add_argument("--start-hours", type=float, default=8.0, help="window start after the trace's start")
    parser.add_argument("--hours", type=float, default=2.0, help="window length (trace time)")
    parser.add_argument("--speed", type=float, default=12.0, help="trace seconds per wall second")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()

    data, start, end = window(args)
    scored = data.requests[data.requests["ts"] >= start]
    print(
        f"{args.trace.name}: {data.requests['program_code'].nunique()} busiest programs, window {start} .. {end} "
        f"({int(scored['requests'].sum())} requests), x{args.speed:g} ({args.hours * 60 / args.speed:.1f} wall minutes)"
    )
    from live.controller import LiveSettings

    sim = simulated(data, start, args.speed)
    # the same with cold starts as long as the controller assumes a start on the engine takes (2 wall seconds)
    slow = simulated(data, start, args.speed, LiveSettings().clone_start_s)
    report: dict[str, Any] = {}
    for mode in ("predictive", "reactive"):
        print(f"-- {mode}: replaying ...", flush=True)
        report[mode] = {
            **run_live(mode, data, start, end, args),
            "simulated": sim[mode],
            "simulated_engine_start": slow[mode],
        }
        r = report[mode]
        print(
            f"   sent {r['requests_sent']}, served {r['requests_served']}, cold starts {r['cold_starts']}, "
            f"latency p50 {r['latency_p50_s']:.3f} s p99 {r['latency_p99_s']:.3f} s, "
            f"idle container-s {r['idle_container_s']:.0f}, not served by status {r['failed']}"
        )
        for label, figures in (("", sim[mode]), (", engine's start", slow[mode])):
            print(
                f"   simulated ({figures['policy']}, cold start {figures['cold_start_s']:g} trace s{label}): cold "
                f"starts {figures['cold_starts']}, idle container-s {figures['idle_container_s']:.0f}"
            )
    report["cold_start_ratio"] = ratio(report["predictive"]["cold_starts"], report["reactive"]["cold_starts"])
    report["idle_ratio"] = ratio(report["predictive"]["idle_container_s"], report["reactive"]["idle_container_s"])
    report["simulated_cold_start_ratio"] = ratio(sim["predictive"]["cold_starts"], sim["reactive"]["cold_starts"])
    report["simulated_idle_ratio"] = ratio(sim["predictive"]["idle_container_s"], sim["reactive"]["idle_container_s"])
    print(
        f"predictive / reactive: cold starts {report['cold_start_ratio']} (target <= 0.5), idle container-s "
        f"{report['idle_ratio']} (target <= 1.2); simulated: {report['simulated_cold_start_ratio']}, "
        f"{report['simulated_idle_ratio']}"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
