"""What the market data actor asks the venue, and when, and what it publishes (pure: every
time is passed in; `now` is local monotonic seconds, `wall` Unix seconds).

Per broker, whatever the number of accounts:
- one Ticker call every `poll_s`, without `pair` so the venue answers for every pair it
  lists; each answer is published as `Prices` holding the configured pairs and every
  USD-quoted pair (account actors value their holdings from it, making no public calls);
- one OHLC call per pair only when its open candle may have committed: when the candle
  clock (see `clock.py`) passes the open candle's end plus `COMMIT_GRACE_S`, never sooner
  than `MIN_OHLC_GAP_S` after the pair's last answer (`poll_s` after a failure), plus the
  clock's calibration probes. After the first fetch, `since` asks only for newer rows;
- every call waits for the `PublicBudget`, shared by all calls of the process.

Kraken's OHLC rows come oldest first and the last one is the still-open candle: it is never
kept. A pair keeps a rolling window of its newest `window` committed candles, strictly
increasing in time; rows not newer than the newest held (a repeated or overlapping fetch)
are ignored, never rewritten. `Candles` (the whole window) is published only when a new
committed candle arrived.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from actors.marketdata.answers import FeedPair, parse_ohlc, parse_ticker
from actors.marketdata.clock import CandleClock
from protocol.bus import CandleRow, Candles, Prices

KRAKEN_INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
COMMIT_GRACE_S = 0.5  # local seconds after the expected commit before asking
MIN_OHLC_GAP_S = 1.0  # local seconds between two OHLC calls for one pair
STALE_RESETS = 3  # consecutive answers older than the window: the venue went back in time


class PublicBudget:
    """Token bucket for this process's public calls. Whoever calls only once `wait(now)` is
    0 makes at most `burst + calls_per_s * T` calls in any T seconds."""

    def __init__(self, calls_per_s: float, burst: float = 2.0) -> None:
        if calls_per_s <= 0 or burst < 1:
            raise ValueError("public_calls_per_s must be positive and burst at least 1")
        self.rate = calls_per_s
        self.burst = burst
        self._tokens = burst
        self._at: float | None = None

    def _refill(self, now: float) -> None:
        if self._at is not None and now > self._at:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        if self._at is None or now > self._at:
            self._at = now

    def wait(self, now: float) -> float:
        """Seconds until one call may be made (0: now)."""
        self._refill(now)
        return max(0.0, (1.0 - self._tokens) / self.rate)

    def spend(self, now: float) -> None:
        """One call is being made now (spending ahead of `wait` leaves a debt that later
        waits repay)."""
        self._refill(now)
        self._tokens -= 1.0


class CandleWindow:
    """The newest committed candles of one pair: strictly increasing time, at most `size`."""

    def __init__(self, size: int) -> None:
        self._rows: deque[CandleRow] = deque(maxlen=size)

    def merge(self, rows: Iterable[CandleRow]) -> int:
        """Append, in time order, the rows newer than the newest held; returns how many."""
        added = 0
        for row in sorted(rows, key=lambda r: r.time):
            if self._rows and row.time <= self._rows[-1].time:
                continue
            self._rows.append(row)
            added += 1
        return added

    @property
    def newest(self) -> int | None:
        return self._rows[-1].time if self._rows else None

    @property
    def rows(self) -> tuple[CandleRow, ...]:
        return tuple(self._rows)

    def clear(self) -> None:
        self._rows.clear()


@dataclass(frozen=True)
class PublicCall:
    """One public call to make: `pair` is the key an OHLC call is for."""

    method: Literal["Ticker", "OHLC"]
    params: dict[str, str] = field(hash=False)
    pair: str | None = None


class MarketFeed:
    """The schedule and the state of one broker's market data."""

    def __init__(self, broker: str, pairs: Sequence[FeedPair], interval_min: int,
                 poll_s: float, window: int, usd: Sequence[FeedPair] = ()) -> None:
        """`pairs` are the configured pairs (candles and prices); `usd` the USD-quoted pairs
        whose prices `Prices` carries too (see `answers.usd_pairs`)."""
        if interval_min not in KRAKEN_INTERVALS:
            raise ValueError(f"interval_min must be one of {KRAKEN_INTERVALS}, "
                             f"not {interval_min}")
        if poll_s <= 0 or window < 1 or not pairs:
            raise ValueError("need poll_s > 0, window >= 1 and at least one pair")
        self.broker = broker
        self.pairs = {p.key: p for p in pairs}
        self.usd = tuple(usd)
        self.interval_min = interval_min
        self.span = interval_min * 60
        self.poll_s = poll_s
        self.clock = CandleClock(self.span)
        self.windows = {key: CandleWindow(window) for key in self.pairs}
        self.last: dict[str, Decimal] = {}  # from the latest Ticker answer
        self.server_time: float | None = None  # of the latest Ticker answer
        self.resets = 0
        self._open: dict[str, int] = {}  # the open candle's time in the pair's last answer
        self._not_before = dict.fromkeys(self.pairs, 0.0)
        self._stale = dict.fromkeys(self.pairs, 0)
        self._ticker_at = 0.0
        self._seq = dict.fromkeys([*self.pairs, ""], 0)  # "" counts Prices

    # -- schedule ------------------------------------------------------------------

    def ohlc_call(self, key: str) -> PublicCall:
        params = {"pair": key, "interval": str(self.interval_min)}
        newest = self.windows[key].newest
        if newest is not None:
            params["since"] = str(newest)
        return PublicCall("OHLC", params, key)

    def ticker_call(self) -> PublicCall:
        return PublicCall("Ticker", {})  # every pair: USD prices value any holding

    def _ohlc_due_at(self, key: str) -> float:
        open_time = self._open.get(key)
        if open_time is None:
            return self._not_before[key]
        due = self.clock.local_time(open_time + self.span) + COMMIT_GRACE_S
        if not self.clock.calibrated and key == min(self.pairs, key=self._not_before.__getitem__):
            due = min(due, self.clock.probe_at)  # the pair asked longest ago probes
        return max(due, self._not_before[key])

    def due(self, now: float) -> list[PublicCall]:
        """The calls due at `now`, the longest overdue first (OHLC before Ticker on a tie)."""
        ranked = [(self._ohlc_due_at(key), 0, self.ohlc_call(key)) for key in self.pairs]
        ranked.append((self._ticker_at, 1, self.ticker_call()))
        return [call for at, _, call in sorted(ranked, key=lambda r: (r[0], r[1])) if at <= now]

    def next_due_at(self) -> float:
        """The local time at which the next call falls due (maybe already past)."""
        return min(self._ticker_at, *(self._ohlc_due_at(key) for key in self.pairs))

    def on_failure(self, call: PublicCall, now: float) -> None:
        """The call failed even after the client's retries: ask again `poll_s` later."""
        if call.pair is None:
            self._ticker_at = now + self.poll_s
        else:
            self._not_before[call.pair] = now + self.poll_s

    # -- answers -------------------------------------------------------------------

    def on_ohlc(self, key: str, result: object, now: float, server_time: float,
                wall: float) -> list[Candles]:
        """Ingest an OHLC answer received at `now`; a `Candles` if a new candle committed.
        Raises FeedDataError for an answer without Kraken's shape."""
        rows = parse_ohlc(result, self.pairs[key])
        window, open_time = self.windows[key], rows[-1].time
        self._not_before[key] = now + MIN_OHLC_GAP_S
        if window.newest is not None and open_time <= window.newest:
            self._stale[key] += 1
            if self._stale[key] >= STALE_RESETS:  # not a lagging cache: start over
                self._reset()
            return []
        self._stale[key] = 0
        self.clock.observe(now, open_time, server_time)
        self._open[key] = open_time
        if not window.merge(rows[:-1]):
            return []
        self._seq[key] += 1
        return [self.candles(key, wall)]

    def _reset(self) -> None:
        self.resets += 1
        self.clock.reset()
        for key in self.pairs:
            self.windows[key].clear()
            self._open.pop(key, None)
            self._stale[key] = 0

    def on_ticker(self, result: object, now: float, server_time: float,
                  wall: float) -> Prices:
        """Ingest a Ticker answer received at `now`; always published."""
        last = parse_ticker(result, list(self.pairs.values()), self.usd)
        self._ticker_at = now + self.poll_s
        self.last, self.server_time = last, server_time
        self._seq[""] += 1
        return Prices(broker=self.broker, last=last, server_time=server_time,
                      published_at=wall, seq=self._seq[""])

    def candles(self, key: str, wall: float) -> Candles:
        """The pair's window as a `Candles`, numbered as its latest publication."""
        return Candles(broker=self.broker, pair=key, altname=self.pairs[key].altname,
                       interval_min=self.interval_min, candles=self.windows[key].rows,
                       published_at=wall, seq=self._seq[key])
