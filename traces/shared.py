"""Where the shared real traces live (read in place, never copied into the repository)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shared_traces_dir() -> Path | None:
    """CLONECAST_TRACES_DIR, else ../shared/data/traces beside the checkout, else the workplace's copy."""
    for candidate in (
        os.environ.get("CLONECAST_TRACES_DIR"),
        str(ROOT.parent / "shared" / "data" / "traces"),
        "/work/shared/data/traces",
    ):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None
