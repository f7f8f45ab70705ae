"""Counters of one Kraken client, turned into MetricsSample points for the supervisor."""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field

from protocol.messages import HistogramPoint, MetricPoint

LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, float("inf"))


@dataclass
class ClientStats:
    """Totals since this actor started; the supervisor makes them monotonic across restarts."""

    requests: dict[tuple[str, str], int] = field(default_factory=dict)  # (method, outcome)
    latency: dict[str, list[int]] = field(default_factory=dict)  # method -> bucket counts
    latency_sum: dict[str, float] = field(default_factory=dict)
    nonce_errors: int = 0
    nonce_recoveries: int = 0
    rate_limit_errors: int = 0
    rate_limit_wait_s: float = 0.0
    orders: dict[tuple[str, str, str], int] = field(default_factory=dict)  # side, type, result
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, method: str, outcome: str, seconds: float, timed: bool = True) -> None:
        with self._lock:
            key = (method, outcome)
            self.requests[key] = self.requests.get(key, 0) + 1
            if timed:
                buckets = self.latency.setdefault(method, [0] * len(LATENCY_BOUNDS))
                buckets[bisect.bisect_left(LATENCY_BOUNDS, seconds)] += 1
                self.latency_sum[method] = self.latency_sum.get(method, 0.0) + seconds

    def order(self, side: str, ordertype: str, result: str) -> None:
        with self._lock:
            key = (side, ordertype, result)
            self.orders[key] = self.orders.get(key, 0) + 1

    def points(self) -> tuple[list[MetricPoint], list[HistogramPoint]]:
        with self._lock:
            counters = [MetricPoint("nija_exchange_requests_total",
                                    (("method", m), ("outcome", o)), float(n))
                        for (m, o), n in sorted(self.requests.items())]
            counters += [
                MetricPoint("nija_nonce_errors_total", (), float(self.nonce_errors)),
                MetricPoint("nija_nonce_recoveries_total", (), float(self.nonce_recoveries)),
                MetricPoint("nija_rate_limit_errors_total", (), float(self.rate_limit_errors)),
                MetricPoint("nija_rate_limit_wait_seconds_total", (), self.rate_limit_wait_s),
            ]
            counters += [MetricPoint("nija_orders_total", (("side", s), ("type", t),
                                                           ("result", r)), float(n))
                         for (s, t, r), n in sorted(self.orders.items())]
            histograms = []
            for method, buckets in sorted(self.latency.items()):
                cumulative, running = [], 0
                for count in buckets:
                    running += count
                    cumulative.append(running)
                histograms.append(HistogramPoint(
                    "nija_exchange_request_duration_seconds", (("method", method),),
                    LATENCY_BOUNDS, tuple(cumulative), self.latency_sum[method], running))
        return counters, histograms
