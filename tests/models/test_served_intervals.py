"""Served intervals are the backtest's online conformal intervals, recalibrated as actuals arrive: a
registered model's 80 % interval keeps covering 80 % when its errors widen after training."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from models.baselines import SeasonalNaive
from models.forecaster import TrainedForecaster, train, update
from models.panel import Panel
from traces.frames import Dataset, empty_events
from traces.synthetic import SyntheticConfig, generate

DAY = 288  # 5-minute bins
CALM, WIDE = 7, 3  # days before training ends, days after it with three times the noise


@dataclass
class WarmSeasonalNaive(SeasonalNaive):
    """The seasonal naive with a warm start that learns nothing: only the intervals can change in `update`."""

    def update(self, panel: Panel) -> WarmSeasonalNaive:
        return self


@pytest.fixture(scope="module")
def panel() -> Panel:
    """Four programs on one daily cycle; the noise triples after day CALM."""
    programs = generate(SyntheticConfig(programs=4, days=1, seed=5)).programs
    rng = np.random.default_rng(12)
    t = np.arange((CALM + WIDE) * DAY)
    mean = 100 + 30 * np.sin(2 * np.pi * t / DAY)
    sd = np.where(t < CALM * DAY, 5.0, 15.0)
    values = np.round(np.maximum(mean + rng.normal(0, 1, (len(programs), len(t))) * sd, 0))  # [P, T]
    codes = programs["program_code"].to_numpy(dtype=object)
    return Panel(
        codes=codes,
        values=values,
        start=pd.Timestamp("2026-01-05", tz="UTC"),
        width=pd.Timedelta("5min"),
        events=empty_events(),
        programs=programs.set_index("program_code"),
    )


def band(trained: TrainedForecaster, panel: Panel, end: int) -> np.ndarray:
    """The q10 and q90 [2, P, H] served from bin `end`, relative to the seasonal naive's point forecast: the
    forecast is made as `predict` makes it, from the history `TrainedForecaster.history` picks."""
    n = panel.bins
    requests = pd.DataFrame(
        {
            "program_code": np.repeat(panel.codes.astype(str), n),
            "ts": np.tile(panel.timestamps(), len(panel.codes)),
            "requests": panel.values.reshape(-1),
        }
    )
    dataset = Dataset(requests, panel.programs.reset_index(), empty_events(), panel.width)
    recent = trained.history(dataset, panel.start + end * panel.width)
    frame = trained.forecast(recent).sort_values(["program_code", "step"])
    shape = (len(panel.codes), trained.horizon)
    point = SeasonalNaive().point(panel, np.array([end]), trained.horizon)[:, 0]  # [P, H]
    return np.stack([frame[q].to_numpy().reshape(shape) - point for q in ("q10", "q90")])


def coverage(panel: Panel, origins: range, relative: list[np.ndarray]) -> float:
    """Share of the actuals of forecasts from `origins` inside the seasonal naive's point + `relative` [2, P, H]."""
    inside = []
    for end, (low, high) in zip(origins, relative, strict=True):
        actual = panel.values[:, end : end + 12]
        point = SeasonalNaive().point(panel, np.array([end]), 12)[:, 0]
        inside.append((point + low <= actual) & (actual <= point + high))
    return float(np.mean(inside))


def test_served_80_percent_interval_keeps_its_coverage_when_errors_widen_after_training(panel: Panel) -> None:
    until = CALM * DAY
    trained = train(SeasonalNaive(), panel.upto(until))
    origins = range(until + DAY, panel.bins - 12, 12)  # from a day after training: a day of new actuals known
    served = coverage(panel, origins, [band(trained, panel, end) for end in origins])
    frozen = coverage(panel, origins, [band(trained, panel, until)] * len(origins))  # split conformal at training
    assert frozen < 0.5  # the calibration frozen at training is far off (about a third)
    assert abs(served - 0.8) < 0.05, (served, frozen)


def test_update_recalibrates_the_intervals_on_the_new_data(panel: Panel) -> None:
    until, end = CALM * DAY, (CALM + 2) * DAY
    trained = train(WarmSeasonalNaive(), panel.upto(until))
    updated = update(trained, panel.upto(end))
    assert updated.trained_until == panel.start + end * panel.width
    origins = range(end, panel.bins - 12, 12)  # the last day, after the update
    before = coverage(panel, origins, [band(trained, panel, until)] * len(origins))  # the calibration of training
    after = coverage(panel, origins, [band(updated, panel, end)] * len(origins))  # the calibration of the update
    assert before < 0.45 and after > 0.55, (before, after)  # the week's window still holds the calm residuals


def test_lightgbm_forecast_does_not_depend_on_where_the_history_window_starts() -> None:
    """The calendar features are the targets' own time of day and weekday: a forecast served from a window of
    history (starting at any time of day) is the one the backtest scored on the whole panel."""
    from models.gbm import GradientBoosting

    panel = Panel.from_dataset(generate(SyntheticConfig(programs=3, days=10, seed=2, campaigns=0, news=0)))
    model = GradientBoosting(n_estimators=30).fit(panel.upto(8 * DAY))
    end = 9 * DAY + 100
    for first in (end - 8 * DAY - 37, end - 8 * DAY - 150):  # a week and a day of history, odd starts
        window = Panel(
            codes=panel.codes,
            values=panel.values[:, first:end],
            start=panel.start + first * panel.width,
            width=panel.width,
            events=panel.events,
            programs=panel.programs,
        )
        served = model.point(window, np.array([end - first]), 12)
        assert np.allclose(served, model.point(panel, np.array([end]), 12))
