"""Positions and P&L from the venue's own trade history (the venue is the truth).

Average-cost accounting per pair: buys raise the position at their cost plus fee, sells
realise (price - average cost) on the volume sold, minus their fee. Unrealised P&L marks
the remaining position at the last price. Trades book in `trade_order` (venue time, order
txid, trade id); `Book.apply` is the one booking rule, shared with the account's
incremental `actors.trading.ledger.TradeLedger`. Pure: trades and marks are passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

ZERO = Decimal(0)
USD_QUOTES = ("ZUSD", "USD")


@dataclass
class Book:
    """One pair's average-cost position, in its quote currency."""

    volume: Decimal = ZERO
    cost: Decimal = ZERO  # quote spent on the open volume, fees included
    realised: Decimal = ZERO
    fees: Decimal = ZERO

    @property
    def average(self) -> Decimal:
        return self.cost / self.volume if self.volume else ZERO

    def apply(self, side: str, volume: Decimal, cost: Decimal, fee: Decimal) -> None:
        """Book one fill. A buy adds its cost plus fee to the open cost; a sell realises
        its proceeds less the average cost of what it sold, less its fee. A sell larger
        than the open volume realises only the part that was held (the rest was bought
        before the history began or elsewhere). Raises ValueError on a side other than
        "buy" or "sell", rather than guessing."""
        self.fees += fee
        if side == "buy":
            self.volume += volume
            self.cost += cost + fee
        elif side == "sell":
            sold = min(volume, self.volume)
            basis = self.average * sold
            self.realised += cost * (sold / volume if volume else ZERO) - basis - fee
            self.volume -= sold
            self.cost -= basis
        else:
            raise ValueError(f"trade side must be 'buy' or 'sell', not {side!r}")


def trade_order(trade_id: str, trade: Mapping[str, Any]) -> tuple[float, str, str]:
    """The order trades are booked in: venue time, then order txid, then trade id (so
    fills of one order at the same instant always book in the same order)."""
    return float(trade["time"]), str(trade["ordertxid"]), trade_id


def replay(trades: Mapping[str, Mapping[str, Any]]) -> dict[str, Book]:
    """Books per pair from TradesHistory entries (keyed by trade id), oldest first."""
    books: dict[str, Book] = {}
    for _, trade in sorted(trades.items(), key=lambda kv: trade_order(*kv)):
        volume, cost, fee = (Decimal(str(trade[k])) for k in ("vol", "cost", "fee"))
        books.setdefault(str(trade["pair"]), Book()).apply(str(trade["type"]), volume, cost,
                                                           fee)
    return books


def valuation(balances: Mapping[str, Decimal], trades: Mapping[str, Mapping[str, Any]],
              marks: Mapping[str, Decimal]) -> dict[str, Any]:
    """Positions, realised/unrealised P&L per pair (quote currency) and spot holdings."""
    books = replay(trades)
    pairs = {}
    realised = unrealised = ZERO
    for pair, book in sorted(books.items()):
        mark = marks.get(pair, ZERO)
        open_pnl = book.volume * mark - book.cost if book.volume else ZERO
        realised += book.realised
        unrealised += open_pnl
        pairs[pair] = {"volume": str(book.volume), "average_price": str(book.average),
                       "mark": str(mark), "realised_pnl": str(book.realised),
                       "unrealised_pnl": str(open_pnl), "fees": str(book.fees),
                       "value": str(book.volume * mark)}
    return {
        "positions": {"pairs": pairs,
                      "holdings": {a: str(v) for a, v in sorted(balances.items()) if v}},
        "realised_pnl": str(realised),
        "unrealised_pnl": str(unrealised),
    }
