"""The venue's trading engine: accepts, matches, triggers, expires and cancels orders.

Market orders take the synthetic book at once (slippage by size). Limit orders that
cross take what the book offers up to the limit; the rest rests and fills at its limit
price (maker) when the price path crosses it. Stops trigger on the last price. Pure
apart from the injected clock and market model.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from simulator.accounts import Account, LimitSettings, Registry
from simulator.clock import VenueClock
from simulator.keys import KeySpec
from simulator.markets import Pair
from simulator.matching import HUNDRED, settle_fill, taker_fee_rate, walk_book
from simulator.orders import (
    ZERO,
    IdSource,
    Order,
    VenueError,
    asset_places,
    describe,
    round_up,
)
from simulator.prices import Market, Tick
from simulator.ratelimit import trade_increment

BOOK_DEPTH_FOR_TAKERS = 500
CATCH_UP_STEP_S = 900.0  # market seconds of ticks held in memory at once


@dataclass(frozen=True)
class OrderRequest:
    """AddOrder parameters after syntax checks (see private_api)."""

    pair: Pair
    side: str
    ordertype: str
    volume: Decimal
    price: Decimal = ZERO
    price2: Decimal = ZERO
    oflags: tuple[str, ...] = ()
    timeinforce: str = "GTC"
    expiretm: float = 0.0
    userref: int = 0
    cl_ord_id: str | None = None


class Exchange:
    def __init__(self, clock: VenueClock, market: Market, seed: int,
                 limits: LimitSettings | None = None) -> None:
        self.clock = clock
        self.market = market
        self.ids = IdSource(seed)
        self.limits = limits or LimitSettings()
        self.accounts = Registry()
        self._trade_seq = 0

    def add_account(self, spec: KeySpec) -> Account:
        account = Account(spec, self.clock.now(), self.ids, self.limits)
        self.accounts.add(account)
        return account

    # -- time ---------------------------------------------------------------------

    def catch_up(self) -> None:
        """Advance the market to now and let resting orders, stops, expiries and
        dead man's switches react, in tick order. Long gaps (a test moving the clock by
        hours) are walked in bounded steps so memory stays flat."""
        now = self.clock.now()
        target = self.clock.market_now()
        while True:
            step_end = min(target, self.market.last_time() + CATCH_UP_STEP_S)
            self._react_all(now, self.market.advance_to(step_end))
            if step_end >= target:
                return

    def _react_all(self, now: float, new_ticks: dict[str, list[Tick]]) -> None:
        for account in self.accounts.by_name.values():
            if account.dms_trigger is not None and now >= account.dms_trigger:
                account.dms_trigger = None
                self._cancel_many(account, list(account.open_orders.values()), now,
                                  "Dead man's switch triggered")
            if not account.open_orders:
                continue
            for order in list(account.open_orders.values()):
                if order.expiretm and now >= order.expiretm:
                    self._close(account, order, now, "expired", "Order expired")
                    continue
                ticks = new_ticks.get(order.pair.key)
                if ticks:
                    self._react(account, order, ticks, now)

    def _react(self, account: Account, order: Order, ticks: list[Tick], now: float) -> None:
        if order.ordertype != "limit" and not order.triggered:
            for tick in ticks:
                if _triggers(order, tick.price):
                    order.triggered = True
                    order.stopprice = tick.price
                    stop = order.ordertype.startswith("stop")
                    order.misc.append("stopped" if stop else "touched")
                    self._on_trigger(account, order, now)
                    break
            if not order.is_open:
                return
        limit = order.resting_limit
        if limit is None:
            return
        crossed = any(
            (t.price <= limit) if order.side == "buy" else (t.price >= limit) for t in ticks
        )
        if crossed:
            self._fill(account, order, order.remaining, order.remaining * limit, True, now)

    def _on_trigger(self, account: Account, order: Order, now: float) -> None:
        if order.ordertype.endswith("-limit"):
            order.limitprice = order.price2
            self._take_then_rest(account, order, order.price2, now)
        else:
            self._take_then_rest(account, order, None, now)
            if order.is_open:  # book too thin: cancel the unfilled part like a market order
                self._close(account, order, now, "canceled", "Insufficient liquidity")

    # -- placing ------------------------------------------------------------------

    def add_order(self, account: Account, req: OrderRequest, validate: bool
                  ) -> tuple[str, str | None]:
        """Returns (descr.order text, txid or None when only validating)."""
        now = self.clock.now()
        req = self._resolve_viqc(req)
        order = Order(
            txid="", account=account.name, pair=req.pair, side=req.side,
            ordertype=req.ordertype, volume=req.volume, price=req.price, price2=req.price2,
            oflags=req.oflags, timeinforce=req.timeinforce, userref=req.userref,
            cl_ord_id=req.cl_ord_id, opentm=now, expiretm=req.expiretm, touched_at=now,
        )
        self._check_minimums(order)
        if validate:
            return describe(order), None
        if req.cl_ord_id and any(o.cl_ord_id == req.cl_ord_id
                                 for o in account.open_orders.values()):
            raise VenueError("EOrder:Duplicate order")
        if not account.trading.admit(req.pair.key, now, trade_increment("add", 0), 1):
            account.stats.trade_rate_limited += 1
            raise VenueError("EOrder:Rate limit exceeded")
        if account.open_count(req.pair.key) >= account.tier.max_open_orders:
            raise VenueError("EOrder:Orders limit exceeded")
        self._check_post_only(order)
        self._reserve(account, order)
        order.txid = self.ids.new("O")
        account.orders[order.txid] = order
        account.open_orders[order.txid] = order
        if order.ordertype == "market":
            self._take_then_rest(account, order, None, now)
            if order.is_open:
                self._close(account, order, now, "canceled", "Insufficient liquidity")
        elif order.ordertype == "limit":
            self._take_then_rest(account, order, order.price, now)
        return describe(order), order.txid

    def _resolve_viqc(self, req: OrderRequest) -> OrderRequest:
        """A viqc market buy names quote to spend; turn it into the base volume it buys."""
        if "viqc" not in req.oflags:
            return req
        book = self.market.book(req.pair.key, BOOK_DEPTH_FOR_TAKERS)
        filled, _ = walk_book(book.asks, ZERO, None, "buy", req.volume, req.pair.lot_decimals)
        if filled <= 0:
            raise VenueError("EOrder:Order minimum not met")
        flags = tuple(f for f in req.oflags if f != "viqc")
        return OrderRequest(req.pair, req.side, req.ordertype, filled, oflags=flags,
                            timeinforce=req.timeinforce, userref=req.userref,
                            cl_ord_id=req.cl_ord_id)

    def _reference_price(self, order: Order) -> Decimal:
        if order.ordertype == "market":
            bid, ask = self.market.best_bid_ask(order.pair.key)
            return ask if order.side == "buy" else bid
        return order.price

    def _check_minimums(self, order: Order) -> None:
        pair = order.pair
        if order.volume < pair.ordermin:
            raise VenueError("EOrder:Order minimum not met")
        if order.volume * self._reference_price(order) < pair.costmin:
            raise VenueError("EOrder:Cost minimum not met")

    def _crosses(self, order: Order, limit: Decimal) -> bool:
        bid, ask = self.market.best_bid_ask(order.pair.key)
        return limit >= ask if order.side == "buy" else limit <= bid

    def _check_post_only(self, order: Order) -> None:
        if order.post_only and self._crosses(order, order.price):
            raise VenueError("EOrder:Post only order")

    def _reserve(self, account: Account, order: Order) -> None:
        """Check funds and place the hold an open order needs."""
        pair = order.pair
        rate = taker_fee_rate(account, order)
        if order.side == "sell":
            need = order.remaining * (1 + rate) if order.fee_in_base else order.remaining
            asset, places = pair.base, asset_places(pair.base)
        else:
            if order.ordertype == "market":
                book = self.market.book(pair.key, BOOK_DEPTH_FOR_TAKERS)
                _, cost = walk_book(book.asks, order.remaining, None, "buy")
            else:
                cost = order.remaining * max(order.price, order.price2)
            need = cost * (1 + rate)
            asset, places = pair.quote, asset_places(pair.quote)
        need = round_up(need, places)
        if account.available(asset) < need:
            raise VenueError("EOrder:Insufficient funds")
        account.set_hold(order, asset, need)

    def _take_then_rest(self, account: Account, order: Order, limit: Decimal | None,
                        now: float) -> None:
        """Take what the book offers (up to `limit`); IOC/FOK decide what happens to the rest."""
        if limit is not None and not self._crosses(order, limit):
            # nothing to take: skip building the book
            if order.timeinforce in ("IOC", "FOK"):
                self._close(account, order, now, "canceled", f"Unfilled {order.timeinforce}")
            return
        levels = self.market.book(order.pair.key, BOOK_DEPTH_FOR_TAKERS)
        side_levels = levels.asks if order.side == "buy" else levels.bids
        filled, cost = walk_book(side_levels, order.remaining, limit, order.side)
        if order.timeinforce == "FOK" and filled < order.remaining:
            self._close(account, order, now, "canceled", "Unfilled FOK")
            return
        if filled > 0:
            self._fill(account, order, filled, cost, False, now)
        if order.is_open and order.timeinforce == "IOC":
            self._close(account, order, now, "canceled", "Unfilled IOC")

    def _fill(self, account: Account, order: Order, volume: Decimal, cost: Decimal,
              maker: bool, now: float) -> None:
        self._trade_seq += 1
        account.set_hold(order, "", ZERO)
        settle_fill(account, order, volume, cost, maker, now, self.ids, self._trade_seq)
        if order.remaining <= 0:
            self._close(account, order, now, "closed", None)
        else:
            if "partial" not in order.misc:
                order.misc.append("partial")
            self._reserve_rest(account, order)

    def _reserve_rest(self, account: Account, order: Order) -> None:
        try:
            self._reserve(account, order)
        except VenueError:
            self._close(account, order, self.clock.now(), "canceled", "Insufficient funds")

    # -- closing ------------------------------------------------------------------

    def _close(self, account: Account, order: Order, now: float, status: str,
               reason: str | None) -> None:
        account.set_hold(order, "", ZERO)
        account.open_orders.pop(order.txid, None)
        order.status, order.closetm, order.reason = status, now, reason

    def _cancel_many(self, account: Account, orders: Iterable[Order], now: float,
                     reason: str = "User requested") -> int:
        count = 0
        for order in orders:
            if order.is_open:
                self._close(account, order, now, "canceled", reason)
                count += 1
        return count

    def find_open(self, account: Account, txid: str | None = None,
                  cl_ord_id: str | None = None) -> list[Order]:
        """Open orders named by txid, by userref (an integer txid), or by cl_ord_id."""
        if cl_ord_id is not None:
            return [o for o in account.open_orders.values() if o.cl_ord_id == cl_ord_id]
        if txid is None:
            return []
        if txid.lstrip("-").isdigit():
            ref = int(txid)
            return [o for o in account.open_orders.values() if o.userref == ref]
        order = account.open_orders.get(txid)
        return [order] if order else []

    def cancel(self, account: Account, orders: list[Order], batch: bool = False) -> int:
        if not orders:
            raise VenueError("EOrder:Unknown order")
        now = self.clock.now()
        for order in orders:
            increment = trade_increment("cancel", now - order.touched_at)
            if batch:
                account.trading.charge(order.pair.key, now, increment)
            elif not account.trading.admit(order.pair.key, now, increment):
                account.stats.trade_rate_limited += 1
                raise VenueError("EOrder:Rate limit exceeded")
        return self._cancel_many(account, orders, now)

    def cancel_all(self, account: Account) -> int:
        orders = list(account.open_orders.values())
        return self.cancel(account, orders, batch=True) if orders else 0

    def arm_dead_mans_switch(self, account: Account, timeout: int) -> tuple[float, float | None]:
        now = self.clock.now()
        account.dms_trigger = now + timeout if timeout > 0 else None
        return now, account.dms_trigger

    # -- amending -----------------------------------------------------------------

    def amend(self, account: Account, order: Order, volume: Decimal | None,
              price: Decimal | None, price2: Decimal | None, post_only: bool) -> None:
        """AmendOrder: change in place, keep the txid."""
        now = self.clock.now()
        if not account.trading.admit(order.pair.key, now,
                                     trade_increment("amend", now - order.touched_at)):
            account.stats.trade_rate_limited += 1
            raise VenueError("EOrder:Rate limit exceeded")
        old = (order.volume, order.price, order.price2, order.oflags)
        if volume is not None:
            order.volume = volume
        if price is not None:
            order.price = price
        if price2 is not None:
            order.price2 = price2
        if post_only and "post" not in order.oflags:
            order.oflags = (*order.oflags, "post")
        try:
            if volume is not None and volume <= order.vol_exec:
                self._close(account, order, now, "closed" if order.vol_exec else "canceled",
                            "Amended below executed volume")
                return
            if order.ordertype == "limit":
                self._check_post_only(order)
            self._reserve(account, order)
        except VenueError:
            order.volume, order.price, order.price2, order.oflags = old
            self._reserve(account, order)
            raise
        order.touched_at = now
        if "amended" not in order.misc:
            order.misc.append("amended")
        if order.ordertype == "limit":
            self._take_then_rest(account, order, order.price, now)

    def edit(self, account: Account, order: Order, volume: Decimal | None,
             price: Decimal | None, price2: Decimal | None, oflags: tuple[str, ...] | None,
             userref: int | None) -> Order:
        """EditOrder: cancel the original, place a replacement with a new txid."""
        now = self.clock.now()
        if order.cl_ord_id is not None:
            raise VenueError("EOrder:Invalid order")
        new_volume = volume if volume is not None else order.volume
        if new_volume <= order.vol_exec:
            raise VenueError("EGeneral:Invalid arguments:volume")
        if not account.trading.admit(order.pair.key, now,
                                     trade_increment("edit", now - order.touched_at)):
            account.stats.trade_rate_limited += 1
            raise VenueError("EOrder:Rate limit exceeded")
        req = OrderRequest(
            order.pair, order.side, order.ordertype, new_volume - order.vol_exec,
            price if price is not None else order.price,
            price2 if price2 is not None else order.price2,
            oflags if oflags is not None else order.oflags, order.timeinforce,
            order.expiretm, userref if userref is not None else order.userref,
        )
        hold = (order.hold_asset, order.hold)
        account.set_hold(order, "", ZERO)
        try:
            _, txid = self.add_order(account, req, validate=False)
        except VenueError:
            account.set_hold(order, *hold)
            raise
        self._close(account, order, now, "canceled", "Order replaced")
        assert txid is not None
        return account.orders[txid]


def _triggers(order: Order, last: Decimal) -> bool:
    stop = order.ordertype.startswith("stop")
    if order.side == "sell":
        return last <= order.price if stop else last >= order.price
    return last >= order.price if stop else last <= order.price


__all__ = ["HUNDRED", "Exchange", "OrderRequest"]
