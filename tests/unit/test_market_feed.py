"""The market data feed's pure logic: candle windows, the open candle, the schedule, the
candle clock and the public-call budget, with fixed data and a simulated venue."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.broker import ConfigInvalid
from actors.marketdata.answers import FeedDataError, FeedPair, resolve_pairs, usd_pairs
from actors.marketdata.clock import CandleClock
from actors.marketdata.feed import (
    COMMIT_GRACE_S,
    MIN_OHLC_GAP_S,
    MarketFeed,
    PublicBudget,
    PublicCall,
)
from protocol.bus import Candles, Prices

BTC = FeedPair("XXBTZUSD", "XBTUSD")
ETH = FeedPair("XETHZUSD", "ETHUSD")
ASSET_PAIRS = {
    "XXBTZUSD": {"altname": "XBTUSD", "wsname": "XBT/USD"},
    "XETHZUSD": {"altname": "ETHUSD", "wsname": "ETH/USD"},
    "SOLUSD": {"altname": "SOLUSD", "wsname": "SOL/USD"},
}


def row(t: int, close: str = "100.5") -> list[Any]:
    return [t, "100.0", "101.0", "99.0", close, "100.2", "1.25000000", 7]


def ohlc(times: list[int], key: str = BTC.key) -> dict[str, Any]:
    """Kraken's shape: rows oldest first, the last one the still-open candle."""
    return {key: [row(t) for t in times], "last": times[-2] if len(times) > 1 else 0}


def feed(window: int = 5, pairs: tuple[FeedPair, ...] = (BTC,), poll_s: float = 2.0
         ) -> MarketFeed:
    return MarketFeed("kraken", pairs, interval_min=1, poll_s=poll_s, window=window)


def times_of(message: Candles) -> list[int]:
    return [c.time for c in message.candles]


# -- candles ---------------------------------------------------------------------------


def test_the_open_candle_is_never_published() -> None:
    f = feed()
    [msg] = f.on_ohlc(BTC.key, ohlc([60, 120, 180, 240]), now=1.0, server_time=250, wall=9.0)
    assert times_of(msg) == [60, 120, 180]
    assert (msg.pair, msg.altname, msg.interval_min, msg.seq) == ("XXBTZUSD", "XBTUSD", 1, 1)
    assert msg.candles[0].close == Decimal("100.5") and msg.candles[0].volume == Decimal(
        "1.25000000")


def test_only_the_open_candle_publishes_nothing() -> None:
    f = feed()
    f.on_ohlc(BTC.key, ohlc([60, 120, 180]), now=1.0, server_time=190, wall=9.0)
    assert f.on_ohlc(BTC.key, ohlc([180]), now=2.0, server_time=200, wall=9.0) == []
    assert [c.time for c in f.windows[BTC.key].rows] == [60, 120]


def test_overlapping_and_repeated_fetches_neither_duplicate_nor_reorder() -> None:
    f = feed(window=10)
    f.on_ohlc(BTC.key, ohlc([60, 120, 180, 240]), now=1.0, server_time=250, wall=9.0)
    assert f.on_ohlc(BTC.key, ohlc([60, 120, 180, 240]), now=3.0, server_time=250,
                     wall=9.0) == []
    [msg] = f.on_ohlc(BTC.key, ohlc([120, 180, 180, 240, 300, 360]), now=5.0,
                      server_time=370, wall=9.0)
    assert times_of(msg) == [60, 120, 180, 240, 300]
    assert msg.seq == 2


def test_rows_out_of_order_within_an_answer_are_kept_in_time_order() -> None:
    f = feed(window=10)
    [msg] = f.on_ohlc(BTC.key, ohlc([180, 60, 120, 240]), now=1.0, server_time=250, wall=9.0)
    assert times_of(msg) == [60, 120, 180]


def test_window_keeps_only_the_newest_committed_candles() -> None:
    f = feed(window=3)
    [msg] = f.on_ohlc(BTC.key, ohlc([60 * i for i in range(1, 11)]), now=1.0,
                      server_time=610, wall=9.0)
    assert times_of(msg) == [420, 480, 540]


def test_after_the_first_fetch_ohlc_asks_only_for_newer_rows() -> None:
    f = feed()
    assert f.ohlc_call(BTC.key) == PublicCall("OHLC", {"pair": BTC.key, "interval": "1"},
                                              BTC.key)
    f.on_ohlc(BTC.key, ohlc([60, 120, 180]), now=1.0, server_time=190, wall=9.0)
    assert f.ohlc_call(BTC.key).params["since"] == "120"


def test_an_answer_older_than_the_window_is_ignored_and_repeated_ones_start_over() -> None:
    f = feed()
    f.on_ohlc(BTC.key, ohlc([600, 660, 720]), now=1.0, server_time=730, wall=9.0)
    for attempt in range(2):  # a lagging cache: ignored
        assert f.on_ohlc(BTC.key, ohlc([60, 120]), now=2.0 + attempt, server_time=730,
                         wall=9.0) == []
        assert f.windows[BTC.key].newest == 660
    f.on_ohlc(BTC.key, ohlc([60, 120]), now=5.0, server_time=730, wall=9.0)
    assert f.resets == 1 and f.windows[BTC.key].newest is None
    assert "since" not in f.ohlc_call(BTC.key).params
    [msg] = f.on_ohlc(BTC.key, ohlc([60, 120]), now=7.0, server_time=130, wall=9.0)
    assert times_of(msg) == [60]


def test_malformed_ohlc_answers_raise_feed_data_error() -> None:
    f = feed()
    bad: object
    for bad in ({}, {BTC.key: []}, {BTC.key: [[60, "1"]]}, {BTC.key: [["60", *row(60)[1:]]]},
                {BTC.key: [[60, 1.5, "1", "1", "1", "1", "1", 1]]}, [1, 2]):
        with pytest.raises(FeedDataError):
            f.on_ohlc(BTC.key, bad, now=1.0, server_time=0, wall=0)


# -- prices ----------------------------------------------------------------------------


def test_each_ticker_answer_is_published_as_prices_keyed_by_pair_key() -> None:
    f = feed(pairs=(BTC, ETH))
    answer = {"XXBTZUSD": {"c": ["84000.10000", "0.1"]}, "ETHUSD": {"c": ["3000.5", "1"]},
              "SOLUSD": {"c": ["150", "1"]}}
    first = f.on_ticker(answer, now=1.0, server_time=1000.0, wall=1001.0)
    second = f.on_ticker(answer, now=3.0, server_time=1002.0, wall=1003.0)
    assert isinstance(first, Prices)
    assert first.last == {"XXBTZUSD": Decimal("84000.10000"), "XETHZUSD": Decimal("3000.5")}
    assert (first.server_time, first.published_at, first.seq, second.seq) == (
        1000.0, 1001.0, 1, 2)
    with pytest.raises(FeedDataError):
        f.on_ticker({"SOLUSD": {"c": ["150", "1"]}}, now=4.0, server_time=0, wall=0)


USDT = FeedPair("USDTZUSD", "USDTUSD")
XBTUSDT = FeedPair("XBTUSDT", "XBTUSDT")


def test_usd_pairs_are_every_pair_quoted_in_zusd_or_usd() -> None:
    asset_pairs = {
        "XXBTZUSD": {"altname": "XBTUSD", "quote": "ZUSD"},
        "XBTUSDT": {"altname": "XBTUSDT", "quote": "USDT"},
        "XETHZUSD": {"altname": "ETHUSD", "quote": "ZUSD"},
        "XXBTZEUR": {"altname": "XBTEUR", "quote": "ZEUR"},
        "USDTZUSD": {"altname": "USDTUSD", "quote": "ZUSD"},
        "PYUSDUSD": {"quote": "USD"},
        "ODD": "not a record",
    }
    assert usd_pairs(asset_pairs) == [BTC, ETH, USDT, FeedPair("PYUSDUSD", "PYUSDUSD")]


def test_prices_hold_every_usd_pair_plus_the_configured_ones_whatever_their_quote() -> None:
    f = MarketFeed("kraken", (XBTUSDT,), interval_min=1, poll_s=2.0, window=5,
                   usd=(BTC, ETH, USDT))
    answer = {"XBTUSDT": {"c": ["84010.1", "1"]}, BTC.key: {"c": ["84000.1", "1"]},
              "ETHUSD": {"c": ["3000.5", "1"]}, "XXBTZEUR": {"c": ["77000", "1"]}}
    prices = f.on_ticker(answer, now=1.0, server_time=0, wall=0)
    assert prices.last == {"XBTUSDT": Decimal("84010.1"), BTC.key: Decimal("84000.1"),
                           ETH.key: Decimal("3000.5")}  # USDT missing: left out
    with pytest.raises(FeedDataError, match="none of the configured"):
        f.on_ticker({BTC.key: {"c": ["84000.1", "1"]}}, now=2.0, server_time=0, wall=0)
    with pytest.raises(FeedDataError, match="USDTZUSD"):
        f.on_ticker({**answer, USDT.key: {"c": []}}, now=2.0, server_time=0, wall=0)
    assert f.last == prices.last  # a failed answer changes nothing


def test_a_pair_without_a_trade_yet_is_left_out_of_prices() -> None:
    f = MarketFeed("kraken", (BTC, ETH), interval_min=1, poll_s=2.0, window=5, usd=(USDT,))
    answer = {BTC.key: {"c": ["0.00000", "0"]}, ETH.key: {"c": ["3000.5", "1"]},
              USDT.key: {"c": ["0", "0"]}}
    assert f.on_ticker(answer, now=1.0, server_time=0, wall=0).last == {
        ETH.key: Decimal("3000.5")}
    only_untraded = {BTC.key: {"c": ["0.00000", "0"]}}  # present, so not malformed
    assert f.on_ticker(only_untraded, now=2.0, server_time=0, wall=0).last == {}


def test_prices_and_candles_are_counted_separately() -> None:
    f = feed()
    f.on_ticker({BTC.key: {"c": ["1", "1"]}}, now=1.0, server_time=0, wall=0)
    [msg] = f.on_ohlc(BTC.key, ohlc([60, 120]), now=1.0, server_time=130, wall=0)
    assert msg.seq == 1


# -- schedule --------------------------------------------------------------------------


def calibrated_feed(pairs: tuple[FeedPair, ...] = (BTC,)) -> MarketFeed:
    """A feed whose clock has seen 4 minutes of candles at rate 1 (Kraken)."""
    f = feed(pairs=pairs)
    for pair in pairs:
        f.on_ohlc(pair.key, ohlc([0, 60], pair.key), now=10.0, server_time=70, wall=0)
    for pair in pairs:
        f.on_ohlc(pair.key, ohlc([240, 300], pair.key), now=250.0, server_time=310, wall=0)
    assert f.clock.calibrated and f.clock.rate == 1.0
    return f


def test_everything_is_due_at_first() -> None:
    f = feed(pairs=(BTC, ETH))
    assert [c.method for c in f.due(0.0)] == ["OHLC", "OHLC", "Ticker"]
    assert f.ticker_call() == PublicCall("Ticker", {})  # no `pair`: every pair


def test_ticker_is_due_every_poll_s() -> None:
    f = calibrated_feed()
    f.on_ticker({BTC.key: {"c": ["1", "1"]}}, now=251.0, server_time=0, wall=0)
    assert [c.method for c in f.due(252.9)] == []
    assert [c.method for c in f.due(253.0)] == ["Ticker"]


def test_ohlc_is_due_once_the_open_candle_may_have_committed() -> None:
    f = calibrated_feed()
    # answered at local 250 with venue time 310 inside the candle opened at 300:
    # it commits at venue 360, i.e. local 300.
    f.on_ticker({BTC.key: {"c": ["1", "1"]}}, now=299.0, server_time=0, wall=0)
    assert f.next_due_at() == pytest.approx(300.0 + COMMIT_GRACE_S)
    assert [c.method for c in f.due(300.0)] == []
    assert [c.method for c in f.due(300.0 + COMMIT_GRACE_S)] == ["OHLC"]


def test_an_early_empty_answer_waits_the_minimum_gap() -> None:
    f = calibrated_feed()
    f.on_ohlc(BTC.key, ohlc([300]), now=300.5, server_time=359, wall=0)  # not committed yet
    f.on_ticker({BTC.key: {"c": ["1", "1"]}}, now=300.5, server_time=0, wall=0)
    assert f.due(300.5 + MIN_OHLC_GAP_S - 0.01) == []
    assert [c.pair for c in f.due(300.5 + MIN_OHLC_GAP_S)] == [BTC.key]


def test_a_failed_call_is_asked_again_poll_s_later() -> None:
    f = calibrated_feed()
    f.on_failure(f.ticker_call(), now=400.0)
    f.on_failure(f.ohlc_call(BTC.key), now=400.0)
    assert f.due(401.9) == []
    assert {c.method for c in f.due(402.0)} == {"OHLC", "Ticker"}


def test_feed_refuses_settings_that_cannot_work() -> None:
    with pytest.raises(ValueError, match="interval_min"):
        MarketFeed("kraken", (BTC,), interval_min=2, poll_s=2.0, window=10)
    with pytest.raises(ValueError):
        MarketFeed("kraken", (), interval_min=1, poll_s=2.0, window=10)
    with pytest.raises(ValueError):
        PublicBudget(0)


# -- the candle clock ------------------------------------------------------------------


def test_clock_takes_its_phase_from_the_server_time_when_it_fits_the_candle() -> None:
    clock = CandleClock(60)
    clock.observe(local=5.0, open_time=600, server_time=642.0)
    assert clock.venue_time(5.0) == 642.0
    assert clock.local_time(660) == pytest.approx(23.0)


def test_clock_is_pulled_into_the_open_candle_when_the_server_time_does_not_fit() -> None:
    clock = CandleClock(60)
    clock.observe(local=5.0, open_time=6000, server_time=642.0)  # candles run ahead
    assert clock.venue_time(5.0) == 6000.0
    clock.observe(local=6.0, open_time=6000, server_time=643.0)
    assert clock.venue_time(6.0) == 6001.0
    clock.observe(local=200.0, open_time=6060, server_time=837.0)  # rate 1 overshot
    assert 6060 <= (clock.venue_time(200.0) or 0) < 6120


def test_clock_learns_a_sped_up_venue_within_seconds_by_probing() -> None:
    speed, start = 60.0, 1_700_000_000.0
    clock = CandleClock(60)
    local = 0.0
    while not clock.calibrated:
        venue = start + speed * local
        clock.observe(local, math.floor(venue / 60) * 60, server_time=start + local)
        local = clock.probe_at
        assert local < 20, "still uncalibrated after 20 s of probes"
    assert 0.75 * speed <= clock.rate <= 1.25 * speed


def test_clock_keeps_rate_one_on_a_real_venue() -> None:
    clock = CandleClock(60)
    for local in range(0, 3600, 37):
        venue = 1_700_000_013.0 + local
        clock.observe(float(local), math.floor(venue / 60) * 60, server_time=venue)
        assert clock.venue_time(float(local)) == venue
    assert clock.calibrated and clock.rate == 1.0


def test_clock_starts_over_when_candle_time_goes_back() -> None:
    clock = CandleClock(60)
    clock.observe(0.0, 6000, 6010.0)
    clock.observe(1.0, 120, 130.0)
    assert clock.venue_time(1.0) == 130.0 and not clock.calibrated


# -- the budget ------------------------------------------------------------------------


def test_budget_allows_a_burst_of_two_then_paces() -> None:
    budget = PublicBudget(0.5)
    for _ in range(2):
        assert budget.wait(10.0) == 0
        budget.spend(10.0)
    assert budget.wait(10.0) == pytest.approx(2.0)
    assert budget.wait(11.0) == pytest.approx(1.0)
    assert budget.wait(12.0) == 0
    budget.spend(12.0)
    budget.spend(12.0)  # spent ahead: the debt is repaid by longer waits
    assert budget.wait(12.0) == pytest.approx(4.0)


@settings(max_examples=200, deadline=None)
@given(rate=st.floats(0.1, 5.0), burst=st.floats(1.0, 4.0),
       steps=st.lists(st.floats(0.0, 3.0), min_size=1, max_size=200))
def test_budget_never_allows_more_than_burst_plus_rate_times_elapsed(
        rate: float, burst: float, steps: list[float]) -> None:
    budget = PublicBudget(rate, burst)
    now, calls = 0.0, []
    for step in steps:
        now += step
        while budget.wait(now) == 0:
            budget.spend(now)
            calls.append(now)
    for i, first in enumerate(calls):
        for j in range(i, len(calls)):
            assert j - i + 1 <= burst + rate * (calls[j] - first) + 1e-6


# -- the window, as a property ---------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(window=st.integers(1, 12), answers=st.lists(
    st.tuples(st.integers(0, 40), st.integers(1, 15), st.booleans()), min_size=1,
    max_size=25))
def test_window_stays_strictly_increasing_bounded_and_free_of_open_candles(
        window: int, answers: list[tuple[int, int, bool]]) -> None:
    f = feed(window=window)
    committed: set[int] = set()
    for step, (first, count, duplicate) in enumerate(answers):
        times = [60 * (first + i) for i in range(count + 1)]
        if duplicate:
            times.insert(count // 2, times[count // 2])
        committed.update(times[:-1])
        f.on_ohlc(BTC.key, ohlc(times), now=float(step), server_time=0, wall=0)
        held = [c.time for c in f.windows[BTC.key].rows]
        assert held == sorted(set(held)), "not strictly increasing"
        assert len(held) <= window
        assert set(held) <= committed, "an open candle was kept"


# -- a simulated venue -----------------------------------------------------------------


class FakeVenue:
    """Candle time runs `speed` times faster than its server clock; answers are instant."""

    def __init__(self, speed: float, start: float = 1_700_000_017.0) -> None:
        self.speed, self.start, self.calls = speed, start, 0

    def market(self, local: float) -> float:
        return self.start + self.speed * local

    def answer(self, call: PublicCall, local: float) -> object:
        self.calls += 1
        if call.pair is None:
            return {BTC.key: {"c": ["1.0", "1"]}, ETH.key: {"c": ["2.0", "1"]}}
        open_time = math.floor(self.market(local) / 60) * 60
        since = int(call.params.get("since", "0"))
        times = [t for t in range(open_time - 60 * 50, open_time, 60) if t > since]
        return ohlc([*times, open_time], call.pair)


def run(venue: FakeVenue, seconds: float, rate: float = 0.9
        ) -> tuple[MarketFeed, dict[str, list[tuple[float, int]]]]:
    """Drive a two-pair feed for `seconds`; per pair, (local time, newest candle) published."""
    f = feed(window=30, pairs=(BTC, ETH))
    budget = PublicBudget(rate)
    published: dict[str, list[tuple[float, int]]] = {BTC.key: [], ETH.key: []}
    local = 0.0
    while local < seconds:
        due = f.due(local)
        if due and budget.wait(local) == 0:
            budget.spend(local)
            call, server = due[0], math.floor(venue.start + local)
            if call.pair is None:
                f.on_ticker(venue.answer(call, local), local, server, 0)
            for msg in f.on_ohlc(call.pair, venue.answer(call, local), local, server, 0
                                 ) if call.pair else []:
                published[msg.pair].append((local, msg.candles[-1].time))
        local = round(local + 0.05, 2)
    return f, published


def test_on_a_real_venue_each_candle_costs_about_one_call_and_arrives_promptly() -> None:
    venue = FakeVenue(speed=1.0)
    _f, published = run(venue, seconds=1800)
    tickers = 1800 / 2.0
    ohlc_calls = venue.calls - tickers
    assert ohlc_calls <= 2 * (30 + 1) + 12  # one per candle per pair, plus a few probes
    for key, events in published.items():
        assert len(events) >= 29
        for local, newest in events[1:]:
            committed_at = newest + 60 - venue.start  # local time the candle ended
            assert local - committed_at <= COMMIT_GRACE_S + MIN_OHLC_GAP_S + 1.2, key


def test_on_a_sped_up_venue_new_candles_keep_arriving_within_the_budget() -> None:
    venue = FakeVenue(speed=60.0)
    f, published = run(venue, seconds=60, rate=0.9)
    assert venue.calls <= 2 + 0.9 * 60
    assert f.clock.calibrated
    for events in published.values():
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(events)]
        assert len(events) >= 8 and max(gaps) <= 8.0  # the first too: probes find the speed


def test_resolve_pairs_accepts_key_altname_and_wsname_once_each() -> None:
    found = resolve_pairs(["xbtusd", "XXBTZUSD", "ETH/USD", "SOLUSD"], ASSET_PAIRS)
    assert found == [BTC, ETH, FeedPair("SOLUSD", "SOLUSD")]


def test_resolve_pairs_names_an_unknown_pair_and_suggests_valid_ones() -> None:
    with pytest.raises(ConfigInvalid, match=r"'XBTUSX'.*XBTUSD") as info:
        resolve_pairs(["XBTUSD", "XBTUSX"], ASSET_PAIRS)
    assert info.value.unfixable
    with pytest.raises(ConfigInvalid):
        resolve_pairs([], ASSET_PAIRS)
