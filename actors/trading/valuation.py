"""Equity and the planner's view of one account, from balances, holds and marks.

Pure: the trader passes in what its actor knows. Only pairs quoted in USD are traded and
valued; a holding without a USD pair or without a mark yet is left out of equity (and
named in `unvalued`) rather than guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from actors.execution.risk import AccountView, OpenOrder
from actors.kraken.orders import PairRules

ZERO = Decimal(0)
USD_CASH = ("ZUSD", "USD")
USD_STABLE = ("USDC",)  # counted 1:1 like the broker's equity always has


@dataclass(frozen=True)
class Valuation:
    equity_usd: Decimal
    cash_usd: Decimal  # free ZUSD: balance less what open orders hold
    positions: dict[str, Decimal]  # pair key -> base volume, USD pairs with a mark
    exposure_usd: Decimal
    unvalued: tuple[str, ...]  # assets held that could not be valued


def usd_pairs(rules: Iterable[PairRules]) -> dict[str, PairRules]:
    """The USD-quoted pair for each base asset (the first listed wins)."""
    by_base: dict[str, PairRules] = {}
    for pair in rules:
        if pair.quote in USD_CASH:
            by_base.setdefault(pair.base, pair)
    return by_base


def value_account(balances: Mapping[str, Decimal], holds: Mapping[str, Decimal],
                  marks: Mapping[str, Decimal], by_base: Mapping[str, PairRules]) -> Valuation:
    equity = cash = exposure = ZERO
    positions: dict[str, Decimal] = {}
    unvalued: list[str] = []
    for asset, amount in sorted(balances.items()):
        if not amount:
            continue
        if asset in USD_CASH:
            equity += amount
            cash += amount - holds.get(asset, ZERO)
        elif asset in USD_STABLE:
            equity += amount
        elif asset in by_base and by_base[asset].key in marks:
            pair = by_base[asset]
            value = amount * marks[pair.key]
            equity += value
            exposure += value
            positions[pair.key] = amount
        else:
            unvalued.append(asset)
    return Valuation(equity, max(ZERO, cash), positions, exposure, tuple(unvalued))


def account_view(valuation: Valuation, marks: Mapping[str, Decimal],
                 open_orders: Mapping[str, OpenOrder], day_pnl: Decimal, day_low: Decimal,
                 paused: bool) -> AccountView:
    """An AccountView whose open orders are limited to pairs that have a mark (the view
    refuses to value anything it cannot price)."""
    orders = {t: o for t, o in open_orders.items() if o.pair in marks}
    return AccountView(equity_usd=valuation.equity_usd, cash_usd=valuation.cash_usd,
                       positions=valuation.positions, marks=dict(marks), day_pnl_usd=day_pnl,
                       open_orders=orders, paused=paused, day_pnl_low_usd=day_low)
