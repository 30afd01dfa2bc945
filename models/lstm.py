"""LSTM: one global, direct multi-horizon quantile forecaster for all series of a panel.

Every training window (series p, origin o) is normalised by the series' recent level, the mean of the day
before o plus one (as LightGBM does), so one network serves series of any size:

* the encoder, an LSTM, reads the `lookback` bins before o, each step carrying log1p of its normalised value,
  log1p of the normalised value one day earlier, and the sin/cos of its time of day;
* the head reads the encoder's last hidden state with, per target bin o + h (h < H), the normalised value one
  day earlier and one week earlier (the day-ago value where the week is not there yet), the target's sin/cos
  time of day and log1p of the level, and outputs the H medians of the normalised target. A linear skip
  from these seasonal references to the outputs lets it start out close to a seasonal naive forecast.

The network trains with the pinball loss at the median (Adam, fixed epochs, seeded); the intervals around its
forecasts come from conformal calibration (`models.conformal`), not from the network. Forecasts are multiplied
back by the level and floored at zero. A forecast made at origin o reads bins < o only.

`update` warm-starts: it fine-tunes the current weights for a few epochs on the windows whose origins lie in the
newest `update_bins` bins, a small fraction of a full fit's work.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from clonecast.errors import ConfigError, InputError, ModelError
from models.panel import Panel

SEQ_FEATURES = 4  # per lookback step: value, day-ago value, sin and cos of the time of day
HEAD_FEATURES = 4  # per target step: day-ago value, week-ago value, sin and cos of the time of day
PREDICT_BATCH = 8192  # windows per forward pass at predict time


class _Network(nn.Module):
    """LSTM encoder + MLP head with a linear skip from the per-target features: -> [N, H] medians."""

    def __init__(self, hidden: int, layers: int, dropout: float, horizon: int) -> None:
        super().__init__()
        self.horizon = horizon
        extra = HEAD_FEATURES * horizon + 1
        self.lstm = nn.LSTM(
            SEQ_FEATURES, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
        )
        last = nn.Linear(2 * hidden, horizon)
        self.mlp = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden + extra, 2 * hidden), nn.ReLU(), last)
        self.skip = nn.Linear(extra, horizon)
        with torch.no_grad():  # start as the mean of the day-ago and week-ago values
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            nn.init.zeros_(self.skip.weight)
            nn.init.zeros_(self.skip.bias)
            for h in range(horizon):
                self.skip.weight[h, h] = 0.5  # day-ago of step h
                self.skip.weight[h, horizon + h] = 0.5  # week-ago of step h

    def forward(self, seq: torch.Tensor, head: torch.Tensor) -> torch.Tensor:
        _, (state, _) = self.lstm(seq)  # state [layers, N, hidden]
        return self.mlp(torch.cat([state[-1], head], dim=1)) + self.skip(head)  # [N, H]


@dataclass
class _Windows:
    """Network inputs and targets of N windows (series, origin), as float32 numpy arrays."""

    seq: np.ndarray  # [N, L, SEQ_FEATURES]
    head: np.ndarray  # [N, HEAD_FEATURES * H + 1]
    level: np.ndarray  # [N]
    target: np.ndarray | None = None  # [N, H] normalised


@dataclass
class LSTMForecaster:
    """Knobs: encoder `lookback`/`hidden`/`layers`, training `epochs`/`batch_size`/`learning_rate`, windows every
    `stride` bins (at most `max_samples`, a seeded subset), `update_epochs` on the newest `update_bins` bins."""

    lookback: int = 48
    hidden: int = 32
    layers: int = 1
    dropout: float = 0.0
    epochs: int = 16
    batch_size: int = 256
    learning_rate: float = 3e-3
    stride: int = 1
    max_samples: int = 20000
    horizon: int = 12
    update_epochs: int = 2
    update_bins: int = 576
    device: str = "auto"
    seed: int = 7
    name: str = "lstm"
    network: _Network | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if min(self.lookback, self.hidden, self.layers, self.epochs, self.batch_size, self.stride, self.horizon) < 1:
            raise ConfigError(
                f"LSTM: lookback={self.lookback}, hidden={self.hidden}, layers={self.layers}, epochs={self.epochs}, "
                f"batch_size={self.batch_size}, stride={self.stride}, horizon={self.horizon}; all must be positive"
            )

    # -- public interface ---------------------------------------------------------------------------------

    def fit(self, panel: Panel) -> LSTMForecaster:
        """Train a fresh network on windows from all bins of the panel."""
        values = _checked_values(panel, panel.bins)
        first = self._first_origin(panel)
        if panel.bins < first + self.horizon:
            raise InputError(
                f"{panel.bins} bins are too few to train the LSTM: it needs at least {first + self.horizon} "
                f"(a day of {panel.season} + lookback {self.lookback} + horizon {self.horizon}); give it more data"
            )
        origins = np.arange(first, panel.bins - self.horizon + 1, self.stride)
        device = self._device()
        with _seeded(self.seed, device):
            self.network = _Network(self.hidden, self.layers, self.dropout, self.horizon).to(device)
            self._train(panel, values, origins, self.epochs, self.max_samples, self.seed)
        return self

    def update(self, panel: Panel) -> LSTMForecaster:
        """Fine-tune the current weights for `update_epochs` on the windows whose origins lie in the newest
        `update_bins` bins (at most a quarter of `max_samples`, so an update stays a small share of a fit)."""
        if self.network is None:
            raise ModelError("the LSTM was never fitted: fit it (or load a fitted one) before updating it")
        values = _checked_values(panel, panel.bins)
        last = panel.bins - self.horizon
        first = max(self._first_origin(panel), panel.bins - self.update_bins)
        if last < first:
            raise InputError(
                f"{panel.bins} bins are too few to update the LSTM: it needs at least "
                f"{self._first_origin(panel) + self.horizon}; give it more data"
            )
        origins = np.arange(last, first - 1, -self.stride)[::-1]  # ends at the newest complete window
        seed = self.seed + panel.bins  # deterministic, but not the same draws as the fit
        with _seeded(seed, self._device()):
            self._train(panel, values, origins, self.update_epochs, max(self.max_samples // 4, 1), seed)
        return self

    def point(self, panel: Panel, origins: np.ndarray, horizon: int) -> np.ndarray:
        """Median forecasts [P, O, H] from each origin (bins < origin only), >= 0."""
        network = self._network()
        if horizon > self.horizon or horizon < 1:
            raise InputError(
                f"horizon {horizon} is outside 1..{self.horizon}, the horizon this LSTM was built for; "
                "ask for fewer steps or train for a longer horizon"
            )
        origins = np.asarray(origins, dtype=np.int64).reshape(-1)
        n_programs, n_origins = len(panel.codes), len(origins)
        if n_origins and (origins.min() < 1 or origins.max() > panel.bins):
            raise ValueError(f"origins must lie in 1..{panel.bins} (a forecast needs at least one bin before it)")
        values = _checked_values(panel, int(origins.max()) if n_origins else 0)
        rows = np.repeat(np.arange(n_programs), n_origins)  # [N] series-major
        at = np.tile(origins, n_programs)  # [N]
        out = np.empty((len(rows), self.horizon), dtype=np.float64)  # [N, H]
        cumulative = _cumulative(values)
        device = self._device()
        network.eval()
        with torch.inference_mode(), _one_thread(device):
            for lo in range(0, len(rows), PREDICT_BATCH):
                part = slice(lo, lo + PREDICT_BATCH)
                w = self._windows(panel, values, cumulative, rows[part], at[part])
                seq, head = torch.from_numpy(w.seq).to(device), torch.from_numpy(w.head).to(device)
                predicted = network(seq, head).double().cpu().numpy()  # [B, H] normalised
                out[part] = predicted * w.level[:, None]
        return np.maximum(out, 0.0)[:, :horizon].reshape(n_programs, n_origins, horizon)  # [P, O, H]

    # -- pickling: always as a CPU model, moved to the chosen device on use ------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if self.network is not None and next(self.network.parameters()).device.type != "cpu":
            state["network"] = copy.deepcopy(self.network).to("cpu")
        return state

    # -- internals -------------------------------------------------------------------------------------

    def _device(self) -> torch.device:
        device = torch.device(
            ("cuda" if torch.cuda.is_available() else "cpu") if self.device == "auto" else self.device
        )
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        return device

    def _network(self) -> _Network:
        if self.network is None:
            raise ModelError("the LSTM was never fitted: fit it (or load a fitted one) before forecasting with it")
        device = self._device()
        if next(self.network.parameters()).device != device:
            self.network = self.network.to(device)
        return self.network

    def _first_origin(self, panel: Panel) -> int:
        """The first origin whose whole lookback window has its day-ago bins."""
        return panel.season + self.lookback

    def _windows(
        self, panel: Panel, values: np.ndarray, cumulative: np.ndarray, rows: np.ndarray, origins: np.ndarray
    ) -> _Windows:
        """Inputs of the windows (rows[i], origins[i]) from bins < origins[i] only."""
        season, week, horizon = panel.season, panel.week, self.horizon
        offset = _time_of_day_offset(panel)
        low = np.maximum(origins - season, 0)
        level = (cumulative[rows, origins] - cumulative[rows, low]) / np.maximum(origins - low, 1) + 1.0  # [N]
        norm = level[:, None]  # [N, 1]
        steps = origins[:, None] + np.arange(-self.lookback, 0)[None, :]  # [N, L]
        r = rows[:, None]
        recent = values[r, np.maximum(steps, 0)] / norm  # [N, L]
        day_before = values[r, np.maximum(steps - season, 0)] / norm  # [N, L]
        seq = np.stack([np.log1p(recent), np.log1p(day_before), *_clock(steps + offset, season)], axis=2)

        targets = origins[:, None] + np.arange(horizon)[None, :]  # [N, H]
        last = values[rows, origins - 1][:, None]  # [N, 1] naive fallback before the first day
        day_ago = np.where(targets >= season, values[r, np.maximum(targets - season, 0)], last) / norm  # [N, H]
        week_ago = np.where(targets >= week, values[r, np.maximum(targets - week, 0)] / norm, day_ago)  # [N, H]
        head = np.concatenate(
            [day_ago, week_ago, *_clock(targets + offset, season), np.log1p(level)[:, None] / 10.0], axis=1
        )
        return _Windows(seq.astype(np.float32), head.astype(np.float32), level)

    def _train(self, panel: Panel, values: np.ndarray, origins: np.ndarray, epochs: int, cap: int, seed: int) -> None:
        """Train the current network on the windows of every series at `origins` (a seeded subset of `cap`)."""
        network = self._network()
        device = self._device()
        n_programs = len(panel.codes)
        total = n_programs * len(origins)
        pairs = np.arange(total)  # series-major (series, origin) pairs
        if total > cap:
            pairs = np.sort(np.random.default_rng(seed).choice(total, size=cap, replace=False))
        rows, at = pairs // len(origins), origins[pairs % len(origins)]
        w = self._windows(panel, values, _cumulative(values), rows, at)
        targets = at[:, None] + np.arange(self.horizon)[None, :]  # [N, H]
        y = (values[rows[:, None], targets] / w.level[:, None]).astype(np.float32)  # [N, H] normalised
        seq, head, target = (torch.from_numpy(a).to(device) for a in (w.seq, w.head, y))
        optimizer = torch.optim.Adam(network.parameters(), lr=self.learning_rate)
        generator = torch.Generator().manual_seed(seed)
        network.train()
        for _ in range(epochs):
            order = torch.randperm(len(rows), generator=generator).to(device)
            for lo in range(0, len(rows), self.batch_size):
                batch = order[lo : lo + self.batch_size]
                predicted = network(seq[batch], head[batch])  # [B, H]
                loss = 0.5 * (target[batch] - predicted).abs().mean()  # the pinball loss at the median
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(network.parameters(), 1.0)
                optimizer.step()
        network.eval()


@contextmanager
def _one_thread(device: torch.device) -> Iterator[None]:
    """One torch thread on CPU for the call: the batches are small, so threads cost more than they give (and
    fight other work on a busy machine); the previous count is restored afterwards."""
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch for training without leaving the global RNG or the determinism flags changed afterwards."""
    cuda = device.type == "cuda"
    with torch.random.fork_rng(devices=[device.index] if cuda else []), _one_thread(device):
        torch.manual_seed(seed)
        flags = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
        if cuda:  # CPU kernels are deterministic already
            torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])


def _checked_values(panel: Panel, end: int) -> np.ndarray:
    """The panel's values as floats; NaN in the first `end` bins is an error naming the series."""
    values = np.asarray(panel.values, dtype=np.float64)
    bad = np.isnan(values[:, :end]).any(axis=1)
    if bad.any():
        codes = ", ".join(str(c) for c in panel.codes[bad][:10])
        more = f" and {int(bad.sum()) - 10} more" if bad.sum() > 10 else ""
        raise InputError(
            f"the LSTM cannot use series with missing values (NaN): {codes}{more}; fill or drop those bins first"
        )
    return values


def _cumulative(values: np.ndarray) -> np.ndarray:
    """Running sums with a leading zero column [P, T + 1]."""
    return np.concatenate([np.zeros((len(values), 1)), np.cumsum(values, axis=1)], axis=1)


def _time_of_day_offset(panel: Panel) -> int:
    """Bins from midnight to the panel's first bin."""
    start = panel.start
    return int((start - start.normalize()) / panel.width) % panel.season


def _clock(bins: np.ndarray, season: int) -> tuple[np.ndarray, np.ndarray]:
    """sin and cos of the time of day of bins (counted from midnight)."""
    angle = (bins % season) * (2.0 * math.pi / season)
    return np.sin(angle), np.cos(angle)
