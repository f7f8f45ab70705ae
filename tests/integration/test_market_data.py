"""The market data actor's broker against a real simulator over HTTP, publishing on a real
ZeroMQ XPUB socket that real SUB sockets read."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import zmq

from actors.broker import ConfigInvalid, UnknownQuery
from actors.kraken.errors import RetryPolicy
from actors.launch import ActorLaunch, MarketSettings
from actors.marketdata.broker import MarketDataBroker
from actors.marketdata.feed import PublicBudget
from protocol.bus import BusUnion, Candles, Prices, decode_bus
from simulator.markets import PAIRS as VENUE_PAIRS
from tests.conftest import Venue

PAIRS = {"XXBTZUSD": "XBTUSD", "XETHZUSD": "ETHUSD"}
USD_KEYS = {p.key for p in VENUE_PAIRS if p.quote in ("ZUSD", "USD")}  # the venue's list
WINDOW = 30
RATE = 0.9


def market_launch(url: str, tmp_path: Path, pairs: tuple[str, ...] = ("XBTUSD", "ETHUSD")
                  ) -> ActorLaunch:
    return ActorLaunch(
        actor_id="kraken:market", broker="kraken", account="market", endpoint="",
        state_dir=str(tmp_path), venue_url=url, role="market",
        market_endpoint=f"ipc://{tmp_path}/m.sock",
        market=MarketSettings(pairs=pairs, interval_min=1, poll_s=2.0,
                              public_calls_per_s=RATE, window=WINDOW))


def connect_sub(tmp_path: Path) -> zmq.Socket[bytes]:
    """A SUB to everything, as account actors subscribe."""
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(f"ipc://{tmp_path}/m.sock")
    return sock


@pytest.fixture
def subscriber(tmp_path: Path) -> Iterator[zmq.Socket[bytes]]:
    """Connected before the broker binds: its subscription usually arrives only after the
    first windows were published in start(), and the welcome must bring them."""
    sock = connect_sub(tmp_path)
    yield sock
    sock.close(linger=0)


def drive(broker: MarketDataBroker, sub: zmq.Socket[bytes],
          done: Callable[[list[BusUnion]], bool], timeout_s: float = 40.0,
          on_candles: Callable[[Candles], None] = lambda _: None,
          next_tick: float = 0.0) -> list[BusUnion]:
    """Tick as the actor runtime would (the first at monotonic `next_tick`) and collect
    what the SUB socket receives until `done` holds (a timeout here is a failure, not a
    measurement)."""
    received: list[BusUnion] = []
    deadline = time.monotonic() + timeout_s
    while not done(received):
        assert time.monotonic() < deadline, f"gave up; received {summarise(received)}"
        if time.monotonic() >= next_tick:
            next_tick = time.monotonic() + broker.tick(False)
        if sub.poll(max(1, int((next_tick - time.monotonic()) * 1000))):
            while sub.poll(0):
                received.append(decode_bus(sub.recv_multipart()))
                if isinstance(received[-1], Candles):
                    on_candles(received[-1])
    return received


def summarise(received: list[BusUnion]) -> list[str]:
    return [f"{type(m).__name__}:{getattr(m, 'pair', '')}" for m in received]


def candles_of(received: list[BusUnion], key: str) -> list[Candles]:
    return [m for m in received if isinstance(m, Candles) and m.pair == key]


def saw_new_candles(received: list[BusUnion]) -> bool:
    """Each pair published twice, the second time with a newer candle, and prices came."""
    return any(isinstance(m, Prices) for m in received) and all(
        len(c) >= 2 and c[-1].candles[-1].time > c[0].candles[-1].time
        for c in (candles_of(received, key) for key in PAIRS))


def test_market_actor_publishes_full_windows_new_candles_and_prices_within_budget(
        own_venue: Callable[..., Venue], tmp_path: Path,
        subscriber: zmq.Socket[bytes]) -> None:
    venue = own_venue(speed=60)  # one 1-minute candle per real second
    actor = MarketDataBroker(market_launch(venue.url, tmp_path))
    started = time.monotonic()
    try:
        facts = actor.start()
        market_at_receipt: dict[tuple[str, int], float] = {}

        def stamp(message: Candles) -> None:  # the venue's candle clock when first received
            if (message.pair, message.seq) not in market_at_receipt:
                market_at_receipt[message.pair, message.seq] = venue.admin.post(
                    "clock", {"advance_s": 0})["market_now"]

        received = drive(actor, subscriber, saw_new_candles, on_candles=stamp)
        elapsed = time.monotonic() - started
        calls = venue.admin.get("stats")["public_calls"]
        check_candles(received, market_at_receipt)
        check_prices(received)
        assert facts["pairs"] == ["XBTUSD", "ETHUSD"]
        assert set(calls) <= {"AssetPairs", "OHLC", "Ticker"} and calls["OHLC"] >= 4
        assert sum(calls.values()) <= PublicBudget(RATE).burst + RATE * elapsed + 1e-6
        check_queries_and_metrics(actor)
    finally:
        actor.close(1.0)


def check_candles(received: list[BusUnion], market_at_receipt: dict[tuple[str, int], float]
                  ) -> None:
    for key, altname in PAIRS.items():
        published = candles_of(received, key)
        for message in published:
            times = [c.time for c in message.candles]
            assert len(times) == WINDOW, "not a full window"
            assert all(b - a == 60 for a, b in itertools.pairwise(times))
            assert times[-1] + 60 <= market_at_receipt[key, message.seq], (
                "the still-open candle was published")
            assert (message.altname, message.interval_min) == (altname, 1)
            assert all(c.close > 0 and isinstance(c.close, Decimal) for c in message.candles)
        first, last = published[0], published[-1]
        assert first.seq == 1, "the first window, published in start(), was lost"
        seqs = [m.seq for m in published]  # a republished window repeats its seq
        assert seqs == sorted(seqs)
        assert all(a == b for a, b in itertools.pairwise(published) if a.seq == b.seq)
        common = {c.time for c in first.candles} & {c.time for c in last.candles}
        assert [c for c in first.candles if c.time in common] == [
            c for c in last.candles if c.time in common], "a committed candle was rewritten"


def check_prices(received: list[BusUnion]) -> None:
    prices = [m for m in received if isinstance(m, Prices)]
    assert set(prices[-1].last) == USD_KEYS >= set(PAIRS)
    assert all(v > 0 for v in prices[-1].last.values())
    assert abs(prices[-1].server_time - time.time()) < 5  # the venue's Date header


def check_queries_and_metrics(actor: MarketDataBroker) -> None:
    answer = actor.query("candles", {"pair": "ETHUSD"})
    assert answer["pair"] == "XETHZUSD" and len(answer["candles"]) == WINDOW
    assert set(actor.query("prices", {})["prices"]) == USD_KEYS
    with pytest.raises(UnknownQuery):
        actor.query("balance", {})
    counters, gauges, histograms = actor.metrics()
    names = {(p.name, p.labels) for p in counters}
    assert ("nija_exchange_requests_total", (("method", "OHLC"), ("outcome", "ok"))) in names
    assert ("nija_market_publications_total", (("kind", "candles"),)) in names
    assert {p.labels for p in gauges if p.name == "nija_market_last_candle_age_seconds"} == {
        (("pair", key),) for key in PAIRS}
    assert {h.labels for h in histograms} >= {(("method", "OHLC"),), (("method", "Ticker"),)}
    assert actor.summary()["pairs"] == "2"


def test_a_failing_call_is_logged_and_retried_on_a_later_tick(
        own_venue: Callable[..., Venue], tmp_path: Path,
        subscriber: zmq.Socket[bytes]) -> None:
    venue = own_venue()
    actor = MarketDataBroker(market_launch(venue.url, tmp_path, pairs=("XBTUSD",)))
    actor.client.retry = RetryPolicy(base_s=0.05, cap_s=0.1, max_attempts=2)
    try:
        actor.start()
        venue.admin.faults({"endpoint": {"Ticker": {"service_unavailable": 1.0}}})
        deadline = time.monotonic() + 20
        while not failed_calls(actor):  # the Ticker fails twice; each tick returns normally
            assert time.monotonic() < deadline, "the Ticker was never called"
            time.sleep(actor.tick(False))
        assert failed_calls(actor) == {"Ticker": 1.0}
        venue.admin.faults({})
        received = drive(actor, subscriber, lambda r: any(isinstance(m, Prices) for m in r))
        assert isinstance(received[-1], Prices)
    finally:
        actor.close(1.0)


def failed_calls(actor: MarketDataBroker) -> dict[str, float]:
    return {dict(p.labels)["method"]: p.value for p in actor.metrics()[0]
            if p.name == "nija_market_failed_calls_total"}


def test_an_unknown_pair_is_refused_naming_it(venue: Venue, tmp_path: Path) -> None:
    actor = MarketDataBroker(market_launch(venue.url, tmp_path, pairs=("XBTUSD", "DOGEUSX")))
    try:
        with pytest.raises(ConfigInvalid, match="DOGEUSX") as info:
            actor.start()
        assert "XBTUSD" in str(info.value) and info.value.unfixable
    finally:
        actor.close(1.0)


def test_prices_cover_every_usd_pair_when_only_one_pair_is_configured(
        venue: Venue, tmp_path: Path, subscriber: zmq.Socket[bytes]) -> None:
    actor = MarketDataBroker(market_launch(venue.url, tmp_path, pairs=("XBTUSD",)))
    try:
        actor.start()
        received = drive(actor, subscriber, lambda r: any(isinstance(m, Prices) for m in r))
        [prices] = [m for m in received if isinstance(m, Prices)]
        assert {"XXBTZUSD", "XETHZUSD", "USDTZUSD"} <= set(prices.last)
        assert set(prices.last) == USD_KEYS and "XBTUSDT" not in prices.last
        assert all(isinstance(v, Decimal) and v > 0 for v in prices.last.values())
    finally:
        actor.close(1.0)


def has_everything(received: list[BusUnion]) -> bool:
    return any(isinstance(m, Prices) for m in received) and all(
        candles_of(received, key) for key in PAIRS)


def test_a_late_subscriber_gets_the_latest_candles_and_prices_without_a_venue_call(
        own_venue: Callable[..., Venue], tmp_path: Path,
        subscriber: zmq.Socket[bytes]) -> None:
    venue = own_venue()
    actor = MarketDataBroker(market_launch(venue.url, tmp_path))
    late = None
    try:
        actor.start()
        early = drive(actor, subscriber, has_everything)
        for _ in range(4):  # in debt: the budget allows no call for seconds
            actor.budget.spend(actor.clock())
        before = venue.admin.get("stats")["public_calls"]
        next_tick = time.monotonic() + actor.tick(False)  # as the runtime schedules it
        late = connect_sub(tmp_path)  # an account actor that (re)started
        welcome = drive(actor, late, has_everything, timeout_s=1.0,  # not a candle interval
                        next_tick=next_tick)
        assert venue.admin.get("stats")["public_calls"] == before, "the venue was asked"
        early += drain(subscriber)
        for key in PAIRS:
            [candles] = candles_of(welcome, key)
            assert len(candles.candles) == WINDOW
        assert all(m in early for m in welcome), "not a republication of what was sent"
        assert ("nija_market_welcomes_total", ()) in {
            (p.name, p.labels) for p in actor.metrics()[0] if p.value >= 1}
    finally:
        if late is not None:
            late.close(linger=0)
        actor.close(1.0)


def drain(sub: zmq.Socket[bytes]) -> list[BusUnion]:
    """What `sub` has received or receives within a short while."""
    received = []
    while sub.poll(200):
        received.append(decode_bus(sub.recv_multipart()))
    return received
