"""The quantile levels every forecast carries, served and backtested alike."""

from __future__ import annotations

# The central 50/80/90 % intervals (models.metrics.CENTRAL) and q99, the highest level the cloning manager
# provisions for.
DEFAULT_LEVELS = (5, 10, 25, 50, 75, 90, 95, 99)
