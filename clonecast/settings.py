"""The one settings object: built at the entry point from CLONECAST_* environment variables, passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from data_checks.limits import Limits
from traces.defaults import ProgramDefaults
from traces.frames import parse_duration


class Settings(BaseSettings):
    """clonecast's settings; nested fields via double underscores, e.g. CLONECAST_LIMITS__MAX_AGE=15min."""

    model_config = SettingsConfigDict(env_prefix="CLONECAST_", env_nested_delimiter="__", extra="ignore")

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
