from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from traces.frames import Dataset
from traces.store import read_dataset, read_manifest, write_dataset


def test_round_trip_keeps_frames_and_manifest(tmp_path: Path, small: Dataset) -> None:
    target = write_dataset(small, tmp_path / "store" / "small")
    back = read_dataset(target)
    pd.testing.assert_frame_equal(back.requests, small.requests)
    pd.testing.assert_frame_equal(back.programs, small.programs)
    pd.testing.assert_frame_equal(back.events, small.events)
    manifest = read_manifest(target)
    assert manifest["rows"] == {"requests": len(small.requests), "programs": 12, "events": len(small.events)}
    assert back.freq == pd.Timedelta("5min")


def test_a_failed_write_leaves_the_old_dataset_and_no_debris(
    tmp_path: Path, small: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = write_dataset(small, tmp_path / "small")
    before = sorted(p.name for p in tmp_path.iterdir())
    original = pd.DataFrame.to_parquet

    def fail_on_events(self: pd.DataFrame, path: Path, *args: object, **kwargs: object) -> None:
        if Path(path).name == "events.parquet":
            raise OSError("disk full")
        original(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", fail_on_events)
    changed = Dataset(small.requests.head(10), small.programs, small.events, small.freq)
    with pytest.raises(OSError, match="disk full"):
        write_dataset(changed, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert len(read_dataset(target).requests) == len(small.requests)
