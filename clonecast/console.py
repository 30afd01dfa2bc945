"""Terminal rendering for the CLI: rich progress bars, validation reports and dataset summaries."""

from __future__ import annotations

from typing import Any

from rich.console import Console
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

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)


class RichProgress:
    """Progress protocol on a rich progress display: one line per stage, a bar where the total is known."""

    def __init__(self, console: Console = stderr) -> None:
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
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish()
        self._progress.stop()

    def _finish(self) -> None:
        if self._task is not None:
            total = next(t.total for t in self._progress.tasks if t.id == self._task) or 1
            self._progress.update(self._task, total=total, completed=total)

    def stop(self) -> None:
        """Finish the display early (before printing a report)."""
        self._finish()
        self._progress.stop()

    def stage(self, description: str, total: float | None = None) -> None:
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
