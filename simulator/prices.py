"""Deterministic, seeded market model: price paths, candles, books and public market data.

Independent pairs follow a zero-drift geometric Brownian motion stepped once per market
second, each drawing from its own `random.Random` seeded with (seed, pair key), so a run
replays exactly and the path does not depend on how `advance_to` calls are chunked. Pairs
with a `reference` are derived (reference price / quote-conversion price), so XBT/USDT and
XBT/USD never drift apart.

Internally prices are integer tick counts and volumes integer lot counts (exact and cheap);
everything public is a `Decimal` on the pair's grid or a fixed-point string.

History before `start_time` is generated lazily, backward from the start price: 1-minute
candles about 30 days deep, and, for long intervals, candles at the interval's own
resolution beyond that. Forward candles are aggregated from ticks into bounded windows.
"""

from __future__ import annotations

import math
import random
from array import array
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from simulator.markets import PAIRS, Pair

INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
MAX_ROWS = 720  # Kraken's OHLC window
SECONDS_PER_YEAR = 365.25 * 86400
HISTORY_MINUTES = (MAX_ROWS + 1) * 60  # 720 hourly candles plus the partial one
MINUTE_KEEP = 1500  # forward 1-minute candles: the 720-row window and 24 h of ticker stats
TRADE_WINDOW = 1000
SPREAD_WINDOW = 200
TRADE_NOTIONAL = 400.0  # median synthetic trade, quote units
TRADE_SIGMA = 1.3  # log-normal dispersion of trade sizes
TRADE_MEAN = TRADE_NOTIONAL * math.exp(TRADE_SIGMA**2 / 2)
LEVEL_NOTIONAL = (20_000.0, 150_000.0)  # book notional per level: best level, deep levels
LEVEL_RAMP = 8.0  # levels over which notional grows toward the deep value
NS = 1_000_000_000

Candle = list[int]  # [time, open, high, low, close, sum(price*volume), volume, count]


@dataclass(frozen=True, slots=True)
class Tick:
    """One simulated last-trade print."""

    time: float  # market time, unix seconds
    price: Decimal
    volume: Decimal  # base units
    side: str  # "b" or "s"


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True)
class Book:
    bids: tuple[BookLevel, ...]  # best first (descending price)
    asks: tuple[BookLevel, ...]  # best first (ascending price)
    time: float


class _PairState:
    """One pair's mutable state. Prices are tick counts, volumes lot counts."""

    def __init__(self, pair: Pair, seed: int, start_time: float) -> None:
        self.pair = pair
        self.key = f"{seed}:{pair.key}"
        self.tick, self.tick_f = pair.tick_size, float(pair.tick_size)
        self.lot, self.lot_scale = Decimal(1).scaleb(-pair.lot_decimals), 10**pair.lot_decimals
        self.sigma = pair.annual_volatility / math.sqrt(SECONDS_PER_YEAR)  # per second
        self.n = max(1, round(pair.start_price / pair.tick_size))
        self.price, self.x = self.tick * self.n, math.log(self.n * self.tick_f)
        self.rng = random.Random(f"{self.key}:path")
        self.hist_rng = random.Random(f"{self.key}:history")
        self.hist_x = self.x  # log open of the oldest generated history minute
        self.hist_minutes: array[int] = array("q")  # newest first; stride 6: o, h, l, c, pv, vol
        self.hist: dict[int, list[Candle]] = {}
        self.m0 = int(start_time // 60) * 60  # the first forward minute
        self.minute: Candle = [self.m0, self.n, self.n, self.n, self.n, 0, 0, 0]
        self.minutes: deque[Candle] = deque(maxlen=MINUTE_KEEP)
        self.agg: dict[int, deque[Candle]] = {i: deque(maxlen=MAX_ROWS + 1) for i in INTERVALS[1:]}
        self.cur: dict[int, Candle | None] = {i: None for i in INTERVALS[1:]}
        self.trades: deque[tuple[Tick, int, int, str]] = deque(maxlen=TRADE_WINDOW)
        self.count = 0  # ticks so far: trade ids and the book's replay key
        self.ref: _PairState | None = None
        self.conv: _PairState | None = None
        self.ratio = Fraction(1)  # ref tick / (conv tick * own tick)

    def derive(self, ref_n: int, conv_n: int) -> int:
        """Reference price / conversion price, rounded half-up to this pair's tick."""
        num, den = ref_n * self.ratio.numerator, conv_n * self.ratio.denominator
        return max(1, (2 * num + den) // (2 * den))

    def jump(self, n: int) -> None:
        self.n, self.price, self.x = n, self.tick * n, math.log(n * self.tick_f)

    def top(self, n: int) -> tuple[int, int, int]:
        """Best bid, best ask and level step around `n`: a half-spread each side, >= 1 tick."""
        half = max(1, round(n * float(self.pair.half_spread_bps) / 10_000))
        return max(1, n - half), n + half, half

    def emit(self, t: int, n: int, lots: int, bits: int) -> Tick:
        """Record one print in the trade window and the current minute candle."""
        if n != self.n:
            self.n, self.price = n, self.tick * n
        tick = Tick(float(t), self.price, self.lot * lots, "b" if bits & 1 else "s")
        self.count += 1
        self.trades.append((tick, n, self.count, "m" if bits & 2 else "l"))
        m = self.minute
        if t >= m[0] + 60:
            self.roll()
            m = self.minute = [t // 60 * 60, n, n, n, n, 0, 0, 0]
        if n > m[2]:
            m[2] = n
        elif n < m[3]:
            m[3] = n
        m[4] = n
        m[5] += n * lots
        m[6] += lots
        m[7] += 1
        return tick

    def roll(self) -> None:
        """Commit the finished minute and fold it into each longer interval's open candle."""
        done = self.minute
        self.minutes.append(done)
        for interval, rows in self.agg.items():
            span = interval * 60
            bucket, cur = done[0] // span * span, self.cur[interval]
            if cur is not None and cur[0] == bucket:
                _fold(cur, done)
                continue
            if cur is not None:
                rows.append(cur)
            self.cur[interval] = [bucket, *done[1:]]

    def px(self, n: int) -> str:
        return f"{self.tick * n:.{self.pair.pair_decimals}f}"

    def qty(self, lots: int) -> str:
        return f"{self.lot * lots:.{self.pair.lot_decimals}f}"

    def vwap(self, pv: int, vol: int, close: int) -> str:
        if vol == 0:
            return self.px(close)
        return f"{Decimal(pv) / vol * self.tick:.{self.pair.pair_decimals}f}"


def _fold(into: Candle, c: Sequence[int]) -> None:
    """Extend candle `into` by the later candle `c`."""
    into[2], into[3], into[4] = max(into[2], c[2]), min(into[3], c[3]), c[4]
    into[5] += c[5]
    into[6] += c[6]
    into[7] += c[7]


def _combine(rows: Iterable[Sequence[int]]) -> list[Candle]:
    """Copy rows (time order), merging neighbours that share a bucket time."""
    out: list[Candle] = []
    for r in rows:
        if out and out[-1][0] == r[0]:
            _fold(out[-1], r)
        else:
            out.append(list(r))
    return out


def _walk_back(
    st: _PairState, rng: random.Random, x: float, secs: int, count: int
) -> tuple[list[tuple[int, ...]], float]:
    """`count` bars of `secs` seconds ending at log price `x`, newest first, as (o, h, l, c,
    pv, vol), plus the log open of the oldest. Each bar's return has the forward GBM law;
    high/low are drawn from the extremes of a Brownian bridge, so wicks match the volatility."""
    s = st.sigma * math.sqrt(secs)
    mu, v2, inv = -s * s / 2, 2 * s * s, 1 / st.tick_f
    size = TRADE_MEAN * secs * st.lot_scale * inv * math.exp(-0.125)
    rand, log, exp, sqrt, cos, sin = rng.random, math.log, math.exp, math.sqrt, math.cos, math.sin
    out: list[tuple[int, ...]] = []
    cn = max(1, round(exp(x) * inv))
    for _ in range(count):
        rad, angle = sqrt(-2 * log(1 - rand())), math.tau * rand()  # inline Box-Muller: ~4x gauss()
        r = mu + s * rad * cos(angle)
        o = x - r
        hi = o + (r + sqrt(r * r - v2 * log(1 - rand()))) / 2
        lo = o + (r - sqrt(r * r - v2 * log(1 - rand()))) / 2
        on = max(1, round(exp(o) * inv))
        hn, ln = max(round(exp(hi) * inv), on, cn), max(1, min(round(exp(lo) * inv), on, cn))
        vol = max(1, int(size * exp(0.5 * rad * sin(angle)) / on))  # log-normal around the mean
        out.append((on, hn, ln, cn, vol * (on + hn + ln + cn) // 4, vol))
        x, cn = o, on
    return out, x


def _derived_bar(
    st: _PairState, rng: random.Random, ref: Sequence[int], conv: Sequence[int] | None, secs: int
) -> tuple[int, ...]:
    """A derived pair's (o, h, l, c, pv, vol) from its reference's and conversion's o/h/l/c."""
    num, den = st.ratio.numerator, st.ratio.denominator
    co, cc = (conv[0] * den, conv[3] * den) if conv is not None else (den, den)
    o, c = (2 * ref[0] * num + co) // (2 * co) or 1, (2 * ref[3] * num + cc) // (2 * cc) or 1
    hi = max((2 * ref[1] * num + cc) // (2 * cc), o, c)  # inlined `derive`: this runs 10^5 times
    lo = min((2 * ref[2] * num + cc) // (2 * cc), o, c) or 1
    notional = TRADE_MEAN * secs * math.exp(0.5 * rng.gauss() - 0.125)  # mean-preserving
    vol = max(1, int(notional * st.lot_scale / (o * st.tick_f)))
    return o, hi, lo, c, vol * (o + hi + lo + c) // 4, vol


def _ticks(
    st: _PairState, first: int, last: int, ref: list[int] | None, conv: list[int] | None
) -> tuple[list[Tick], list[int]]:
    """One print per second. A root pair steps its GBM (the -σ²/2 drift keeps the price a
    martingale); a derived pair converts its reference's prices (`ref`, `conv`: tick counts)."""
    s, inv = st.sigma, 1 / st.tick_f
    drift, size = -s * s / 2, TRADE_NOTIONAL * st.lot_scale * inv
    rand, bits, emit = st.rng.random, st.rng.getrandbits, st.emit
    exp, log, sqrt, cos, sin = math.exp, math.log, math.sqrt, math.cos, math.sin
    x = st.x
    ticks, prices = [], []
    for i, t in enumerate(range(first, last + 1)):
        rad, angle = sqrt(-2 * log(1 - rand())), math.tau * rand()  # inline Box-Muller: 2 normals
        if ref is None:
            x += drift + s * rad * cos(angle)
            n = max(1, round(exp(x) * inv))
        else:
            n = st.derive(ref[i], conv[i] if conv is not None else 1)
        lots = max(1, int(size * exp(TRADE_SIGMA * rad * sin(angle)) / n))
        ticks.append(emit(t, n, lots, bits(2)))
        prices.append(n)
    if ref is None:
        st.x = x
    return ticks, prices


def _level_lots(st: _PairState, depth: int) -> list[tuple[int, int]]:
    """Resting (bid, ask) lots per level: notional ramps from the best level's to the deep
    value, jittered by a generator keyed on (seed, pair, tick index) so a book replays."""
    rng = random.Random(f"{st.key}:book:{st.count}")
    lo, hi = LEVEL_NOTIONAL
    per = st.lot_scale / (st.n * st.tick_f)
    out = []
    for i in range(depth):
        base = (lo + (hi - lo) * (1 - math.exp(-i / LEVEL_RAMP))) * per
        bid, ask = base * rng.uniform(0.7, 1.3), base * rng.uniform(0.7, 1.3)
        out.append((max(1, int(bid)), max(1, int(ask))))
    return out


def _stats(st: _PairState, rows: list[Sequence[int]]) -> tuple[str, str, int, str, str]:
    """Volume, vwap, trade count, low and high over candles."""
    vol, pv = sum(r[6] for r in rows), sum(r[5] for r in rows)
    low, high = min(r[3] for r in rows), max(r[2] for r in rows)
    count = sum(r[7] for r in rows)
    return st.qty(vol), st.vwap(pv, vol, rows[-1][4]), count, st.px(low), st.px(high)


class Market:
    """Every pair's simulated market, advanced by market time; all times are passed in."""

    def __init__(self, seed: int, start_time: float, pairs: Sequence[Pair] = PAIRS) -> None:
        self._last_time = start_time
        self._second = math.floor(start_time)  # the second of the latest tick
        self._states = {p.key: _PairState(p, seed, start_time) for p in pairs}
        for st in self._states.values():
            if st.pair.reference is not None:
                self._link(st)
        self._roots = [st for st in self._states.values() if st.ref is None]
        self._derived = [st for st in self._states.values() if st.ref is not None]

    def _link(self, st: _PairState) -> None:
        """Derived pairs quote reference / conversion: XBT/USDT = XBT/USD / USDT/USD."""
        ref = self._states.get(st.pair.reference or "")
        if ref is None or ref.pair.reference is not None:
            raise ValueError(f"{st.pair.key} needs its reference {st.pair.reference} as a root")
        st.ref, conv_tick = ref, Fraction(1)
        if st.pair.quote != ref.pair.quote:
            st.conv = next((c for c in self._states.values() if c.pair.reference is None
                            and (c.pair.base, c.pair.quote) == (st.pair.quote, ref.pair.quote)),
                           None)
            if st.conv is None:
                raise ValueError(f"{st.pair.key} needs a {st.pair.quote}/{ref.pair.quote} pair")
            conv_tick = Fraction(st.conv.tick)
        st.ratio = Fraction(ref.tick) / (conv_tick * Fraction(st.tick))
        n = st.derive(ref.n, st.conv.n if st.conv else 1)  # its own start_price is not used
        st.jump(n)
        st.minute = [st.m0, n, n, n, n, 0, 0, 0]

    def advance_to(self, market_time: float) -> dict[str, list[Tick]]:
        """Generate one tick per market second up to `market_time`; return the new ones by
        pair. Returned lists are the caller's memory: advance a long way in steps."""
        first, last = self._second + 1, math.floor(market_time)
        if last < first:
            return {key: [] for key in self._states}
        out: dict[str, list[Tick]] = {}
        prices: dict[str, list[int]] = {}
        for st in self._roots:
            out[st.pair.key], prices[st.pair.key] = _ticks(st, first, last, None, None)
        for st in self._derived:  # after the roots: they convert root prices
            assert st.ref is not None
            conv = prices[st.conv.pair.key] if st.conv else None
            out[st.pair.key], _ = _ticks(st, first, last, prices[st.ref.pair.key], conv)
        self._second, self._last_time = last, float(last)
        return {key: out[key] for key in self._states}

    def last_price(self, pair_key: str) -> Decimal:
        return self._states[pair_key].price

    def last_time(self) -> float:
        """Market time of the latest tick (the start time before the first)."""
        return self._last_time

    def set_price(self, pair_key: str, price: Decimal) -> None:
        """Admin/test hook: the path continues (same shocks) from `price`, rounded to the tick.
        Derived pairs follow their reference; setting a derived pair moves its reference."""
        st = self._states[pair_key]
        n = round(price / st.tick)
        if n < 1:
            raise ValueError(f"price must be at least one tick, got {price}")
        if st.ref is None:
            st.jump(n)
        else:
            conv_n = st.conv.n if st.conv else 1
            st.ref.jump(max(1, round(Fraction(n * conv_n) / st.ratio)))
        for d in self._derived:
            assert d.ref is not None
            d.jump(d.derive(d.ref.n, d.conv.n if d.conv else 1))
        if st.ref is not None:
            st.jump(n)

    def book(self, pair_key: str, depth: int = 100) -> Book:
        """Synthetic book around the last price; takers walk it, which is the slippage model."""
        st = self._states[pair_key]
        bid, ask, step = st.top(st.n)
        bids, asks = [], []
        for i, (bid_lots, ask_lots) in enumerate(_level_lots(st, depth)):
            if bid - i * step >= 1:
                bids.append(BookLevel(st.tick * (bid - i * step), st.lot * bid_lots))
            asks.append(BookLevel(st.tick * (ask + i * step), st.lot * ask_lots))
        return Book(tuple(bids), tuple(asks), self._last_time)

    def best_bid_ask(self, pair_key: str) -> tuple[Decimal, Decimal]:
        st = self._states[pair_key]
        bid, ask, _ = st.top(st.n)
        return st.tick * bid, st.tick * ask

    def ohlc(
        self, pair_key: str, interval: int, since: int | None
    ) -> tuple[list[list[object]], int]:
        """Kraken OHLC rows, oldest first; the last row is the open candle and always present.
        `last` is the time of the last committed candle, the next poll's `since`."""
        if interval not in INTERVALS:
            raise ValueError(f"invalid interval {interval}")
        st = self._states[pair_key]
        rows = self._candles(st, interval)
        keep = [r for r in rows[:-1] if since is None or r[0] > since] + rows[-1:]
        out: list[list[object]] = [
            [r[0], st.px(r[1]), st.px(r[2]), st.px(r[3]), st.px(r[4]),
             st.vwap(r[5], r[6], r[4]), st.qty(r[6]), r[7]]
            for r in keep
        ]
        return out, rows[-2][0]

    def _candles(self, st: _PairState, interval: int) -> list[Candle]:
        """The last 720 candles: forward ones, preceded by history while those are too few."""
        span = interval * 60
        if interval == 1:
            raw: list[Candle] = list(st.minutes)[-MAX_ROWS:]
        else:
            cur = st.cur[interval]
            raw = [*st.agg[interval], *([cur] if cur is not None else [])]
        raw.append([st.minute[0] // span * span, *st.minute[1:]])
        forward = _combine(raw)
        if len(forward) > MAX_ROWS:  # the window no longer reaches the start
            st.hist.pop(interval, None)
            return forward[-MAX_ROWS:]
        return _combine([*self._hist_rows(st, interval), *forward])[-MAX_ROWS:]

    def _hist_rows(self, st: _PairState, interval: int) -> list[Candle]:
        """The 720 candles before the start plus the partial one it falls in (cached): 1-minute
        history aggregated where it reaches, coarse candles at the interval's resolution beyond."""
        if interval not in st.hist:
            span = interval * 60
            want = st.m0 // span * span - MAX_ROWS * span
            oldest = st.m0 - HISTORY_MINUTES * 60
            fine = max(want, -(-oldest // span) * span)
            fine_rows = self._aggregate(st, fine, span)
            st.hist[interval] = self._coarse(st, interval, (fine - want) // span, fine) + fine_rows
        return st.hist[interval]

    def _ensure_minutes(self, st: _PairState, count: int) -> None:
        """Extend 1-minute history back to `count` minutes; one ordered stream, so lazy
        extension in any chunks yields the same data."""
        have = len(st.hist_minutes) // 6
        if count <= have:
            return
        if st.ref is None:
            bars, st.hist_x = _walk_back(st, st.hist_rng, st.hist_x, 60, count - have)
            for bar in bars:
                st.hist_minutes.extend(bar)
            return
        self._ensure_minutes(st.ref, count)
        if st.conv is not None:
            self._ensure_minutes(st.conv, count)
        for j in range(6 * have, 6 * count, 6):
            conv = st.conv.hist_minutes[j:j + 4] if st.conv else None
            st.hist_minutes.extend(_derived_bar(st, st.hist_rng, st.ref.hist_minutes[j:j + 4],
                                                conv, 60))

    def _aggregate(self, st: _PairState, t_from: int, span: int) -> list[Candle]:
        """History minutes from `t_from` up to the start, bucketed into `span`-second candles."""
        self._ensure_minutes(st, (st.m0 - t_from) // 60)
        arr, rows, m0 = st.hist_minutes, list[Candle](), st.m0
        row: Candle = [-1]
        for t in range(t_from, m0, 60):
            j = 6 * ((m0 - t) // 60 - 1)
            if t // span * span != row[0]:
                row = [t // span * span, *arr[j:j + 6], 60]
                rows.append(row)
                continue
            row[2], row[3], row[4] = max(row[2], arr[j + 1]), min(row[3], arr[j + 2]), arr[j + 3]
            row[5] += arr[j + 4]
            row[6] += arr[j + 5]
            row[7] += 60
        return rows

    def _coarse(self, st: _PairState, interval: int, count: int, end: int) -> list[Candle]:
        """`count` candles ending at `end` (where 1-minute history stops), generated at the
        interval's own resolution: second-by-second history that far back would be too slow."""
        if count == 0:
            return []
        span = interval * 60
        rng = random.Random(f"{st.key}:coarse:{interval}")
        if st.ref is None:
            start = st.hist_minutes[6 * ((st.m0 - end) // 60 - 1)]  # open of the minute at `end`
            bars, _ = _walk_back(st, rng, math.log(start * st.tick_f), span, count)
            n = len(bars)
            return [[end - (n - i) * span, *bars[n - 1 - i], span] for i in range(n)]
        ref = self._hist_rows(st.ref, interval)[:count]
        conv = self._hist_rows(st.conv, interval)[:count] if st.conv else None
        return [[r[0], *_derived_bar(st, rng, r[1:5], conv[i][1:5] if conv else None, span), span]
                for i, r in enumerate(ref)]

    def _minute_rows(self, st: _PairState, t0: int) -> list[Sequence[int]]:
        """1-minute candles from `t0` (minute aligned) to now, history included."""
        rows: list[Sequence[int]] = []
        if t0 < st.m0:
            rows += self._aggregate(st, t0, 60)
        rows += [m for m in st.minutes if m[0] >= t0]
        rows.append(st.minute)
        return rows

    def ticker(self, pair_key: str) -> dict[str, object]:
        """Kraken Ticker fields; "today" starts at 00:00 UTC of market time."""
        st = self._states[pair_key]
        now = self._last_time
        day, since24 = int(now // 86400) * 86400, now - 86400
        rows = self._minute_rows(st, min(day, int(since24) // 60 * 60))
        today = _stats(st, [r for r in rows if r[0] >= day])
        last24 = _stats(st, [r for r in rows if r[0] + 60 > since24])
        bid, ask, _ = st.top(st.n)
        ((bid_lots, ask_lots),) = _level_lots(st, 1)
        last_volume = st.trades[-1][0].volume if st.trades else Decimal(0)
        return {
            "a": [st.px(ask), str(max(1, round(ask_lots / st.lot_scale))),
                  f"{st.lot * ask_lots:.3f}"],
            "b": [st.px(bid), str(max(1, round(bid_lots / st.lot_scale))),
                  f"{st.lot * bid_lots:.3f}"],
            "c": [st.px(st.n), f"{last_volume:.{st.pair.lot_decimals}f}"],
            "v": [today[0], last24[0]], "p": [today[1], last24[1]], "t": [today[2], last24[2]],
            "l": [today[3], last24[3]], "h": [today[4], last24[4]],
            "o": st.px(next(r[1] for r in rows if r[0] >= day)),
        }

    def trades(
        self, pair_key: str, since: int | None, count: int = 1000
    ) -> tuple[list[list[object]], str]:
        """Recent prints, oldest first. `since` (exclusive) is unix seconds or a 19-digit
        nanosecond id; without it, the newest `count`. `last` is the next poll's `since`."""
        st = self._states[pair_key]
        count = max(1, min(count, TRADE_WINDOW))
        floor_ns = None if since is None else since if since >= 10**18 else since * NS
        if floor_ns is None:
            picked = list(st.trades)[-count:]
        else:
            picked = [w for w in st.trades if int(w[0].time) * NS > floor_ns][:count]
        places = st.pair.lot_decimals
        rows: list[list[object]] = [
            [st.px(n), f"{tick.volume:.{places}f}", tick.time, tick.side, kind, "", tid]
            for tick, n, tid, kind in picked
        ]
        last = int(self._last_time * NS) if floor_ns is None else floor_ns
        return rows, str(int(picked[-1][0].time) * NS if picked else last)

    def spreads(self, pair_key: str, since: int | None) -> tuple[list[list[object]], int]:
        """Top of book after each of the last 200 prints, oldest first; `since` is exclusive."""
        st = self._states[pair_key]
        rows: list[list[object]] = []
        last = since if since is not None else int(self._last_time)
        for tick, n, _, _ in list(st.trades)[-SPREAD_WINDOW:]:
            ts = int(tick.time)
            if since is None or ts > since:
                bid, ask, _ = st.top(n)
                rows.append([ts, st.px(bid), st.px(ask)])
                last = ts
        return rows, last

    def storage(self) -> dict[str, int]:
        """Candle rows held, by kind, summed over pairs: for memory-bound checks."""
        sts = self._states.values()
        return {
            "minutes": sum(len(st.minutes) for st in sts),
            "aggregates": sum(len(rows) for st in sts for rows in st.agg.values()),
            "history_rows": sum(len(rows) for st in sts for rows in st.hist.values()),
            "history_minutes": sum(len(st.hist_minutes) // 6 for st in sts),
            "trades": sum(len(st.trades) for st in sts),
        }
