"""Which containers the Docker actuator counts as live clones: running and not unhealthy, or created moments ago
(between another caller's create and start, e.g. the front door's cold start) — never a failed one."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pytest

from actuators.docker_engine import STARTING_S, _live


@dataclass
class Listed:
    attrs: dict[str, Any] = field(default_factory=dict)


@pytest.mark.parametrize(
    "attrs, age_s, live",
    [
        ({"State": "running", "Status": "Up 3 seconds (health: starting)"}, None, True),
        ({"State": "running", "Status": "Up 9 seconds (unhealthy)"}, None, False),
        ({"State": "exited", "Status": "Exited (137) 1 second ago"}, None, False),
        ({"State": "created", "Status": "Created"}, 1, True),  # a sparse list entry: Created in epoch seconds
        ({"State": "created", "Status": "Created"}, STARTING_S + 5, False),
        ({"State": {"Status": "created"}}, 1, True),  # an inspect: Created in ISO 8601
        ({"State": {"Status": "created"}}, STARTING_S + 5, False),
        ({"State": {"Status": "running", "Health": {"Status": "unhealthy"}}}, None, False),
    ],
)
def test_live_clones(attrs: dict[str, Any], age_s: float | None, live: bool) -> None:
    if age_s is not None:
        created = time.time() - age_s
        iso = pd.Timestamp(created, unit="s", tz="UTC").isoformat()
        attrs = {**attrs, "Created": int(created) if isinstance(attrs["State"], str) else iso}
    assert _live(Listed(attrs)) is live
