"""The account's trade ledger (positions and P&L per pair) and its daily P&L tracker.

`TradeLedger` books the venue's own trades (TradesHistory entries; the venue is the
truth) with `pnl.Book`'s average-cost rules, each trade exactly once by trade id and in
the order `pnl.replay` uses, so its books equal `pnl.replay` over every trade it was
given, however the trades were paged, overlapped or repeated. Trades may arrive late
(two trades in the same second, a page read while the venue was still writing): any
unseen trade no older than the replay floor is booked in its proper place, by replaying
the raw trades kept since a checkpoint. The bound: raw trades are kept only for the last
`replay_window_s` seconds of venue time (counted from the newest trade); older trades are
folded into the checkpoint books and the floor rises to `newest - replay_window_s`. A
trade older than the floor that was never seen cannot be placed and is ignored with a
warning; `fetch_from()` never asks the venue for trades that old, and `trade_count` lets
the caller compare with the venue's own count and rebuild from full history if they
differ.

Books are in each pair's quote currency. Only pairs whose quote asset (from AssetPairs,
given with `set_quotes`) is USD (`ZUSD`/`USD`) count toward the USD totals; other pairs,
and pairs whose quote is not known, stay listed per pair and are named in `excluded`.
Pure apart from `save`/`load`: trades, marks and time are passed in.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from actors.kraken.pnl import USD_QUOTES, ZERO, Book

log = logging.getLogger("nija.ledger")
FORMAT_VERSION = 1
REPLAY_WINDOW_S = 600.0  # raw trades kept for re-ordering: this much venue time
FETCH_OVERLAP_S = 60.0  # incremental fetches start this far before the newest trade
_PARSE_ERRORS = (KeyError, TypeError, ValueError, InvalidOperation, AttributeError)
_BOOK_FIELDS = ("volume", "cost", "realised", "fees")


class LedgerCorrupt(Exception):
    """A persisted ledger or day file cannot be read; rebuild it from the venue."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} is unreadable ({reason}); rebuild it from the venue's "
                         f"full trade history")
        self.path = path


@dataclass(frozen=True)
class NewTrade:
    """One venue trade, as booked. Money is Decimal, `time` is venue Unix seconds."""

    trade_id: str
    order_txid: str
    pair: str  # canonical pair key, "XXBTZUSD"
    side: Literal["buy", "sell"]
    volume: Decimal
    price: Decimal
    cost: Decimal
    fee: Decimal
    time: float

    @property
    def key(self) -> tuple[float, str, str]:
        """Booking order: the same as `pnl.trade_order`."""
        return self.time, self.order_txid, self.trade_id

    @classmethod
    def from_entry(cls, trade_id: str, entry: Mapping[str, Any]) -> NewTrade:
        """From a TradesHistory entry (or `to_json`). Raises ValueError if malformed."""
        try:
            side = str(entry["type"])
            if side not in ("buy", "sell"):
                raise ValueError(f"side {side!r}")
            money = {k: _decimal(entry[k]) for k in ("vol", "price", "cost", "fee")}
            return cls(trade_id=str(trade_id), order_txid=str(entry["ordertxid"]),
                       pair=str(entry["pair"]), side="buy" if side == "buy" else "sell",
                       volume=money["vol"], price=money["price"], cost=money["cost"],
                       fee=money["fee"], time=float(entry["time"]))
        except _PARSE_ERRORS as exc:
            raise ValueError(f"trade {trade_id}: malformed entry ({exc!r})") from exc

    def to_json(self) -> dict[str, Any]:
        return {"trade_id": self.trade_id, "ordertxid": self.order_txid, "pair": self.pair,
                "type": self.side, "vol": str(self.volume), "price": str(self.price),
                "cost": str(self.cost), "fee": str(self.fee), "time": self.time}


class TradeLedger:
    """Books per pair from venue trades applied exactly once, in venue time order."""

    def __init__(self, replay_window_s: float = REPLAY_WINDOW_S,
                 fetch_overlap_s: float = FETCH_OVERLAP_S) -> None:
        if not 0 < fetch_overlap_s <= replay_window_s:
            raise ValueError("need 0 < fetch_overlap_s <= replay_window_s")
        self.replay_window_s = replay_window_s
        self.fetch_overlap_s = fetch_overlap_s
        self.quotes: dict[str, str] = {}  # pair key -> quote asset id, from AssetPairs
        self.trade_count = 0  # trades booked, folded or not
        self.stale_ignored = 0  # trades not kept and older than the floor (this process)
        self._checkpoint: dict[str, Book] = {}  # every trade older than the floor
        self._recent: dict[str, NewTrade] = {}  # raw trades at or after the floor
        self._floor: float | None = None
        self._books: dict[str, Book] = {}  # checkpoint + recent: what is reported

    # -- booking -------------------------------------------------------------------

    def apply(self, trades: Mapping[str, Mapping[str, Any]]) -> list[NewTrade]:
        """Book the trades not seen before; return them oldest first. Atomic: a malformed
        entry raises ValueError before anything is booked."""
        parsed = [NewTrade.from_entry(tid, entry) for tid, entry in trades.items()
                  if tid not in self._recent]
        fresh = sorted((t for t in parsed if self._floor is None or t.time >= self._floor),
                       key=lambda t: t.key)
        self._warn_stale([t for t in parsed if self._floor is not None and t.time < self._floor])
        if not fresh:
            return []
        in_order = not self._recent or fresh[0].key > self._newest().key
        self._recent.update((t.trade_id, t) for t in fresh)
        self.trade_count += len(fresh)
        if in_order:
            for trade in fresh:
                _book(self._books, trade)
        else:
            self._books = self._replayed()
        self._fold()
        return fresh

    def _warn_stale(self, stale: list[NewTrade]) -> None:
        if stale:
            self.stale_ignored += len(stale)
            log.warning("ignored %d trade(s) older than the ledger floor %.3f (e.g. %s at "
                        "%.3f): booked before, unless the venue reported them more than "
                        "%.0fs late (then rebuild the ledger from full history)", len(stale),
                        self._floor, stale[0].trade_id, stale[0].time, self.replay_window_s)

    def _newest(self) -> NewTrade:
        return max(self._recent.values(), key=lambda t: t.key)

    def _replayed(self) -> dict[str, Book]:
        books = {pair: replace(book) for pair, book in self._checkpoint.items()}
        for trade in sorted(self._recent.values(), key=lambda t: t.key):
            _book(books, trade)
        return books

    def _fold(self) -> None:
        """Move raw trades older than the window into the checkpoint books."""
        cutoff = self._newest().time - self.replay_window_s
        if self._floor is not None and cutoff <= self._floor:
            return
        for trade in sorted((t for t in self._recent.values() if t.time < cutoff),
                            key=lambda t: t.key):
            _book(self._checkpoint, trade)
            del self._recent[trade.trade_id]
        self._floor = cutoff

    def fetch_from(self) -> float | None:
        """`start` for the next TradesHistory read (exclusive at the venue): a little
        before the newest booked trade, never below the floor. None: read everything."""
        if not self._recent:
            return None
        start = self._newest().time - self.fetch_overlap_s
        return start if self._floor is None else max(start, self._floor)

    # -- reading -------------------------------------------------------------------

    def set_quotes(self, quotes: Mapping[str, str]) -> None:
        """Learn pair key -> quote asset id (AssetPairs `quote`, e.g. PairRules.quote)."""
        self.quotes.update(quotes)

    def books(self) -> dict[str, Book]:
        """Copies of every pair's book (quote currency)."""
        return {pair: replace(book) for pair, book in self._books.items()}

    def positions(self) -> dict[str, Decimal]:
        """Open base volume per pair, pairs with a position only."""
        return {pair: book.volume for pair, book in sorted(self._books.items()) if book.volume}

    def average_price(self, pair: str) -> Decimal:
        """Average entry price (fees included) of the open position; 0 when flat."""
        book = self._books.get(pair)
        return book.average if book is not None else ZERO

    def is_usd(self, pair: str) -> bool:
        return self.quotes.get(pair) in USD_QUOTES

    def realised_usd(self) -> Decimal:
        """Realised P&L net of fees over the USD-quoted pairs."""
        return sum((b.realised for p, b in self._books.items() if self.is_usd(p)), ZERO)

    def valuation(self, marks: Mapping[str, Decimal]) -> dict[str, Any]:
        """`pnl.valuation`'s shape (without holdings): per pair figures in the pair's quote
        currency, USD totals over USD pairs, and `excluded`: pair -> why it is left out
        of a total (quote not USD or unknown; no mark for an open position)."""
        pairs: dict[str, dict[str, str]] = {}
        excluded: dict[str, str] = {}
        realised = unrealised = ZERO
        for pair, book in sorted(self._books.items()):
            mark = marks.get(pair)
            unmarked = bool(book.volume) and mark is None
            open_pnl = book.volume * mark - book.cost if book.volume and mark is not None else ZERO
            quote = self.quotes.get(pair, "")
            pairs[pair] = {"quote": quote, "volume": str(book.volume),
                           "average_price": str(book.average),
                           "mark": "" if mark is None else str(mark),
                           "realised_pnl": str(book.realised),
                           "unrealised_pnl": "" if unmarked else str(open_pnl),
                           "fees": str(book.fees),
                           "value": "" if mark is None else str(book.volume * mark)}
            if not self.is_usd(pair):
                excluded[pair] = f"quote {quote} is not USD" if quote else "quote unknown"
                continue
            realised += book.realised
            unrealised += open_pnl
            if unmarked:
                excluded[pair] = "no mark: unrealised P&L not counted"
        return {"positions": {"pairs": pairs}, "realised_pnl": str(realised),
                "unrealised_pnl": str(unrealised), "excluded": excluded}

    # -- persistence -----------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Atomically replace `path` with the checkpoint, the raw trades and the floor."""
        _write_atomic(Path(path), {
            "version": FORMAT_VERSION, "floor": self._floor, "trade_count": self.trade_count,
            "checkpoint": {p: {f: str(getattr(b, f)) for f in _BOOK_FIELDS}
                           for p, b in sorted(self._checkpoint.items())},
            "recent": [t.to_json() for t in sorted(self._recent.values(), key=lambda t: t.key)],
        })

    @classmethod
    def load(cls, path: Path, replay_window_s: float = REPLAY_WINDOW_S,
             fetch_overlap_s: float = FETCH_OVERLAP_S) -> TradeLedger:
        """The saved ledger; empty when `path` does not exist. LedgerCorrupt otherwise."""
        ledger = cls(replay_window_s, fetch_overlap_s)
        data = _read_json(Path(path))
        if data is None:
            return ledger
        try:
            floor = data["floor"]
            ledger._floor = None if floor is None else float(floor)
            ledger.trade_count = int(data["trade_count"])
            ledger._checkpoint = {str(p): Book(*(_decimal(b[f]) for f in _BOOK_FIELDS))
                                  for p, b in data["checkpoint"].items()}
            trades = [NewTrade.from_entry(t["trade_id"], t) for t in data["recent"]]
        except _PARSE_ERRORS as exc:
            raise LedgerCorrupt(Path(path), repr(exc)) from None
        if ledger._floor is not None and any(t.time < ledger._floor for t in trades):
            raise LedgerCorrupt(Path(path), "a kept trade is older than the floor")
        ledger._recent = {t.trade_id: t for t in trades}
        ledger._books = ledger._replayed()
        return ledger


class DayPnl:
    """Today's P&L: equity now less equity at the first observation of the UTC day, and
    the lowest such P&L seen today (latched: it only falls until the day rolls over).

    A new UTC day starts at the first observation after 00:00 UTC, which becomes the
    baseline. An observation dated before the current day (a clock step back) counts in
    the current day: the day never rolls backwards, so the latched low is never lost."""

    def __init__(self) -> None:
        self.day: date | None = None
        self.baseline = ZERO
        self.low = ZERO

    def observe(self, equity: Decimal, now_unix: float) -> tuple[Decimal, Decimal]:
        """Record `equity` (USD) at `now_unix`; return (day P&L, the day's low)."""
        day = datetime.fromtimestamp(now_unix, UTC).date()
        if self.day is None or day > self.day:
            self.day, self.baseline, self.low = day, equity, ZERO
        pnl = equity - self.baseline
        self.low = min(self.low, pnl)
        return pnl, self.low

    def save(self, path: Path) -> None:
        _write_atomic(Path(path), {
            "version": FORMAT_VERSION, "day": None if self.day is None else self.day.isoformat(),
            "baseline": str(self.baseline), "low": str(self.low)})

    @classmethod
    def load(cls, path: Path) -> DayPnl:
        """The saved day; a fresh one when `path` does not exist. LedgerCorrupt otherwise."""
        tracker = cls()
        data = _read_json(Path(path))
        if data is None:
            return tracker
        try:
            tracker.day = None if data["day"] is None else date.fromisoformat(data["day"])
            tracker.baseline, tracker.low = _decimal(data["baseline"]), _decimal(data["low"])
        except _PARSE_ERRORS as exc:
            raise LedgerCorrupt(Path(path), repr(exc)) from None
        if tracker.low > 0:
            raise LedgerCorrupt(Path(path), "the day's low is above zero")
        return tracker


def _book(books: dict[str, Book], trade: NewTrade) -> None:
    books.setdefault(trade.pair, Book()).apply(trade.side, trade.volume, trade.cost, trade.fee)


def _decimal(raw: object) -> Decimal:
    """A finite Decimal from a string or number (money is never parsed via float)."""
    value = Decimal(str(raw))
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {raw!r}")
    return value


def _read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path` with the expected version; None if there is no file."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LedgerCorrupt(path, repr(exc)) from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise LedgerCorrupt(path, f"not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise LedgerCorrupt(path, f"not a version {FORMAT_VERSION} object: {raw[:60]!r}")
    return data


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write a temp file in the same directory, fsync it, rename over `path`, fsync the
    directory: a reader sees the old file or the new one, never a torn one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, allow_nan=False, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
