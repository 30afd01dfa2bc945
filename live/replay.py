"""Replay a trace as real HTTP requests: every request of a canonical requests frame in a window becomes a
GET <url>/invoke/<program>?ms=<execution ms>, sent at a time drawn uniformly within its bin, the trace compressed
by `speed` (1 trace minute = 60 / speed wall seconds; execution times are compressed alike).

Sends never wait for answers (one asyncio task and one connection per request, no pool that could hold a send
back), so a slow response never delays a later send; how far behind schedule sends were is measured and reported.
The HTTP client is a few lines over asyncio streams (GET, `Connection: close`), not httpx: httpcore's pool scans
every open connection on each request event, and with hundreds of requests in flight on 2 cores the replayer fell
minutes behind (1.8 ms of CPU per request when calm, 8 ms and a collapse under load; these streams: 0.7 ms).

    python -m live.replay --trace PATH [--format F] --url http://127.0.0.1:9181 --speed 12 --start 8h --hours 2
                          --top 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import numpy as np
import pandas as pd

from clonecast.errors import InputError
from traces.clones import DEFAULT_DURATION_MS
from traces.loaders.long import infer_freq
from traces.progress import NullProgress, Progress

log = logging.getLogger("clonecast.live.replay")
LATE_S = 1.0  # sends further behind schedule than this are reported
COLD = b"x-clonecast-cold: 1"  # the front door's header (lower-cased): the request waited for a container start
CONNECT_S = 10.0


def schedule(
    requests: pd.DataFrame,
    programs: pd.DataFrame,
    *,
    speed: float,
    start: pd.Timestamp,
    end: pd.Timestamp,
    seed: int = 0,
    limit: int | None = None,
    freq: pd.Timedelta | None = None,
) -> pd.DataFrame:
    """The requests to send, in send order: program, scheduled (trace time, uniform within its bin), due_s (wall
    seconds after the replay's start) and ms (execution time: the bin's duration_ms where the frame has it, else the
    program's, else the default, divided by speed). Bins starting in [start, end); the bin width is `freq` or the
    frame's most common step."""
    if speed <= 0:
        raise InputError(f"replay speed must be positive (trace seconds per wall second), not {speed}")
    width = freq if freq is not None else infer_freq(requests["ts"])
    window = requests[(requests["ts"] >= start) & (requests["ts"] < end) & (requests["requests"] > 0)]
    row = np.repeat(np.arange(len(window)), window["requests"].to_numpy(np.int64))  # [N] the bin of each request
    offset = np.random.default_rng(seed).random(len(row)) * width.value  # [N] ns into the bin
    ts = window["ts"].to_numpy("datetime64[ns]")[row] + offset.astype("timedelta64[ns]")
    known = programs.set_index("program_code")["duration_ms"] if "duration_ms" in programs else pd.Series(dtype=float)
    codes = window["program_code"].astype(str).to_numpy()[row]
    duration = pd.Series(codes).map(known.astype(float)).to_numpy(float)  # [N]
    if "duration_ms" in window:
        per_bin = window["duration_ms"].to_numpy(float)[row]
        duration = np.where(np.isnan(per_bin), duration, per_bin)
    duration = np.where(np.isnan(duration), DEFAULT_DURATION_MS, duration)
    scheduled = pd.DatetimeIndex(ts).tz_localize("UTC")
    plan = pd.DataFrame(
        {
            "program": codes,
            "scheduled": scheduled,
            "due_s": (scheduled - start).total_seconds().to_numpy() / speed,
            "ms": np.rint(duration / speed).astype(np.int64),
        }
    )
    plan = plan.sort_values("scheduled", kind="stable").reset_index(drop=True)
    return plan.head(limit) if limit is not None else plan


@dataclass
class ReplayResult:
    """What a replay sent and got back: one row per request (program, scheduled, sent, lag_s, status, latency_s,
    cold, error; status 0 = no answer) and its summary."""

    rows: pd.DataFrame
    speed: float
    wall_s: float

    @property
    def requests_sent(self) -> int:
        return len(self.rows)

    @property
    def requests_served(self) -> int:
        return int((self.rows["status"] == 200).sum())

    @property
    def cold_starts(self) -> int:
        return int(self.rows["cold"].sum())

    def _latency(self, q: float) -> float:
        served = self.rows.loc[self.rows["status"] == 200, "latency_s"]
        return float(served.quantile(q)) if len(served) else float("nan")

    @property
    def latency_p50_s(self) -> float:
        return self._latency(0.5)

    @property
    def latency_p99_s(self) -> float:
        return self._latency(0.99)

    @property
    def max_lag_s(self) -> float:
        return float(self.rows["lag_s"].max()) if len(self.rows) else 0.0

    @property
    def late_sends(self) -> int:
        return int((self.rows["lag_s"] > LATE_S).sum())

    def per_program(self) -> pd.DataFrame:
        """sent, served, cold_starts per program."""
        rows = self.rows.assign(served=self.rows["status"] == 200)
        grouped = rows.groupby("program", sort=True)
        return pd.DataFrame(
            {"sent": grouped.size(), "served": grouped["served"].sum(), "cold_starts": grouped["cold"].sum()}
        ).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        codes = self.rows.loc[self.rows["status"] != 200, "status"].value_counts().sort_index()
        return {
            "requests_sent": self.requests_sent,
            "requests_served": self.requests_served,
            "cold_starts": self.cold_starts,
            "latency_p50_s": self.latency_p50_s,
            "latency_p99_s": self.latency_p99_s,
            "max_lag_s": self.max_lag_s,
            "late_sends": self.late_sends,
            "failed": {str(k): int(v) for k, v in codes.items()},
            "speed": self.speed,
            "wall_s": self.wall_s,
            "per_program": self.per_program().to_dict(orient="index"),
        }


def replay(
    requests: pd.DataFrame,
    programs: pd.DataFrame,
    url: str,
    *,
    speed: float,
    start: pd.Timestamp,
    end: pd.Timestamp,
    seed: int = 0,
    limit: int | None = None,
    progress: Progress | None = None,
    freq: pd.Timedelta | None = None,
) -> ReplayResult:
    """Send the window's requests to the front door at `url` on schedule (see `schedule`); blocks until every
    answer is in. The replay's wall clock starts now at trace time `start`."""
    plan = schedule(requests, programs, speed=speed, start=start, end=end, seed=seed, limit=limit, freq=freq)
    return asyncio.run(send(plan, url, speed=speed, progress=progress))


async def get(host: str, port: int, target: str) -> tuple[int, bool]:
    """One GET on a connection of its own: the status and whether the front door marked it cold."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_S)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        await reader.read()  # the body, up to the close: the request is done when it has all come
    finally:
        writer.close()
    status = head.split(b" ", 2)[1]
    if not status.isdigit():
        raise ValueError(f"not an HTTP response: {head[:60]!r}")
    return int(status), COLD in head.lower()


async def send(plan: pd.DataFrame, url: str, *, speed: float, progress: Progress | None = None) -> ReplayResult:
    """Send a schedule's requests, each at its due_s after now, without waiting for earlier answers."""
    base = urlsplit(url)
    if base.scheme != "http" or not base.hostname:
        raise InputError(f"the front door's URL must be http://host[:port], not {url!r}")
    host, port, prefix = base.hostname, base.port or 80, base.path.rstrip("/")
    progress = progress or NullProgress()
    progress.stage(f"replaying {len(plan)} requests", total=len(plan))
    n = len(plan)
    lag, latency = np.zeros(n), np.full(n, np.nan)
    status, cold, error = np.zeros(n, np.int64), np.zeros(n, bool), [""] * n
    loop = asyncio.get_running_loop()
    due = plan["due_s"].to_numpy(float)  # [N] wall seconds after the origin
    origin, wall_origin = loop.time(), time.time()

    async def one(i: int, program: str, ms: int) -> None:
        sent = loop.time()
        lag[i] = sent - origin - due[i]
        try:
            status[i], cold[i] = await get(host, port, f"{prefix}/invoke/{quote(program, safe='')}?ms={ms}")
        except (
            OSError,
            TimeoutError,
            ValueError,
            IndexError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ) as e:
            error[i] = f"{type(e).__name__}: {e}"
        latency[i] = loop.time() - sent
        progress.advance(1)

    tasks = []
    for i, (program, ms) in enumerate(zip(plan["program"], plan["ms"], strict=True)):
        wait = origin + due[i] - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(i, str(program), int(ms))))
    await asyncio.gather(*tasks)
    wall_s = loop.time() - origin
    rows = plan[["program", "scheduled"]].assign(
        sent=pd.to_datetime(wall_origin + due + lag, unit="s", utc=True),
        lag_s=lag,
        status=status,
        latency_s=latency,
        cold=cold,
        error=error,
    )
    result = ReplayResult(rows, speed, wall_s)
    if result.max_lag_s > LATE_S:
        log.warning(
            "%d of %d sends were more than %g s behind schedule (at most %.2f s): the replayer or the machine "
            "could not keep up with x%g",
            result.late_sends,
            n,
            LATE_S,
            result.max_lag_s,
            speed,
        )
    return result


def main(argv: list[str] | None = None) -> None:
    from traces.loaders import load

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trace", type=Path, required=True, help="any trace clonecast reads")
    parser.add_argument("--format", default="auto", help="its format (default: told from the file)")
    parser.add_argument("--url", default="http://127.0.0.1:9181", help="the front door (default %(default)s)")
    parser.add_argument("--speed", type=float, default=12.0, help="trace seconds per wall second (default 12)")
    parser.add_argument(
        "--start", default="0h", help="window start: a timestamp, or a duration after the trace's start"
    )
    parser.add_argument("--hours", type=float, default=2.0, help="window length in trace hours (default 2)")
    parser.add_argument("--top", type=int, help="only the trace's busiest N programs (as benchmarks/bench_live.py)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="send at most this many requests")
    parser.add_argument("--json", type=Path, help="write the summary as JSON here")
    parser.add_argument("--rows", type=Path, help="write one row per request here (CSV)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    data = load(args.trace, args.format).canonical()
    requests = data.requests
    try:
        start = requests["ts"].min() + pd.Timedelta(args.start)
    except ValueError:
        start = pd.Timestamp(args.start)
        start = start.tz_localize("UTC") if start.tz is None else start.tz_convert("UTC")
    end = start + pd.Timedelta(hours=args.hours)
    if args.top:
        busiest = requests.groupby("program_code", observed=True)["requests"].sum().nlargest(args.top).index
        requests = requests[requests["program_code"].isin(busiest)]
    requests = requests[(requests["ts"] >= start) & (requests["ts"] < end)]
    total = int(requests["requests"].sum())
    print(f"{args.trace.name}: {total} requests of {requests['program_code'].nunique()} programs, {start} .. {end}, "
          f"x{args.speed:g}: {args.hours * 3600 / args.speed:.0f} wall s, {total * args.speed / args.hours / 3600:.1f} "
          f"requests/s on average", flush=True)  # fmt: skip
    result = replay(
        requests, data.programs, args.url, speed=args.speed, start=start, end=end, seed=args.seed, limit=args.limit
    )
    summary = result.to_dict()
    print(json.dumps({k: v for k, v in summary.items() if k != "per_program"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    if args.rows:
        result.rows.to_csv(args.rows, index=False)


if __name__ == "__main__":
    main()
