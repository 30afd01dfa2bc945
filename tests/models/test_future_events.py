"""Scheduled events after the end of the history shape a served forecast exactly as events inside the history
shape the backtest's: one feature path, the events calendar known in advance, no actuals after the origin."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clonecast.cli import app
from models import registry
from models.forecaster import TrainedForecaster, train
from models.gbm import GradientBoosting
from models.panel import Panel, event_features
from tests.models.test_forecasting import panel_of
from traces.frames import Dataset, events_frame
from traces.store import write_dataset
from traces.synthetic import SyntheticConfig, generate

FIVE = pd.Timedelta("5min")
# six programs over six days with campaigns enough to learn from; small trees keep it fast on two cores
DATA = SyntheticConfig(programs=6, days=6, campaigns=16, seed=5)
KNOBS: dict[str, Any] = {"n_estimators": 40, "num_leaves": 15}


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(DATA)


@pytest.fixture(scope="module")
def trained(dataset: Dataset) -> TrainedForecaster:
    return train(GradientBoosting(**KNOBS), Panel.from_dataset(dataset))


def campaign(start: pd.Timestamp, minutes: int = 50, magnitude: float = 5.0, code: str = "") -> pd.DataFrame:
    """One campaign on `code` (empty: every program) from `start` for `minutes`."""
    return events_frame(
        pd.DataFrame(
            {
                "start": [start],
                "end": [start + pd.Timedelta(minutes=minutes)],
                "kind": ["campaign"],
                "magnitude": [magnitude],
                "program_code": [code],
            }
        )
    )


def with_events(dataset: Dataset, *extra: pd.DataFrame) -> pd.DataFrame:
    return events_frame(pd.concat([dataset.events, *extra], ignore_index=True))


def campaign_ratio(plain: pd.DataFrame, scheduled: pd.DataFrame, event: pd.DataFrame) -> pd.Series:
    """Per program: the forecast summed over the campaign's bins, with the event over without it."""
    inside = (plain["ts"] >= event["start"].iloc[0]) & (plain["ts"] < event["end"].iloc[0])
    assert inside.any() and (plain["ts"] == scheduled["ts"]).all()
    total = plain.loc[inside].groupby("program_code", observed=True)["yhat"].sum()
    return scheduled.loc[inside].groupby("program_code", observed=True)["yhat"].sum() / total


def test_event_features_cover_the_horizon_after_the_history() -> None:
    start = pd.Timestamp("2026-01-05T00:00:00Z") + 43 * FIVE  # 3 bins after the 40 of history
    panel = panel_of(np.ones((2, 40)), campaign(start, minutes=15, code="s0"))
    features = event_features(panel, horizon=12)
    active = features["event_active"]
    assert active.shape == (2, 52)  # the history's bins and the horizon's
    assert active[0, 43:46].tolist() == [5.0] * 3 and active[0, :43].max() == active[0, 46:].max() == 1.0
    assert active[1].max() == 1.0  # another program's event
    assert features["active_campaign"][0, 44] == 5.0 and features["event_age"][0, 43:46].tolist() == [0, 1, 2]
    assert features["event_soon"][0, 40] == 5.0  # an origin right after the history sees it coming


def test_serving_sees_the_events_the_backtest_sees_and_no_actual_after_the_origin(dataset: Dataset) -> None:
    panel = Panel.from_dataset(dataset)
    origin = panel.bins - 24
    full = replace(panel, events=with_events(dataset, campaign(panel.start + (origin + 2) * FIVE)))
    model = GradientBoosting(**KNOBS).fit(full.upto(origin))
    at = np.array([origin])
    backtest_view = model.point(full, at, 12)  # the event's bins inside the panel
    serving_view = model.point(full.upto(origin), at, 12)  # the same bins after the end of the history
    assert np.array_equal(serving_view, backtest_view)
    changed = full.values.copy()
    changed[:, origin:] *= 7.0  # other actuals after the origin: the forecast stays
    assert np.array_equal(model.point(replace(full, values=changed), at, 12), backtest_view)
    assert not np.allclose(model.point(replace(full, events=dataset.events), at, 12), backtest_view)


def test_a_scheduled_x5_campaign_raises_the_served_forecast_of_its_bins_at_least_2x(
    dataset: Dataset, trained: TrainedForecaster
) -> None:
    history = trained.history(dataset)
    origin = history["ts"].max() + FIVE
    event = campaign(origin + pd.Timedelta("10min"))  # steps 3..12 of the next hour
    plain = trained.forecast(history, dataset.events)
    scheduled = trained.forecast(history, with_events(dataset, event))
    ratio = campaign_ratio(plain, scheduled, event)
    assert len(ratio) == DATA.programs and (ratio >= 2.0).all(), ratio.to_dict()


def test_predict_takes_a_validated_events_calendar(
    tmp_path: Path, dataset: Dataset, trained: TrainedForecaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_dataset(dataset, tmp_path / "trace")
    monkeypatch.setattr(registry, "load", lambda uri, name, alias="champion": trained)
    event = campaign(dataset.requests["ts"].max() + FIVE + pd.Timedelta("10min"))
    calendar = with_events(dataset, event)
    calendar.to_csv(tmp_path / "events.csv", index=False)
    runner = CliRunner()
    trace = ["predict", "--trace", str(tmp_path / "trace")]
    plain = runner.invoke(app, [*trace, "--out", str(tmp_path / "plain.parquet")])
    assert plain.exit_code == 0, plain.output
    scheduled = runner.invoke(
        app, [*trace, "--events", str(tmp_path / "events.csv"), "--out", str(tmp_path / "e.parquet")]
    )
    assert scheduled.exit_code == 0, scheduled.output
    ratio = campaign_ratio(pd.read_parquet(tmp_path / "plain.parquet"), pd.read_parquet(tmp_path / "e.parquet"), event)
    assert (ratio >= 2.0).all(), ratio.to_dict()

    calendar.assign(magnitude=calendar["magnitude"].where(calendar.index != len(calendar) - 1, -5.0)).to_csv(
        tmp_path / "bad.csv", index=False
    )
    bad = runner.invoke(app, [*trace, "--events", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "bad.parquet")])
    assert bad.exit_code == 2 and "magnitude" in bad.output, bad.output
    assert not (tmp_path / "bad.parquet").exists()
