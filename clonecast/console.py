"""Terminal rendering for the CLI: rich progress bars, validation reports and dataset summaries."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from data_checks.report import ValidationReport
from traces.frames import Dataset, freq_name

WIDEST = 10_000  # columns a table may take when it is measured at its natural width


class WideConsole(Console):
    """A console that prints a table at its natural width when the terminal (or a pipe's 80 columns) is
    narrower, so that no cell or header is cut to `invoca…`; everything else wraps at the console's width."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if kwargs.get("width") is None and any(isinstance(o, Table) for o in objects):
            wide = self.options.update_width(WIDEST)
            natural = max(Measurement.get(self, wide, o).maximum for o in objects if isinstance(o, Table))
            if natural > self.width:
                objects = tuple(_AtWidth(o, natural) if isinstance(o, Table) else o for o in objects)
                kwargs["crop"] = False
        super().print(*objects, **kwargs)


class _AtWidth:
    """A renderable laid out at a fixed width, whatever the console's."""

    def __init__(self, renderable: Table, width: int) -> None:
        self.renderable, self.width = renderable, width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from console.render(self.renderable, options.update_width(self.width))


stdout = WideConsole(highlight=False)
stderr = WideConsole(stderr=True, highlight=False)


class RichProgress:
    """Progress protocol on a rich progress display: one line per stage, a bar where the total is known. On a
    console that is not a terminal (a pipe, a log file) each stage is a plain line as it starts, stamped with the
    seconds since the display began, instead of a display drawn only once everything has finished."""

    def __init__(self, console: Console = stderr) -> None:
        self._console = console
        self._plain = not console.is_terminal
        self._began = time.perf_counter()
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<34}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self._began = time.perf_counter()
        if not self._plain:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _finish(self) -> None:
        if self._task is not None:
            total = next(t.total for t in self._progress.tasks if t.id == self._task) or 1
            self._progress.update(self._task, total=total, completed=total)

    def stop(self) -> None:
        """Finish the display early (before printing a report)."""
        if self._plain:
            return
        self._finish()
        self._progress.stop()

    def stage(self, description: str, total: float | None = None) -> None:
        if self._plain:
            self._console.print(f"[{time.perf_counter() - self._began:6.1f} s] {description}", markup=False)
            return
        self._finish()
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: float = 1.0) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)


def render_report(report: ValidationReport, console: Console = stdout) -> None:
    """Failed expectations with their example rows, or one line saying all held."""
    if report.success:
        console.print(f"[green]valid[/green]: all {len(report.results)} expectations held ({_rows(report)})")
        return
    failures = report.failures
    console.print(
        f"[red]invalid[/red]: {len(failures)} of {len(report.results)} expectations failed on {report.source}"
    )
    for result in failures:
        console.print(f"\n[bold red]✗ {result.expectation}[/bold red] on [bold]{result.where}[/bold]: {result.check}")
        if facts := result.facts():
            console.print("  " + "; ".join(facts))
        if result.examples:
            console.print(_examples_table(result.examples))


def _examples_table(rows: tuple[dict[str, Any], ...]) -> Table:
    table = Table(show_header=True, header_style="bold", pad_edge=False, box=None, padding=(0, 2))
    columns = list(dict.fromkeys(c for row in rows for c in row))
    for column in columns:
        table.add_column("line" if column == "_line" else column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    return table


def _cell(value: Any) -> str:
    return "∅" if value is None else str(value)


def _rows(report: ValidationReport) -> str:
    return ", ".join(f"{name} {n:,} rows" for name, n in report.rows.items())


def render_dataset(dataset: Dataset, console: Console = stdout, *, title: str = "dataset") -> None:
    """A short summary of a dataset: size, span, demand and events."""
    requests, programs, events = dataset.requests, dataset.programs, dataset.events
    table = Table(title=title, show_header=False, box=None, padding=(0, 2), title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("source", dataset.source if len(dataset.source) < 90 else dataset.source[:87] + "...")
    table.add_row("format", dataset.format)
    table.add_row("programs", f"{len(programs):,} ({int((programs['gpus'] > 0).sum())} on GPUs)")
    if len(requests):
        table.add_row("span", f"{requests['ts'].min():%Y-%m-%d %H:%M} .. {requests['ts'].max():%Y-%m-%d %H:%M} UTC")
    table.add_row("bins", f"{requests['ts'].nunique():,} of {freq_name(dataset.freq)} ({len(requests):,} rows)")
    total = int(requests["requests"].sum())
    table.add_row("requests", f"{total:,} (zero in {float((requests['requests'] == 0).mean()):.0%} of bins)")
    kinds = events["kind"].value_counts()
    table.add_row("events", ", ".join(f"{n} {k}" for k, n in kinds.items()) or "none")
    for note in dataset.notes:
        table.add_row("note", note)
    console.print(table)


RESULT_COLUMNS = {
    "a": [
        ("policy", "policy"),
        ("apps", "apps"),
        ("invocations", "invocations"),
        ("cold_starts", "cold starts"),
        ("cold_start_pct", "cold %"),
        ("p75_app_cold_start_pct", "p75 app cold %"),
        ("wasted_memory_gb_min", "wasted GB-min"),
        ("wasted_memory_pct_of_keepalive10", "wasted % of ka10"),
    ],
    "b": [
        ("policy", "policy"),
        ("invocations", "invocations"),
        ("cold_starts", "cold starts"),
        ("cold_start_pct", "cold %"),
        ("p75_app_cold_start_pct", "p75 app cold %"),
        ("added_latency_p99_s", "p99 added s"),
        ("idle_container_s", "idle container-s"),
        ("idle_memory_gb_s", "idle GB-s"),
        ("idle_gpu_s", "idle GPU-s"),
        ("idle_memory_pct_of_keepalive10", "idle mem % of ka10"),
    ],
}


def render_results(rows: list[dict[str, Any]], mode: str, console: Console = stdout, *, title: str = "") -> None:
    """Simulation results as a table, one row per policy."""
    table = Table(title=title, title_justify="left")
    for key, label in RESULT_COLUMNS[mode]:
        table.add_column(label, justify="left" if key == "policy" else "right", no_wrap=True)
    for row in rows:
        table.add_row(*(_number(row.get(key)) for key, _ in RESULT_COLUMNS[mode]))
    console.print(table)


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render_plan(plan: Any, console: Console = stdout) -> None:
    """A clone plan in brief: totals, actions by kind, the largest shortfalls."""
    clones = sum(a.count for a in plan.actions if a.op == "clone")
    removes = sum(a.count for a in plan.actions if a.op == "remove")
    table = Table(title=f"clone plan for the bin at {plan.bin_start} (forecast made {plan.origin})", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("programs", f"{len(plan.targets):,}")
    table.add_row("clones wanted", f"{sum(plan.wanted.values()):,}")
    table.add_row("clones placed", f"{sum(plan.targets.values()):,}")
    table.add_row("actions", f"{len(plan.actions):,} ({clones:,} clones to start, {removes:,} to remove)")
    table.add_row("short", f"{len(plan.shortfall):,} programs")
    console.print(table)
    if plan.shortfall:
        short = Table("program", "wanted", "granted", "placed", "reason", title="shortfall (first 10)")
        for row in plan.shortfall[:10]:
            short.add_row(
                row["program_code"], str(row["wanted"]), str(row["granted"]), str(row["placed"]), row["reason"]
            )
        console.print(short)


def render_scores(title: str, result: Any, simulator: dict[str, Any], console: Console = stdout) -> None:
    """A backtest's scores per series (the first 30), their means, and the simulator's cost on the same window."""
    summary = result.summary()
    per_series = result.per_series
    table = Table(title=title)
    for column in ("series", "mase", "wape", "pinball", *[c for c in per_series if c.startswith("coverage")]):
        table.add_column(column, justify="left" if column == "series" else "right")
    for name, row in per_series.head(30).iterrows():
        table.add_row(str(name)[:40], *[f"{v:.3f}" for v in row.to_numpy()])
    console.print(table)
    if len(per_series) > 30:
        console.print(f"({len(per_series) - 30} more series in the JSON)")
    covered = summary["coverage"].get("80", float("nan"))
    console.print(f"mean MASE {summary['mase']:.3f}, WAPE {summary['wape']:.3f}, 80 % interval coverage {covered:.3f}")
    for mode, row in simulator.items():
        console.print(
            f"simulator mode {mode}, predictive policy on the same window: cold starts {row['cold_start_pct']:.2f} %, "
            f"cost {row['cost']:.2f}"
        )


def render_datasets(root: Any, found: list[tuple[str, dict[str, Any]]], console: Console = stdout) -> None:
    """The datasets of a store: name, format, bin width, size, span and source."""
    if not found:
        console.print(f"no datasets in {root}; try `clonecast demo` or `clonecast ingest PATH`")
        return
    table = Table(title=f"datasets in {root}")
    table.add_column("name", no_wrap=True, style="bold")
    for column in ("format", "freq", "programs", "rows", "span (UTC)"):
        table.add_column(column, no_wrap=True)
    table.add_column("source", overflow="fold")
    for name, m in found:
        rows = m.get("rows", {})
        table.add_row(
            name,
            str(m.get("format")),
            str(m.get("freq")),
            str(m.get("programs")),
            f"{rows.get('requests', 0):,}" if isinstance(rows, dict) else "?",
            f"{str(m.get('start'))[:16]} .. {str(m.get('end'))[:16]}",
            str(m.get("source")),
        )
    console.print(table)


def render_applied(report: Any, title: str, console: Console = stdout) -> None:
    """What an actuator did per (program, host) pair, and the totals."""
    table = Table("program", "host", "target", "before", "created", "removed", "replaced", "status", title=title)
    for r in report.results:
        table.add_row(
            r.program_code,
            r.host,
            str(r.target),
            str(r.before),
            str(r.created),
            str(r.removed),
            str(r.replaced),
            r.status if not r.error else f"{r.status}: {r.error}",
        )
    console.print(table)
    if report.dry_run:
        console.print(
            f"{len(report.results)} pairs, would change {sum(abs(r.target - r.before) for r in report.results)} clones"
        )
    else:
        console.print(f"{len(report.results)} pairs, changed {report.changed} clones")
