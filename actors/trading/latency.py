"""Signal-to-order latency: from the bus message that caused an order (its publish time)
to the venue's acknowledgement of that order, per source. Unix seconds on one host, so
publisher and account actor share the clock."""

from __future__ import annotations

import bisect
import threading
from collections import deque
from dataclasses import dataclass, field

from actors.kraken.stats import LATENCY_BOUNDS
from protocol.messages import HistogramPoint

RECENT = 2000


@dataclass
class SignalLatency:
    counts: dict[str, list[int]] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)
    recent: dict[str, deque[float]] = field(default_factory=dict)  # last samples, for benches
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, source: str, seconds: float) -> None:
        with self._lock:
            buckets = self.counts.setdefault(source, [0] * len(LATENCY_BOUNDS))
            buckets[bisect.bisect_left(LATENCY_BOUNDS, max(0.0, seconds))] += 1
            self.sums[source] = self.sums.get(source, 0.0) + max(0.0, seconds)
            self.recent.setdefault(source, deque(maxlen=RECENT)).append(max(0.0, seconds))

    def samples(self) -> dict[str, list[float]]:
        with self._lock:
            return {source: list(values) for source, values in self.recent.items()}

    def points(self) -> list[HistogramPoint]:
        with self._lock:
            points = []
            for source, buckets in sorted(self.counts.items()):
                cumulative, running = [], 0
                for count in buckets:
                    running += count
                    cumulative.append(running)
                points.append(HistogramPoint("nija_signal_to_order_seconds",
                                             (("source", source),), LATENCY_BOUNDS,
                                             tuple(cumulative), self.sums[source], running))
            return points
