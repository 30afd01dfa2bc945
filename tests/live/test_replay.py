"""The replayer against a tiny front door served by uvicorn in a thread: the schedule (bins, compression, counts,
execution times), sends that keep to it while slow answers are outstanding, and the summary figures."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from live.replay import ReplayResult, replay, schedule
from traces.clones import DEFAULT_DURATION_MS

START = pd.Timestamp("2026-01-05T10:00:00Z")


def frame(counts: dict[str, list[int]], freq: str = "1min") -> pd.DataFrame:
    rows = [
        {"program_code": p, "ts": START + i * pd.Timedelta(freq), "requests": n}
        for p, values in counts.items()
        for i, n in enumerate(values)
    ]
    return pd.DataFrame(rows)


PROGRAMS = pd.DataFrame({"program_code": ["a", "b", "slow"], "duration_ms": [1200.0, np.nan, 60_000.0]})


def test_the_schedule_spreads_each_bins_requests_within_it_compressed_by_speed() -> None:
    requests = frame({"a": [3, 0, 5, 2], "b": [1, 4, 0, 7]})
    plan = schedule(requests, PROGRAMS, speed=12.0, start=START, end=START + pd.Timedelta("4min"), seed=3)
    assert len(plan) == 22
    assert plan["scheduled"].is_monotonic_increasing
    bins = plan["scheduled"].dt.floor("1min")
    counted = plan.assign(ts=bins).groupby(["program", "ts"]).size()
    expected = requests[requests["requests"] > 0].set_index(["program_code", "ts"])["requests"]
    assert counted.to_dict() == {(p, t): n for (p, t), n in expected.items()}
    seconds = (plan["scheduled"] - START).dt.total_seconds()
    assert np.allclose(plan["due_s"], seconds / 12.0)  # a trace minute in 5 wall seconds
    assert plan["due_s"].between(0, 4 * 60 / 12).all()
    assert set(plan.loc[plan["program"] == "a", "ms"]) == {100}  # 1200 ms / 12
    assert set(plan.loc[plan["program"] == "b", "ms"]) == {round(DEFAULT_DURATION_MS / 12)}  # unknown: the default
    again = schedule(requests, PROGRAMS, speed=12.0, start=START, end=START + pd.Timedelta("4min"), seed=3)
    pd.testing.assert_frame_equal(plan, again)  # seeded
    other = schedule(requests, PROGRAMS, speed=12.0, start=START, end=START + pd.Timedelta("4min"), seed=4)
    assert not other["scheduled"].equals(plan["scheduled"])


def test_the_schedule_keeps_only_the_window_and_prefers_a_bins_own_duration() -> None:
    requests = frame({"a": [3, 5, 2]}).assign(duration_ms=[np.nan, 600.0, np.nan])
    plan = schedule(requests, PROGRAMS, speed=6.0, start=START + pd.Timedelta("1min"), end=START + pd.Timedelta("2min"))
    assert len(plan) == 5 and set(plan["ms"]) == {100}  # the bin's 600 ms, not the program's 1200
    assert plan["scheduled"].between(START + pd.Timedelta("1min"), START + pd.Timedelta("2min")).all()
    assert plan["due_s"].between(0, 10).all()  # from the window's start, at 6x
    limited = schedule(requests, PROGRAMS, speed=6.0, start=START, end=START + pd.Timedelta("3min"), limit=4)
    assert len(limited) == 4


class Door:
    """A front door stand-in: records when each request arrived, sleeps `ms`, answers cold for `b`'s first."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[str, float, int]] = []
        self.app = Starlette(routes=[Route("/invoke/{program}", self.invoke)])

    async def invoke(self, request: Request) -> Response:
        program, ms = request.path_params["program"], int(request.query_params["ms"])
        first = all(p != program for p, _, _ in self.arrivals)
        self.arrivals.append((program, time.monotonic(), ms))
        await asyncio.sleep(ms / 1000)
        if program == "b" and first:
            return PlainTextResponse("ok", headers={"X-Clonecast-Cold": "1"})
        return PlainTextResponse("ok", headers={"X-Clonecast-Cold": "0"})


@pytest.fixture
def door() -> Iterator[tuple[Door, str]]:
    """The stand-in served on a free port; its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    stand_in = Door()
    server = uvicorn.Server(uvicorn.Config(stand_in.app, port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the stand-in front door did not start in 10 s"
        time.sleep(0.02)
    yield stand_in, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_sends_keep_to_the_schedule_while_slow_answers_are_outstanding(door: tuple[Door, str]) -> None:
    stand_in, url = door
    requests = frame({"slow": [2, 0, 0], "a": [4, 6, 5], "b": [3, 3, 3]})
    end = START + pd.Timedelta("3min")
    plan = schedule(requests, PROGRAMS, speed=60.0, start=START, end=end, seed=1)
    assert set(plan.loc[plan["program"] == "slow", "ms"]) == {1000}  # answered a second after being sent
    result = replay(requests, PROGRAMS, url, speed=60.0, start=START, end=end, seed=1)
    assert result.requests_sent == result.requests_served == 26 == len(stand_in.arrivals)
    arrived = np.sort([t for _, t, _ in stand_in.arrivals])  # two sends a few µs apart may arrive swapped
    assert sorted((p, ms) for p, _, ms in stand_in.arrivals) == sorted(zip(plan["program"], plan["ms"], strict=True))
    due = plan["due_s"].to_numpy()
    drift = (arrived - arrived[0]) - (due - due[0])
    assert np.abs(drift).max() < 0.05, f"sends strayed from the schedule by up to {np.abs(drift).max():.3f} s"
    assert result.max_lag_s < 0.05
    assert result.cold_starts == 1 and result.rows.loc[result.rows["cold"], "program"].tolist() == ["b"]
    slow = result.rows[result.rows["program"] == "slow"]
    assert slow["latency_s"].between(1.0, 1.5).all()
    assert (result.rows["scheduled"] == plan["scheduled"]).all()
    assert result.wall_s >= due.max()


def test_a_door_that_does_not_answer_is_counted_as_unserved() -> None:
    requests = frame({"a": [2]})
    port = 9  # discard: nothing listens on it here
    result = replay(
        requests, PROGRAMS, f"http://127.0.0.1:{port}", speed=600.0, start=START, end=START + pd.Timedelta("1min")
    )
    assert result.requests_sent == 2 and result.requests_served == 0
    assert (result.rows["status"] == 0).all() and result.rows["error"].str.contains("ConnectionRefused").all()
    assert result.to_dict()["failed"] == {"0": 2}


def test_the_summary_figures() -> None:
    rows = pd.DataFrame(
        {
            "program": ["a", "a", "a", "b", "b"],
            "scheduled": pd.date_range(START, periods=5, freq="10s"),
            "sent": pd.date_range(START, periods=5, freq="1s"),
            "lag_s": [0.0, 0.1, 1.5, 0.2, 0.0],
            "status": [200, 200, 503, 200, 200],
            "latency_s": [0.1, 0.2, 9.0, 0.4, 0.3],
            "cold": [True, False, False, True, False],
            "error": "",
        }
    )
    result = ReplayResult(rows, speed=12.0, wall_s=5.0)
    assert (result.requests_sent, result.requests_served, result.cold_starts) == (5, 4, 2)
    assert result.latency_p50_s == pytest.approx(0.25)  # of the served: 0.1, 0.2, 0.3, 0.4
    assert result.latency_p99_s == pytest.approx(0.3 + 0.97 * 0.1)  # linear between the two largest
    assert result.max_lag_s == 1.5 and result.late_sends == 1
    summary = result.to_dict()
    assert summary["per_program"] == {
        "a": {"sent": 3, "served": 2, "cold_starts": 1},
        "b": {"sent": 2, "served": 2, "cold_starts": 1},
    }
    assert summary["failed"] == {"503": 1}
    assert summary["requests_served"] == 4 and summary["latency_p50_s"] == pytest.approx(0.25)
