"""The seeded market model: determinism, path statistics, candles, books and wire shapes."""

from __future__ import annotations

import itertools
import math
import statistics
import time
from decimal import ROUND_HALF_UP, Decimal

import pytest

from simulator.markets import PAIRS, pair_by_key
from simulator.prices import (
    INTERVALS,
    MAX_ROWS,
    MINUTE_KEEP,
    SECONDS_PER_YEAR,
    TRADE_WINDOW,
    Market,
    Tick,
)

T0 = 1_700_000_123.4  # not minute aligned on purpose
M0 = 1_700_000_100  # the minute T0 falls in
BTC = "XXBTZUSD"
BTC_ONLY = [pair_by_key(BTC)]


def _d(value: object) -> Decimal:
    """A wire decimal string (or any row cell) as a Decimal."""
    return Decimal(str(value))


def _i(value: object) -> int:
    assert isinstance(value, int)
    return value


def _s(value: object) -> str:
    assert isinstance(value, str)
    return value


def _field(ticker: dict[str, object], name: str) -> list[object]:
    value = ticker[name]
    assert isinstance(value, list)
    return value


def _run(market: Market, seconds: int, step: int = 3600) -> dict[str, list[Tick]]:
    out: dict[str, list[Tick]] = {}
    for t in range(step, seconds + step, step):
        for key, ticks in market.advance_to(T0 + min(t, seconds)).items():
            out.setdefault(key, []).extend(ticks)
    return out


def test_same_seed_replays_and_other_seed_differs() -> None:
    a, b, c = Market(7, T0), Market(7, T0), Market(8, T0)
    ta, tb, tc = a.advance_to(T0 + 300), b.advance_to(T0 + 300), c.advance_to(T0 + 300)
    assert ta == tb
    assert ta[BTC] != tc[BTC]
    assert a.book(BTC, 50) == b.book(BTC, 50)
    assert a.book(BTC, 50) != c.book(BTC, 50)
    for interval in (1, 60, 1440):
        assert a.ohlc(BTC, interval, None) == b.ohlc(BTC, interval, None)
    assert a.ohlc("XBTUSDT", 1, None) == b.ohlc("XBTUSDT", 1, None)
    assert a.ohlc(BTC, 1, None) != c.ohlc(BTC, 1, None)
    assert a.ticker(BTC) == b.ticker(BTC)
    assert a.trades(BTC, None) == b.trades(BTC, None)


def test_advance_to_is_chunking_invariant() -> None:
    whole = Market(3, T0).advance_to(T0 + 600)
    chunked = Market(3, T0)
    parts: dict[str, list[Tick]] = {k: [] for k in whole}
    for t in (0.2, 0.7, 1.0, 3, 3, 2.5, 10.9, 61, 59, 200.5, 599.99, 600):
        for key, ticks in chunked.advance_to(T0 + t).items():
            parts[key].extend(ticks)
    assert parts == whole
    assert all(len(v) == 600 for v in whole.values())
    replay = Market(3, T0)
    replay.advance_to(T0 + 600)
    for interval in (1, 5, 15):
        assert chunked.ohlc(BTC, interval, None) == replay.ohlc(BTC, interval, None)
    assert chunked.advance_to(T0 + 600) == {k: [] for k in whole}
    assert chunked.advance_to(T0 + 100) == {k: [] for k in whole}
    assert chunked.last_time() == math.floor(T0 + 600)


def test_lazy_history_does_not_depend_on_call_order() -> None:
    short_first, long_first = Market(15, T0), Market(15, T0)
    order = [("XBTUSDT", 1), (BTC, 5), ("XBTUSDT", 240), (BTC, 15)]
    first = {q: short_first.ohlc(*q, None) for q in order}
    second = {q: long_first.ohlc(*q, None) for q in reversed(order)}
    assert first == second
    assert short_first.ticker("XBTUSDT") == long_first.ticker("XBTUSDT")


def test_ticks_are_positive_on_grid_and_one_per_second() -> None:
    market = Market(11, T0)
    assert market.last_time() == T0
    ticks = market.advance_to(T0 + 900)
    for pair in PAIRS:
        series = ticks[pair.key]
        assert [t.time for t in series] == [float(s) for s in range(M0 + 24, M0 + 924)]
        for t in series:
            assert t.price > 0
            assert t.price % pair.tick_size == 0
            assert t.price.as_tuple().exponent == -pair.pair_decimals
            assert t.volume > 0
            assert t.volume.as_tuple().exponent == -pair.lot_decimals
            assert t.side in ("b", "s")
        assert market.last_price(pair.key) == series[-1].price


def test_realized_volatility_matches_configuration() -> None:
    market = Market(5, T0, BTC_ONLY)
    ticks = _run(market, 86_400)[BTC]
    closes = [float(t.price) for t in ticks[59::60]]
    returns = [math.log(b / a) for a, b in itertools.pairwise(closes)]
    per_year = math.sqrt(SECONDS_PER_YEAR / 60)
    configured = pair_by_key(BTC).annual_volatility
    assert statistics.pstdev(returns) * per_year == pytest.approx(configured, rel=0.25)
    # the generated history has the same volatility
    rows, _ = Market(5, T0, BTC_ONLY).ohlc(BTC, 1, None)
    hist = [float(str(r[4])) for r in rows[:-1]]
    returns = [math.log(b / a) for a, b in itertools.pairwise(hist)]
    assert statistics.pstdev(returns) * per_year == pytest.approx(configured, rel=0.25)


def _derived(ref: Decimal, conv: Decimal, tick: Decimal) -> Decimal:
    return (ref / conv).quantize(tick, rounding=ROUND_HALF_UP)


def test_derived_pairs_track_reference_over_conversion() -> None:
    market = Market(9, T0)
    usdt = pair_by_key("XBTUSDT")
    assert market.last_price("XBTUSDT") == _derived(
        market.last_price(BTC), market.last_price("USDTZUSD"), usdt.tick_size)
    ticks = market.advance_to(T0 + 300)
    for ref, conv, own in zip(ticks[BTC], ticks["USDTZUSD"], ticks["XBTUSDT"], strict=True):
        assert own.time == ref.time
        assert own.price == _derived(ref.price, conv.price, usdt.tick_size)
    eth = zip(ticks["XETHZUSD"], ticks["USDTZUSD"], ticks["ETHUSDT"], strict=True)
    for ref, conv, own in eth:
        assert own.price == _derived(ref.price, conv.price, Decimal("0.01"))
    # history too: hourly closes agree
    ref_rows, _ = market.ohlc(BTC, 60, None)
    conv_rows, _ = market.ohlc("USDTZUSD", 60, None)
    own_rows, _ = market.ohlc("XBTUSDT", 60, None)
    for r, c, o in list(zip(ref_rows, conv_rows, own_rows, strict=True))[:-1]:
        assert _d(o[4]) == _derived(_d(r[4]), _d(c[4]), usdt.tick_size)


@pytest.mark.parametrize("pair_key", [BTC, "XBTUSDT"])
def test_ohlc_shape_and_rules(pair_key: str) -> None:
    market = Market(1, T0)
    market.advance_to(T0 + 3 * 3600 + 17)
    pair = pair_by_key(pair_key)
    for interval in INTERVALS:
        span = interval * 60
        rows, last = market.ohlc(pair_key, interval, None)
        assert len(rows) == MAX_ROWS
        times = [_i(r[0]) for r in rows]
        assert all(t % span == 0 for t in times)
        assert all(b - a == span for a, b in itertools.pairwise(times))
        assert times[-1] == int(market.last_time()) // 60 * 60 // span * span
        assert last == times[-2]
        for r in rows:
            assert isinstance(r[7], int)
            o, h, lo, c, vw, vol = (_d(x) for x in r[1:7])
            assert all(isinstance(x, str) and "E" not in x for x in r[1:7])
            assert lo <= min(o, c) <= max(o, c) <= h
            assert lo <= vw <= h and vol >= 0 and lo > 0
            assert h.as_tuple().exponent == -pair.pair_decimals
            assert _d(r[6]).as_tuple().exponent == -pair.lot_decimals
        tail, tail_last = market.ohlc(pair_key, interval, times[-10])
        assert tail == rows[-9:] and tail_last == last
        # `since` past everything still returns the open candle
        assert market.ohlc(pair_key, interval, times[-1] + 10**6) == ([rows[-1]], last)
    with pytest.raises(ValueError):
        market.ohlc(pair_key, 2, None)


def test_history_is_continuous_and_ends_at_the_start_price() -> None:
    market = Market(2, T0)
    start = str(pair_by_key(BTC).start_price)
    for interval in INTERVALS:
        rows, _ = market.ohlc(BTC, interval, None)
        assert rows[-1][4] == start  # the open candle, before any tick, closes at the start
        for a, b in itertools.pairwise(rows):
            assert a[4] == b[1]  # history is one continuous walk, coarse part included
    rows, _ = market.ohlc(BTC, 1, None)
    assert rows[-2][0] == M0 - 60 and rows[-1][0] == M0
    assert rows[-1][1:5] == [start] * 4 and rows[-1][7] == 0
    ticks = market.advance_to(T0 + 100)[BTC]
    rows, _ = market.ohlc(BTC, 1, None)
    assert rows[-3][1] == start  # the first forward minute opens at the start price
    assert rows[-3][4] == str(ticks[35].price)  # ... and closes at its last tick (M0+59)
    assert rows[-1][4] == str(ticks[-1].price)


def test_longer_intervals_aggregate_forward_minutes() -> None:
    market = Market(4, T0, BTC_ONLY)
    _run(market, 4 * 3600)
    minutes, _ = market.ohlc(BTC, 1, None)
    fives, _ = market.ohlc(BTC, 5, None)
    by_time = {_i(r[0]): r for r in minutes}
    checked = 0
    for row in fives[:-1]:
        start = _i(row[0])
        if start <= M0 or any(start + 60 * i not in by_time for i in range(5)):
            continue
        parts = [by_time[start + 60 * i] for i in range(5)]
        assert row[1] == parts[0][1] and row[4] == parts[-1][4]
        assert _d(row[2]) == max(_d(p[2]) for p in parts)
        assert _d(row[3]) == min(_d(p[3]) for p in parts)
        assert _d(row[6]) == sum(_d(p[6]) for p in parts)
        assert row[7] == sum(_i(p[7]) for p in parts) == 300
        checked += 1
    assert checked > 40


def test_window_slides_from_history_to_forward_without_a_seam() -> None:
    start, bucket = 1_700_000_223.4, 1_700_000_100  # two minutes into a 5-minute bucket
    market = Market(23, start, BTC_ONLY)
    market.advance_to(start + 600)
    rows, _ = market.ohlc(BTC, 5, None)
    first = next(r for r in rows if r[0] == bucket)
    assert first[7] == 2 * 60 + 176  # two history minutes and the forward ticks
    clock = start + 600
    # checked two minutes into a bucket, where the open minute merges into an unfinished candle
    for k, oldest in ((719, bucket), (720, bucket + 300)):
        until = bucket + k * 300 + 120
        while clock < until:
            clock = min(clock + 3600, until)
            market.advance_to(clock)
        rows, _ = market.ohlc(BTC, 5, None)
        assert len(rows) == MAX_ROWS and rows[0][0] == oldest
        assert rows[0] == first or oldest != bucket


def test_book_levels_spread_and_depth() -> None:
    market = Market(6, T0)
    market.advance_to(T0 + 120)
    for pair in PAIRS:
        book = market.book(pair.key, 100)
        bids, asks = [lv.price for lv in book.bids], [lv.price for lv in book.asks]
        assert len(bids) == len(asks) == 100
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
        assert len(set(bids)) == len(set(asks)) == 100
        last = market.last_price(pair.key)
        assert bids[0] < last < asks[0]
        assert market.best_bid_ask(pair.key) == (bids[0], asks[0])
        half = max(pair.tick_size, last * pair.half_spread_bps / 10_000)
        assert asks[0] - bids[0] == pytest.approx(2 * half, abs=pair.tick_size)
        for lv in book.bids + book.asks:
            assert lv.price % pair.tick_size == 0 and lv.price > 0 and lv.volume > 0
            assert lv.volume.as_tuple().exponent == -pair.lot_decimals
        notional = [lv.price * lv.volume for lv in book.asks]
        assert 10_000 < notional[0] < 40_000
        assert max(notional) < 200_000 and sum(notional[-10:]) > 10 * sum(notional[:1])
        assert book.time == market.last_time()
    # a 3 BTC market buy walks several levels
    filled, levels = Decimal(0), 0
    for lv in market.book(BTC, 100).asks:
        filled, levels = filled + lv.volume, levels + 1
        if filled >= 3:
            break
    assert 3 <= levels <= 15
    assert market.book(BTC, 10).asks == market.book(BTC, 100).asks[:10]


def test_trades_shape_window_and_since() -> None:
    market = Market(12, T0)
    market.advance_to(T0 + 1500)
    rows, last = market.trades(BTC, None)
    assert len(rows) == TRADE_WINDOW
    assert len(last) == 19 and int(last) == int(market.last_time()) * 10**9
    price, volume, when, side, kind, misc, tid = rows[-1]
    assert isinstance(price, str) and isinstance(volume, str) and isinstance(when, float)
    assert side in ("b", "s") and kind in ("m", "l") and misc == "" and isinstance(tid, int)
    assert Decimal(price) == market.last_price(BTC)
    assert [r[6] for r in rows] == list(range(501, 1501))
    cut = int(market.last_time()) - 10
    by_seconds, last_s = market.trades(BTC, cut)
    assert [r[2] for r in by_seconds] == [float(t) for t in range(cut + 1, cut + 11)]
    assert last_s == last
    by_ns, _ = market.trades(BTC, int(_d(rows[-6][2])) * 10**9)
    assert by_ns == rows[-5:]
    assert market.trades(BTC, int(last)) == ([], last)
    page, page_last = market.trades(BTC, cut, count=3)
    assert len(page) == 3 and int(page_last) == (cut + 3) * 10**9
    market.advance_to(T0 + 1502)
    new, _ = market.trades(BTC, int(last))
    assert len(new) == 2


def test_spreads_shape_and_since() -> None:
    market = Market(13, T0)
    market.advance_to(T0 + 400)
    rows, last = market.spreads(BTC, None)
    assert len(rows) == 200 and last == int(market.last_time()) == rows[-1][0]
    for ts, bid, ask in rows:
        assert isinstance(ts, int) and _d(bid) < _d(ask)
    tail, tail_last = market.spreads(BTC, last - 5)
    assert tail == rows[-5:] and tail_last == last
    assert market.spreads(BTC, last) == ([], last)
    assert tuple(map(_d, rows[-1][1:])) == market.best_bid_ask(BTC)


def test_ticker_fields_and_today() -> None:
    midnight = 1_700_006_400  # 00:00 UTC
    market = Market(14, midnight - 600.5)
    market.advance_to(midnight + 1200)
    tk = market.ticker(BTC)
    assert set(tk) == {"a", "b", "c", "v", "p", "t", "l", "h", "o"}
    bid, ask = market.best_bid_ask(BTC)
    a, b, c = _field(tk, "a"), _field(tk, "b"), _field(tk, "c")
    assert _d(a[0]) == ask and _d(b[0]) == bid
    assert len(a) == len(b) == 3 and _s(a[1]).isdigit() and _d(a[2]) > 0
    assert _d(c[0]) == market.last_price(BTC) and _d(c[1]) > 0
    minutes, _ = market.ohlc(BTC, 1, None)
    today = [r for r in minutes if _i(r[0]) >= midnight]
    assert tk["o"] == today[0][1]
    volume, counts = _field(tk, "v"), _field(tk, "t")
    low, high, vwap = _field(tk, "l"), _field(tk, "h"), _field(tk, "p")
    assert _d(volume[0]) == sum(_d(r[6]) for r in today)
    assert counts[0] == 1201 and _i(counts[1]) > 1201
    assert _d(high[0]) == max(_d(r[2]) for r in today)
    assert _d(low[0]) == min(_d(r[3]) for r in today)
    assert _d(low[1]) <= _d(low[0]) <= _d(vwap[0]) <= _d(high[0]) <= _d(high[1])
    assert _d(volume[1]) > _d(volume[0])


def test_set_price_shifts_the_path_and_derived_pairs() -> None:
    moved, base = Market(21, T0), Market(21, T0)
    moved.advance_to(T0 + 60)
    base.advance_to(T0 + 60)
    before = base.last_price(BTC)
    moved.set_price(BTC, Decimal("50000"))
    assert moved.last_price(BTC) == Decimal("50000.0")
    bid, ask = moved.best_bid_ask(BTC)
    assert bid < Decimal(50000) < ask
    usdt = moved.last_price("USDTZUSD")
    assert moved.last_price("XBTUSDT") == _derived(Decimal(50000), usdt, Decimal("0.1"))
    after = moved.advance_to(T0 + 600)[BTC]
    same = base.advance_to(T0 + 600)[BTC]
    for a, b in zip(after, same, strict=True):  # same shocks, scaled level
        assert float(a.price / b.price) == pytest.approx(float(50000 / before), rel=1e-5)
    moved.set_price("XBTUSDT", Decimal("60000"))
    assert moved.last_price("XBTUSDT") == Decimal("60000.0")
    assert moved.last_price(BTC) == pytest.approx(60000 * moved.last_price("USDTZUSD"), abs=1)
    with pytest.raises(ValueError):
        moved.set_price(BTC, Decimal("0"))


def test_memory_stays_bounded_over_a_long_run() -> None:
    market = Market(22, T0, BTC_ONLY)
    market.ohlc(BTC, 1, None)
    _run(market, 2 * 86_400)
    rows, _ = market.ohlc(BTC, 1, None)
    assert len(rows) == MAX_ROWS
    held = market.storage()
    assert held["minutes"] == MINUTE_KEEP  # older forward minutes were dropped
    assert held["aggregates"] <= 8 * (MAX_ROWS + 1)
    assert held["history_rows"] == 0  # forward data replaced the 1-minute history
    assert held["trades"] == TRADE_WINDOW


def test_constructor_is_cheap_and_validates_links() -> None:
    timings = []
    for _ in range(3):
        began = time.perf_counter()
        Market(0, T0)
        timings.append(time.perf_counter() - began)
    assert min(timings) < 0.05
    with pytest.raises(ValueError):
        Market(0, T0, [pair_by_key("XBTUSDT")])
    assert Market(0, T0).advance_to(T0 - 5) == {p.key: [] for p in PAIRS}
