"""The live demand source: requests per program and bin from Prometheus, checked, then appended to a dataset.

`PrometheusSource` runs one PromQL range query evaluated at the END of each bin, one bin of wall time apart, and
reads each sample as the requests of the bin that ends there. The default query (`DEFAULT_QUERY`, the setting
`prometheus_query`, `counter_query` of the front door's counter) is

    sum by (program) ((X - X offset {bin}) >= 0 or X),  X = clonecast_frontdoor_requests_total, bridged

where `{bin}` becomes the wall-clock width of one bin (`25s` for 5-minute bins at speed 12, `300s` at speed 1):
the counter's change between the bin's two ends, which telescopes, so the bins add up to the counter exactly; where
the counter fell (a restarted exporter) its value counts, from 0 again. A request is counted in the bin of the
scrape that first saw it, up to one scrape interval after it arrived. Bridged (`counter_query`): where the target's
scrapes failed at a bin end (`up` 0: an exporter too busy to answer within the scrape timeout), the series' last
sample before the gap (`last_over_time(X[5m])`) stands for its value. Prometheus marks a target's series stale at a
failed scrape, so the plain selector had no value at a bin end inside such a gap, however short, and that bin, and
every bin after it, stayed unstored: the controller held to the end of the run (a full-size `bench_live.py` run,
75 s of failed scrapes during a burst). A series gone while its target answers (a program no longer exported) is
not bridged. Its one blind spot: a series with no sample in the 5 minutes before a bin (its target down that long)
counts its whole total into that bin. Any query will do
that gives one series per program with the program code in a label named `program`; map a label of your own with
`label_replace(<query>, "program", "$1", "<your label>", "(.*)")`.

The usual `sum by (program) (increase(X[{bin}]))` works too but estimates: each window's `increase()` extrapolates
the rise between the scrapes inside it to the window's edges, and the rise between the last scrape of one bin and
the first of the next is seen by neither, so single bins can be off by a few percent (at 25-second bins) to a
quarter (at 5-second bins), though right on average. Values are rounded to whole requests.

The grid is dense: every program of the dataset's programs frame gets a row in every bin, 0 where the query has
no sample for it. A bin is only asked for once it is complete: its end, plus `settle_s` wall seconds for the last
scrape to land, lies before the clock's now. A bin in which the query has no sample of any program is not read as
silence: with a counter, an idle program still has a sample (0 new requests) as long as its exporter is scraped
(the front door exports every known program's counters from its start), so nothing at all means a blind spot (the
scrape target or Prometheus down). That bin and the ones after it are left for a later pull; if the blind spot
lasts, the data go stale and the controller holds rather than act on invented zeros.

Values are never fixed silently: NaN, infinite or negative values and programs missing from the programs frame
are refused (`DataValidationError` with the report, naming the expectation, the column and the program) before
anything is rounded or stored, and the rest runs the requests suite (`data_checks.validate`). An unreachable or
failing Prometheus raises `SourceError` naming its URL; a query Prometheus refuses, `InputError` naming the
query and Prometheus's message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from clonecast.errors import ConfigError, InputError, SourceError
from clonecast.settings import DEFAULT_PROMETHEUS_QUERY, Limits
from data_checks import validate
from data_checks.report import ExpectationResult, ValidationReport, plain
from live.clock import Clock
from traces.frames import UTC_NS, Dataset, freq_name, requests_frame
from traces.store import read_dataset, read_manifest, write_dataset

DEFAULT_QUERY = DEFAULT_PROMETHEUS_QUERY  # the setting's default, the same object (== EXACT_QUERY: tested)
LABEL = "program"  # the result label that names the program
MAX_POINTS = 10_000  # evaluation points per range query (Prometheus refuses more than 11,000 per series)
DRIFTING_POINTS = 100  # when a wall bin is no whole number of milliseconds, Prometheus's steps drift 1 ms each
MIN_WALL_BIN_S = 2.0  # a bin must span at least two scrapes (every second, infra/prometheus/prometheus.yml)
LOOKBACK = "5m"  # how far back a bin end's value is looked for (Prometheus's own lookback for plain selectors)


def counter_query(series: str) -> str:
    """Exact requests per program and bin from a counter selector: its change over the bin, or its value where it
    fell (a reset); each end's value is the last sample at or before it (failed scrapes leave no blind spot)."""
    now, before = _bridged(series, ""), _bridged(series, " offset {bin}")
    return f"sum by ({LABEL}) (({now} - {before}) >= 0 or {now})"


def _bridged(series: str, offset: str) -> str:
    """The series' samples, and where its target's scrapes failed (`up` 0), its last sample before them: a series
    that is gone while its target answers (a program no longer exported) stays gone."""
    gap = f"last_over_time({series}[{LOOKBACK}]{offset}) and on (job, instance) (up{offset} == 0)"
    return f"({series}{offset} or ({gap}))"


EXACT_QUERY = counter_query("clonecast_frontdoor_requests_total")


def promql_duration(seconds: float) -> str:
    """A wall-clock span as a PromQL duration: `25s`, or `42857ms` when it is no whole number of seconds."""
    ms = round(seconds * 1000)
    if ms <= 0:
        raise ConfigError(f"a bin lasts {seconds:g} wall seconds: too short for a Prometheus range (1 ms at least)")
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def raw_frame(rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Samples as Prometheus gave them: program_code, ts (trace bin start, UTC), requests (float, unchecked)."""
    rows = rows if rows is not None else pd.DataFrame({"program_code": [], "ts": [], "requests": []})
    return pd.DataFrame(
        {
            "program_code": rows["program_code"].astype("str"),
            "ts": pd.to_datetime(rows["ts"], utc=True).astype(UTC_NS),
            "requests": rows["requests"].astype("float64"),
        }
    ).reset_index(drop=True)


def samples_frame(
    result: Sequence[Mapping[str, Any]],
    *,
    clock: Clock,
    freq: pd.Timedelta,
    starts: pd.DatetimeIndex,
    programs: Iterable[str] = (),
    query: str = "",
) -> pd.DataFrame:
    """A query_range result, evaluated at the end of each bin, as a raw frame (see `raw_frame`).

    `result` is Prometheus's list of series, `{"metric": {"program": ...}, "values": [[unix seconds, "v"], ...]}`;
    a sample at wall time t belongs to the bin of `starts` that ends at trace time `clock.trace(t)`. Values stay as
    Prometheus wrote them ("NaN", "-3", "+Inf" included) for the checks to see. Every program of `programs` gets a
    row in every bin of `starts`, 0 where it has no sample; programs the result names beyond them keep their rows.
    """
    if len(starts) == 0:
        return raw_frame()
    first_end = starts[0] + freq
    codes: list[str] = []
    stamps: list[float] = []
    values: list[float] = []
    for series in result:
        metric = series.get("metric") or {}
        if LABEL not in metric:
            raise InputError(
                f"the query {query!r} gave a series without a `{LABEL}` label ({dict(metric)}): aggregate with "
                f'`sum by ({LABEL})` or map your label with label_replace(..., "{LABEL}", "$1", "<label>", "(.*)")'
            )
        for stamp, value in series.get("values") or []:
            codes.append(str(metric[LABEL]))
            stamps.append(float(stamp))
            values.append(float(value))  # Prometheus writes NaN, +Inf and -Inf as such; float() reads them
    wall = np.asarray(stamps, dtype=float)  # [N] unix seconds
    trace_ns = clock.trace_origin.value + (wall * 1e9 - clock.wall_origin.value) * clock.speed  # [N] bin ends
    slot = np.rint((trace_ns - first_end.value) / freq.value)  # [N] index into starts
    off = np.abs(trace_ns - (first_end.value + slot * freq.value))
    stray = (slot < 0) | (slot >= len(starts)) | (off > freq.value / 2)
    if stray.any():
        at = pd.Timestamp(wall[stray][0], unit="s", tz="UTC")
        raise SourceError(
            f"the query {query!r} gave a sample at {at} (trace {clock.trace(at)}), which ends none of the "
            f"{len(starts)} bins asked for from {starts[0]}"
        )
    slot = slot.astype(np.int64)
    heard = np.bincount(slot, minlength=len(starts)) > 0  # [B] bins with a sample of any program
    upto = len(starts) if heard.all() else int(np.argmin(heard))  # a bin nobody was heard in ends the frame
    if upto == 0:
        return raw_frame()
    keep = slot < upto
    starts, slot = starts[:upto], slot[keep]
    codes, values = list(np.asarray(codes, dtype=object)[keep]), list(np.asarray(values, dtype=float)[keep])
    observed = pd.DataFrame({"program_code": codes, "ts": starts[slot], "requests": values})
    known = sorted(set(map(str, programs)))
    grid = pd.MultiIndex.from_product([known, starts], names=["program_code", "ts"])
    seen = pd.MultiIndex.from_frame(observed[["program_code", "ts"]]) if len(observed) else grid[:0]
    missing = grid.difference(seen).to_frame(index=False).assign(requests=0.0)
    frame = raw_frame(pd.concat([observed, missing], ignore_index=True) if len(observed) else missing)
    return frame.sort_values(["program_code", "ts"], kind="stable").reset_index(drop=True)


def _failure(expectation: str, check: str, bad: np.ndarray, raw: pd.DataFrame, limit: int) -> ExpectationResult:
    rows = raw.loc[bad, ["program_code", "ts", "requests"]].head(limit)
    return ExpectationResult(
        frame="requests",
        expectation=expectation,
        check=check,
        columns=("requests",),
        success=not bad.any(),
        unexpected_count=int(bad.sum()) if bad.any() else None,
        examples=tuple({c: plain(v) for c, v in row.items()} for row in rows.to_dict("records")),
    )


def check_values(raw: pd.DataFrame, *, source: str, limits: Limits) -> ValidationReport:
    """The values as Prometheus gave them, before rounding: none missing (NaN), all finite and non-negative."""
    values = raw["requests"].to_numpy(float)  # [N]
    nan = np.isnan(values)
    bad = ~nan & ~(np.isfinite(values) & (values >= 0))
    results = (
        _failure("expect_column_values_to_not_be_null", "no missing values (NaN)", nan, raw, limits.examples),
        _failure(
            "expect_column_values_to_be_between",
            "finite, non-negative counts before rounding",
            bad,
            raw,
            limits.examples,
        ),
    )
    return ValidationReport(source=source, results=results, rows={"requests": len(raw)})


def to_requests(
    raw: pd.DataFrame,
    programs: pd.DataFrame,
    *,
    freq: pd.Timedelta,
    limits: Limits,
    now: pd.Timestamp,
    source: str,
) -> pd.DataFrame:
    """A raw frame checked (values first, then the requests suite against `programs`, in trace time `now`) and
    rounded to the canonical requests frame; DataValidationError with the report when anything fails."""
    values = check_values(raw, source=source, limits=limits)
    numbers = raw["requests"].to_numpy(float)
    fine = raw[np.isfinite(numbers) & (numbers >= 0)]
    counts = requests_frame(fine.assign(requests=np.rint(fine["requests"].to_numpy(float)).astype(np.int64)))
    results = values.results
    if len(counts):
        # The grid check only on a complete frame: rows refused above would read as gaps.
        suite = validate(
            requests=counts,
            programs=programs,
            freq=freq if values.success else None,
            limits=limits,
            now=now,
            source=source,
        )
        results += suite.results
    report = ValidationReport(source=source, results=results, rows={"requests": len(raw), "programs": len(programs)})
    report.raise_for_failures()
    return counts


class PrometheusSource:
    """Requests per program in each bin of trace time, from a Prometheus range query on `clock`."""

    def __init__(
        self,
        url: str,
        query: str = DEFAULT_QUERY,
        *,
        freq: pd.Timedelta,
        clock: Clock,
        timeout: float = 10.0,
        settle_s: float = 1.0,
    ) -> None:
        self.url, self.query = url.rstrip("/"), query
        self.freq, self.clock = pd.Timedelta(freq), clock
        self.timeout, self.settle_s = timeout, settle_s
        if self.freq <= pd.Timedelta(0):
            raise ConfigError(f"the bin width must be positive, not {freq}")
        wall_bin = clock.wall_seconds(self.freq)
        if wall_bin < MIN_WALL_BIN_S:
            raise ConfigError(
                f"at speed {clock.speed:g} a {freq_name(self.freq)} bin lasts {wall_bin:g} wall seconds, fewer "
                f"than the {MIN_WALL_BIN_S:g} that two scrapes need: replay slower"
            )
        self.step = promql_duration(wall_bin)
        self._last: requests.Response | None = None  # the last answer, for Prometheus's own error message
        session = requests.Session()
        session.hooks["response"].append(self._keep)
        # Few, quick retries on a restarting Prometheus; a timeout is not repeated (the caller holds instead).
        retry = Retry(total=2, read=0, backoff_factor=0.2, status_forcelist=(502, 503, 504), raise_on_status=False)
        self.client = PrometheusConnect(url=self.url, session=session, retry=retry, timeout=timeout)

    def _keep(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        self._last = response
        return response

    @property
    def promql(self) -> str:
        """The query with `{bin}` replaced by one bin's wall-clock width."""
        return self.query.replace("{bin}", self.step)

    def bins(
        self,
        start: pd.Timestamp,
        end: pd.Timestamp,
        *,
        programs: Iterable[str] = (),
        now: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """The raw frame (`raw_frame`: values unchecked) of the complete bins starting at start, start + freq, ...
        before `end` (trace time); `programs` get a row in every bin (0 without a sample)."""
        now = self.clock.now() if now is None else now
        settle = pd.Timedelta(seconds=self.settle_s * self.clock.speed)
        starts = pd.date_range(start, end, freq=self.freq, inclusive="left")
        starts = starts[starts + self.freq + settle <= now]
        if len(starts) == 0:
            return raw_frame()
        wall_ms = self.clock.wall_seconds(self.freq) * 1000
        per_query = MAX_POINTS if float(wall_ms).is_integer() else DRIFTING_POINTS
        result: list[dict[str, Any]] = []
        for i in range(0, len(starts), per_query):
            chunk = starts[i : i + per_query]
            result += self._range(self.clock.wall(chunk[0] + self.freq), self.clock.wall(chunk[-1] + self.freq))
        return samples_frame(
            result, clock=self.clock, freq=self.freq, starts=starts, programs=programs, query=self.promql
        )

    def _range(self, first: pd.Timestamp, last: pd.Timestamp) -> list[dict[str, Any]]:
        """One query_range from the wall time of the first bin's end to the last's, a wall bin apart."""
        query = self.promql
        step = f"{self.clock.wall_seconds(self.freq):.6f}"
        # The client rounds start and end to whole seconds; bins need milliseconds, passed as the API's own params.
        exact = {"start": f"{first.value / 1e9:.3f}", "end": f"{last.value / 1e9:.3f}"}
        try:
            found = self.client.custom_query_range(
                query, start_time=first.to_pydatetime(), end_time=last.to_pydatetime(), step=step, params=exact
            )
        except requests.exceptions.JSONDecodeError as e:
            raise SourceError(f"{self.url} answered the query with something other than Prometheus's JSON: {e}") from e
        except requests.Timeout as e:
            raise SourceError(f"Prometheus at {self.url} did not answer within {self.timeout:g} s: {e}") from e
        except requests.RequestException as e:
            raise SourceError(
                f"Prometheus at {self.url} is unreachable ({e}); is it running? `make up` starts one on "
                f"127.0.0.1:9090 (curl {self.url}/-/ready), CLONECAST_PROMETHEUS_URL points elsewhere"
            ) from e
        except PrometheusApiClientException as e:
            raise self._refused(query, e) from e
        except (KeyError, TypeError) as e:
            raise SourceError(f"{self.url} answered the query without Prometheus's data.result: {e!r}") from e
        return list(found)

    def _refused(self, query: str, error: Exception) -> Exception:
        """Prometheus's own error: a query it cannot parse or run is the user's to fix; anything else, the source's."""
        answer = self._last
        status = answer.status_code if answer is not None else None
        kind, message = None, str(error)
        if answer is not None:
            try:
                body = answer.json()
                kind, message = body.get("errorType"), body.get("error", message)
            except ValueError:
                message = answer.text[:300]
        if status in (400, 422) and kind in ("bad_data", "execution"):
            return InputError(
                f"Prometheus at {self.url} refused the query {query!r} ({kind}): {message}; "
                "fix the query (CLONECAST_PROMETHEUS_QUERY)"
            )
        return SourceError(f"Prometheus at {self.url} answered HTTP {status} to {query!r}: {message}")


@dataclass(frozen=True)
class Pulled:
    """What a pull did: the dataset as stored now, the rows appended (0: nothing new, nothing written) and their
    first and last bin (trace time).

    Bins in which Prometheus has no sample of any program are not stored (see the module's doc): a later pull asks
    for them again."""

    dataset: Dataset
    new_rows: int = 0
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None


def pull(
    dataset_dir: Path,
    source: PrometheusSource,
    *,
    limits: Limits,
    now: pd.Timestamp | None = None,
) -> Pulled:
    """Append the bins that completed since the dataset's last bin, from `source`, to the dataset in `dataset_dir`.

    Only bins after the last stored one are asked for; they are checked against the dataset's programs (nothing is
    written when any check fails: DataValidationError) and the dataset is rewritten atomically. `now` is trace time
    (default: the source's clock)."""
    dataset = read_dataset(dataset_dir)
    manifest = read_manifest(dataset_dir)
    if dataset.freq != source.freq:
        raise ConfigError(f"{dataset_dir} holds {dataset.freq} bins; the source reads {source.freq} bins")
    history = dataset.requests
    if history.empty:
        raise InputError(f"{dataset_dir}: the dataset has no requests; a pull continues after its last bin")
    now = source.clock.now() if now is None else pd.Timestamp(now)
    last = pd.Timestamp(history["ts"].max())
    codes = dataset.programs["program_code"].astype(str)
    raw = source.bins(last + source.freq, now, programs=codes, now=now)
    if raw.empty:
        return Pulled(dataset)
    new = to_requests(
        raw,
        dataset.programs,
        freq=source.freq,
        limits=limits,
        now=now,
        source=f"Prometheus {source.url}: {source.promql}",
    )
    notes = manifest.get("notes")
    updated = replace(
        dataset,
        requests=requests_frame(pd.concat([history, new], ignore_index=True)),
        format=str(manifest.get("format") or dataset.format),
        notes=[str(n) for n in notes] if isinstance(notes, list) else dataset.notes,
    )
    write_dataset(updated, dataset_dir)
    return Pulled(updated, len(new), new["ts"].min(), new["ts"].max())
