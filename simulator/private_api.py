"""Private endpoints: Kraken's request parameters in, Kraken's result shapes out."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from decimal import Decimal

from simulator.accounts import Account
from simulator.engine import Exchange
from simulator.markets import ASSETS, PAIRS, Pair, resolve_asset
from simulator.orders import (
    ZERO,
    Order,
    VenueError,
    asset_places,
    fmt,
    ledger_view,
    order_view,
    trade_view,
)
from simulator.params import (
    Params,
    flag,
    integer,
    invalid,
    number,
    order_request,
    pair_param,
    price_param,
    text,
)

Handler = Callable[[Exchange, Account, Params], object]
PAGE = 50

# Method -> permissions, any one of which suffices. "websocket" is the key's WebSocket toggle.
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "Balance": ("query_funds",), "BalanceEx": ("query_funds",),
    "TradeBalance": ("query_open_orders",),
    "OpenOrders": ("query_open_orders",), "ClosedOrders": ("query_closed_orders",),
    "QueryOrders": ("query_open_orders", "query_closed_orders"),
    "TradesHistory": ("query_closed_orders",), "QueryTrades": ("query_closed_orders",),
    "OpenPositions": ("query_open_orders",),
    "Ledgers": ("query_ledger",), "QueryLedgers": ("query_ledger",),
    "AddOrder": ("create_orders",), "AddOrderBatch": ("create_orders",),
    "EditOrder": ("create_orders",), "AmendOrder": ("create_orders",),
    "CancelOrder": ("create_orders", "cancel_orders"),
    "CancelOrderBatch": ("create_orders", "cancel_orders"),
    "CancelAll": ("create_orders", "cancel_orders"),
    "CancelAllOrdersAfter": ("create_orders", "cancel_orders"),
    "GetWebSocketsToken": ("websocket",),
    "WithdrawMethods": ("withdraw",), "WithdrawAddresses": ("withdraw",),
}


def permitted(account: Account, method: str) -> bool:
    needed = PERMISSIONS[method]
    if needed == ("websocket",):
        return account.spec.websocket
    return any(p in account.permissions for p in needed)


def _rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _usd_value(ex: Exchange, asset: str, amount: Decimal) -> Decimal:
    """Value an asset in USD at the last price (USDC at par: the venue lists no USDC pair)."""
    if asset in ("ZUSD", "USDC") or amount == 0:
        return amount
    for pair in PAIRS:
        if pair.base == asset and pair.quote == "ZUSD":
            return amount * ex.market.last_price(pair.key)
    return ZERO


# -- funds -------------------------------------------------------------------------

def balance(ex: Exchange, acct: Account, p: Params) -> object:
    return {a: fmt(v, asset_places(a)) for a, v in acct.balances.items()}


def balance_ex(ex: Exchange, acct: Account, p: Params) -> object:
    return {
        a: {"balance": fmt(v, asset_places(a)),
            "hold_trade": fmt(acct.holds.get(a, ZERO), asset_places(a))}
        for a, v in acct.balances.items()
    }


def trade_balance(ex: Exchange, acct: Account, p: Params) -> object:
    asset = resolve_asset(text(p, "asset") or "ZUSD")
    if asset is None:
        raise VenueError("EQuery:Unknown asset")
    per_usd = _usd_value(ex, asset.id, Decimal(1))
    if per_usd == 0:
        raise VenueError("EQuery:Unknown asset")
    total = sum((_usd_value(ex, a, v) for a, v in acct.balances.items()), ZERO) / per_usd
    unexecuted = sum(
        (o.remaining * (o.price or ex.market.last_price(o.pair.key))
         * _usd_value(ex, o.pair.quote, Decimal(1)) for o in acct.open_orders.values()), ZERO,
    ) / per_usd
    zero = fmt(ZERO, 4)
    eb = fmt(total, 4)
    return {"eb": eb, "tb": eb, "m": zero, "n": zero, "c": zero, "v": zero, "e": eb,
            "mf": eb, "uv": fmt(unexecuted, 4)}


# -- orders: queries ---------------------------------------------------------------

def _matches(order: Order, p: Params) -> bool:
    userref = integer(p, "userref")
    cl_ord_id = text(p, "cl_ord_id")
    return (userref is None or order.userref == userref) and (
        cl_ord_id is None or order.cl_ord_id == cl_ord_id)


def open_orders(ex: Exchange, acct: Account, p: Params) -> object:
    with_trades = flag(p, "trades")
    return {"open": {o.txid: order_view(o, with_trades)
                     for o in acct.open_orders.values() if _matches(o, p)}}


def _time_bound(acct: Account, p: Params, name: str) -> float | None:
    raw = text(p, name)
    if raw is None:
        return None
    order = acct.orders.get(raw)
    if order is not None:
        return order.opentm
    try:
        return float(raw)
    except ValueError:
        raise invalid(name) from None


def _page(items: list[tuple[str, dict[str, object]]], p: Params) -> tuple[dict[str, object], int]:
    ofs = integer(p, "ofs", 0) or 0
    return dict(items[ofs: ofs + PAGE]), len(items)


def closed_orders(ex: Exchange, acct: Account, p: Params) -> object:
    start, end = _time_bound(acct, p, "start"), _time_bound(acct, p, "end")
    closetime = text(p, "closetime") or "both"
    with_trades = flag(p, "trades")
    chosen = []
    for order in reversed(list(acct.orders.values())):
        if order.is_open or not _matches(order, p):
            continue
        assert order.closetm is not None
        times = {"open": (order.opentm,), "close": (order.closetm,),
                 "both": (order.opentm, order.closetm)}.get(closetime)
        if times is None:
            raise invalid("closetime")
        if start is not None and not any(t > start for t in times):
            continue
        if end is not None and not any(t <= end for t in times):
            continue
        chosen.append((order.txid, order_view(order, with_trades)))
    page, count = _page(chosen, p)
    return {"closed": page, "count": count}


def query_orders(ex: Exchange, acct: Account, p: Params) -> object:
    txids = [t.strip() for t in (text(p, "txid", required=True) or "").split(",") if t.strip()]
    if not txids or len(txids) > 50:
        raise invalid("txid")
    with_trades = flag(p, "trades")
    result = {}
    for txid in txids:
        order = acct.orders.get(txid)
        if order is None:
            raise VenueError("EOrder:Unknown order")
        result[txid] = order_view(order, with_trades)
    return result


def trades_history(ex: Exchange, acct: Account, p: Params) -> object:
    start, end = _time_bound(acct, p, "start"), _time_bound(acct, p, "end")
    with_ledgers = flag(p, "ledgers")
    chosen = [
        (t.tid, trade_view(t, with_ledgers)) for t in reversed(list(acct.trades.values()))
        if (start is None or t.time > start) and (end is None or t.time <= end)
    ]
    page, count = _page(chosen, p)
    return {"trades": page, "count": count}


def query_trades(ex: Exchange, acct: Account, p: Params) -> object:
    ids = [t.strip() for t in (text(p, "txid", required=True) or "").split(",") if t.strip()]
    if not ids or len(ids) > 20:
        raise invalid("txid")
    result = {}
    for tid in ids:
        trade = acct.trades.get(tid)
        if trade is None:
            raise invalid("txid")
        result[tid] = trade_view(trade)
    return result


def open_positions(ex: Exchange, acct: Account, p: Params) -> object:
    return [] if text(p, "consolidation") == "market" else {}


def ledgers(ex: Exchange, acct: Account, p: Params) -> object:
    wanted = text(p, "asset") or "all"
    assets = None
    if wanted != "all":
        resolved = [resolve_asset(a) for a in wanted.split(",")]
        if any(a is None for a in resolved):
            raise VenueError("EQuery:Unknown asset")
        assets = {a.id for a in resolved if a is not None}
    kind = text(p, "type") or "all"
    start, end = _time_bound(acct, p, "start"), _time_bound(acct, p, "end")
    chosen = [
        (e.lid, ledger_view(e)) for e in reversed(list(acct.ledger.values()))
        if (assets is None or e.asset in assets) and kind in ("all", e.type)
        and (start is None or e.time > start) and (end is None or e.time <= end)
    ]
    page, count = _page(chosen, p)
    return {"ledger": page, "count": count}


def query_ledgers(ex: Exchange, acct: Account, p: Params) -> object:
    ids = [i.strip() for i in (text(p, "id", required=True) or "").split(",") if i.strip()]
    if not ids or len(ids) > 20 or any(i not in acct.ledger for i in ids):
        raise invalid("id")
    return {i: ledger_view(acct.ledger[i]) for i in ids}


# -- orders: changes ---------------------------------------------------------------

def add_order(ex: Exchange, acct: Account, p: Params) -> object:
    req = order_request(p, ex.clock.now(), lambda pair: ex.market.last_price(pair.key))
    descr, txid = ex.add_order(acct, req, flag(p, "validate"))
    return {"descr": {"order": descr}} if txid is None else {"descr": {"order": descr},
                                                               "txid": [txid]}


def add_order_batch(ex: Exchange, acct: Account, p: Params) -> object:
    pair = pair_param(p)
    orders = p.get("orders")
    if not isinstance(orders, list) or not 2 <= len(orders) <= 15:
        raise invalid("orders")
    now = ex.clock.now()
    requests = []
    for item in orders:  # validation covers the whole batch before anything is placed
        if not isinstance(item, dict):
            raise invalid("orders")
        requests.append(order_request({**item, "pair": pair.key}, now,
                                      lambda pr: ex.market.last_price(pr.key)))
    validate = flag(p, "validate")
    results: list[dict[str, object]] = []
    for req in requests:
        try:
            descr, txid = ex.add_order(acct, req, validate)
        except VenueError as exc:
            results.append({"error": exc.error})
            continue
        entry: dict[str, object] = {"descr": {"order": descr}}
        if txid is not None:
            entry["txid"] = txid
        results.append(entry)
    return {"orders": results}


def cancel_order(ex: Exchange, acct: Account, p: Params) -> object:
    targets = ex.find_open(acct, text(p, "txid"), text(p, "cl_ord_id"))
    return {"count": ex.cancel(acct, targets), "pending": False}


def cancel_order_batch(ex: Exchange, acct: Account, p: Params) -> object:
    ids, cl_ids = p.get("orders") or [], p.get("cl_ord_ids") or []
    if not isinstance(ids, list) or not isinstance(cl_ids, list) or not 0 < len(ids) + len(
            cl_ids) <= 50:
        raise invalid("orders")
    targets: dict[str, Order] = {}
    for ident in ids:
        for order in ex.find_open(acct, str(ident)):
            targets[order.txid] = order
    for cl_id in cl_ids:
        for order in ex.find_open(acct, cl_ord_id=str(cl_id)):
            targets[order.txid] = order
    count = ex.cancel(acct, list(targets.values()), batch=True) if targets else 0
    return {"count": count}


def cancel_all(ex: Exchange, acct: Account, p: Params) -> object:
    return {"count": ex.cancel_all(acct), "pending": False}


def cancel_all_after(ex: Exchange, acct: Account, p: Params) -> object:
    timeout = integer(p, "timeout")
    if timeout is None or not 0 <= timeout < 86400:
        raise invalid("timeout")
    now, trigger = ex.arm_dead_mans_switch(acct, timeout)
    return {"currentTime": _rfc3339(now),
            "triggerTime": _rfc3339(trigger) if trigger is not None else "0"}


def _one_open(ex: Exchange, acct: Account, p: Params) -> Order:
    found = ex.find_open(acct, text(p, "txid"), text(p, "cl_ord_id"))
    if len(found) != 1:
        raise VenueError("EOrder:Unknown order")
    return found[0]


def amend_order(ex: Exchange, acct: Account, p: Params) -> object:
    order = _one_open(ex, acct, p)
    pair = order.pair
    last = lambda: ex.market.last_price(pair.key)  # noqa: E731
    volume = number(p, "order_qty")
    if volume is not None and volume <= 0:
        raise invalid("order_qty")
    limit = price_param(p, "limit_price", pair, last)
    trigger = price_param(p, "trigger_price", pair, last)
    if order.ordertype == "limit" and trigger is not None:
        raise invalid("trigger_price")
    price, price2 = (limit, None) if order.ordertype == "limit" else (trigger, limit)
    ex.amend(acct, order, volume, price, price2, flag(p, "post_only"))
    return {"amend_id": ex.ids.new("T")}


def edit_order(ex: Exchange, acct: Account, p: Params) -> object:
    pair = pair_param(p)
    order = _one_open(ex, acct, {"txid": p.get("txid")})
    if order.pair != pair:
        raise VenueError("EQuery:Unknown asset pair")
    last = lambda: ex.market.last_price(pair.key)  # noqa: E731
    volume = number(p, "volume")
    price, price2 = price_param(p, "price", pair, last), price_param(p, "price2", pair, last)
    raw_flags = text(p, "oflags")
    oflags = tuple(f for f in raw_flags.split(",") if f) if raw_flags is not None else None
    new_userref = integer(p, "userref")
    if flag(p, "validate"):
        return {"status": "ok", "descr": {"order": "validated"}}
    new = ex.edit(acct, order, volume, price, price2, oflags, new_userref)
    result: dict[str, object] = {
        "status": "ok", "txid": new.txid, "originaltxid": order.txid,
        "volume": fmt(new.volume, pair.lot_decimals), "price": fmt(new.price, pair.pair_decimals),
        "price2": fmt(new.price2, pair.pair_decimals), "orders_cancelled": 1,
        "descr": {"order": order_view(new)["descr"]["order"]},  # type: ignore[index]
    }
    if new_userref is not None:
        result["newuserref"], result["olduserref"] = new.userref, order.userref
    return result


def websockets_token(ex: Exchange, acct: Account, p: Params) -> object:
    return {"token": secrets.token_urlsafe(30), "expires": 900}


def withdraw_methods(ex: Exchange, acct: Account, p: Params) -> object:
    return []


def withdraw_addresses(ex: Exchange, acct: Account, p: Params) -> object:
    return []


HANDLERS: dict[str, Handler] = {
    "Balance": balance, "BalanceEx": balance_ex, "TradeBalance": trade_balance,
    "OpenOrders": open_orders, "ClosedOrders": closed_orders, "QueryOrders": query_orders,
    "TradesHistory": trades_history, "QueryTrades": query_trades,
    "OpenPositions": open_positions, "Ledgers": ledgers, "QueryLedgers": query_ledgers,
    "AddOrder": add_order, "AddOrderBatch": add_order_batch, "CancelOrder": cancel_order,
    "CancelOrderBatch": cancel_order_batch, "CancelAll": cancel_all,
    "CancelAllOrdersAfter": cancel_all_after, "AmendOrder": amend_order,
    "EditOrder": edit_order, "GetWebSocketsToken": websockets_token,
    "WithdrawMethods": withdraw_methods, "WithdrawAddresses": withdraw_addresses,
}
assert HANDLERS.keys() == PERMISSIONS.keys()

__all__ = ["ASSETS", "HANDLERS", "PERMISSIONS", "Pair", "permitted"]
