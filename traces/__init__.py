"""Traces: canonical frames, loaders for public trace formats, resampling, the synthetic generator and
the canonical Parquet store."""
