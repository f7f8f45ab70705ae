"""Fills: walking the synthetic book for takers, and settling a fill into an account."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from simulator.accounts import Account
from simulator.markets import fee_percent
from simulator.orders import ZERO, IdSource, Order, Trade, asset_places, quantize
from simulator.prices import BookLevel

HUNDRED = Decimal(100)


def walk_book(
    levels: tuple[BookLevel, ...], volume: Decimal, limit: Decimal | None, side: str,
    quote_budget: Decimal | None = None, lot_places: int = 8,
) -> tuple[Decimal, Decimal]:
    """Take liquidity best-first; returns (base volume filled, quote cost).

    `limit` stops at levels worse than the limit price; `quote_budget` (viqc) stops when
    the quote amount is spent instead of a base volume.
    """
    filled, cost = ZERO, ZERO
    for level in levels:
        if limit is not None and (level.price > limit if side == "buy" else level.price < limit):
            break
        if quote_budget is not None:
            left = quote_budget - cost
            take = min(level.volume, quantize(left / level.price, lot_places))
        else:
            take = min(level.volume, volume - filled)
        if take <= 0:
            break
        filled += take
        cost += take * level.price
    return filled, cost


def taker_fee_rate(account: Account, order: Order) -> Decimal:
    return fee_percent(order.pair, account.volume_30d, maker=False) / HUNDRED


def settle_fill(
    account: Account, order: Order, volume: Decimal, cost: Decimal, maker: bool, now: float,
    ids: IdSource, trade_id: int,
) -> Trade:
    """Apply one (consolidated) fill to balances, the ledger, the order and trade history."""
    pair = order.pair
    quote_places = asset_places(pair.quote)
    cost = quantize(cost, quote_places, ROUND_HALF_UP)
    rate = fee_percent(pair, account.volume_30d, maker) / HUNDRED
    tid = ids.new("T")
    if order.fee_in_base:
        base_fee = quantize(volume * rate, asset_places(pair.base), ROUND_HALF_UP)
        quote_fee = ZERO
        fee_as_quote = quantize(base_fee * cost / volume, quote_places, ROUND_HALF_UP)
    else:
        base_fee = ZERO
        quote_fee = fee_as_quote = quantize(cost * rate, quote_places, ROUND_HALF_UP)
    sign = 1 if order.side == "buy" else -1
    base_entry = account.post(pair.base, sign * volume, base_fee, tid, "trade", now)
    quote_entry = account.post(pair.quote, -sign * cost, quote_fee, tid, "trade", now)
    order.vol_exec += volume
    order.cost += cost
    order.fee += fee_as_quote
    order.trades.append(tid)
    account.volume_30d += cost
    trade = Trade(
        tid=tid, ordertxid=order.txid, postxid=ids.new("T"), pair=pair, time=now,
        side=order.side, ordertype=order.ordertype, price=cost / volume, cost=cost,
        fee=fee_as_quote, vol=volume, maker=maker, trade_id=trade_id,
        ledgers=(base_entry.lid, quote_entry.lid),
    )
    account.trades[tid] = trade
    return trade
