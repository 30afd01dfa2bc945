from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_checks import validate_dataset
from traces.frames import Dataset
from traces.synthetic import SyntheticConfig, generate


def test_same_seed_same_trace_other_seed_other_trace(small: Dataset) -> None:
    again = generate(SyntheticConfig(programs=12, days=3, campaigns=2, news=1, seed=3))
    other = generate(SyntheticConfig(programs=12, days=3, campaigns=2, news=1, seed=4))
    pd.testing.assert_frame_equal(small.requests, again.requests)
    pd.testing.assert_frame_equal(small.events, again.events)
    assert not small.requests["requests"].equals(other.requests["requests"])


def test_the_demo_default_is_valid() -> None:
    ds = generate()
    assert validate_dataset(ds).success
    assert len(ds.programs) == 120 and ds.requests["ts"].nunique() == 21 * 288


def test_program_kinds_and_resources() -> None:
    ds = generate(SyntheticConfig(programs=40, days=2, seed=1))
    kinds = ds.programs["program_code"].str.split("-").str[0]
    assert set(kinds) == {"web", "burst", "rare", "gpu", "cron"}
    gpu = ds.programs[kinds == "gpu"]
    assert (gpu["gpus"] >= 1).all() and (gpu["gpu_type"] != "").all() and (gpu["cold_start_s"] >= 20).all()
    assert (ds.programs.loc[kinds != "gpu", "gpus"] == 0).all()
    rare = ds.requests[ds.requests["program_code"].str.startswith("rare")]
    assert (rare["requests"] == 0).mean() > 0.5  # sparse programs are mostly idle


def test_events_raise_demand_inside_their_windows() -> None:
    ds = generate(SyntheticConfig(programs=30, days=7, campaigns=6, news=0, seed=11, cron_share=0.2))
    requests = ds.requests.set_index(["program_code", "ts"])["requests"]
    ratios = []
    for event in ds.events.itertuples(index=False):
        if event.program_code == "":
            continue
        series = requests.loc[event.program_code]
        inside = series[(series.index >= event.start) & (series.index < event.end)].mean()
        same_time_other_days = [
            series[
                (series.index >= event.start + pd.Timedelta(days=d)) & (series.index < event.end + pd.Timedelta(days=d))
            ]
            for d in (-1, 1)
        ]
        outside = np.mean([s.mean() for s in same_time_other_days if len(s)])
        if event.kind == "campaign" and outside > 0:
            ratios.append(inside / outside)
    assert ratios and np.median(ratios) > 1.3


def test_cron_jobs_recur_daily_at_the_same_time() -> None:
    ds = generate(SyntheticConfig(programs=20, days=4, seed=5))
    jobs = ds.events[ds.events["kind"] == "scheduled_job"]
    for _, group in jobs.groupby("program_code"):
        assert group["start"].dt.time.nunique() == 1
        assert (group["start"].diff().dropna() == pd.Timedelta("1D")).all()


def test_weekends_are_quieter() -> None:
    ds = generate(SyntheticConfig(programs=20, days=14, campaigns=0, news=0, cron_share=0, bursty_share=0, seed=2))
    total = ds.requests.groupby("ts")["requests"].sum()
    weekend = total.index.dayofweek >= 5
    assert total[weekend].mean() < 0.9 * total[~weekend].mean()


def test_bad_knobs_are_refused() -> None:
    with pytest.raises(ValueError, match="shares"):
        SyntheticConfig(bursty_share=0.6, sparse_share=0.6)
