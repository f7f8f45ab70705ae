"""Public endpoints (GET, query string): reference data and market data."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from decimal import Decimal

from simulator.engine import Exchange
from simulator.markets import (
    ASSETS,
    MAKER_FEES,
    PAIRS,
    STABLE_MAKER_FEES,
    STABLE_TAKER_FEES,
    TAKER_FEES,
    FeeTier,
    Pair,
    is_stable_pair,
    resolve_asset,
)
from simulator.orders import VenueError, fmt
from simulator.params import invalid, pair_param, text

Query = Mapping[str, str]
PublicHandler = Callable[[Exchange, Query], object]


def _pairs(query: Query, required: bool) -> list[Pair]:
    raw = text(dict(query), "pair", required=required)
    if raw is None:
        return list(PAIRS)
    pairs = [pair_param({"pair": name}) for name in raw.split(",") if name.strip()]
    if not pairs:
        raise VenueError("EQuery:Unknown asset pair")
    return pairs


def _int(query: Query, name: str, default: int | None) -> int | None:
    raw = query.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid(name) from None


def server_time(ex: Exchange, q: Query) -> object:
    now = ex.clock.now()
    return {"unixtime": int(now),
            "rfc1123": time.strftime("%a, %d %b %y %H:%M:%S +0000", time.gmtime(now))}


def system_status(ex: Exchange, q: Query) -> object:
    return {"status": "online",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ex.clock.now()))}


def assets(ex: Exchange, q: Query) -> object:
    wanted = q.get("asset")
    chosen = list(ASSETS.values())
    if wanted:
        found = [resolve_asset(a) for a in wanted.split(",")]
        if any(a is None for a in found):
            raise VenueError("EQuery:Unknown asset")
        chosen = [a for a in found if a is not None]
    return {
        a.id: {"aclass": "currency", "altname": a.altname, "decimals": a.decimals,
               "display_decimals": a.display_decimals, "status": "enabled"}
        for a in chosen
    }


def _fee_rows(tiers: tuple[FeeTier, ...]) -> list[list[Decimal]]:
    return [[t.volume, t.percent] for t in tiers]


def _pair_record(pair: Pair, info: str) -> dict[str, object]:
    stable = is_stable_pair(pair)
    fees: dict[str, object] = {
        "fees": _fee_rows(STABLE_TAKER_FEES if stable else TAKER_FEES),
        "fees_maker": _fee_rows(STABLE_MAKER_FEES if stable else MAKER_FEES),
        "fee_volume_currency": "ZUSD",
    }
    if info == "fees":
        return fees
    leverage: dict[str, object] = {"leverage_buy": [], "leverage_sell": []}
    if info == "leverage":
        return leverage
    margin: dict[str, object] = {"margin_call": 80, "margin_stop": 40}
    if info == "margin":
        return margin
    return {
        "altname": pair.altname, "wsname": pair.wsname, "aclass_base": "currency",
        "base": pair.base, "aclass_quote": "currency", "quote": pair.quote, "lot": "unit",
        "cost_decimals": pair.cost_decimals, "pair_decimals": pair.pair_decimals,
        "lot_decimals": pair.lot_decimals, "lot_multiplier": 1, **leverage, **fees, **margin,
        "ordermin": str(pair.ordermin), "costmin": str(pair.costmin),
        "tick_size": str(pair.tick_size), "status": "online",
    }


def asset_pairs(ex: Exchange, q: Query) -> object:
    info = q.get("info") or "info"
    if info not in {"info", "leverage", "fees", "margin"}:
        raise invalid("info")
    return {p.key: _pair_record(p, info) for p in _pairs(q, required=False)}


def ticker(ex: Exchange, q: Query) -> object:
    return {p.key: ex.market.ticker(p.key) for p in _pairs(q, required=False)}


def ohlc(ex: Exchange, q: Query) -> object:
    pair = _pairs(q, required=True)[0]
    interval = _int(q, "interval", 1)
    assert interval is not None
    try:
        rows, last = ex.market.ohlc(pair.key, interval, _int(q, "since", None))
    except ValueError:
        raise invalid("interval") from None
    return {pair.key: rows, "last": last}


def depth(ex: Exchange, q: Query) -> object:
    pair = _pairs(q, required=True)[0]
    count = _int(q, "count", 100)
    if count is None or not 1 <= count <= 500:
        raise invalid("count")
    book = ex.market.book(pair.key, count)
    ts = int(book.time)

    def side(levels: tuple[object, ...]) -> list[list[object]]:
        return [[fmt(lv.price, pair.pair_decimals), fmt(lv.volume, 3), ts]  # type: ignore[attr-defined]
                for lv in levels]

    return {pair.key: {"asks": side(book.asks), "bids": side(book.bids)}}


def trades(ex: Exchange, q: Query) -> object:
    pair = _pairs(q, required=True)[0]
    count = _int(q, "count", 1000)
    if count is None or not 1 <= count <= 1000:
        raise invalid("count")
    rows, last = ex.market.trades(pair.key, _int(q, "since", None), count)
    return {pair.key: rows, "last": last}


def spread(ex: Exchange, q: Query) -> object:
    pair = _pairs(q, required=True)[0]
    rows, last = ex.market.spreads(pair.key, _int(q, "since", None))
    return {pair.key: rows, "last": last}


PUBLIC_HANDLERS: dict[str, PublicHandler] = {
    "Time": server_time, "SystemStatus": system_status, "Assets": assets,
    "AssetPairs": asset_pairs, "Ticker": ticker, "OHLC": ohlc, "Depth": depth,
    "Trades": trades, "Spread": spread,
}
