"""The `clonecast` command line: each command calls the same library functions the flows call.

Exit codes: 0 success, 2 invalid data (or a usage error), 1 any other clonecast error.
"""

from __future__ import annotations

import json
import re
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.table import Table

from clonecast import __version__
from clonecast.errors import ClonecastError
from clonecast.settings import Settings
from policy.policies import POLICY_HELP
from traces.formats import FORMAT_HELP, FORMATS
from traces.frames import forecast_frame

if TYPE_CHECKING:
    from clonecast.console import RichProgress
    from data_checks import Limits, ValidationReport
    from policy.simulate import Setup
    from traces.frames import Dataset
    from traces.synthetic import SyntheticConfig

app = typer.Typer(
    name="clonecast",
    help="Forecast per-workload demand and clone containers before the requests arrive.\n\n"
    "Settings come from CLONECAST_* environment variables (e.g. CLONECAST_STATE_DIR, "
    "CLONECAST_LIMITS__MAX_AGE=15min); local state lives under ./.clonecast/.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)

INVALID = 2


TraceFormat = Enum("TraceFormat", {name: name for name in ("auto", *FORMATS)}, type=str)  # type: ignore[misc]
CheckFormat = Enum("CheckFormat", {name: name for name in ("auto", *FORMATS, "forecast")}, type=str)  # type: ignore[misc]
FORMAT_DOC = "Input format; 'auto' tells it from the file name and header (formats listed below)."
FORMATS_EPILOG = "[bold]Formats[/bold]\n\n" + "\n\n".join(
    f"[bold]{name}[/bold]: {text}" for name, text in FORMAT_HELP.items()
)

PathArg = Annotated[Path, typer.Argument(help="Trace file or directory.", show_default=False)]
EventsOpt = Annotated[
    Path | None,
    typer.Option("--events", help="Events CSV/Parquet: start, end, kind, magnitude, program_code."),
]
ProgramsOpt = Annotated[
    Path | None,
    typer.Option("--programs", help="Programs CSV/Parquet (resources per container); defaults apply otherwise."),
]
TzOpt = Annotated[
    str | None,
    typer.Option("--tz", help="Zone of timestamps written without an offset (e.g. UTC, Asia/Shanghai)."),
]
StartOpt = Annotated[
    str | None,
    typer.Option("--start", help="First bin of undated traces (azure2019, series), e.g. 2019-07-15T00:00Z."),
]
FreqOpt = Annotated[
    str | None, typer.Option("--freq", help="Bin width for per-request logs and undated series, e.g. 1min.")
]


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as e:  # pydantic's ValidationError, reworded
        raise typer.BadParameter(f"invalid CLONECAST_* setting: {e}") from e


def _version(value: bool) -> None:
    if value:
        print(f"clonecast {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """clonecast command line."""


def _duration(value: str | None) -> str | None:
    """Typer callback: a duration option such as 15min (checked, kept as text)."""
    if value is not None:
        from traces.frames import parse_duration

        try:
            parse_duration(value)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from e
    return value


@app.command(
    epilog=FORMATS_EPILOG
    + "\n\n[bold]forecast[/bold]: a forecast CSV/Parquet (program_code, origin, ts, step, yhat, q<level>, resources)"
)
def validate(
    path: PathArg,
    fmt: Annotated[CheckFormat, typer.Option("--format", "-f", help=FORMAT_DOC)] = (
        CheckFormat.auto  # type: ignore[attr-defined]
    ),
    events: EventsOpt = None,
    programs: ProgramsOpt = None,
    tz: TzOpt = None,
    start: StartOpt = None,
    freq: FreqOpt = None,
    max_age: Annotated[
        str | None,
        typer.Option(
            "--max-age", callback=_duration, help="Freshness: newest timestamp at most this old (e.g. 15min)."
        ),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the full report as JSON here.")] = None,
) -> None:
    """Check a trace (or forecast) against its expectation suites.

    Prints every failed expectation with example rows and exits 2 when the data is invalid, 0 when it is
    valid. Nothing is written except the optional JSON report.
    """
    from clonecast.console import RichProgress, render_dataset, render_report

    settings = _settings()
    limits = settings.limits.model_copy(update={"max_age": max_age}) if max_age else settings.limits
    with RichProgress() as progress:
        if fmt.value == "forecast":
            report = _check_forecast(path, programs, tz, settings, limits, progress)
            dataset = None
        else:
            from data_checks import check_source

            dataset, report = check_source(
                path,
                fmt.value,
                events=events,
                programs=programs,
                tz=tz,
                start=start,
                freq=freq,
                defaults=settings.program_defaults,
                limits=limits,
                progress=progress,
            )
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(report.to_json() + "\n")
    if dataset is not None and report.success:
        render_dataset(dataset, title=f"{path}")
    render_report(report)
    if not report.success:
        raise typer.Exit(INVALID)


def _check_forecast(
    path: Path,
    programs: Path | None,
    tz: str | None,
    settings: Settings,
    limits: Limits,
    progress: RichProgress,
) -> ValidationReport:
    from clonecast.errors import TraceFormatError
    from data_checks import validate as run_validation
    from data_checks.validate import report_from_error
    from traces.loaders.long import read_forecast, read_programs

    try:
        forecast = read_forecast(path, tz=tz, progress=progress)
        known = read_programs(programs, progress=progress) if programs else None
    except TraceFormatError as e:
        return report_from_error(e, source=str(path))
    return run_validation(
        forecast=forecast,
        programs=known,
        freq=settings.freq,
        limits=limits,
        source=str(path),
        progress=progress,
    )


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _dataset_name(value: str | None) -> str | None:
    if value is not None and not _NAME.match(value):
        raise typer.BadParameter(f"{value!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    return value


@app.command(epilog=FORMATS_EPILOG)
def ingest(
    path: PathArg,
    fmt: Annotated[TraceFormat, typer.Option("--format", "-f", help=FORMAT_DOC)] = TraceFormat.auto,  # type: ignore[attr-defined]
    events: EventsOpt = None,
    programs: ProgramsOpt = None,
    tz: TzOpt = None,
    start: StartOpt = None,
    freq: FreqOpt = None,
    name: Annotated[
        str | None,
        typer.Option("--name", callback=_dataset_name, help="Dataset name in the store (default: from the file name)."),
    ] = None,
    resample: Annotated[
        str | None,
        typer.Option(
            "--resample", callback=_duration, help="Also sum into bins of this width (e.g. 5min) before storing."
        ),
    ] = None,
    store: Annotated[
        Path | None, typer.Option("--store", help="Store directory (default: <state_dir>/datasets).")
    ] = None,
) -> None:
    """Read a trace in any supported format, validate it and write canonical Parquet to the store.

    Invalid input prints the failed expectations, exits 2 and writes nothing.
    """
    from clonecast.console import RichProgress, render_dataset, render_report
    from data_checks import check_source
    from traces.frames import parse_duration
    from traces.resample import resample as resample_requests
    from traces.store import write_dataset

    settings = _settings()
    with RichProgress() as progress:
        dataset, report = check_source(
            path,
            fmt.value,
            events=events,
            programs=programs,
            tz=tz,
            start=start,
            freq=freq,
            defaults=settings.program_defaults,
            limits=settings.limits,
            progress=progress,
        )
        if dataset is None or not report.success:
            progress.stage("nothing written")
        else:
            progress.stage("conforming frames")
            dataset = dataset.canonical()
            if resample:
                progress.stage(f"resampling to {resample}")
                dataset.requests = resample_requests(dataset.requests, resample)
                dataset.freq = parse_duration(resample)
            progress.stage("writing parquet")
            target = (store or settings.datasets_dir) / (name or _default_name(path))
            write_dataset(dataset, target)
    if dataset is None or not report.success:
        render_report(report)
        raise typer.Exit(INVALID)
    render_dataset(dataset, title=f"ingested into {target}")
    render_report(report)


def _default_name(path: Path) -> str:
    stem = path.name.split(".")[0] or "dataset"
    return re.sub(r"[^A-Za-z0-9._-]", "-", stem)[:64]


@app.command()
def generate(
    name: Annotated[str, typer.Option("--name", callback=_dataset_name, help="Dataset name in the store.")] = (
        "synthetic"
    ),
    out: Annotated[
        Path | None, typer.Option("--out", help="Write here instead of <state_dir>/datasets/<name>.")
    ] = None,
    programs: Annotated[int, typer.Option("--programs", min=1, help="Number of program codes.")] = 120,
    days: Annotated[int, typer.Option("--days", min=1, help="Length of the trace in days.")] = 21,
    freq: Annotated[str, typer.Option("--freq", help="Bin width.")] = "5min",
    start: Annotated[str, typer.Option("--start", help="First bin (UTC).")] = "2026-01-05T00:00:00Z",
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (default: settings seed).")] = None,
    bursty_share: Annotated[float, typer.Option(min=0, max=1, help="Share of bursty programs.")] = 0.15,
    sparse_share: Annotated[float, typer.Option(min=0, max=1, help="Share of sparse programs.")] = 0.20,
    gpu_share: Annotated[float, typer.Option(min=0, max=1, help="Share of GPU programs.")] = 0.10,
    cron_share: Annotated[float, typer.Option(min=0, max=1, help="Share of programs run by daily cron jobs.")] = 0.10,
    campaigns: Annotated[int, typer.Option(min=0, help="Campaign surges to inject.")] = 8,
    news: Annotated[int, typer.Option(min=0, help="News spikes (all programs) to inject.")] = 3,
    median_rate: Annotated[float, typer.Option(min=0, help="Median requests per bin of a steady program.")] = 30.0,
    dispersion: Annotated[float, typer.Option(min=0.1, help="Count noise: gamma-Poisson shape (lower = noisier).")] = (
        20.0
    ),
    plot: Annotated[bool, typer.Option(help="Also draw the trace to <state_dir>/plots/<name>.png.")] = True,
) -> None:
    """Generate the seeded synthetic trace (daily/weekly seasonality, bursty, sparse and GPU programs,
    campaigns, cron jobs and news as a ground-truth events table) and store it as a dataset."""
    from traces.synthetic import SyntheticConfig

    settings = _settings()
    try:
        config = SyntheticConfig(
            programs=programs,
            days=days,
            freq=freq,
            start=start,
            seed=settings.seed if seed is None else seed,
            bursty_share=bursty_share,
            sparse_share=sparse_share,
            gpu_share=gpu_share,
            cron_share=cron_share,
            campaigns=campaigns,
            news=news,
            median_rate=median_rate,
            dispersion=dispersion,
        )
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    _store_synthetic(config, out or settings.datasets_dir / name, settings, plot=plot, name=name)


def _store_synthetic(config: SyntheticConfig, target: Path, settings: Settings, *, plot: bool, name: str) -> Dataset:
    from clonecast.console import RichProgress, render_dataset, render_report, stdout
    from data_checks import validate_dataset
    from traces.plots import plot_trace
    from traces.store import write_dataset
    from traces.synthetic import generate as generate_trace

    with RichProgress() as progress:
        progress.stage("generating synthetic trace")
        dataset = generate_trace(config)
        report = validate_dataset(dataset, limits=settings.limits, progress=progress)
        if report.success:
            progress.stage("writing parquet")
            write_dataset(dataset, target)
            if plot:
                progress.stage("plotting")
                picture = plot_trace(dataset, settings.plots_dir / f"{name}.png")
    if not report.success:
        render_report(report)
        raise typer.Exit(INVALID)
    render_dataset(dataset, title=f"synthetic trace in {target}")
    render_report(report)
    if plot:
        stdout.print(f"plot: {picture}")
    return dataset


@app.command()
def demo() -> None:
    """The main job on embedded defaults: generate the synthetic trace, validate it, store it, plot it.

    Later stages (forecast, plan, clone) join here as they land.
    """
    from clonecast.console import stdout
    from traces.synthetic import SyntheticConfig

    settings = _settings()
    stdout.rule("clonecast demo")
    config = SyntheticConfig(seed=settings.seed)
    dataset = _store_synthetic(config, settings.datasets_dir / "synthetic", settings, plot=True, name="synthetic")
    stdout.rule("forecast -> clone plan")
    _demo_plan(dataset, settings)
    stdout.print(
        "\nnext: [bold]clonecast validate PATH[/bold] on a real trace, [bold]clonecast simulate[/bold] / "
        "[bold]clonecast pareto[/bold] to compare policies, [bold]clonecast plan[/bold] for your own hosts."
    )


DEMO_INFRA = Path(__file__).resolve().parents[1] / "infra" / "demo"


def _demo_plan(dataset: Dataset, settings: Settings) -> None:
    """Seasonal-naive forecast of the trace's last hour -> validated -> clone plan on the demo inventory."""
    import pandas as pd

    from clonecast.console import RichProgress, render_plan, stdout
    from data_checks import validate as run_validation
    from policy.forecasts import seasonal_naive_forecast
    from policy.plan import plan_clones
    from policy.trace import sim_trace
    from traces.frames import hosts_frame
    from traces.loaders.hosts import read_hosts

    with RichProgress() as progress:
        progress.stage("forecasting the last hour")
        matrices = sim_trace(dataset)
        horizon_bins = matrices.bins_for(settings.horizon * matrices.bin_minutes)
        forecast = seasonal_naive_forecast(matrices, matrices.bins - horizon_bins, settings.horizon)
        forecast = forecast[forecast["origin"] == forecast["origin"].min()]
        hosts = read_hosts(DEMO_INFRA / "hosts.csv")
        report = run_validation(forecast=forecast, programs=dataset.programs, hosts=hosts, progress=progress)
        if not report.success:
            _refuse(report, progress)
        progress.stage("planning clones")
        plan = plan_clones(
            forecast, dataset.programs, hosts_frame(hosts), latency=pd.read_csv(DEMO_INFRA / "latency.csv", index_col=0)
        )
        path = settings.state_dir / "plans" / "demo-plan.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(plan.to_json() + "\n")
    render_plan(plan)
    stdout.print(f"plan: {path} (hosts: {DEMO_INFRA / 'hosts.csv'})")


@app.command()
def datasets(
    store: Annotated[Path | None, typer.Option("--store", help="Store directory (default: <state_dir>/datasets).")] = (
        None
    ),
) -> None:
    """List the datasets in the store with their size, span and source."""
    from rich.table import Table

    from clonecast.console import stdout
    from traces.store import is_dataset_dir, read_manifest

    root = store or _settings().datasets_dir
    table = Table(title=f"datasets in {root}")
    table.add_column("name", no_wrap=True, style="bold")
    for column in ("format", "freq", "programs", "rows", "span (UTC)"):
        table.add_column(column, no_wrap=True)
    table.add_column("source", overflow="fold")
    found = sorted(p for p in root.iterdir() if is_dataset_dir(p)) if root.is_dir() else []
    for path in found:
        m = read_manifest(path)
        rows = m.get("rows", {})
        table.add_row(
            path.name,
            str(m.get("format")),
            str(m.get("freq")),
            str(m.get("programs")),
            f"{rows.get('requests', 0):,}" if isinstance(rows, dict) else "?",
            f"{str(m.get('start'))[:16]} .. {str(m.get('end'))[:16]}",
            str(m.get("source")),
        )
    stdout.print(table if found else f"no datasets in {root}; try `clonecast demo` or `clonecast ingest PATH`")


def _refuse(report: ValidationReport, progress: RichProgress) -> NoReturn:
    """Stop here, before anything uses the data: print the failed expectations and exit 2."""
    from clonecast.console import render_report

    progress.stop()
    render_report(report)
    raise typer.Exit(INVALID)


def _valid_dataset(path: Path, fmt: str, settings: Settings, progress: RichProgress, **options: object) -> Dataset:
    """Load and validate a trace; invalid data prints the report and exits 2 (nothing is simulated)."""
    from data_checks import check_source

    dataset, report = check_source(
        path, fmt, defaults=settings.program_defaults, limits=settings.limits, progress=progress, **options
    )
    if dataset is None or not report.success:
        _refuse(report, progress)
    return dataset.canonical()


def _setup(
    trace: Path,
    fmt: str,
    warmup_minutes: float,
    forecast: Path | None,
    settings: Settings,
    progress: RichProgress,
    tick_ms: int,
    arrivals: str,
    tz: str | None,
    start: str | None,
) -> Setup:
    from data_checks import validate as run_validation
    from policy.mode_b import PoolSettings
    from policy.simulate import Setup
    from policy.trace import sim_trace
    from traces.loaders.long import read_forecast

    dataset = _valid_dataset(trace, fmt, settings, progress, tz=tz, start=start)
    progress.stage("building matrices")
    matrices = sim_trace(dataset)
    warmup = matrices.bins_for(warmup_minutes)
    if warmup >= matrices.bins:
        raise typer.BadParameter(f"--warmup-minutes {warmup_minutes:g} leaves no bins to score ({matrices.bins} bins)")
    frame = None
    if forecast is not None:
        frame = read_forecast(forecast, tz=tz, progress=progress)
        report = run_validation(forecast=frame, programs=dataset.programs, limits=settings.limits, source=str(forecast))
        if not report.success:
            _refuse(report, progress)
        frame = forecast_frame(frame)
    pool = PoolSettings(tick_s=tick_ms / 1000.0, seed=settings.seed, arrivals=arrivals)
    return Setup(matrices, warmup, forecast=frame, horizon=settings.horizon, pool=pool)


TraceOpt = Annotated[Path, typer.Option("--trace", help="Trace file or directory (any format clonecast reads).")]
ModeOpt = Annotated[str, typer.Option("--mode", help="a: app-level (loaded or not per bin); b: container pool.")]
WarmupOpt = Annotated[
    float, typer.Option("--warmup-minutes", min=0, help="Policies learn on this window; scoring starts after it.")
]
ForecastOpt = Annotated[
    Path | None,
    typer.Option("--forecast", help="Forecast CSV/Parquet for seed/predictive (default: seasonal naive made here)."),
]
TickOpt = Annotated[int, typer.Option("--tick-ms", min=10, help="Mode B time step in milliseconds.")]
ArrivalsOpt = Annotated[
    str, typer.Option("--arrivals", help="Mode B arrival times inside a bin: uniform (seeded) or start.")
]


def _check_mode(mode: str, arrivals: str) -> None:
    if mode not in ("a", "b"):
        raise typer.BadParameter(f"--mode must be a or b, not {mode!r}")
    if arrivals not in ("uniform", "start"):
        raise typer.BadParameter(f"--arrivals must be uniform or start, not {arrivals!r}")


@app.command(epilog="[bold]Policies[/bold]\n\n" + "\n\n".join(f"[bold]{k}[/bold]: {v}" for k, v in POLICY_HELP.items()))
def simulate(
    trace: TraceOpt,
    policy: Annotated[list[str], typer.Option("--policy", "-p", help="Policy (repeatable), e.g. keepalive:10.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=FORMAT_DOC)] = "auto",
    mode: ModeOpt = "a",
    warmup_minutes: WarmupOpt = 480,
    forecast: ForecastOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.")] = None,
    tick_ms: TickOpt = 1000,
    arrivals: ArrivalsOpt = "uniform",
    tz: TzOpt = None,
    start: StartOpt = None,
) -> None:
    """Replay a trace against warm-pool policies and report cold starts against wasted or idle memory.

    Mode A is the app-level metric of "Serverless in the Wild" (p75 app cold-start %, wasted memory
    normalised to the fixed 10-minute keep-alive); Mode B simulates container pools (request-weighted
    cold starts, added latency, idle container-, memory- and GPU-seconds).
    """
    from clonecast.console import RichProgress, render_results, stdout
    from policy.policies import make_policy
    from policy.simulate import run_mode_a, run_mode_b

    _check_mode(mode, arrivals)
    settings = _settings()
    for spec in policy:
        try:
            make_policy(spec)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from e
    with RichProgress() as progress:
        setup = _setup(trace, fmt, warmup_minutes, forecast, settings, progress, tick_ms, arrivals, tz, start)
        results = (run_mode_a if mode == "a" else run_mode_b)(setup, policy, progress)
    rows = [r.to_dict() for r in results]
    render_results(rows, mode, title=f"mode {mode} on {trace} (warm-up {warmup_minutes:g} min)")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        payload = rows[0] if len(rows) == 1 else rows
        json_out.write_text(json.dumps(payload, indent=2) + "\n")
        stdout.print(f"json: {json_out}")


@app.command()
def pareto(
    trace: TraceOpt,
    fmt: Annotated[str, typer.Option("--format", "-f", help=FORMAT_DOC)] = "auto",
    mode: ModeOpt = "a",
    warmup_minutes: WarmupOpt = 480,
    forecast: ForecastOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory for CSV, JSON and PNG (default <state_dir>/pareto).")
    ] = None,
    tick_ms: TickOpt = 1000,
    arrivals: ArrivalsOpt = "uniform",
    tz: TzOpt = None,
    start: StartOpt = None,
) -> None:
    """Sweep every policy's knob and write the Pareto points (CSV + JSON) and plot (PNG, oracle marked)."""
    from clonecast.console import RichProgress, render_results, stdout
    from policy.plots import plot_pareto
    from policy.simulate import pareto as sweep

    _check_mode(mode, arrivals)
    settings = _settings()
    with RichProgress() as progress:
        setup = _setup(trace, fmt, warmup_minutes, forecast, settings, progress, tick_ms, arrivals, tz, start)
        points = sweep(setup, mode, progress)
        progress.stage("writing csv, json, png")
        folder = out or settings.state_dir / "pareto"
        folder.mkdir(parents=True, exist_ok=True)
        stem = folder / f"{_default_name(trace)}-mode-{mode}"
        points.to_csv(stem.with_suffix(".csv"), index=False)
        stem.with_suffix(".json").write_text(points.to_json(orient="records", indent=2) + "\n")
        title = f"{trace.name}: mode {mode}, warm-up {warmup_minutes:g} min"
        picture = plot_pareto(points, mode, stem.with_suffix(".png"), title)
    render_results(points.to_dict("records"), mode, title=title)
    stdout.print(f"csv: {stem.with_suffix('.csv')}\njson: {stem.with_suffix('.json')}\nplot: {picture}")


@app.command()
def plan(
    forecast: Annotated[Path, typer.Option("--forecast", help="Forecast CSV/Parquet (canonical forecast frame).")],
    hosts: Annotated[Path, typer.Option("--hosts", help="Hosts CSV/Parquet, or an Alibaba openb node list.")],
    programs: Annotated[
        Path, typer.Option("--programs", help="Programs CSV/Parquet, or a dataset directory (its programs frame).")
    ],
    json_out: Annotated[Path, typer.Option("--json", help="Write the clone plan here.")],
    existing: Annotated[
        Path | None, typer.Option("--existing", help="Clones that exist now: CSV with program_code, host, count.")
    ] = None,
    latency: Annotated[
        Path | None,
        typer.Option("--latency", help="CSV: request source region per row, host zone per column, milliseconds."),
    ] = None,
    at: Annotated[str | None, typer.Option("--at", help="Plan as of this time (default: the freshest origin).")] = None,
    max_age: Annotated[
        str | None, typer.Option("--max-age", callback=_duration, help="Refuse forecasts older than this.")
    ] = None,
    target_cold_start_pct: Annotated[
        float | None,
        typer.Option(min=0, max=100, help="Provision for this cold-start % instead of the cost objective."),
    ] = None,
    cost_per_cold_second: Annotated[float, typer.Option(min=0, help="Cost of one second of cold-start wait.")] = 5e-3,
    cost_per_gb_hour: Annotated[float, typer.Option(min=0, help="Cost of an idle GB for an hour.")] = 5e-3,
    cost_per_gpu_hour: Annotated[float, typer.Option(min=0, help="Cost of an idle GPU for an hour.")] = 0.5,
    max_clones: Annotated[int | None, typer.Option(min=0, help="Global budget: clones in total.")] = None,
    zones: Annotated[int, typer.Option(min=1, help="Zones to spread an openb node list over.")] = 3,
) -> None:
    """Turn a forecast into a clone plan: targets per program from the cold-start objective, scarcity
    allocation (GPU first), placement on hosts (fit, latency, spread, minimal churn).

    Invalid or stale inputs print the failed expectations and exit 2; nothing is planned from them.
    """
    import pandas as pd

    from clonecast.console import RichProgress, render_plan
    from data_checks import validate as run_validation
    from policy.allocate import Budget
    from policy.plan import ManagerSettings, plan_clones, state_from_frame
    from policy.targets import Objective
    from traces.frames import hosts_frame, programs_frame
    from traces.loaders.hosts import read_hosts
    from traces.loaders.long import read_forecast, read_programs
    from traces.store import is_dataset_dir, read_dataset

    settings = _settings()
    limits = settings.limits.model_copy(update={"max_age": max_age}) if max_age else settings.limits
    with RichProgress() as progress:
        progress.stage("reading inputs")
        try:
            program_frame = read_dataset(programs).programs if is_dataset_dir(programs) else read_programs(programs)
            forecast_rows = read_forecast(forecast)
            host_frame = read_hosts(hosts, zones=zones)
        except ClonecastError as e:
            progress.stop()
            raise typer.BadParameter(str(e)) from e
        report = run_validation(
            forecast=forecast_rows,
            programs=program_frame,
            hosts=host_frame,
            freq=settings.freq,
            limits=limits,
            source=f"{forecast} + {hosts} + {programs}",
            progress=progress,
        )
        if not report.success:
            _refuse(report, progress)
        progress.stage("planning")
        objective = Objective(
            cost_per_cold_second=cost_per_cold_second,
            cost_per_gb_hour=cost_per_gb_hour,
            cost_per_gpu_hour=cost_per_gpu_hour,
            target_cold_start_pct=target_cold_start_pct,
        )
        try:
            result = plan_clones(
                forecast_frame(forecast_rows),
                programs_frame(program_frame),
                hosts_frame(host_frame),
                at=pd.Timestamp(at) if at else None,
                existing=state_from_frame(pd.read_csv(existing)) if existing else None,
                latency=pd.read_csv(latency, index_col=0) if latency else None,
                settings=ManagerSettings(objective=objective, budget=Budget(max_clones=max_clones)),
            )
        except ValueError as e:
            progress.stop()
            raise typer.BadParameter(str(e)) from e
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(result.to_json() + "\n")
    render_plan(result)
    from clonecast.console import stdout

    stdout.print(f"plan: {json_out}")


MODELS = ("seasonal-naive", "moving-average", "ridge", "lightgbm")


@app.command()
def backtest(
    trace: TraceOpt,
    model: Annotated[str, typer.Option("--model", "-m", help=f"One of: {', '.join(MODELS)}.")] = "lightgbm",
    fmt: Annotated[str, typer.Option("--format", "-f", help=FORMAT_DOC)] = "auto",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the scores as JSON here.")] = None,
    test_fraction: Annotated[float, typer.Option(min=0.05, max=0.9, help="Share of the series held out.")] = 0.3,
    stride: Annotated[int, typer.Option(min=1, help="Bins between forecast origins in the test window.")] = 1,
    tz: TzOpt = None,
    start: StartOpt = None,
) -> None:
    """Rolling-origin backtest on 5-minute bins: forecasts for the next hour from every origin of the held-out
    window, scored with MASE (daily seasonal naive scale, m = 288), WAPE, pinball loss and the coverage of the
    50/80/90 % intervals (online conformal calibration)."""
    from clonecast.console import RichProgress, stdout
    from models.backtest import backtest as run_backtest
    from models.baselines import BASELINES
    from models.gbm import GradientBoosting
    from models.panel import Panel

    if model not in MODELS:
        raise typer.BadParameter(f"unknown model {model!r}; one of {', '.join(MODELS)}")
    settings = _settings()
    with RichProgress() as progress:
        dataset = _valid_dataset(trace, fmt, settings, progress, tz=tz, start=start)
        progress.stage("building the 5-minute panel")
        panel = Panel.from_dataset(dataset, settings.freq)
        progress.stage(f"backtesting {model}")
        forecaster = GradientBoosting(seed=settings.seed) if model == "lightgbm" else BASELINES[model]()
        try:
            result = run_backtest(
                forecaster, panel, test_fraction=test_fraction, horizon=settings.horizon, stride=stride
            )
        except ValueError as e:
            progress.stop()
            raise typer.BadParameter(str(e)) from e
    summary = result.summary()
    table = Table(title=f"{model} on {trace.name}: {summary['origins']} origins x {settings.horizon} steps")
    for column in ("series", "mase", "wape", "pinball", *[c for c in result.per_series if c.startswith("coverage")]):
        table.add_column(column, justify="left" if column == "series" else "right")
    for name, row in result.per_series.iterrows():
        table.add_row(str(name)[:40], *[f"{v:.3f}" for v in row.to_numpy()])
    stdout.print(table)
    covered = summary["coverage"].get("80", float("nan"))
    stdout.print(f"mean MASE {summary['mase']:.3f}, WAPE {summary['wape']:.3f}, 80 % interval coverage {covered:.3f}")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(summary, indent=2) + "\n")
        stdout.print(f"json: {json_out}")


def main() -> None:
    """Entry point: clonecast errors become one clear line and exit code 1."""
    try:
        app()
    except ClonecastError as e:
        from clonecast.console import stderr

        stderr.print(f"[red]error:[/red] {e}")
        sys.exit(1)
