"""Positions and P&L from the venue's own trade history (the venue is the truth).

Average-cost accounting per pair: buys raise the position at their cost plus fee, sells
realise (price - average cost) on the volume sold, minus their fee. Unrealised P&L marks
the remaining position at the last price. Pure: trades and marks are passed in.
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
    volume: Decimal = ZERO
    cost: Decimal = ZERO  # quote spent on the open volume, fees included
    realised: Decimal = ZERO
    fees: Decimal = ZERO

    @property
    def average(self) -> Decimal:
        return self.cost / self.volume if self.volume else ZERO


def replay(trades: Mapping[str, Mapping[str, Any]]) -> dict[str, Book]:
    """Books per pair from TradesHistory entries, oldest first."""
    books: dict[str, Book] = {}
    for trade in sorted(trades.values(), key=lambda t: (float(t["time"]), str(t["ordertxid"]))):
        book = books.setdefault(str(trade["pair"]), Book())
        volume, cost, fee = (Decimal(str(trade[k])) for k in ("vol", "cost", "fee"))
        book.fees += fee
        if trade["type"] == "buy":
            book.volume += volume
            book.cost += cost + fee
        else:
            sold = min(volume, book.volume)
            basis = book.average * sold
            book.realised += cost * (sold / volume if volume else ZERO) - basis - fee
            book.volume -= sold
            book.cost -= basis
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
