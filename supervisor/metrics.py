"""The supervisor's Prometheus endpoint: what it knows about each actor, plus the samples
actors report, kept as monotonic series across actor restarts (no multiprocess files).

Actors send counter and histogram totals since their incarnation started; the supervisor
adds the increase since the previous sample (a total lower than the last one means a new
incarnation) to its own running totals, so `rate()` never sees a reset.

Names follow Prometheus conventions: `nija_` prefix, base units in the name (`_seconds`,
`_bytes`, `_usd`), `_total` on counters, and label values drawn from small fixed sets
(account, broker, method, outcome, side, type, result, pair, kind, source, asset,
permission, state), never order ids. docs/operations.md lists every series.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from protocol.messages import HistogramPoint, MetricsSample

STATES = ("starting", "running", "paused", "stopping", "backoff", "failed",
          "credentials_invalid", "config_invalid", "stopped", "error")
VERSION = "0.1.0"
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
F = TypeVar("F", CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily)
# HELP text of the series actors report (the supervisor adds `account` and `broker`).
REPORTED_HELP = {
    "nija_actor_commands": "Control commands and queries the actor handled, by kind",
    "nija_exchange_requests": "Exchange API calls by method and outcome (ok or error class)",
    "nija_exchange_request_duration_seconds": "Exchange API call duration by method",
    "nija_nonce_errors": "Calls the exchange refused with an invalid nonce",
    "nija_nonce_recoveries": "Invalid-nonce refusals recovered by jumping the nonce",
    "nija_rate_limit_errors": "Calls the exchange refused as rate limited",
    "nija_rate_limit_wait_seconds": "Seconds spent waiting for the local rate-limit model",
    "nija_orders": "Orders by side, type and result (placed, filled, rejected, ...)",
    "nija_open_orders": "Orders the account has working on the exchange",
    "nija_strategy_signals": "Strategy signals by pair and kind",
    "nija_signal_to_order_seconds": "From the signal's publication to the order's "
                                    "acknowledgement, by source",
    "nija_account_balance": "Exchange balance per asset, in units of that asset",
    "nija_account_permission": "1 if the API key has the permission, 0 if it lacks it",
    "nija_account_equity_usd": "Account equity at the marks, USD",
    "nija_account_pnl_usd": "P&L in USD by kind: realised, unrealised, day (since 00:00 UTC)",
    "nija_account_exposure_usd": "Value of positions plus resting buys at the marks, USD",
    "nija_account_positions": "Pairs the account holds a position in",
    "nija_account_trading_blocked": "1 if the last wanted order was not sent (any reason)",
    "nija_account_daily_loss_limit_reached": "1 once today's loss reached the account's "
                                             "daily loss limit (no new positions until 00:00 "
                                             "UTC)",
    "nija_account_last_order_timestamp_seconds": "Unix time of the account's last order",
    "nija_market_publications": "Market data messages published on the bus, by kind",
    "nija_market_failed_calls": "Market data exchange calls that failed, by method",
    "nija_market_welcomes": "Snapshots sent to subscribers that (re)joined the bus",
    "nija_market_last_candle_age_seconds": "Seconds since the last new candle, by pair",
    "nija_market_candle_clock_rate": "Venue candle clock speed relative to wall time",
}


@dataclass
class _Hist:
    bounds: tuple[float, ...]
    counts: list[float]
    sum: float = 0.0
    count: float = 0.0


@dataclass
class ActorSeries:
    """Everything exported for one actor; written by the main loop, read by scrapes."""

    account: str
    broker: str
    state: str = "starting"
    up: bool = False
    paused: bool = False
    is_account: bool = True  # False for the market data actor: it has nothing to pause
    restarts: int = 0
    rss_bytes: float | None = None
    uss_bytes: float | None = None
    cpu_seconds: float = 0.0
    cpu_base: float = 0.0  # CPU of earlier incarnations, so the counter never goes down
    counters: dict[SeriesKey, float] = field(default_factory=dict)
    gauges: dict[SeriesKey, float] = field(default_factory=dict)
    histograms: dict[SeriesKey, _Hist] = field(default_factory=dict)
    _last: dict[SeriesKey, float] = field(default_factory=dict)
    _last_hist: dict[SeriesKey, HistogramPoint] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    _age: tuple[float, float] | None = None  # (age, clock() when set): one atomic write

    @property
    def heartbeat_age_s(self) -> float | None:
        """Seconds since the main loop last saw a heartbeat, as of now: the age the loop
        last wrote plus the time since it wrote it. So a stalled main loop shows as a
        growing age (and trips NijaHeartbeatStale) instead of a frozen, healthy value."""
        written = self._age
        if written is None:
            return None
        return written[0] + max(0.0, self.clock() - written[1])

    @heartbeat_age_s.setter
    def heartbeat_age_s(self, age: float | None) -> None:
        self._age = None if age is None else (age, self.clock())

    def new_incarnation(self) -> None:
        self._last.clear()
        self._last_hist.clear()
        self.gauges.clear()
        self.cpu_base += self.cpu_seconds
        self.cpu_seconds = 0.0

    def ingest(self, sample: MetricsSample) -> None:
        for point in sample.counters:
            key = (point.name, point.labels)
            previous = self._last.get(key, 0.0)
            increase = point.value - previous if point.value >= previous else point.value
            self._last[key] = point.value
            self.counters[key] = self.counters.get(key, 0.0) + increase
        for point in sample.gauges:
            self.gauges[(point.name, point.labels)] = point.value
        for hist in sample.histograms:
            self._ingest_hist(hist)

    def _ingest_hist(self, point: HistogramPoint) -> None:
        key = (point.name, point.labels)
        mine = self.histograms.get(key)
        if mine is None or mine.bounds != point.bounds:
            mine = self.histograms[key] = _Hist(point.bounds, [0.0] * len(point.bounds))
        last = self._last_hist.get(key)
        fresh = last is None or point.count < last.count or last.bounds != point.bounds
        for i, total in enumerate(point.counts):
            mine.counts[i] += total if fresh or last is None else total - last.counts[i]
        mine.sum += point.sum if fresh or last is None else point.sum - last.sum
        mine.count += point.count if fresh or last is None else point.count - last.count
        self._last_hist[key] = point


class MetricsState(Collector):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.actors: dict[str, ActorSeries] = {}
        self.mode = "live"

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            yield from self._collect()

    def _collect(self) -> Iterator[Metric]:
        labels = ["account", "broker"]
        info = GaugeMetricFamily("nija_build_info", "Build and mode of this supervisor",
                                 labels=["version", "mode"])
        info.add_metric([VERSION, self.mode], 1)
        yield info
        up = GaugeMetricFamily("nija_actor_up", "1 if the actor is connected and heartbeating",
                               labels=labels)
        state = GaugeMetricFamily("nija_actor_state", "1 for the actor's current state",
                                  labels=[*labels, "state"])
        paused = GaugeMetricFamily("nija_account_paused", "1 if the account is paused",
                                   labels=labels)
        restarts = CounterMetricFamily("nija_actor_restarts", "Restarts of the actor process",
                                       labels=labels)
        age = GaugeMetricFamily("nija_actor_heartbeat_age_seconds",
                                "Seconds since the supervisor last saw the actor's heartbeat",
                                labels=labels)
        rss = GaugeMetricFamily("nija_actor_resident_memory_bytes",
                                "Actor resident set size, bytes", labels=labels)
        uss = GaugeMetricFamily("nija_actor_unique_memory_bytes",
                                "Actor unique set size (memory freed if it exits), bytes",
                                labels=labels)
        cpu = CounterMetricFamily("nija_actor_cpu_seconds", "Actor CPU time, all incarnations",
                                  labels=labels)
        for series in self.actors.values():
            lv = [series.account, series.broker]
            heartbeat_age = series.heartbeat_age_s
            up.add_metric(lv, 1.0 if series.up else 0.0)
            for name in STATES:
                state.add_metric([*lv, name], 1.0 if series.state == name else 0.0)
            if series.is_account:
                paused.add_metric(lv, 1.0 if series.paused else 0.0)
            restarts.add_metric(lv, series.restarts)
            if heartbeat_age is not None:
                age.add_metric(lv, heartbeat_age)
            if series.rss_bytes is not None:
                rss.add_metric(lv, series.rss_bytes)
            if series.uss_bytes is not None:
                uss.add_metric(lv, series.uss_bytes)
            cpu.add_metric(lv, series.cpu_base + series.cpu_seconds)
        yield from (up, state, paused, restarts, age, rss, uss, cpu)
        yield from self._reported()

    def _reported(self) -> Iterator[Metric]:
        counters: dict[str, CounterMetricFamily] = {}
        gauges: dict[str, GaugeMetricFamily] = {}
        hists: dict[str, HistogramMetricFamily] = {}
        for series in self.actors.values():
            base = (("account", series.account), ("broker", series.broker))
            for (name, labels), value in series.counters.items():
                family = counters.setdefault(name, _family(CounterMetricFamily, name, labels))
                family.add_metric([v for _, v in (*base, *labels)], value)
            for (name, labels), value in series.gauges.items():
                gauge = gauges.setdefault(name, _family(GaugeMetricFamily, name, labels))
                gauge.add_metric([v for _, v in (*base, *labels)], value)
            for (name, labels), hist in series.histograms.items():
                family_h = hists.setdefault(name, _family(HistogramMetricFamily, name, labels))
                buckets = [(_le(b), c) for b, c in zip(hist.bounds, hist.counts, strict=True)]
                family_h.add_metric([v for _, v in (*base, *labels)], buckets, hist.sum)
        yield from counters.values()
        yield from gauges.values()
        yield from hists.values()


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def _family(cls: type[F], name: str, labels: tuple[tuple[str, str], ...]) -> F:
    base = name.removesuffix("_total") if cls is CounterMetricFamily else name
    return cls(base, REPORTED_HELP.get(base, f"Reported by the actors: {base}"),
               labels=["account", "broker", *(k for k, _ in labels)])


def serve_metrics(state: MetricsState, addr: str) -> tuple[str, int]:
    """Serve /metrics on HOST:PORT (port 0 picks one); returns the bound address."""
    host, _, port = addr.rpartition(":")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(state)
    server, _thread = start_http_server(int(port), addr=host.strip("[]"), registry=registry)
    bound = server.server_address
    return str(bound[0]), int(bound[1])
