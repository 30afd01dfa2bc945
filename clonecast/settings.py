"""The one settings object (built at the entry point from CLONECAST_* environment variables, passed down) and the
settings it nests: data limits and program defaults. The bottom layer: it imports no stage."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import AliasChoices, BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The live demand source's default query (live.metrics): requests per program in each bin, from the front door's
# counter. `{bin}` becomes the wall-clock width of one bin (e.g. 25s for 5-minute bins replayed at speed 12).
DEFAULT_PROMETHEUS_QUERY = (  # exact requests per bin from the front door's counter (live.metrics.counter_query)
    "sum by (program) (((clonecast_frontdoor_requests_total or "
    "(last_over_time(clonecast_frontdoor_requests_total[5m]) and on (job, instance) (up == 0))) - "
    "(clonecast_frontdoor_requests_total offset {bin} or "
    "(last_over_time(clonecast_frontdoor_requests_total[5m] offset {bin}) and on (job, instance) "
    "(up offset {bin} == 0)))) >= 0 "
    "or (clonecast_frontdoor_requests_total or "
    "(last_over_time(clonecast_frontdoor_requests_total[5m]) and on (job, instance) (up == 0))))"
)


def parse_duration(value: str, what: str = "duration") -> pd.Timedelta:
    """A positive duration such as "5min" or "2h"; ValueError naming `what` otherwise."""
    try:
        width = pd.Timedelta(value)
    except ValueError as e:
        raise ValueError(f"{what} {value!r} is not a duration such as '5min' or '2h'") from e
    if width <= pd.Timedelta(0):
        raise ValueError(f"{what} {value!r} must be positive")
    return width


class Limits(BaseModel):
    """Bounds beyond which a value is taken for a corruption rather than for demand."""

    max_requests_per_minute: float = Field(1e7, gt=0, description="per program; scaled to the bin width")
    earliest: str = Field("1990-01-01T00:00:00Z", description="no trace is older than this")
    future_tolerance: str = Field("1h", description="how far past 'now' a timestamp may lie (clock skew)")
    max_age: str | None = Field(
        None,
        description="freshness: the newest timestamp must be at most this old (off for historical traces)",
    )
    max_cpu_millicores: float = Field(1_024_000.0, gt=0)
    max_memory_mb: float = Field(4_194_304.0, gt=0, description="4 TiB")
    max_gpus: int = Field(64, ge=0)
    max_concurrency: int = Field(100_000, ge=1)
    max_cold_start_s: float = Field(3600.0, gt=0)
    max_duration_ms: float = Field(86_400_000.0, gt=0, description="one day")
    max_event_magnitude: float = Field(1000.0, gt=0)
    max_horizon_steps: int = Field(2016, ge=1, description="a week of 5-minute bins")
    examples: int = Field(5, ge=1, le=100, description="example rows shown per failed expectation")

    @field_validator("future_tolerance", "max_age")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("earliest")
    @classmethod
    def _timestamp(cls, value: str) -> str:
        try:
            stamp = pd.Timestamp(value)
        except ValueError as e:
            raise ValueError(f"{value!r} is not a timestamp") from e
        if stamp.tzinfo is None:
            raise ValueError(f"{value!r} needs a UTC offset, e.g. 1990-01-01T00:00:00Z")
        return value


class ProgramDefaults(BaseModel):
    """Resource profile given to a program when its trace does not say (documented, overridable)."""

    cpu_millicores: float = Field(1000.0, gt=0, description="CPU request per container (one core)")
    memory_mb: float = Field(256.0, gt=0, description="memory request per container")
    concurrency: int = Field(1, ge=1, description="requests one container serves at once")
    cold_start_s: float = Field(1.0, ge=0, description="cold start of a CPU container")
    gpu_memory_mb: float = Field(16384.0, gt=0, description="memory request of a GPU container")
    gpu_cold_start_s: float = Field(30.0, ge=0, description="cold start of a GPU container (model load)")
    image: str = Field("clonecast/workload:latest", min_length=1, description="container image of a clone")


class Settings(BaseSettings):
    """clonecast's settings; nested fields via double underscores, e.g. CLONECAST_LIMITS__MAX_AGE=15min."""

    model_config = SettingsConfigDict(
        env_prefix="CLONECAST_", env_nested_delimiter="__", extra="ignore", validate_by_name=True
    )

    state_dir: Path = Field(Path(".clonecast"), description="local state: datasets, models, plots")
    freq: str = Field("5min", description="forecasting bin width")
    horizon: int = Field(12, ge=1, le=2016, description="forecast steps (12 x 5 minutes = next hour)")
    seed: int = Field(7, description="seed of everything random (synthetic trace, models)")
    limits: Limits = Field(default_factory=Limits)
    tracking_uri: str | None = Field(None, description="MLflow tracking/registry URI (default: SQLite in state_dir)")
    dask_address: str | None = Field(None, description="Dask scheduler for sharded work (default: a local cluster)")
    registered_model: str = Field("clonecast-demand", description="name of the model in the MLflow registry")
    promotion_margin: float = Field(
        0.02, ge=0, lt=1, description="relative improvement a challenger needs on MASE and on simulator cost"
    )
    program_defaults: ProgramDefaults = Field(default_factory=ProgramDefaults)
    kubeconfig: Path | None = Field(
        None,
        validation_alias=AliasChoices("CLONECAST_KUBECONFIG", "KUBECONFIG"),
        description="kubeconfig of the cluster the kubernetes actuator drives (CLONECAST_KUBECONFIG, else KUBECONFIG)",
    )
    docker_host: str = Field(
        "unix:///var/run/docker.sock",
        validation_alias=AliasChoices("CLONECAST_DOCKER_HOST", "DOCKER_HOST"),
        description="Docker Engine the docker actuator drives (CLONECAST_DOCKER_HOST, else DOCKER_HOST)",
    )
    prometheus_url: str = Field(
        "http://127.0.0.1:9090", min_length=1, description="Prometheus the live loop reads demand from (make up's)"
    )
    prometheus_query: str = Field(
        DEFAULT_PROMETHEUS_QUERY,
        min_length=1,
        description="PromQL giving requests per bin with a `program` label; {bin} = one bin's wall-clock width",
    )

    @field_validator("freq")
    @classmethod
    def _freq_parses(cls, value: str) -> str:
        parse_duration(value, "freq")
        return value

    @property
    def mlflow_uri(self) -> str:
        """The tracking URI: the setting, or a SQLite store under state_dir."""
        return self.tracking_uri or f"sqlite:///{(self.state_dir / 'mlflow.db').resolve()}"

    @property
    def forecasts_dir(self) -> Path:
        """The forecast store: one Parquet file per origin."""
        return self.state_dir / "forecasts" / "store"

    @property
    def datasets_dir(self) -> Path:
        return self.state_dir / "datasets"

    @property
    def plots_dir(self) -> Path:
        return self.state_dir / "plots"
