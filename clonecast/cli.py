"""The `clonecast` command line: each command parses its options, calls one job (the same the flows call) and
renders what it returned.

Exit codes: 0 success, 2 invalid data, a bad option or a model not in the state the command needs, 1 any other
clonecast error (an engine failed); 3 the promotion gate rejected the challenger (promote --strict, retrain --ci);
4 nothing new to score (update: no bin after the champion's trained_until, nothing registered). Anything else is a
bug in clonecast and ends with its traceback.
"""

from __future__ import annotations

import json
import sys
from enum import Enum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from clonecast import __version__
from clonecast.errors import ClonecastError, DataValidationError, InputError, ModelError, NothingToScoreError
from clonecast.settings import Settings
from simulator.policies import POLICY_HELP
from traces.formats import FORMAT_HELP, FORMATS

if TYPE_CHECKING:
    from clonecast.console import RichProgress
    from simulator.simulate import Setup

FAILED = 1  # an engine (or anything else clonecast did on purpose) failed
INVALID = 2
REJECTED = 3  # the gate kept the champion (promote --strict, retrain --ci)
NOTHING_NEW = 4  # no bin after the model's trained_until: nothing scored, nothing registered


class Commands(TyperGroup):
    """Every command's clonecast errors as exit codes; any other exception is a bug and keeps its traceback."""

    def invoke(self, ctx: Any) -> Any:
        from clonecast.console import render_report, stderr, stdout

        try:
            return super().invoke(ctx)
        except DataValidationError as e:  # the failed expectations, with example rows
            render_report(e.report)
            raise typer.Exit(INVALID) from e
        except NothingToScoreError as e:
            stdout.print(f"[yellow]{e}[/yellow]: nothing registered, no metric changed")
            raise typer.Exit(NOTHING_NEW) from e
        except (InputError, ModelError) as e:
            raise typer.BadParameter(str(e)) from e
        except ClonecastError as e:
            stderr.print(f"[red]error:[/red] {e}")
            raise typer.Exit(FAILED) from e


app = typer.Typer(
    name="clonecast",
    cls=Commands,
    help="Forecast per-workload demand and clone containers before the requests arrive.\n\n"
    "Settings come from CLONECAST_* environment variables (e.g. CLONECAST_STATE_DIR, "
    "CLONECAST_LIMITS__MAX_AGE=15min); local state lives under ./.clonecast/.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


TraceFormat = Enum("TraceFormat", {name: name for name in ("auto", *FORMATS)}, type=str)  # type: ignore[misc]
CheckFormat = Enum("CheckFormat", {name: name for name in ("auto", *FORMATS, "forecast")}, type=str)  # type: ignore[misc]
FORMAT_DOC = "Input format; 'auto' tells it from the file name and header (formats listed below)."
FORMATS_EPILOG = "[bold]Formats[/bold]\n\n" + "\n\n".join(
    f"[bold]{name}[/bold]: {text}" for name, text in FORMAT_HELP.items()
)


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as e:  # pydantic's ValidationError, reworded
        raise typer.BadParameter(f"invalid CLONECAST_* setting: {e}") from e


def _version(value: bool) -> None:
    if value:
        print(f"clonecast {__version__}")
        raise typer.Exit()


def _duration(value: str | None) -> str | None:
    """Typer callback: a duration option such as 15min (checked, kept as text)."""
    if value is not None:
        from clonecast.settings import parse_duration

        try:
            parse_duration(value)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from e
    return value


def _timestamp(value: str | None) -> str | None:
    """Typer callback: a timestamp option such as 2026-01-05T00:00Z (checked, kept as text)."""
    if value is not None:
        import pandas as pd

        try:
            pd.Timestamp(value)
        except ValueError as e:
            raise typer.BadParameter(f"{value!r} is not a timestamp such as 2026-01-05T00:00:00Z") from e
    return value


def _dataset_name(value: str | None) -> str | None:
    """Typer callback: a dataset name fit for the store."""
    from jobs.data import dataset_name

    if value is None:
        return None
    try:
        return dataset_name(value)
    except InputError as e:
        raise typer.BadParameter(str(e)) from e


def _model_option(model: str) -> str:
    from models.catalog import MODELS

    if model not in MODELS:
        raise typer.BadParameter(f"unknown model {model!r}; one of {', '.join(MODELS)}")
    return model


def _sim_modes(sim: str) -> tuple[str, ...]:
    modes = tuple(m for m in sim.replace(" ", "").split(",") if m and m != "none")
    if any(m not in {"a", "b"} for m in modes):
        raise typer.BadParameter(f"--sim {sim!r}: use a, b, a,b or none")
    return modes


def _params(text: str | None) -> dict[str, object]:
    if not text:
        return {}
    try:
        params = json.loads(text)
    except json.JSONDecodeError as e:
        raise typer.BadParameter(f"--params is not JSON: {e}") from e
    if not isinstance(params, dict):
        raise typer.BadParameter("--params must be a JSON object, e.g. '{\"hidden\": 64}'")
    return params


def _check_mode(mode: str, arrivals: str) -> None:
    if mode not in ("a", "b"):
        raise typer.BadParameter(f"--mode must be a or b, not {mode!r}")
    if arrivals not in ("uniform", "start"):
        raise typer.BadParameter(f"--arrivals must be uniform or start, not {arrivals!r}")


def _policies(specs: list[str]) -> list[str]:
    from simulator.policies import make_policy

    for spec in specs:
        try:
            make_policy(spec)
        except InputError as e:
            raise typer.BadParameter(str(e)) from e
    return specs


def _write_json(path: Path | None, payload: object) -> None:
    from clonecast.console import stdout

    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        stdout.print(f"json: {path}")


PathArg = Annotated[Path, typer.Argument(help="Trace file or directory.", show_default=False)]
EventsOpt = Annotated[
    Path | None,
    typer.Option("--events", help="Events CSV/Parquet: start, end, kind, magnitude, program_code."),
]
ProgramsOpt = Annotated[
    Path | None,
    typer.Option(
        "--programs",
        help="Programs CSV/Parquet: resources per container, cold start, criticality (critical, standard, "
        "best-effort); defaults apply otherwise.",
    ),
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
TraceOpt = Annotated[Path, typer.Option("--trace", help="Trace file or directory (any format clonecast reads).")]
FmtOpt = Annotated[str, typer.Option("--format", "-f", help=FORMAT_DOC)]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Write the scores as JSON here.")]
ForecasterOpt = Annotated[str, typer.Option("--model", "-m", help="hybrid, lstm, lightgbm or a baseline.")]
HeldOutOpt = Annotated[float, typer.Option(min=0.05, max=0.9, help="Share of the series held out for the backtest.")]
StrideOpt = Annotated[int, typer.Option(min=1, help="Bins between backtest origins in the held-out window.")]
SimOpt = Annotated[
    str, typer.Option("--sim", help="Simulator modes to cost the predictive policy in: a, b, a,b or none.")
]
ModelNameOpt = Annotated[
    str | None, typer.Option("--name", help="Registered model name (default: settings.registered_model).")
]
MarginOpt = Annotated[
    float | None, typer.Option(min=0, max=0.99, help="Relative gain needed (default: settings.promotion_margin).")
]
TrackingOpt = Annotated[
    str | None, typer.Option("--tracking-uri", help="MLflow URI (default: SQLite under the state dir).")
]
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


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """clonecast command line."""


# -- data ----------------------------------------------------------------------------------------------


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
    from jobs import data

    settings = _settings()
    limits = data.limits_with(settings, max_age)
    dataset = None
    with RichProgress() as progress:
        if fmt.value == "forecast":
            report = data.check_forecast_file(
                path, settings, programs=programs, tz=tz, limits=limits, progress=progress
            )
        else:
            dataset, report = data.check(
                path,
                fmt.value,
                settings,
                limits=limits,
                progress=progress,
                events=events,
                programs=programs,
                tz=tz,
                start=start,
                freq=freq,
            )
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(report.to_json() + "\n")
    if dataset is not None and report.success:
        render_dataset(dataset, title=f"{path}")
    render_report(report)
    if not report.success:
        raise typer.Exit(INVALID)


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
    from jobs import data

    settings = _settings()
    with RichProgress() as progress:
        stored = data.ingest(
            path,
            fmt.value,
            settings,
            name=name,
            store=store,
            resample=resample,
            progress=progress,
            events=events,
            programs=programs,
            tz=tz,
            start=start,
            freq=freq,
        )
    if stored.dataset is not None and stored.ok:
        render_dataset(stored.dataset, title=f"ingested into {stored.target}")
    render_report(stored.report)
    if not stored.ok:
        raise typer.Exit(INVALID)


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
    freq: Annotated[str, typer.Option("--freq", callback=_duration, help="Bin width.")] = "5min",
    start: Annotated[str, typer.Option("--start", callback=_timestamp, help="First bin (UTC).")] = (
        "2026-01-05T00:00:00Z"
    ),
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
    except InputError as e:
        raise typer.BadParameter(str(e)) from e
    _synthesize(config, out or settings.datasets_dir / name, settings, plot=plot, name=name)


def _synthesize(config: Any, target: Path, settings: Settings, *, plot: bool, name: str) -> None:
    from clonecast.console import RichProgress, render_dataset, render_report, stdout
    from jobs.data import synthesize

    with RichProgress() as progress:
        stored = synthesize(
            config, target, settings, plot=settings.plots_dir / f"{name}.png" if plot else None, progress=progress
        )
    if not stored.ok or stored.dataset is None:
        render_report(stored.report)
        raise typer.Exit(INVALID)
    render_dataset(stored.dataset, title=f"synthetic trace in {target}")
    render_report(stored.report)
    if stored.picture is not None:
        stdout.print(f"plot: {stored.picture}")


@app.command()
def demo(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Forecaster to train (hybrid takes longer).")
    ] = "lightgbm",
    actuator: Annotated[str, typer.Option("--actuator", help="dry-run, or docker (needs make up).")] = "dry-run",
) -> None:
    """The whole pipeline on embedded defaults: generate and validate the synthetic trace, then the Prefect
    flows (an ephemeral Prefect server unless PREFECT_API_URL is set; MLflow in SQLite under the state dir):
    train and register a forecaster, the promotion gate, batch prediction, a clone plan applied by the
    actuator, a drift check, and a Pareto plot of the warm-pool policies."""
    import os

    from clonecast.console import stdout
    from jobs.data import SYNTHETIC
    from traces.synthetic import SyntheticConfig

    if actuator not in ("dry-run", "docker"):
        raise typer.BadParameter(f"--actuator {actuator!r}: dry-run or docker")
    _model_option(model)
    settings = _settings()
    stdout.rule("clonecast demo: synthetic trace")
    target = settings.datasets_dir / SYNTHETIC
    _synthesize(SyntheticConfig(seed=settings.seed), target, settings, plot=True, name=SYNTHETIC)
    stdout.rule("pipeline: Prefect flows")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows.pipeline import demo_pipeline

    result = demo_pipeline(str(target.resolve()), model=model, actuator=actuator)
    trained, deployed, drift = result["trained"], result["deployed"], result["drift"]
    stdout.rule("report")
    stdout.print(
        f"forecaster   {model} v{trained['version']}: backtest MASE {trained['backtest_mase']:.3f}, WAPE "
        f"{trained['backtest_wape']:.3f}, 80 % interval coverage {trained.get('coverage_80', float('nan')):.3f}, "
        f"simulator cost {trained.get('sim_cost', float('nan')):.2f}"
    )
    stdout.print(f"gate         {result['promoted']['reason']}")
    stdout.print(f"forecast     {result['predicted']['rows']} rows from {result['predicted']['origin']}")
    stdout.print(
        f"clone plan   {deployed['clones']} clones on {deployed['hosts']} hosts via {deployed['actuator']}, "
        f"{deployed['short_programs']} programs short: {deployed['plan']}"
    )
    judged = drift["note"] or f"PSI {drift['psi']:.3f}"  # nothing new to score when trained on every bin
    stdout.print(f"drift        {judged}, {'DRIFT' if drift['drifted'] else 'no drift'}")
    stdout.print(f"plots        {settings.plots_dir / f'{model}-forecast.png'} (forecast vs actual)")
    stdout.print(f"             {result['pareto']} (Pareto: cold starts vs wasted memory)")
    stdout.print(
        f"look at      MLflow: mlflow ui --backend-store-uri {settings.mlflow_uri} (model {settings.registered_model},"
        " aliases champion/challenger); Prefect: make up, then http://127.0.0.1:4200 (make deploy for schedules)"
    )


@app.command()
def datasets(
    store: Annotated[Path | None, typer.Option("--store", help="Store directory (default: <state_dir>/datasets).")] = (
        None
    ),
) -> None:
    """List the datasets in the store with their size, span and source."""
    from clonecast.console import render_datasets
    from jobs.data import list_datasets

    root = store or _settings().datasets_dir
    render_datasets(root, list_datasets(root))


# -- simulator -----------------------------------------------------------------------------------------


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
    programs: Path | None,
) -> Setup:
    """The simulator's Setup from a validated trace (with its programs file, if any) and a validated forecast."""
    from jobs import data, simulate

    dataset = data.load_valid(trace, fmt, settings, progress=progress, tz=tz, start=start, programs=programs)
    frame = None
    if forecast is not None:
        frame = data.read_valid_forecast(forecast, dataset.programs, settings, tz=tz, progress=progress)
    return simulate.setup(
        dataset,
        settings,
        warmup_minutes=warmup_minutes,
        forecast=frame,
        tick_ms=tick_ms,
        arrivals=arrivals,
        progress=progress,
    )


@app.command(epilog="[bold]Policies[/bold]\n\n" + "\n\n".join(f"[bold]{k}[/bold]: {v}" for k, v in POLICY_HELP.items()))
def simulate(
    trace: TraceOpt,
    policy: Annotated[list[str], typer.Option("--policy", "-p", help="Policy (repeatable), e.g. keepalive:10.")],
    fmt: FmtOpt = "auto",
    mode: ModeOpt = "a",
    warmup_minutes: WarmupOpt = 480,
    forecast: ForecastOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.")] = None,
    tick_ms: TickOpt = 1000,
    arrivals: ArrivalsOpt = "uniform",
    tz: TzOpt = None,
    start: StartOpt = None,
    programs: ProgramsOpt = None,
) -> None:
    """Replay a trace against warm-pool policies and report cold starts against wasted or idle memory.

    Mode A is the app-level metric of "Serverless in the Wild" (p75 app cold-start %, wasted memory
    normalised to the fixed 10-minute keep-alive); Mode B simulates container pools (request-weighted
    cold starts, added latency, idle container-, memory- and GPU-seconds).
    """
    from clonecast.console import RichProgress, render_results
    from jobs.simulate import run

    _check_mode(mode, arrivals)
    _policies(policy)
    settings = _settings()
    with RichProgress() as progress:
        setup = _setup(trace, fmt, warmup_minutes, forecast, settings, progress, tick_ms, arrivals, tz, start, programs)
        rows = run(setup, mode, policy, progress)
    render_results(rows, mode, title=f"mode {mode} on {trace} (warm-up {warmup_minutes:g} min)")
    _write_json(json_out, rows[0] if len(rows) == 1 else rows)


@app.command()
def pareto(
    trace: TraceOpt,
    fmt: FmtOpt = "auto",
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
    programs: ProgramsOpt = None,
) -> None:
    """Sweep every policy's knob and write the Pareto points (CSV + JSON) and plot (PNG, oracle marked)."""
    from clonecast.console import RichProgress, render_results, stdout
    from jobs.data import default_name
    from jobs.simulate import sweep

    _check_mode(mode, arrivals)
    settings = _settings()
    title = f"{trace.name}: mode {mode}, warm-up {warmup_minutes:g} min"
    with RichProgress() as progress:
        setup = _setup(trace, fmt, warmup_minutes, forecast, settings, progress, tick_ms, arrivals, tz, start, programs)
        folder = out or settings.state_dir / "pareto"
        points, files = sweep(setup, mode, folder, default_name(trace), title, progress)
    render_results(points.to_dict("records"), mode, title=title)
    stdout.print(f"csv: {files['csv']}\njson: {files['json']}\nplot: {files['plot']}")


# -- clones --------------------------------------------------------------------------------------------


@app.command()
def plan(
    forecast: Annotated[Path, typer.Option("--forecast", help="Forecast CSV/Parquet (canonical forecast frame).")],
    hosts: Annotated[Path, typer.Option("--hosts", help="Hosts CSV/Parquet, or an Alibaba openb node list.")],
    programs: Annotated[
        Path,
        typer.Option(
            "--programs",
            help="Programs CSV/Parquet, or a dataset directory (its programs frame; its requests let the timing "
            "model hold one clone where the next invocation is worth a cold start). Optional column criticality: "
            "critical, standard (default) or best-effort; a cold start costs 4, 1 or 0.25 standard ones.",
        ),
    ],
    json_out: Annotated[Path, typer.Option("--json", help="Write the clone plan here.")],
    existing: Annotated[
        Path | None, typer.Option("--existing", help="Clones that exist now: CSV with program_code, host, count.")
    ] = None,
    latency: Annotated[
        Path | None,
        typer.Option("--latency", help="CSV: request source region per row, host zone per column, milliseconds."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", callback=_timestamp, help="Plan as of this time (default: the freshest origin)."),
    ] = None,
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
    allocation (GPU first), placement on hosts (fit, latency, spread, minimal churn). A program's criticality
    weighs its cold starts in all three: best-effort programs lose clones first, critical ones last.

    Invalid or stale inputs print the failed expectations and exit 2; nothing is planned from them.
    `clonecast apply --plan` then carries the plan out.
    """
    import pandas as pd

    from clonecast.console import RichProgress, render_plan, stdout
    from jobs import data
    from jobs import plan as planning
    from policy.targets import Objective

    settings = _settings()
    objective = Objective(
        cost_per_cold_second=cost_per_cold_second,
        cost_per_gb_hour=cost_per_gb_hour,
        cost_per_gpu_hour=cost_per_gpu_hour,
        target_cold_start_pct=target_cold_start_pct,
    )
    with RichProgress() as progress:
        progress.stage("reading inputs")
        ahead = pd.Timedelta(settings.freq)
        inputs = planning.read_inputs(
            forecast, programs, hosts, latency=latency, existing=existing, zones=zones, ahead=ahead
        )
        result = planning.plan(
            inputs,
            settings,
            limits=data.limits_with(settings, max_age),
            at=pd.Timestamp(at) if at else None,
            objective=objective,
            max_clones=max_clones,
            progress=progress,
        )
        planning.write(result, json_out)
    render_plan(result)
    stdout.print(f"plan: {json_out}")


class Engine(StrEnum):
    docker = "docker"
    kubernetes = "kubernetes"


@app.command()
def apply(
    plan_file: Annotated[
        Path, typer.Option("--plan", help="Clone plan JSON (from clonecast plan or the deploy flow).")
    ],
    actuator: Annotated[Engine, typer.Option("--actuator", help="The engine that runs the clones.")],
    programs: Annotated[
        Path, typer.Option("--programs", help="Programs CSV/Parquet, or a dataset directory (images, resources).")
    ],
    hosts: Annotated[
        Path | None,
        typer.Option("--hosts", help="Hosts CSV/Parquet (default: this machine's engine; the cluster's nodes)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what would change.")] = False,
    namespace: Annotated[str, typer.Option("--namespace", help="Kubernetes namespace of the clones.")] = "clonecast",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write what was done per pair as JSON here.")] = None,
) -> None:
    """Carry out a clone plan through an actuator (the deploy flow's job): every (program, host) pair the plan
    covers converges to its desired clones, failing clones are replaced. The Docker Engine comes from
    CLONECAST_DOCKER_HOST (or DOCKER_HOST), the cluster from CLONECAST_KUBECONFIG (or KUBECONFIG).

    Exits 2 when the plan does not fit the programs or hosts (nothing is touched), 1 when the engine failed."""
    from clonecast.console import render_applied
    from jobs import apply as applying
    from jobs.data import read_programs_any

    settings = _settings()
    clone_plan = applying.read_plan(plan_file)
    fleet = applying.hosts(actuator.value, settings, hosts)
    engine = applying.actuator(actuator.value, read_programs_any(programs), fleet, settings, namespace=namespace)
    report = applying.apply(clone_plan, engine, dry_run=dry_run)
    assert report is not None  # an engine was built
    render_applied(report, f"{plan_file} via {actuator.value}" + (" (dry-run)" if dry_run else ""))
    _write_json(json_out, report.to_dict())


@app.command()
def run(
    dataset: Annotated[
        Path, typer.Option("--dataset", help="Dataset directory: the programs and the history; new bins are appended.")
    ],
    actuator: Annotated[Engine, typer.Option("--actuator", help="The engine that runs the clones.")] = Engine.docker,
    hosts: Annotated[
        Path | None,
        typer.Option("--hosts", help="Hosts CSV/Parquet (default: this machine's engine; the cluster's nodes)."),
    ] = None,
    forecaster: Annotated[
        str,
        typer.Option(
            "--forecaster",
            help="champion (the registry's, CLONECAST_REGISTERED_MODEL) or seasonal-naive (for histories too short "
            "to train on).",
        ),
    ] = "champion",
    speed: Annotated[
        float, typer.Option("--speed", min=0.001, help="Trace seconds per wall second (replays: 12 = a minute in 5 s).")
    ] = 1.0,
    trace_start: Annotated[
        str | None,
        typer.Option(
            "--trace-start",
            callback=_timestamp,
            help="Trace time at --wall-start (with --speed other than 1; default: the end of the dataset).",
        ),
    ] = None,
    wall_start: Annotated[
        str | None,
        typer.Option("--wall-start", callback=_timestamp, help="Wall-clock time (UTC) the trace clock starts at."),
    ] = None,
    tick: Annotated[float, typer.Option("--tick", min=0.2, help="Wall seconds between scaling-policy ticks.")] = 2.0,
    duration: Annotated[
        str | None, typer.Option("--for", callback=_duration, help="Stop after this much trace time (default: never).")
    ] = None,
    metrics_port: Annotated[
        int, typer.Option("--metrics-port", help="Serve the controller's Prometheus metrics here (0: off).")
    ] = 9182,
    journal: Annotated[
        Path | None, typer.Option("--journal", help="Decisions as JSON lines (default: <state>/live/journal.jsonl).")
    ] = None,
    namespace: Annotated[str, typer.Option("--namespace", help="Kubernetes namespace of the clones.")] = "clonecast",
) -> None:
    """Run the live loop: every forecast bin, pull the bins that completed from Prometheus (CLONECAST_PROMETHEUS_URL,
    CLONECAST_PROMETHEUS_QUERY), forecast the next hour and plan with the clones that exist; every tick, correct the
    plan with the scaling policy from requests in flight and the clones' health, and converge the engine.

    Stale or invalid data, or an unreachable Prometheus or engine, never actuates: the controller holds the clones
    as they are, says why (journal, clonecast_controller_holding) and resumes when the cause goes away. Ctrl-C
    stops it; the clones stay."""
    import pandas as pd
    from prometheus_client import start_http_server

    from clonecast.console import stdout
    from live.clock import Clock
    from live.controller import LiveSettings, build
    from traces.store import read_dataset

    settings = _settings()
    history = read_dataset(dataset).requests
    start = pd.Timestamp(trace_start) if trace_start else history["ts"].max() + pd.Timedelta(settings.freq)
    wall = pd.Timestamp(wall_start) if wall_start else pd.Timestamp.now(tz="UTC")
    clock = Clock(wall_origin=wall, trace_origin=start if speed != 1.0 or trace_start else wall, speed=speed)
    live = LiveSettings(speed=speed, tick_s=tick)
    controller = build(
        dataset,
        settings,
        live,
        clock=clock,
        actuator=actuator.value,
        hosts=hosts,
        forecaster=forecaster,
        journal=journal or settings.state_dir / "live" / "journal.jsonl",
        namespace=namespace,
    )
    if metrics_port:
        start_http_server(metrics_port, addr="127.0.0.1", registry=controller.metrics.registry)
    until = clock.trace(wall) + pd.Timedelta(duration) if duration else None
    stdout.print(
        f"clonecast run: {controller.programs.programs} programs, trace clock at {clock.now()} x{speed:g}, "
        f"tick {tick:g} s, metrics on :{metrics_port}" + (f", until {until}" if until is not None else "")
    )
    try:
        controller.run(until=until)
    except KeyboardInterrupt:
        stdout.print("stopped; the clones stay as they are")
    counts: dict[str, int] = {}
    for entry in controller.journal.entries:
        counts[entry["kind"]] = counts.get(entry["kind"], 0) + 1
    stdout.print(f"journal: {counts}")


# -- models --------------------------------------------------------------------------------------------


def _registry(settings: Settings, tracking_uri: str | None, name: str | None) -> tuple[str, str]:
    """The MLflow URI and registered model name: the options, else the settings."""
    return tracking_uri or settings.mlflow_uri, name or settings.registered_model


def _scores(title: str, evaluation: Any) -> dict[str, object]:
    """Render a backtest's scores; the JSON payload."""
    from clonecast.console import render_scores

    render_scores(title, evaluation.result, evaluation.simulator)
    return dict(evaluation.result.summary()) | {"simulator": evaluation.simulator}


def _gate_verdict(what: str, promotion: Any, detail: str, fail: bool) -> None:
    """Print the gate's decision; exit 3 when it rejected and `fail` (--strict, --ci)."""
    from clonecast.console import stdout

    verdict = "[green]promoted[/green]" if promotion.decision.promote else "[yellow]rejected[/yellow]"
    stdout.print(f"{what} {verdict} ({detail}): {promotion.decision.reason}")
    if fail and not promotion.decision.promote:
        raise typer.Exit(REJECTED)


@app.command()
def backtest(
    trace: TraceOpt,
    model: Annotated[str, typer.Option("--model", "-m", help="hybrid, lstm, lightgbm, seasonal-naive, ...")] = "hybrid",
    fmt: FmtOpt = "auto",
    json_out: JsonOpt = None,
    test_fraction: HeldOutOpt = 0.3,
    stride: StrideOpt = 1,
    sim: SimOpt = "a",
    params: Annotated[str | None, typer.Option("--params", help="Model knobs as JSON.")] = None,
    tz: TzOpt = None,
    start: StartOpt = None,
) -> None:
    """Rolling-origin backtest on 5-minute bins: forecasts for the next hour from every origin of the held-out
    window, scored with MASE (daily seasonal naive scale, m = 288), WAPE, pinball loss and the coverage of the
    50/80/90 % intervals (online conformal calibration), and the simulator's cost of the predictive policy fed
    by these forecasts on the same window (--sim a,b for both modes; none to skip).

    Models: hybrid (LSTM + LightGBM over calendar and events), lstm, lightgbm, seasonal-naive, moving-average,
    ridge."""
    from clonecast.console import RichProgress
    from jobs.backtest import score_model
    from jobs.data import load_valid
    from models.catalog import make_model
    from models.panel import Panel

    model, modes, knobs = _model_option(model), _sim_modes(sim), _params(params)
    settings = _settings()
    with RichProgress() as progress:
        dataset = load_valid(trace, fmt, settings, progress=progress, tz=tz, start=start)
        progress.stage("building the 5-minute panel")
        panel = Panel.from_dataset(dataset, settings.freq)
        progress.stage(f"backtesting {model}")
        evaluation = score_model(
            make_model(model, settings.seed, settings.horizon, **knobs),
            dataset,
            panel,
            horizon=settings.horizon,
            test_fraction=test_fraction,
            stride=stride,
            sim_modes=modes,
        )
    title = f"{model} on {trace.name}: {len(evaluation.result.origins)} origins x {settings.horizon} steps"
    _write_json(json_out, _scores(title, evaluation))


@app.command()
def train(
    trace: TraceOpt,
    model: ForecasterOpt = "hybrid",
    fmt: FmtOpt = "auto",
    name: ModelNameOpt = None,
    tracking_uri: TrackingOpt = None,
    params: Annotated[str | None, typer.Option("--params", help="Model knobs as JSON, e.g. '{\"epochs\": 4}'.")] = None,
    test_fraction: HeldOutOpt = 0.3,
    stride: StrideOpt = 1,
    sim: SimOpt = "a",
    json_out: JsonOpt = None,
    tz: TzOpt = None,
    start: StartOpt = None,
) -> None:
    """Backtest a model, train it on the whole trace with calibrated intervals, and register it in MLflow as
    the `challenger` (params, metrics, forecast and per-series plots, a pyfunc model with its signature).
    `clonecast promote` then decides whether it becomes the `champion`."""
    from clonecast.console import RichProgress, stdout
    from jobs.data import load_valid
    from jobs.train import train_and_register
    from models.panel import Panel

    model, modes, knobs = _model_option(model), _sim_modes(sim), _params(params)
    settings = _settings()
    uri, registered_name = _registry(settings, tracking_uri, name)
    with RichProgress() as progress:
        dataset = load_valid(trace, fmt, settings, progress=progress, tz=tz, start=start)
        outcome = train_and_register(
            dataset,
            Panel.from_dataset(dataset, settings.freq),
            model,
            uri=uri,
            name=registered_name,
            seed=settings.seed,
            horizon=settings.horizon,
            params=knobs,
            test_fraction=test_fraction,
            stride=stride,
            sim_modes=modes,
            plots_dir=settings.plots_dir,
            progress=progress,
        )
    payload = _scores(f"{model} on {trace.name} (backtest)", outcome.evaluation)
    stdout.print(f"trained in {outcome.seconds:.1f} s; plots: {', '.join(str(p) for p in outcome.plots)}")
    if outcome.registered is not None:
        stdout.print(
            f"registered [bold]{registered_name}[/bold] version {outcome.registered.version} as challenger "
            f"(run {outcome.registered.run_id}) in {uri}"
        )
    version = getattr(outcome.registered, "version", None)
    _write_json(json_out, payload | {"train_seconds": outcome.seconds, "version": version})


@app.command()
def update(
    trace: TraceOpt,
    fmt: FmtOpt = "auto",
    name: ModelNameOpt = None,
    tracking_uri: TrackingOpt = None,
    alias: Annotated[str, typer.Option("--from", help="Alias of the version to warm-start from.")] = "champion",
    test_fraction: HeldOutOpt = 0.3,
    stride: StrideOpt = 1,
    sim: SimOpt = "a",
    json_out: JsonOpt = None,
    tz: TzOpt = None,
    start: StartOpt = None,
) -> None:
    """Continuous retraining: warm-start the champion on new data (LSTM fine-tune, LightGBM continued
    boosting) instead of training from scratch, and register the result as the challenger. The warm start is
    backtested on bins after the champion's trained_until only (the last --test-fraction of the trace, cut
    there). Exits 4 (nothing registered, no metric changed) when the trace holds no new bins to score."""
    from clonecast.console import RichProgress, stdout
    from jobs.data import load_valid
    from jobs.train import update_and_register
    from models.panel import Panel

    modes = _sim_modes(sim)
    settings = _settings()
    uri, registered_name = _registry(settings, tracking_uri, name)
    with RichProgress() as progress:
        dataset = load_valid(trace, fmt, settings, progress=progress, tz=tz, start=start)
        outcome = update_and_register(
            dataset,
            Panel.from_dataset(dataset, settings.freq),
            uri=uri,
            name=registered_name,
            alias=alias,
            test_fraction=test_fraction,
            stride=stride,
            sim_modes=modes,
            plots_dir=settings.plots_dir,
            progress=progress,
        )
    payload = _scores(f"warm start on {trace.name} (backtest after trained_until)", outcome.evaluation)
    stdout.print(f"updated in {outcome.seconds:.1f} s")
    if outcome.registered is not None:
        stdout.print(f"registered {registered_name} version {outcome.registered.version} as challenger")
    _write_json(json_out, payload | {"update_seconds": outcome.seconds})


@app.command()
def promote(
    trace: TraceOpt,
    fmt: FmtOpt = "auto",
    name: ModelNameOpt = None,
    tracking_uri: TrackingOpt = None,
    margin: MarginOpt = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 3 when the challenger is rejected.")] = False,
    stride: StrideOpt = 3,
    tz: TzOpt = None,
    start: StartOpt = None,
) -> None:
    """The promotion gate: challenger and champion are scored now, on one out-of-sample window of the trace
    (after both trained_until when a day of it is left, else both recipes refitted on the bins before the last
    30 %), and the challenger becomes champion only if it beats the champion by the margin on both the MASE
    and the simulator cost. The decision, both figures and the window are tagged on the challenger's version."""
    from clonecast.console import RichProgress
    from jobs.data import load_valid
    from jobs.gate import promote as run_gate
    from models.panel import Panel

    settings = _settings()
    uri, registered_name = _registry(settings, tracking_uri, name)
    threshold = settings.promotion_margin if margin is None else margin
    with RichProgress() as progress:
        dataset = load_valid(trace, fmt, settings, progress=progress, tz=tz, start=start)
        outcome = run_gate(
            dataset,
            Panel.from_dataset(dataset, settings.freq),
            uri=uri,
            name=registered_name,
            margin=threshold,
            stride=stride,
            progress=progress,
        )
    champion = "v" + outcome.champion if outcome.champion else "none"
    _gate_verdict(f"{registered_name}: challenger v{outcome.challenger}", outcome, f"champion was {champion}", strict)


@app.command()
def retrain(
    trace: TraceOpt,
    model: ForecasterOpt = "hybrid",
    fmt: FmtOpt = "auto",
    name: ModelNameOpt = None,
    tracking_uri: TrackingOpt = None,
    margin: MarginOpt = None,
    ci: Annotated[bool, typer.Option("--ci", help="Exit 3 when the challenger fails the gate (for CI jobs).")] = False,
    stride: StrideOpt = 3,
    tz: TzOpt = None,
    start: StartOpt = None,
) -> None:
    """Train a challenger on the trace and put it through the promotion gate, which scores it and the
    champion on one out-of-sample window of the same trace (what CI and the drift automation run). With --ci
    the exit code says whether the challenger was promoted (0) or not (3)."""
    from clonecast.console import RichProgress
    from jobs.data import load_valid
    from jobs.gate import promote as run_gate
    from jobs.train import train_and_register
    from models.panel import Panel

    model = _model_option(model)
    settings = _settings()
    uri, registered_name = _registry(settings, tracking_uri, name)
    threshold = settings.promotion_margin if margin is None else margin
    with RichProgress() as progress:
        dataset = load_valid(trace, fmt, settings, progress=progress, tz=tz, start=start)
        panel = Panel.from_dataset(dataset, settings.freq)
        outcome = train_and_register(
            dataset,
            panel,
            model,
            uri=uri,
            name=registered_name,
            seed=settings.seed,
            horizon=settings.horizon,
            stride=stride,
            plots_dir=settings.plots_dir,
            progress=progress,
        )
        progress.stage("promotion gate")
        decision = run_gate(dataset, panel, uri=uri, name=registered_name, margin=threshold, stride=stride)
    metrics = outcome.evaluation.metrics()
    scores = f"{model}, MASE {metrics['backtest_mase']:.3f}, simulator cost {metrics.get('sim_cost', float('nan')):.2f}"
    _gate_verdict(f"{registered_name} v{decision.challenger}", decision, scores, ci)


@app.command()
def predict(
    trace: TraceOpt,
    fmt: FmtOpt = "auto",
    name: ModelNameOpt = None,
    tracking_uri: TrackingOpt = None,
    alias: Annotated[str, typer.Option("--alias", help="Registry alias to forecast with.")] = "champion",
    out: Annotated[Path | None, typer.Option("--out", help="Forecast file (.parquet or .csv).")] = None,
    events: EventsOpt = None,
    tz: TzOpt = None,
    start: StartOpt = None,
) -> None:
    """Forecast the next hour for every program of a trace with `models:/<name>@<alias>`: yhat, quantiles and
    resources per 5-minute bin, validated before it is written (default <state_dir>/forecasts/latest.parquet).
    Scheduled events (the trace's events table, or an --events file validated in its place) shape the
    forecast of the bins they fall in, after the end of the data too."""
    from clonecast.console import RichProgress, stdout
    from jobs import predict as predicting
    from jobs.data import load_valid

    settings = _settings()
    uri, registered_name = _registry(settings, tracking_uri, name)
    target = out or settings.state_dir / "forecasts" / "latest.parquet"
    with RichProgress() as progress:
        dataset = load_valid(trace, fmt, settings, progress=progress, tz=tz, start=start, events=events)
        progress.stage(f"loading models:/{registered_name}@{alias}")
        trained = predicting.load_model(uri, registered_name, alias)
        frame = predicting.predict(trained, dataset, settings.limits, progress=progress)
        predicting.write_file(frame, target)
    stdout.print(
        f"{frame['program_code'].nunique()} programs x {frame['step'].max()} steps from "
        f"{frame['origin'].iloc[0]:%Y-%m-%d %H:%M} UTC with {trained.name} ({registered_name}@{alias}): {target}"
    )


@app.command()
def tune(
    trace: TraceOpt,
    model: Annotated[str, typer.Option("--model", "-m", help="hybrid, lightgbm or lstm.")] = "lightgbm",
    fmt: FmtOpt = "auto",
    trials: Annotated[int, typer.Option("--trials", min=1, help="Trial budget.")] = 20,
    timeout: Annotated[float | None, typer.Option("--timeout", min=1, help="Stop after this many seconds.")] = None,
    tracking_uri: TrackingOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the best params as JSON here.")] = None,
    tz: TzOpt = None,
    start: StartOpt = None,
) -> None:
    """Optuna search (TPE sampler, median pruning over rolling validation folds) of a model's knobs; every
    trial is a nested MLflow run under one parent run. Pass the best params to `train --params`."""
    from clonecast.console import RichProgress, stdout
    from jobs.data import load_valid
    from jobs.tune import tune as run_tuning
    from models.panel import Panel

    settings = _settings()
    uri = tracking_uri or settings.mlflow_uri
    with RichProgress() as progress:
        dataset = load_valid(trace, fmt, settings, progress=progress, tz=tz, start=start)
        panel = Panel.from_dataset(dataset, settings.freq)
        progress.stage(f"tuning {model}: {trials} trials" + (f", at most {timeout:g} s" if timeout else ""))
        result, run_id = run_tuning(model, panel, settings, uri=uri, trials=trials, timeout=timeout)
    states = result.trials["state"].value_counts().to_dict() if "state" in result.trials else {}
    stdout.print(f"best validation MASE {result.best_value:.3f} with {json.dumps(result.best_params)}")
    stdout.print(f"trials: {states}; MLflow parent run {run_id} in {uri}")
    _write_json(json_out, {"model": model, "best_value": result.best_value, "best_params": result.best_params})


def main() -> None:
    """Entry point: a clonecast error that escapes the command handlers becomes one clear line and exit code 1."""
    try:
        app()
    except ClonecastError as e:
        from clonecast.console import stderr

        stderr.print(f"[red]error:[/red] {e}")
        sys.exit(1)
