"""Host inventories: the canonical hosts CSV/Parquet, and the Alibaba `openb` node list.

The openb trace (ATC'23 "Beware of Fragmentation") lists nodes with CPU, memory and GPUs but no topology;
nodes are spread over `zones` zones of one region round-robin (documented, deterministic) so that
placement has zones to spread across.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from clonecast.errors import TraceFormatError
from traces.frames import HOSTS
from traces.loaders.long import read_frame
from traces.textio import read_csv

OPENB_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")


def is_openb(header: list[str]) -> bool:
    return list(header[:5]) == list(OPENB_COLUMNS)


def read_hosts(path: Path, *, zones: int = 3, region: str = "openb") -> pd.DataFrame:
    """A hosts frame (candidate) from a canonical hosts file or an openb node list."""
    from traces.textio import read_header

    if path.suffix != ".parquet" and is_openb(read_header(path)):
        return read_openb(path, zones=zones, region=region)
    frame = read_frame(path, HOSTS)
    for capacity in ("cpu_millicores", "memory_mb", "gpus"):
        if f"free_{capacity}" not in frame.columns and capacity in frame.columns:
            frame[f"free_{capacity}"] = frame[capacity]
    if "gpu_type" in frame.columns:
        frame["gpu_type"] = frame["gpu_type"].fillna("")
    return frame


def read_openb(path: Path, *, zones: int = 3, region: str = "openb") -> pd.DataFrame:
    """openb_node_list_*.csv -> hosts; the whole node is free for clonecast."""
    nodes = read_csv(path, dtype={"sn": "str", "model": "str"})
    if missing := [c for c in OPENB_COLUMNS if c not in nodes.columns]:
        raise TraceFormatError("expect_column_to_exist", str(path), f"missing openb column(s) {missing}", line=1)
    hosts = pd.DataFrame(
        {
            "host": nodes["sn"],
            "zone": [f"{region}-{chr(ord('a') + i % zones)}" for i in range(len(nodes))],
            "region": region,
            "cpu_millicores": nodes["cpu_milli"].astype(float),
            "memory_mb": nodes["memory_mib"].astype(float) * 1.048576,  # MiB -> MB
            "gpus": nodes["gpu"].astype(np.int64),
            "gpu_type": nodes["model"].fillna("").astype("str"),
        }
    )
    hosts["free_cpu_millicores"] = hosts["cpu_millicores"]
    hosts["free_memory_mb"] = hosts["memory_mb"]
    hosts["free_gpus"] = hosts["gpus"]
    hosts["_line"] = np.arange(2, len(hosts) + 2)
    return hosts


def read_latency(path: Path) -> pd.DataFrame:
    """A latency matrix (CSV): request source region per row (first column), host zone per column, milliseconds."""
    table = pd.read_csv(path, index_col=0)
    text = [str(c) for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    if text or table.index.has_duplicates:
        detail = f"non-numeric zone column(s) {text}" if text else "a source region listed twice"
        raise TraceFormatError("expect_latency_matrix", str(path), f"{detail}: want milliseconds per region and zone")
    return table
