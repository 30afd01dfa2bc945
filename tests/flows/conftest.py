"""The servers `make up` starts, for the orchestration tests of this folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

RUN = Path(os.environ.get("CLONECAST_RUN_DIR", "/tmp/clonecast-run"))


def services_env() -> dict[str, str]:
    path = RUN / "services.env"
    assert path.exists(), f"{path} missing: start the services (make up)"  # fail, never skip
    return dict(line.split("=", 1) for line in path.read_text().split() if "=" in line)


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[str]:
    """Point this process's Prefect clients at the server `make up` started. Prefect reads its settings once, when
    it is first imported (here at collection, by any test module importing the flows), so setting the
    environment later is not enough."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = services_env()["PREFECT_API_URL"]
    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield url
