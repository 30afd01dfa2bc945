"""Prefect flows: thin wiring of tasks to library calls (the only place that imports prefect)."""
