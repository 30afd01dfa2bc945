"""The hybrid histogram policy of "Serverless in the Wild" (Shahrad et al., ATC'20), per program.

After every execution the policy picks a pre-warm window PW and a keep-alive window KA from the
program's idle times so far (IT = bins from one invoked bin to the next, kept in a histogram of 1-bin
cells over `range_minutes`):

- representative histogram (>= `min_samples` in range and bin-count CV >= `cv_threshold`):
  PW = 5th percentile minus a 10 % margin, KA = 99th percentile plus 10 %, minus PW;
- most idle times beyond the range (share > `oob_share`): the next idle time is predicted by
  simple exponential smoothing of the idle-time series (= ARIMA(0,1,1); the paper fits ARIMA), and
  PW = 85 % of the prediction, KA = 30 % of it (15 % margins on both sides);
- otherwise (too few samples or a flat histogram): a fixed keep-alive as long as the range.

The program is unloaded after an execution and loaded again PW bins later for KA bins (PW = 0: it
stays loaded for KA bins). Decisions use only idle times that ended before the decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HybridHistogram:
    """Knobs of the hybrid histogram policy (defaults: the paper's)."""

    range_minutes: float = 240.0
    head: float = 5.0
    tail: float = 99.0
    margin: float = 0.10
    min_samples: int = 5
    cv_threshold: float = 2.0
    oob_share: float = 0.5
    smoothing: float = 0.5
    ts_prewarm: float = 0.85
    ts_keepalive: float = 0.30

    def loaded(self, counts: np.ndarray, bin_minutes: float = 1.0) -> np.ndarray:
        """Loaded-before-invocation matrix [P, T] for invocation counts [P, T]."""
        n_programs, n_bins = counts.shape
        span = max(1, int(np.ceil(self.range_minutes / bin_minutes)))  # histogram cells (bins of IT)
        loaded = np.zeros((n_programs, n_bins), dtype=bool)
        last = np.full(n_programs, -1, dtype=np.int64)  # latest invoked bin
        prewarm = np.zeros(n_programs, dtype=np.int64)
        keep = np.full(n_programs, span, dtype=np.int64)  # fallback: keep-alive of the range
        hist = np.zeros((n_programs, span + 1), dtype=np.int32)  # [P, R+1], cell i = IT of i bins
        beyond = np.zeros(n_programs, dtype=np.int64)
        seen = np.zeros(n_programs, dtype=np.int64)
        smooth = np.zeros(n_programs, dtype=float)
        for t in range(n_bins):
            since = t - last
            loaded[:, t] = (last >= 0) & (since >= np.maximum(prewarm, 1)) & (since <= prewarm + keep)
            invoked = np.flatnonzero(counts[:, t] > 0)
            if invoked.size == 0:
                continue
            known = invoked[last[invoked] >= 0]
            if known.size:
                idle = t - last[known]  # [k]
                inside = idle <= span
                hist[known[inside], idle[inside]] += 1
                beyond[known[~inside]] += 1
                smooth[known] = np.where(
                    seen[known] == 0, idle, self.smoothing * idle + (1 - self.smoothing) * smooth[known]
                )
                seen[known] += 1
                prewarm[known], keep[known] = self.windows(hist[known], beyond[known], smooth[known], span)
            last[invoked] = t
        return loaded

    def windows(
        self, hist: np.ndarray, beyond: np.ndarray, predicted: np.ndarray, span: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pre-warm and keep-alive windows (bins) for programs with histograms [k, R+1]."""
        inside = hist.sum(axis=1)  # [k]
        cells = hist[:, 1:].astype(float)  # [k, R]
        mean = cells.mean(axis=1)
        cv = np.divide(cells.std(axis=1), mean, out=np.zeros_like(mean), where=mean > 0)
        cumulative = np.cumsum(hist, axis=1)  # [k, R+1]
        head = _percentile_cell(cumulative, inside, self.head)
        tail = _percentile_cell(cumulative, inside, self.tail)
        prewarm = np.floor(head * (1 - self.margin)).astype(np.int64)
        keep = np.maximum(np.ceil(tail * (1 + self.margin)).astype(np.int64) - prewarm, 1)

        total = inside + beyond
        out_of_bounds = beyond > self.oob_share * np.maximum(total, 1)
        ts_prewarm = np.floor(self.ts_prewarm * predicted).astype(np.int64)
        ts_keep = np.maximum(np.ceil(self.ts_keepalive * predicted).astype(np.int64), 1)

        representative = (inside >= self.min_samples) & (cv >= self.cv_threshold)
        prewarm = np.where(out_of_bounds, ts_prewarm, np.where(representative, prewarm, 0))
        keep = np.where(out_of_bounds, ts_keep, np.where(representative, keep, span))
        return prewarm, keep


def _percentile_cell(cumulative: np.ndarray, total: np.ndarray, q: float) -> np.ndarray:
    """The smallest histogram cell whose cumulative count reaches q % of the total, per row."""
    reached = cumulative >= (q / 100.0) * np.maximum(total, 1)[:, None]
    return np.argmax(reached, axis=1).astype(float)
