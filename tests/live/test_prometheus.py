"""The live demand source (live.metrics) and its clock (live.clock).

Without a server: the clock's arithmetic, a query_range answer turned into a trace-time requests frame, and bad values
(NaN, negative, infinite, unknown programs) refused by name. Against the real Prometheus that `make up` starts
(marked `live`): an exporter in this process on 127.0.0.1:9183 (the `tests` scrape job) counts requests, Prometheus
counts the same, `pull` appends exactly the bins that completed, and refused values leave the dataset untouched.

Program codes carry a per-run suffix, so the series of one run never meet another's."""

from __future__ import annotations

import math
import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from prometheus_api_client import PrometheusConnect
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from clonecast.errors import ConfigError, DataValidationError, InputError, SourceError
from clonecast.settings import Limits, Settings
from live.clock import Clock
from live.metrics import (
    DEFAULT_QUERY,
    EXACT_QUERY,
    PrometheusSource,
    check_values,
    counter_query,
    promql_duration,
    pull,
    samples_frame,
    to_requests,
)
from traces.frames import Dataset, empty_events, programs_frame, requests_frame
from traces.store import read_dataset, write_dataset

PROMETHEUS = "http://127.0.0.1:9090"
EXPORTER_PORT = 9183  # the `tests` job of infra/prometheus/prometheus.yml
SUFFIX = uuid.uuid4().hex[:6]
T0 = pd.Timestamp("2026-01-05T10:00:00Z")  # trace time of the first bin a pull asks for
W0 = pd.Timestamp("2026-03-01T12:00:00Z")  # a wall time for the tests without a server
LIMITS = Limits()


def code(name: str) -> str:
    return f"pt-{name}-{SUFFIX}"


def programs(codes: list[str]) -> pd.DataFrame:
    return programs_frame(
        pd.DataFrame(
            {
                "program_code": codes,
                "cpu_millicores": 100.0,
                "memory_mb": 64.0,
                "gpus": 0,
                "gpu_type": "",
                "concurrency": 1,
                "cold_start_s": 1.0,
                "image": "clonecast/workload:latest",
            }
        )
    )


def history(codes: list[str], freq: pd.Timedelta, bins: int = 3) -> Dataset:
    """`bins` bins of 5 requests per program, the last one starting a bin before T0."""
    ts = pd.date_range(end=T0 - freq, periods=bins, freq=freq)
    rows = pd.DataFrame([{"program_code": c, "ts": t, "requests": 5} for c in codes for t in ts])
    return Dataset(requests_frame(rows), programs(codes), empty_events(), freq, source="test history")


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` and its siblings' names (a failed write would leave staging debris)."""
    files = {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}
    files["<siblings>"] = "\n".join(sorted(p.name for p in directory.parent.iterdir())).encode()
    return files


# -- the clock -------------------------------------------------------------------------------------------


def test_clock_maps_wall_to_trace_time_at_its_speed() -> None:
    clock = Clock(wall_origin=W0, trace_origin=T0, speed=12)
    assert clock.trace(W0 + pd.Timedelta(seconds=5)) == T0 + pd.Timedelta("1min")
    assert clock.trace(W0 - pd.Timedelta(seconds=25)) == T0 - pd.Timedelta("5min")
    assert clock.wall(T0 + pd.Timedelta("5min")) == W0 + pd.Timedelta(seconds=25)
    assert clock.wall(clock.trace(W0 + pd.Timedelta(seconds=7.25))) == W0 + pd.Timedelta(seconds=7.25)
    assert clock.wall_seconds(pd.Timedelta("5min")) == 25.0
    assert Clock(wall_origin=W0, trace_origin=T0, speed=60).wall_seconds(pd.Timedelta("1h")) == 60.0


def test_clock_now_runs_at_its_speed_and_the_real_clock_is_wall_time() -> None:
    clock = Clock(wall_origin=pd.Timestamp.now(tz="UTC"), trace_origin=T0, speed=12)
    time.sleep(0.5)
    assert pd.Timedelta(seconds=5.5) < clock.now() - T0 < pd.Timedelta(seconds=12)
    real = Clock.real()
    assert abs(real.now() - pd.Timestamp.now(tz="UTC")) < pd.Timedelta(seconds=1)
    assert real.speed == 1.0 and real.wall_seconds(pd.Timedelta("5min")) == 300.0


@pytest.mark.parametrize("speed", [0, -2.0, math.nan])
def test_clock_refuses_a_speed_that_is_not_positive(speed: float) -> None:
    with pytest.raises(InputError, match=f"speed must be positive.*{speed}"):
        Clock(wall_origin=W0, trace_origin=T0, speed=speed)


def test_clock_refuses_naive_timestamps() -> None:
    with pytest.raises(InputError, match="no timezone"):
        Clock(wall_origin=pd.Timestamp("2026-03-01 12:00"), trace_origin=T0)


# -- a query_range answer as a frame -------------------------------------------------------------------


def wall_end(clock: Clock, k: int, freq: pd.Timedelta) -> float:
    """Unix seconds of the wall time at which bin k (from T0) ends: where Prometheus evaluates it."""
    return clock.wall(T0 + (k + 1) * freq).value / 1e9


def test_the_bin_width_in_the_query_is_wall_time() -> None:
    assert promql_duration(25.0) == "25s" and promql_duration(300) == "300s"
    assert promql_duration(300 / 7) == "42857ms"
    assert DEFAULT_QUERY is Settings().prometheus_query
    x, gap = "clonecast_frontdoor_requests_total", "and on (job, instance) (up{} == 0)"
    now = f"({x} or (last_over_time({x}[5m]) {gap.format('')}))"
    before = f"({x} offset {{bin}} or (last_over_time({x}[5m] offset {{bin}}) {gap.format(' offset {bin}')}))"
    expected = f"sum by (program) (({now} - {before}) >= 0 or {now})"
    assert expected == EXACT_QUERY
    fast = PrometheusSource(PROMETHEUS, freq=pd.Timedelta("5min"), clock=Clock(W0, T0, speed=12))
    assert DEFAULT_QUERY == EXACT_QUERY
    assert fast.promql == EXACT_QUERY.replace("{bin}", "25s")
    real = PrometheusSource(PROMETHEUS, freq=pd.Timedelta("5min"), clock=Clock(W0, T0, speed=1))
    assert real.promql == EXACT_QUERY.replace("{bin}", "300s")
    with pytest.raises(ConfigError, match="at speed 300 a 5min bin lasts 1 wall seconds"):
        PrometheusSource(PROMETHEUS, freq=pd.Timedelta("5min"), clock=Clock(W0, T0, speed=300))


def test_a_range_answer_becomes_trace_bins_dense_over_the_known_programs() -> None:
    clock, freq = Clock(wall_origin=W0, trace_origin=T0, speed=12), pd.Timedelta("5min")
    starts = pd.date_range(T0, periods=3, freq=freq)
    # Prometheus's timestamps carry milliseconds; values are strings.
    result = [
        {
            "metric": {"program": "a"},
            "values": [[wall_end(clock, 0, freq), "3"], [wall_end(clock, 2, freq) + 0.001, "7.6"]],
        },
        {"metric": {"program": "b"}, "values": [[wall_end(clock, 1, freq), "2.4"]]},
    ]
    raw = samples_frame(result, clock=clock, freq=freq, starts=starts, programs=["a", "b", "c"])
    expected = pd.DataFrame(
        {
            "program_code": ["a"] * 3 + ["b"] * 3 + ["c"] * 3,
            "ts": list(starts) * 3,
            "requests": [3.0, 0.0, 7.6, 0.0, 2.4, 0.0, 0.0, 0.0, 0.0],
        }
    )
    pd.testing.assert_frame_equal(raw, expected.astype({"program_code": "str", "ts": "datetime64[ns, UTC]"}))
    counts = to_requests(raw, programs(["a", "b", "c"]), freq=freq, limits=LIMITS, now=T0 + 4 * freq, source="t")
    assert counts["requests"].dtype == "int64"
    assert counts["requests"].tolist() == [3, 0, 8, 0, 2, 0, 0, 0, 0]
    assert str(counts["ts"].dtype) == "datetime64[ns, UTC]" and counts["ts"].iloc[2] == T0 + 2 * freq


def test_a_bin_nobody_was_heard_in_ends_the_frame_rather_than_reading_as_zeros() -> None:
    clock, freq = Clock(wall_origin=W0, trace_origin=T0, speed=12), pd.Timedelta("5min")
    starts = pd.date_range(T0, periods=4, freq=freq)
    # bin 1 has no sample at all (the target was down): bins 1.. are left for a later pull, bin 3's sample too
    result = [
        {"metric": {"program": "a"}, "values": [[wall_end(clock, 0, freq), "3"], [wall_end(clock, 3, freq), "5"]]}
    ]
    raw = samples_frame(result, clock=clock, freq=freq, starts=starts, programs=["a", "b"])
    assert raw["ts"].tolist() == [T0, T0] and raw["requests"].tolist() == [3.0, 0.0]
    silent = [{"metric": {"program": "a"}, "values": [[wall_end(clock, 1, freq), "3"]]}]
    assert samples_frame(silent, clock=clock, freq=freq, starts=starts, programs=["a"]).empty


def test_a_sample_that_ends_no_bin_and_a_series_without_a_program_are_refused() -> None:
    clock, freq = Clock(wall_origin=W0, trace_origin=T0, speed=12), pd.Timedelta("5min")
    starts = pd.date_range(T0, periods=2, freq=freq)
    late = [{"metric": {"program": "a"}, "values": [[wall_end(clock, 4, freq), "1"]]}]
    with pytest.raises(SourceError, match="ends none of the 2 bins"):
        samples_frame(late, clock=clock, freq=freq, starts=starts, query="q")
    unlabelled = [{"metric": {"job": "frontdoor"}, "values": [[wall_end(clock, 0, freq), "1"]]}]
    with pytest.raises(InputError, match=r"'q'.*without a `program` label.*label_replace"):
        samples_frame(unlabelled, clock=clock, freq=freq, starts=starts, query="q")


def raw_bins(values: dict[str, list[float]]) -> pd.DataFrame:
    """5-minute bins from T0, one value each per program."""
    starts = pd.date_range(T0, periods=len(next(iter(values.values()))), freq="5min")
    rows = [
        {"program_code": c, "ts": t, "requests": v} for c, vs in values.items() for t, v in zip(starts, vs, strict=True)
    ]
    return pd.DataFrame(rows).astype({"requests": "float64"})


def refusal(raw: pd.DataFrame, known: list[str]) -> DataValidationError:
    with pytest.raises(DataValidationError) as caught:
        to_requests(
            raw, programs(known), freq=pd.Timedelta("5min"), limits=LIMITS, now=T0 + pd.Timedelta("1h"), source="s"
        )
    return caught.value


@pytest.mark.parametrize(
    ("value", "expectation"),
    [
        (math.nan, "expect_column_values_to_not_be_null"),
        (-3.0, "expect_column_values_to_be_between"),
        (-0.4, "expect_column_values_to_be_between"),  # would round to 0: refused before rounding
        (math.inf, "expect_column_values_to_be_between"),
        (-math.inf, "expect_column_values_to_be_between"),
    ],
)
def test_a_bad_value_is_refused_naming_the_expectation_the_column_and_the_program(
    value: float, expectation: str
) -> None:
    error = refusal(raw_bins({"good": [1.0, 2.0], "bad": [4.0, value]}), ["good", "bad"])
    [failure] = error.report.failures
    assert failure.expectation == expectation and failure.columns == ("requests",)
    assert failure.unexpected_count == 1
    assert failure.examples[0]["program_code"] == "bad"
    assert failure.examples[0]["ts"] == (T0 + pd.Timedelta("5min")).isoformat()
    assert f"requests: {expectation} failed" in str(error)


def test_a_program_missing_from_the_programs_frame_is_refused() -> None:
    error = refusal(raw_bins({"good": [1.0, 2.0], "stranger": [3.0, 3.0]}), ["good"])
    failed = {f.expectation: f for f in error.report.failures}
    known = failed["expect_column_values_to_be_in_set"]
    assert known.columns == ("program_code",) and known.unexpected_count == 2
    assert {e["program_code"] for e in known.examples} == {"stranger"}


def test_values_are_checked_before_rounding_and_good_ones_pass() -> None:
    good = raw_bins({"a": [0.0, 0.4, 2.6]})
    assert check_values(good, source="s", limits=LIMITS).success
    counts = to_requests(
        good, programs(["a"]), freq=pd.Timedelta("5min"), limits=LIMITS, now=T0 + pd.Timedelta("1h"), source="s"
    )
    assert counts["requests"].tolist() == [0, 0, 3]


def test_too_many_requests_for_a_bin_are_refused_by_the_requests_suite() -> None:
    limits = Limits(max_requests_per_minute=10)  # 50 per 5-minute bin
    with pytest.raises(DataValidationError, match="at most 50 per bin"):
        to_requests(raw_bins({"a": [49.0, 51.0]}), programs(["a"]), freq=pd.Timedelta("5min"), limits=limits,
                    now=T0 + pd.Timedelta("1h"), source="s")  # fmt: skip


# -- pull without a server: Prometheus's answers canned ------------------------------------------------


class Canned:
    """Stands in for PrometheusSource._range: answers every bin from `values` (program -> value per bin)."""

    def __init__(self, source: PrometheusSource, values: dict[str, list[str]]) -> None:
        self.source, self.values, self.calls = source, values, 0

    def __call__(self, first: pd.Timestamp, last: pd.Timestamp) -> list[dict[str, object]]:
        self.calls += 1
        step = self.source.clock.wall_seconds(self.source.freq)
        ends = pd.date_range(first, last, freq=pd.Timedelta(seconds=step))
        k0 = round((self.source.clock.trace(first) - self.source.freq - T0) / self.source.freq)
        return [
            {"metric": {"program": p}, "values": [[e.value / 1e9, vs[k0 + i]] for i, e in enumerate(ends)]}
            for p, vs in self.values.items()
        ]


def canned_source(monkeypatch: pytest.MonkeyPatch, values: dict[str, list[str]]) -> tuple[PrometheusSource, Canned]:
    source = PrometheusSource(PROMETHEUS, freq=pd.Timedelta("5min"), clock=Clock(W0, T0, speed=12))
    canned = Canned(source, values)
    monkeypatch.setattr(source, "_range", canned)
    return source, canned


def test_pull_appends_only_complete_new_bins_and_writes_nothing_when_nothing_is_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = write_dataset(history(["a", "b"], pd.Timedelta("5min")), tmp_path / "store")
    source, canned = canned_source(monkeypatch, {"a": ["1", "2", "3", "4"]})
    m = pd.Timedelta("1min")
    # At T0 + 10 min 6 s the bin from T0 + 5 min has ended, but not its settle (1 wall second = 12 trace seconds).
    pulled = pull(store, source, limits=LIMITS, now=T0 + 10 * m + pd.Timedelta(seconds=6))
    assert (pulled.new_rows, pulled.first, pulled.last) == (2, T0, T0)
    pulled = pull(store, source, limits=LIMITS, now=T0 + 11 * m)
    assert (pulled.new_rows, pulled.first, pulled.last) == (2, T0 + 5 * m, T0 + 5 * m)
    stored = read_dataset(store).requests
    assert len(stored) == 10
    new = stored[stored["ts"] >= T0].set_index(["program_code", "ts"])["requests"]
    assert new.to_dict() == {("a", T0): 1, ("a", T0 + 5 * m): 2, ("b", T0): 0, ("b", T0 + 5 * m): 0}
    before = snapshot(store)
    again = pull(store, source, limits=LIMITS, now=T0 + 14 * m)
    assert again.new_rows == 0 and again.first is None and canned.calls == 2
    assert snapshot(store) == before  # nothing new: nothing written
    later = pull(store, source, limits=LIMITS, now=T0 + 21 * m)
    assert (later.new_rows, later.first, later.last) == (4, T0 + 10 * m, T0 + 15 * m)
    assert read_dataset(store).requests.groupby("program_code")["requests"].sum().to_dict() == {"a": 25, "b": 15}


def test_pull_refuses_bad_values_and_leaves_the_dataset_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = write_dataset(history(["a"], pd.Timedelta("5min")), tmp_path / "store")
    before = snapshot(store)
    source, _ = canned_source(monkeypatch, {"a": ["1", "NaN"]})
    with pytest.raises(DataValidationError, match="requests: expect_column_values_to_not_be_null failed"):
        pull(store, source, limits=LIMITS, now=T0 + pd.Timedelta("11min"))
    assert snapshot(store) == before


def test_an_unreachable_prometheus_is_a_source_error_naming_its_url() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    clock = Clock(wall_origin=pd.Timestamp.now(tz="UTC") - pd.Timedelta(seconds=60), trace_origin=T0, speed=60)
    source = PrometheusSource(url, freq=pd.Timedelta("5min"), clock=clock, timeout=2)
    with pytest.raises(SourceError, match=f"Prometheus at {url} is unreachable"):
        source.bins(T0, T0 + pd.Timedelta("10min"))


# -- against the real Prometheus ------------------------------------------------------------------------


def ready() -> bool:
    try:
        with urllib.request.urlopen(f"{PROMETHEUS}/-/ready", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@dataclass
class Exporter:
    """This process's metrics, scraped by Prometheus's `tests` job."""

    registry: CollectorRegistry
    requests: Counter
    value: Gauge
    prometheus: PrometheusConnect

    def wait_for(self, query: str, expected: float | None = None, timeout: float = 15.0) -> float:
        """Poll an instant query until it has a sample (equal to `expected` when given); its value."""
        deadline, found = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            answer = self.prometheus.custom_query(query)
            found = float(answer[0]["value"][1]) if answer else None
            if found is not None and (expected is None or found == expected):
                return found
            time.sleep(0.2)
        raise AssertionError(f"Prometheus gave {found} for {query!r} after {timeout:g} s, expected {expected}")


@pytest.fixture(scope="module")
def exporter() -> Iterator[Exporter]:
    if not ready():
        pytest.fail(f"Prometheus is not ready at {PROMETHEUS}: start the services with `make up`")
    registry = CollectorRegistry()
    requests = Counter(
        "clonecast_test_requests", "Requests counted by tests/live/test_prometheus.py", ["program"], registry=registry
    )
    value = Gauge("clonecast_test_value", "Values set by tests/live/test_prometheus.py", ["program"], registry=registry)
    # The first validation builds Great Expectations' context (seconds): not inside a test's timed bins.
    to_requests(raw_bins({"a": [1.0]}), programs(["a"]), freq=pd.Timedelta("5min"), limits=LIMITS, now=T0, source="")
    deadline = time.monotonic() + 30
    while True:  # another test process may hold the port for a moment
        try:
            server, thread = start_http_server(EXPORTER_PORT, addr="127.0.0.1", registry=registry)
            break
        except OSError as e:
            if time.monotonic() > deadline:
                pytest.fail(f"cannot serve the tests' metrics on 127.0.0.1:{EXPORTER_PORT}: {e}")
            time.sleep(0.5)
    try:
        yield Exporter(registry, requests, value, PrometheusConnect(url=PROMETHEUS, disable_ssl=True))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def sleep_until(wall: pd.Timestamp) -> None:
    time.sleep(max(0.0, (wall - pd.Timestamp.now(tz="UTC")).total_seconds()))


@pytest.mark.live
def test_prometheus_counts_what_the_exporter_counted(exporter: Exporter) -> None:
    program = code("counted")
    counter = exporter.requests.labels(program)
    for _ in range(3):
        counter.inc(2)
        time.sleep(0.6)
    counter.inc()
    found = exporter.wait_for(f'clonecast_test_requests_total{{program="{program}"}}', expected=7)
    assert found == 7.0


@pytest.mark.live
def test_pull_appends_the_bins_that_completed_and_a_second_pull_only_the_newer_ones(
    exporter: Exporter, tmp_path: Path
) -> None:
    busy, idle = code("busy"), code("idle")
    freq = pd.Timedelta("1min")  # at speed 12 a bin lasts 5 wall seconds
    store = write_dataset(history([busy, idle], freq), tmp_path / "store")
    counter = exporter.requests.labels(busy)  # the series exists at 0 before the first bin; `idle` never has one
    exporter.wait_for(f'clonecast_test_requests_total{{program="{busy}"}}', expected=0)
    start = pd.Timestamp.now(tz="UTC") + pd.Timedelta(seconds=1)
    clock = Clock(wall_origin=start, trace_origin=T0, speed=12)
    # Exact counts per bin: the counter's change between bin ends (increase() would extrapolate, see below).
    exact = counter_query(f'clonecast_test_requests_total{{program=~"{busy}|{idle}"}}')
    source = PrometheusSource(PROMETHEUS, exact, freq=freq, clock=clock)
    sent = {0: 4, 1: 6, 2: 3}

    def send(k: int, at: float) -> None:  # `at` wall seconds into bin k: every scrape of them lands in the bin
        sleep_until(start + pd.Timedelta(seconds=5 * k + at))
        for _ in range(sent[k]):
            counter.inc()
            time.sleep(0.1)

    send(0, 1.5)
    send(1, 1.5)
    send(2, 0.3)  # before the first pull, which must not see bin 2: it has not ended
    sleep_until(start + pd.Timedelta(seconds=11.5))  # bins 0 and 1 ended, plus the settle
    first = pull(store, source, limits=LIMITS)
    assert (first.new_rows, first.first, first.last) == (4, T0, T0 + freq)
    stored = read_dataset(store).requests.set_index(["program_code", "ts"])["requests"]
    assert [stored[(busy, T0)], stored[(busy, T0 + freq)]] == [4, 6]
    assert [stored[(idle, T0)], stored[(idle, T0 + freq)]] == [0, 0]  # no series: no request
    sleep_until(start + pd.Timedelta(seconds=16.5))
    second = pull(store, source, limits=LIMITS)
    assert (second.new_rows, second.first, second.last) == (2, T0 + 2 * freq, T0 + 2 * freq)
    stored = read_dataset(store).requests
    assert len(stored) == 2 * 3 + 2 * 3
    new = stored[stored["ts"] >= T0].groupby("program_code")["requests"].apply(list).to_dict()
    assert new == {busy: [4, 6, 3], idle: [0, 0, 0]}
    # The usual increase() on the same bins extrapolates each window's rise to its edges (x 5/4 with
    # 5 scrapes in a 5-second window): requests amid a bin count at least once, those in a bin's first scrape
    # interval (bin 2's) fall between two windows and may count in neither.
    query = f'sum by (program) (increase(clonecast_test_requests_total{{program="{busy}"}}[{{bin}}]))'
    estimate = PrometheusSource(PROMETHEUS, query, freq=freq, clock=clock).bins(T0, T0 + 3 * freq)
    assert estimate["program_code"].tolist() == [busy] * 3
    low = {0: sent[0], 1: sent[1], 2: 0}
    for k, value in enumerate(estimate["requests"]):
        assert low[k] <= value <= 2 * sent[k], (k, value)


@pytest.mark.live
def test_the_exact_query_counts_a_restarted_counter_from_zero(exporter: Exporter, tmp_path: Path) -> None:
    program = code("restarted")
    store = write_dataset(history([program], pd.Timedelta("1min")), tmp_path / "store")
    name, text = "clonecast_test_restarted", "A counter tests/live/test_prometheus.py resets"
    before = Counter(name, text, ["program"], registry=exporter.registry)
    before.labels(program)
    exporter.wait_for(f'clonecast_test_restarted_total{{program="{program}"}}', expected=0)
    start = pd.Timestamp.now(tz="UTC") + pd.Timedelta(seconds=1)
    clock = Clock(wall_origin=start, trace_origin=T0, speed=12)  # 1-minute bins of 5 wall seconds
    source = PrometheusSource(PROMETHEUS, counter_query(f"{name}_total"), freq=pd.Timedelta("1min"), clock=clock)
    registered = before
    try:
        sleep_until(start + pd.Timedelta(seconds=1.5))
        before.labels(program).inc(5)
        sleep_until(start + pd.Timedelta(seconds=6))  # a restart in bin 1: the same series, from 0 again
        exporter.registry.unregister(before)
        registered = Counter(name, text, ["program"], registry=exporter.registry)
        registered.labels(program).inc(2)
        sleep_until(start + pd.Timedelta(seconds=11.5))
        pulled = pull(store, source, limits=LIMITS)
    finally:
        exporter.registry.unregister(registered)
    assert (pulled.new_rows, pulled.first) == (2, T0)
    assert read_dataset(store).requests["requests"].tolist()[-2:] == [5, 2]


class Stalling(Collector):
    """A collector that, while `stalled` is set, answers later than the scrape timeout (1 s): every scrape of the
    target fails, as a front door too busy to answer /metrics in time."""

    def __init__(self) -> None:
        self.stalled = threading.Event()

    def collect(self) -> Iterator[Metric]:
        if self.stalled.is_set():
            time.sleep(1.5)
        return iter(())


@pytest.mark.live
def test_failed_scrapes_through_bin_ends_do_not_block_the_bins_after_them(exporter: Exporter, tmp_path: Path) -> None:
    """Scrapes fail from 3.5 s to 11 s (Prometheus marks the series stale), across the ends of bins 0 and 1: the pull
    after the gap stores all three bins, the gap's requests in the first bin after it (the last sample before the gap
    stands for its ends), the total exact. A plain selector has no value at an end inside the gap: the bin, and every
    bin after it, stayed unstored and the controller held to the end."""
    program = code("gap")
    freq = pd.Timedelta("1min")  # at speed 12 a bin lasts 5 wall seconds
    store = write_dataset(history([program], freq), tmp_path / "store")
    counter = exporter.requests.labels(program)
    exporter.wait_for(f'clonecast_test_requests_total{{program="{program}"}}', expected=0)
    stalling = Stalling()
    exporter.registry.register(stalling)
    try:
        start = pd.Timestamp.now(tz="UTC") + pd.Timedelta(seconds=1)
        clock = Clock(wall_origin=start, trace_origin=T0, speed=12)
        source = PrometheusSource(
            PROMETHEUS, counter_query(f'clonecast_test_requests_total{{program="{program}"}}'), freq=freq, clock=clock
        )
        sleep_until(start + pd.Timedelta(seconds=1.5))
        counter.inc(3)  # bin 0, scraped before the gap
        sleep_until(start + pd.Timedelta(seconds=3.5))
        stalling.stalled.set()
        sleep_until(start + pd.Timedelta(seconds=6))
        counter.inc(4)  # bin 1, inside the gap
        sleep_until(start + pd.Timedelta(seconds=11))
        stalling.stalled.clear()
        sleep_until(start + pd.Timedelta(seconds=12))
        counter.inc(2)  # bin 2, after the gap
        sleep_until(start + pd.Timedelta(seconds=16.5))
        pulled = pull(store, source, limits=LIMITS)
    finally:
        stalling.stalled.clear()
        exporter.registry.unregister(stalling)
    assert (pulled.new_rows, pulled.first, pulled.last) == (3, T0, T0 + 2 * freq)
    assert read_dataset(store).requests["requests"].tolist()[-3:] == [3, 0, 6]


@dataclass
class Served:
    """Gauges Prometheus has scraped, and a clock on which one bin of them has completed."""

    clock: Clock
    codes: dict[str, str]


@pytest.fixture(scope="module")
def served(exporter: Exporter) -> Served:
    codes = {name: code(f"gauge-{name}") for name in ("ok", "negative", "nan", "stranger")}
    values = {"ok": 2.0, "negative": -3.0, "nan": math.nan, "stranger": 5.0}
    for name, value in values.items():
        exporter.value.labels(codes[name]).set(value)
    for name in values:
        exporter.wait_for(f'clonecast_test_value{{program="{codes[name]}"}}')
    seen = pd.Timestamp.now(tz="UTC")
    clock = Clock(wall_origin=seen, trace_origin=T0, speed=60)  # the bin from T0 ends 5 s after all were seen
    sleep_until(seen + pd.Timedelta(seconds=6.5))
    return Served(clock, codes)


def gauge_source(served: Served, *names: str) -> PrometheusSource:
    matcher = "|".join(served.codes[n] for n in names)
    query = f'sum by (program) (clonecast_test_value{{program=~"{matcher}"}})'
    return PrometheusSource(PROMETHEUS, query, freq=pd.Timedelta("5min"), clock=served.clock)


@pytest.mark.live
def test_a_valid_gauge_is_pulled(served: Served, tmp_path: Path) -> None:
    store = write_dataset(history([served.codes["ok"]], pd.Timedelta("5min")), tmp_path / "store")
    pulled = pull(store, gauge_source(served, "ok"), limits=LIMITS)
    assert pulled.new_rows >= 1 and pulled.first == T0  # one bin, more when earlier tests took long
    assert read_dataset(store).requests["requests"].tolist() == [5, 5, 5] + [2] * pulled.new_rows


@pytest.mark.live
@pytest.mark.parametrize(
    ("names", "expectation", "column", "bad"),
    [
        (("ok", "negative"), "expect_column_values_to_be_between", "requests", "negative"),
        (("ok", "nan"), "expect_column_values_to_not_be_null", "requests", "nan"),
        (("ok", "stranger"), "expect_column_values_to_be_in_set", "program_code", "stranger"),
    ],
)
def test_bad_values_from_prometheus_are_refused_and_nothing_is_written(
    served: Served, tmp_path: Path, names: tuple[str, ...], expectation: str, column: str, bad: str
) -> None:
    known = [served.codes["ok"]] + ([served.codes[bad]] if bad != "stranger" else [])
    store = write_dataset(history(known, pd.Timedelta("5min")), tmp_path / "store")
    before = snapshot(store)
    with pytest.raises(DataValidationError) as caught:
        pull(store, gauge_source(served, *names), limits=LIMITS)
    failed = {f.expectation: f for f in caught.value.report.failures}
    assert expectation in failed, caught.value.report.summary()
    assert failed[expectation].columns == (column,)
    assert {e["program_code"] for e in failed[expectation].examples} == {served.codes[bad]}
    assert snapshot(store) == before


@pytest.mark.live
def test_a_query_prometheus_cannot_parse_is_an_input_error_with_its_message(served: Served) -> None:
    broken = "sum by (program) (increase(clonecast_test_requests_total[{bin}])"
    source = PrometheusSource(PROMETHEUS, broken, freq=pd.Timedelta("5min"), clock=served.clock)
    with pytest.raises(
        InputError, match=r"refused the query .*increase\(clonecast_test_requests_total\[5s\]\).*parse error"
    ):
        source.bins(T0, T0 + pd.Timedelta("5min"))


@pytest.mark.live
def test_an_http_error_is_a_source_error_naming_the_url(served: Served) -> None:
    url = f"{PROMETHEUS}/no/such/prefix"
    source = PrometheusSource(url, freq=pd.Timedelta("5min"), clock=served.clock)
    with pytest.raises(SourceError, match=f"Prometheus at {url} answered HTTP 404"):
        source.bins(T0, T0 + pd.Timedelta("5min"))
