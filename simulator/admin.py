"""Loopback-only admin API: what tests need to prove no order was duplicated or lost,
and knobs to change faults, time and prices while the venue runs. Never shows secrets."""

from __future__ import annotations

import dataclasses
from decimal import Decimal, InvalidOperation

import msgspec
from aiohttp import web

from simulator.faults import FaultsError, parse_faults
from simulator.keys import KeysFileError, KeySpec, validate_key_spec
from simulator.markets import resolve_pair
from simulator.orders import Order, fmt
from simulator.server import ALL_METHODS, Venue, loopback_only


def _order_summary(order: Order) -> dict[str, object]:
    pair = order.pair
    return {
        "txid": order.txid, "cl_ord_id": order.cl_ord_id, "userref": order.userref,
        "pair": pair.key, "type": order.side, "ordertype": order.ordertype,
        "vol": fmt(order.volume, pair.lot_decimals),
        "vol_exec": fmt(order.vol_exec, pair.lot_decimals),
        "status": order.status, "opentm": order.opentm, "closetm": order.closetm,
    }


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def _json(request: web.Request) -> object:
    try:
        return await request.json()
    except ValueError:
        return None


def admin_routes(venue: Venue) -> list[web.RouteDef]:
    exchange = venue.exchange

    async def orders(request: web.Request) -> web.StreamResponse:
        name = request.query.get("key")
        accounts = exchange.accounts.by_name
        if name is not None and name not in accounts:
            return _bad(f"no key named {name!r}")
        chosen = [accounts[name]] if name else list(accounts.values())
        return web.json_response(
            {"keys": {a.name: [_order_summary(o) for o in a.orders.values()] for a in chosen}})

    async def balances(request: web.Request) -> web.StreamResponse:
        name = request.query.get("key")
        accounts = exchange.accounts.by_name
        if name is not None and name not in accounts:
            return _bad(f"no key named {name!r}")
        chosen = [accounts[name]] if name else list(accounts.values())
        return web.json_response({"keys": {a.name: {
            "balances": {asset: str(v) for asset, v in sorted(a.balances.items())},
            "holds": {asset: str(v) for asset, v in sorted(a.holds.items()) if v}}
            for a in chosen}})

    async def stats(request: web.Request) -> web.StreamResponse:
        keys = {a.name: dataclasses.asdict(a.stats) for a in exchange.accounts.by_name.values()}
        return web.json_response({"keys": keys, "auth_failures": venue.auth_failures,
                                  "faults_injected": dict(venue.faults.counts),
                                  "nonce_refusals": list(venue.nonce_refusals),
                                  "public_calls": dict(venue.public_calls)})

    async def get_faults(request: web.Request) -> web.StreamResponse:
        return web.Response(body=msgspec.json.encode(venue.faults.config),
                            content_type="application/json")

    async def set_faults(request: web.Request) -> web.StreamResponse:
        try:
            config = parse_faults(await request.read(), "json", ALL_METHODS)
        except FaultsError as exc:
            return _bad(str(exc))
        venue.faults.replace(config, venue.faults.seed)
        return web.Response(body=msgspec.json.encode(config), content_type="application/json")

    async def advance_clock(request: web.Request) -> web.StreamResponse:
        body = await _json(request)
        seconds = body.get("advance_s") if isinstance(body, dict) else None
        if not isinstance(seconds, (int, float)) or seconds < 0:
            return _bad("expected {\"advance_s\": <seconds >= 0>}")
        exchange.clock.advance(float(seconds))
        exchange.catch_up()
        return web.json_response({"now": exchange.clock.now(),
                                  "market_now": exchange.clock.market_now()})

    async def set_price(request: web.Request) -> web.StreamResponse:
        body = await _json(request)
        if not isinstance(body, dict):
            return _bad("expected {\"pair\": ..., \"price\": \"...\"}")
        pair = resolve_pair(str(body.get("pair", "")))
        if pair is None:
            return _bad(f"unknown pair {body.get('pair')!r}")
        try:
            price = Decimal(str(body.get("price")))
        except InvalidOperation:
            return _bad("price must be a decimal string")
        if not price.is_finite() or price <= 0:
            return _bad("price must be positive")
        exchange.catch_up()
        exchange.market.set_price(pair.key, price)
        return web.json_response({"pair": pair.key, "price": str(price)})

    async def add_key(request: web.Request) -> web.StreamResponse:
        try:
            spec = msgspec.json.decode(await request.read(), type=KeySpec)
            validate_key_spec(spec, f"key {spec.name!r}")
            exchange.add_account(spec)
        except (msgspec.ValidationError, msgspec.DecodeError, KeysFileError, ValueError) as exc:
            return _bad(str(exc))
        return web.json_response({"added": spec.name})

    async def list_keys(request: web.Request) -> web.StreamResponse:
        return web.json_response({"keys": [
            {"name": a.name, "tier": a.spec.tier, "permissions": sorted(a.permissions),
             "dead_mans_switch_at": a.dms_trigger}
            for a in exchange.accounts.by_name.values()
        ]})

    routes = {
        ("GET", "/admin/orders"): orders,
        ("GET", "/admin/balances"): balances,
        ("GET", "/admin/stats"): stats,
        ("GET", "/admin/faults"): get_faults,
        ("POST", "/admin/faults"): set_faults,
        ("POST", "/admin/clock"): advance_clock,
        ("POST", "/admin/price"): set_price,
        ("GET", "/admin/keys"): list_keys,
        ("POST", "/admin/keys"): add_key,
    }
    return [web.route(verb, path, loopback_only(fn)) for (verb, path), fn in routes.items()]
