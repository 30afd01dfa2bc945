"""The trace formats clonecast reads (names and one-line descriptions; no heavy imports)."""

from __future__ import annotations

FORMAT_HELP = {
    "azure2019": (
        "Azure Functions 2019: wide per-minute *_inv.csv[.gz] with _mem and _run siblings (a directory or the file)"
    ),
    "huawei": "Huawei 5-minute wide CSV: date + one <func>---<user>---poolNN-<cpu>-<mem> column per function",
    "alibaba-genai": "Alibaba GenAI lora_request_trace.csv[.gz]: a per-request log, counted per base model",
    "long": "CSV/Parquet with the canonical columns program_code, ts (with a UTC offset), requests[, ...]",
    "series": "one aggregate series: minute|second,requests (NASA, Twitter); dates from --start",
    "dataset": "a canonical dataset directory written by `clonecast ingest` or `clonecast generate`",
}
FORMATS = tuple(FORMAT_HELP)
