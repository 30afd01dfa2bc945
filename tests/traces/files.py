"""Small trace files in every supported format, written by tests into a temporary directory."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

HASHES = ["f1", "f2", "f3"]


def azure2019(directory: Path, minutes: int = 10) -> Path:
    """InVitro-style Azure 2019 sample: *_inv.csv.gz, *_mem.csv, *_run.csv; returns the inv file."""
    directory.mkdir(parents=True, exist_ok=True)
    header = ["HashFunction", "HashOwner", "HashApp", *[f"minute_{i}" for i in range(1, minutes + 1)]]
    rows = [[h, h, h, *[(i * j) % 4 for j in range(minutes)]] for i, h in enumerate(HASHES)]
    inv = directory / "tiny_inv.csv.gz"
    inv.write_bytes(gzip.compress(("\n".join(",".join(map(str, r)) for r in [header, *rows]) + "\n").encode()))
    (directory / "tiny_mem.csv").write_text(
        "HashOwner,HashApp,SampleCount,AverageAllocatedMb\n"
        + "".join(f"{h},{h},10,{100 + i}\n" for i, h in enumerate(HASHES[:2]))
    )
    (directory / "tiny_run.csv").write_text(
        "HashOwner,HashApp,HashFunction,Average,Count\n"
        + "".join(f"{h},{h},{h},{50 * (i + 1)},5\n" for i, h in enumerate(HASHES))
    )
    return inv


def huawei(path: Path, bins: int = 12) -> Path:
    columns = ["6361---701---pool22-300-128", "99---5---custom.image.gpu-25800-32768"]
    dates = pd.date_range("2016-07-01", periods=bins, freq="5min").strftime("%Y-%m-%d %H:%M:%S")
    lines = ["date," + ",".join(columns)]
    lines += [f"{d},{float(10 + i)},{float(i % 3)}" for i, d in enumerate(dates)]
    path.write_text("\n".join(lines) + "\n")
    return path


def alibaba_log(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    header = (
        "gmt_create,predict_type,predict_status,exec_time_seconds,groupId,prompt_length,negative_prompt_length,"
        "num_images_per_prompt,num_inference_steps,checkpoint_model_version_id,num_lora"
    )
    rows = [
        "2024-11-15 16:57:50,TXT_2_IMG,SUCCEED,32.0,G0,63.0,26.0,1.0,30.0,M0,0",
        "2024-11-15 16:57:59,TXT_2_IMG,SUCCEED,40.0,G0,63.0,26.0,1.0,30.0,M0,0",
        "2024-11-15 16:59:10,IMG_2_IMG,SUCCEED,10.0,G1,63.0,26.0,1.0,30.0,M1,0",
        "2024-11-15 17:00:00,TXT_2_IMG,PENDING,0.0,G2,,,,,,0",
    ]
    log = directory / "lora_request_trace.csv"
    log.write_text(header + "\n" + "\n".join(rows) + "\n")
    (directory / "basemodel_update_latency_anon.csv").write_text(
        "timestamp_anon,value,container_ip\n1,2000,a\n2,4000,b\n3,30000,c\n"
    )
    return log


def series(path: Path, n: int = 20, column: str = "minute") -> Path:
    lines = [f"{column},requests", *[f"{i},{(i * 7) % 11}" for i in range(n)]]
    path.write_text("\n".join(lines) + "\n")
    return path


def long_requests(path: Path, programs: tuple[str, ...] = ("a", "b"), bins: int = 12) -> Path:
    grid = pd.date_range("2026-01-05T00:00:00Z", periods=bins, freq="5min")
    frame = pd.DataFrame(
        {
            "program_code": np.repeat(programs, bins),
            "ts": np.tile(grid.strftime("%Y-%m-%dT%H:%M:%SZ"), len(programs)),
            "requests": np.arange(bins * len(programs)) % 7,
        }
    )
    frame.to_csv(path, index=False)
    return path


def long_programs(path: Path, programs: tuple[str, ...] = ("a", "b")) -> Path:
    frame = pd.DataFrame(
        {
            "program_code": programs,
            "cpu_millicores": 500.0,
            "memory_mb": 256.0,
            "gpus": [0] * (len(programs) - 1) + [1],
            "gpu_type": [""] * (len(programs) - 1) + ["T4"],
            "concurrency": 4,
            "cold_start_s": 1.5,
            "image": "clonecast/workload:latest",
        }
    )
    frame.to_csv(path, index=False)
    return path


def long_events(path: Path, program: str = "a") -> Path:
    path.write_text(
        "start,end,kind,magnitude,program_code\n"
        f"2026-01-05T00:10:00Z,2026-01-05T00:30:00Z,campaign,2.5,{program}\n"
        "2026-01-05T00:20:00Z,2026-01-05T00:40:00Z,news,1.5,\n"
    )
    return path


def forecast(path: Path, programs: tuple[str, ...] = ("a", "b"), origin: str = "2026-01-05T01:00:00Z") -> Path:
    o = pd.Timestamp(origin)
    rows = []
    for p in programs:
        for step in range(1, 13):
            rows.append(
                {
                    "program_code": p,
                    "origin": o.isoformat(),
                    "ts": (o + step * pd.Timedelta("5min")).isoformat(),
                    "step": step,
                    "yhat": 5.0,
                    "q10": 3.0,
                    "q50": 5.0,
                    "q90": 8.0,
                    "cpu_millicores": 500.0,
                    "memory_mb": 256.0,
                    "gpus": 0.0,
                }
            )
    pd.DataFrame(rows).to_csv(path, index=False)
    return path
