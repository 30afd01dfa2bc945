"""batch-predict takes an events calendar (a file, validated with the trace; default: the trace's own events
table) and its scheduled events shape the stored forecast of the bins they fall in."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from models import registry
from models.forecaster import train
from models.gbm import GradientBoosting
from models.panel import Panel
from tests.models.test_future_events import DATA, FIVE, KNOBS, campaign, campaign_ratio, with_events
from traces.store import write_dataset
from traces.synthetic import generate

pytestmark = pytest.mark.orchestration


def test_batch_predict_takes_a_validated_events_calendar(
    prefect_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.pipeline import DataError, batch_predict

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    name = f"events-{os.getpid()}"
    monkeypatch.setenv("CLONECAST_TRACKING_URI", uri)
    monkeypatch.setenv("CLONECAST_REGISTERED_MODEL", name)
    dataset = generate(DATA)
    write_dataset(dataset, tmp_path / "trace")
    trained = train(GradientBoosting(**KNOBS), Panel.from_dataset(dataset))
    registry.register(trained, uri=uri, name=name, alias=registry.CHAMPION)
    event = campaign(dataset.requests["ts"].max() + FIVE + pd.Timedelta("10min"))
    calendar = with_events(dataset, event)
    calendar.to_csv(tmp_path / "events.csv", index=False)

    plain = pd.read_parquet(batch_predict(str(tmp_path / "trace"))["file"])  # the trace's own events
    scheduled = pd.read_parquet(batch_predict(str(tmp_path / "trace"), events=str(tmp_path / "events.csv"))["file"])
    key = ["program_code", "ts"]
    ratio = campaign_ratio(
        plain.sort_values(key, ignore_index=True), scheduled.sort_values(key, ignore_index=True), event
    )
    assert (ratio >= 2.0).all(), ratio.to_dict()

    calendar.assign(kind="meteor").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="kind"):
        batch_predict(str(tmp_path / "trace"), events=str(tmp_path / "bad.csv"))
