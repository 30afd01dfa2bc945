"""Benchmark: ingest + validate the Azure 2019 sample (1,350 functions x 1,440 minutes).

Target: <= 10 s on 2 cores for load + validate + conform + write. Printed against a baseline
measured in the same process: a bare `pandas.read_csv` of the same invocations file (no checks, no
reshaping), so the ratio says what clonecast's checks and canonical frames cost on top of parsing.

    python benchmarks/bench_ingest_validate.py [TRACE_DIR]
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

from traces.shared import shared_traces_dir

DEFAULT = (shared_traces_dir() or Path("../shared/data/traces")) / "azure_functions_2019_invitro_sample1350"


def timed(label: str, fn, results: dict[str, float]):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn()
    results[label] = time.perf_counter() - start
    return value


def main() -> int:
    trace = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    if not trace.exists():
        print(f"skipped: {trace} not found (pass the Azure 2019 sample directory)")
        return 0
    results: dict[str, float] = {}
    import pandas as pd

    timed("import great_expectations", lambda: __import__("data_checks._gx"), results)
    inv = next(trace.glob("*_inv.csv*"))
    timed("baseline: pandas.read_csv(inv)", lambda: pd.read_csv(inv), results)

    from data_checks import validate_dataset
    from traces.loaders import load
    from traces.store import write_dataset

    dataset = timed("load (parse + long frame)", lambda: load(trace), results)
    report = timed("validate (GX suites + grid)", lambda: validate_dataset(dataset), results)
    assert report.success, report.summary()
    canonical = timed("conform to canonical frames", dataset.canonical, results)
    with tempfile.TemporaryDirectory() as tmp:
        timed("write parquet", lambda: write_dataset(canonical, Path(tmp) / "azure"), results)

    pipeline = sum(v for k, v in results.items() if not k.startswith(("baseline", "import")))
    baseline = results["baseline: pandas.read_csv(inv)"]
    rows = len(dataset.requests)
    print(f"Azure 2019 sample: {len(dataset.programs):,} functions, {rows:,} rows, {len(report.results)} expectations")
    for label, seconds in results.items():
        print(f"  {label:<34} {seconds:7.2f} s")
    print(
        f"  {'ingest + validate (total)':<34} {pipeline:7.2f} s   "
        f"target <= 10 s: {'OK' if pipeline <= 10 else 'MISSED'}"
    )
    print(f"  {'with the GX import':<34} {pipeline + results['import great_expectations']:7.2f} s")
    print(f"  ratio to baseline read_csv         {pipeline / baseline:7.1f} x")
    print(f"  peak RSS                           {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:7.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
