"""The canonical store: one directory per dataset holding Parquet frames and a manifest.

Writes are atomic: frames go to a temporary sibling directory that replaces the target only once every
file is complete, so a failed or interrupted ingest leaves the store as it was.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from clonecast import __version__
from clonecast.errors import TraceFormatError
from traces.frames import Dataset, freq_name

MANIFEST = "manifest.json"
FRAMES = ("requests", "programs", "events")


def is_dataset_dir(path: Path) -> bool:
    return path.is_dir() and (path / MANIFEST).is_file()


def write_dataset(dataset: Dataset, target: Path) -> Path:
    """Write a canonical dataset to `target` atomically; returns the target."""
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name, frame in dataset.frames().items():
            frame.to_parquet(staging / f"{name}.parquet", index=False)
        requests = dataset.requests
        manifest = {
            "clonecast_version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": dataset.source,
            "format": dataset.format,
            "freq": freq_name(dataset.freq),
            "rows": {name: len(frame) for name, frame in dataset.frames().items()},
            "programs": int(requests["program_code"].nunique()),
            "start": requests["ts"].min().isoformat() if len(requests) else None,
            "end": requests["ts"].max().isoformat() if len(requests) else None,
            "notes": dataset.notes,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if target.exists():
            retired = target.with_name(f".{target.name}.old")
            shutil.rmtree(retired, ignore_errors=True)
            target.rename(retired)
            staging.rename(target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def read_manifest(path: Path) -> dict[str, object]:
    try:
        return dict(json.loads((path / MANIFEST).read_text()))
    except (OSError, ValueError) as e:
        raise TraceFormatError("expect_readable_manifest", str(path / MANIFEST), str(e)) from e


def read_dataset(path: Path) -> Dataset:
    """A dataset directory written by `write_dataset` (frames as stored: validate before trusting)."""
    manifest = read_manifest(path)
    frames = {}
    for name in FRAMES:
        file = path / f"{name}.parquet"
        if not file.is_file():
            raise TraceFormatError("expect_file_to_exist", str(file), f"the dataset has no {name} frame")
        frames[name] = pd.read_parquet(file)
    return Dataset(
        **frames,
        freq=pd.Timedelta(str(manifest.get("freq", "5min"))),
        source=str(manifest.get("source", path)),
        format="dataset",
        notes=[f"dataset {path.name}: written {manifest.get('created')} from {manifest.get('source')}"],
    )
