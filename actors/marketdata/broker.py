"""The market data actor's broker (role "market"): polls the venue's public API as
`MarketFeed` schedules it, within `PublicBudget`, and publishes on an XPUB socket bound at
`launch.market_endpoint`.

Late subscribers are welcomed: PUB/SUB drops what is sent before a subscriber connects, so
every subscription message (XPUB_VERBOSE: a restarted actor's re-subscription to a topic
others hold is seen too) is answered by republishing, without any venue call, the latest
`Candles` of every pair and the latest `Prices`, exactly as first published (same `seq`
and `published_at`). Every subscriber may therefore see a message twice; a (re)started
account actor has its candles and prices within a tick (`MAX_TICK_S`) instead of a whole
candle interval. This also delivers the first windows published in `start()`, which
subscribers connected before the bind usually missed, their subscription not having
arrived yet. After the venue's candles went back in time the cached windows are dropped,
not republished, until new ones come.

start/tick/query/close run on the actor's single worker thread, which alone creates and
uses the socket. summary() and metrics() are read from the socket thread: they see only
the lock-guarded figures and ClientStats (itself locked). Pause does not stop the feed:
the data is public, costs no account anything, and paused accounts still value positions
and may flatten with it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import zmq

from actors.broker import BrokerError, ConfigInvalid, UnknownQuery
from actors.kraken.errors import MalformedResponse
from actors.kraken.public import PublicClient
from actors.kraken.stats import ClientStats
from actors.launch import ActorLaunch
from actors.marketdata.answers import FeedDataError, resolve_pairs, usd_pairs
from actors.marketdata.feed import MarketFeed, PublicBudget, PublicCall
from protocol.bus import BusUnion, Candles, encode_bus
from protocol.messages import HistogramPoint, MetricPoint

log = logging.getLogger("nija.marketdata")
MIN_TICK_S = 0.05
MAX_TICK_S = 0.25  # subscriptions are answered on ticks: a new subscriber waits at most this
MAX_CALLS_PER_TICK = 8  # the budget binds first; this only bounds one tick's length
SNDHWM = 1000  # messages per subscriber; each is self-contained, a stuck one loses old news


class MarketDataBroker:
    def __init__(self, launch: ActorLaunch, *, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if launch.role != "market" or launch.market is None:
            raise ConfigInvalid("the market data actor needs role 'market' and market settings")
        if not launch.market_endpoint:
            raise ConfigInvalid("the market data actor needs a market_endpoint to bind")
        self.launch = launch
        self.settings = launch.market
        self.clock, self.wall, self.sleep = clock, wall, sleep
        try:
            self.budget = PublicBudget(self.settings.public_calls_per_s)
        except ValueError as exc:
            raise ConfigInvalid(f"market settings: {exc}") from None
        self.stats = ClientStats()
        self.client = PublicClient(launch.venue_url, stats=self.stats, pace=self._pace)
        self.feed: MarketFeed | None = None
        self._sock: zmq.Socket[bytes] | None = None
        self._lock = threading.Lock()  # guards the figures below (read by the socket thread)
        self._published = {"candles": 0, "prices": 0}
        self._failures: dict[str, int] = {}
        self._new_candle_at: dict[str, float] = {}
        self._welcomes = 0  # times the latest messages were republished to new subscribers
        self._latest: dict[bytes, list[bytes]] = {}  # topic -> frames (worker thread only)

    # -- start -----------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        """Resolve the pairs (ConfigInvalid names an unknown one), bind, and publish each
        pair's first window. Safe to call again after a failure: done steps are kept."""
        if self.feed is None:
            asset_pairs = self.client.public("AssetPairs").result
            pairs = resolve_pairs(self.settings.pairs, asset_pairs)
            try:
                self.feed = MarketFeed(self.launch.broker, pairs, self.settings.interval_min,
                                       self.settings.poll_s, self.settings.window,
                                       usd=usd_pairs(asset_pairs))
            except ValueError as exc:
                raise ConfigInvalid(f"market settings: {exc}") from None
        if self._sock is None:
            self._sock = self._bind()
        for key, window in self.feed.windows.items():
            if window.newest is None:
                self._call(self.feed.ohlc_call(key))
        return {"pairs": [p.altname for p in self.feed.pairs.values()],
                "interval_min": self.settings.interval_min,
                "endpoint": self.launch.market_endpoint}

    def _bind(self) -> zmq.Socket[bytes]:
        sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.XPUB)
        sock.setsockopt(zmq.SNDHWM, SNDHWM)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.XPUB_VERBOSE, 1)  # every subscription, not only new topics
        try:
            sock.bind(self.launch.market_endpoint)
        except zmq.ZMQError:
            sock.close(linger=0)
            raise
        return sock

    # -- periodic --------------------------------------------------------------------

    def tick(self, paused: bool) -> float:
        """Welcome new subscribers, then make the calls that are due while the budget
        allows; seconds until more are due, at most MAX_TICK_S (subscriptions wait for it)."""
        feed = self._started()
        self._welcome()
        now = self.clock()
        for _ in range(MAX_CALLS_PER_TICK):
            due = feed.due(now)
            if not due or self.budget.wait(now) > 0:
                break
            try:
                self._call(due[0])
            except BrokerError as exc:  # retried by the client already: try again later
                log.warning("market data call failed: %s", exc)
                feed.on_failure(due[0], self.clock())
                with self._lock:
                    self._failures[due[0].method] = self._failures.get(due[0].method, 0) + 1
            now = self.clock()
        return min(MAX_TICK_S,
                   max(MIN_TICK_S, feed.next_due_at() - now, self.budget.wait(now)))

    def _welcome(self) -> None:
        """Drain the subscription messages; if any subscribed (first byte 1), republish the
        latest message of every topic once (unsubscriptions, first byte 0, need nothing)."""
        assert self._sock is not None
        subscribed = False
        while True:
            try:
                frame = self._sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            subscribed = subscribed or frame[:1] == b"\x01"
        if not subscribed:
            return
        for frames in self._latest.values():
            self._sock.send_multipart(frames)  # XPUB never blocks: drops at SNDHWM
        with self._lock:
            self._welcomes += 1

    def _call(self, call: PublicCall) -> None:
        """One public call, its answer ingested and what it yields published."""
        feed = self._started()
        answer = self.client.public(call.method, call.params)
        now, wall = self.clock(), self.wall()
        server_time = answer.server_time if answer.server_time is not None else wall
        resets = feed.resets
        try:
            messages: list[BusUnion] = (
                [feed.on_ticker(answer.result, now, server_time, wall)] if call.pair is None
                else list(feed.on_ohlc(call.pair, answer.result, now, server_time, wall)))
        except FeedDataError as exc:
            raise MalformedResponse(f"{call.method}: {exc}", method=call.method) from None
        if feed.resets != resets:
            log.warning("the venue's candles went back in time (restarted?): starting over")
            self._latest = {topic: frames for topic, frames in self._latest.items()
                            if not topic.startswith(b"candles/")}
        for message in messages:
            self._publish(message)

    def _publish(self, message: BusUnion) -> None:
        assert self._sock is not None
        frames = encode_bus(message)
        self._sock.send_multipart(frames)  # XPUB never blocks: drops at SNDHWM
        self._latest[frames[0]] = frames
        kind = "candles" if isinstance(message, Candles) else "prices"
        with self._lock:
            self._published[kind] += 1
            if isinstance(message, Candles):
                self._new_candle_at[message.pair] = self.clock()

    def _pace(self) -> None:
        """Before every HTTP attempt, retries included: wait for the budget, then spend."""
        wait = self.budget.wait(self.clock())
        if wait > 0:
            self.stats.rate_limit_wait_s += wait
            self.sleep(wait)
        self.budget.spend(self.clock())

    def _started(self) -> MarketFeed:
        if self.feed is None:
            raise BrokerError("the market data actor has not started")
        return self.feed

    def on_bus(self, messages: Sequence[BusUnion]) -> float | None:
        return None  # the market data actor subscribes to nothing

    def pause(self, cancel_open: bool, flatten: bool) -> dict[str, Any]:
        return {"cancelled": 0, "flattened": []}  # no orders; the feed keeps running

    def resume(self) -> None:
        return None

    # -- queries ---------------------------------------------------------------------

    def query(self, what: str, params: dict[str, str]) -> dict[str, Any]:
        feed = self._started()
        if what == "prices":
            return {"prices": {k: str(v) for k, v in feed.last.items()},
                    "server_time": feed.server_time}
        if what == "candles":
            key = self._pair_key(feed, params.get("pair", ""))
            return {"pair": key, "altname": feed.pairs[key].altname,
                    "interval_min": feed.interval_min,
                    "candles": [[r.time, str(r.open), str(r.high), str(r.low), str(r.close),
                                 str(r.volume)] for r in feed.windows[key].rows]}
        raise UnknownQuery(f"unknown query {what!r}; known: candles, prices")

    @staticmethod
    def _pair_key(feed: MarketFeed, name: str) -> str:
        wanted = name.replace("/", "").upper()
        for pair in feed.pairs.values():
            if wanted in (pair.key, pair.altname):
                return pair.key
        raise BrokerError(f"pair {name!r} is not in this feed; it has "
                          f"{', '.join(p.altname for p in feed.pairs.values())}")

    # -- metrics and shutdown --------------------------------------------------------

    def _ages(self) -> dict[str, float]:
        """Local seconds since each pair's last new committed candle was published."""
        now = self.clock()
        with self._lock:
            return {pair: now - at for pair, at in self._new_candle_at.items()}

    def summary(self) -> dict[str, str]:
        feed, ages = self.feed, self._ages()
        return {"pairs": str(len(feed.pairs) if feed else len(self.settings.pairs)),
                "last_candle_age_s": f"{max(ages.values()):.1f}" if ages else "-"}

    def metrics(self) -> tuple[list[MetricPoint], list[MetricPoint], list[HistogramPoint]]:
        counters, histograms = self.stats.points()
        with self._lock:
            counters += [MetricPoint("nija_market_publications_total", (("kind", k),),
                                     float(n)) for k, n in sorted(self._published.items())]
            counters += [MetricPoint("nija_market_failed_calls_total", (("method", m),),
                                     float(n)) for m, n in sorted(self._failures.items())]
            counters.append(MetricPoint("nija_market_welcomes_total", (),
                                        float(self._welcomes)))
        gauges = [MetricPoint("nija_market_last_candle_age_seconds", (("pair", p),), age)
                  for p, age in sorted(self._ages().items())]
        feed = self.feed
        if feed is not None:
            gauges.append(MetricPoint("nija_market_candle_clock_rate", (), feed.clock.rate))
        return counters, gauges, histograms

    def close(self, deadline_s: float) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
        self.client.close()
