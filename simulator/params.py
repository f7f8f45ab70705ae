"""Request parameters as Kraken reads them, with Kraken's error strings for bad ones."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from simulator.engine import OrderRequest
from simulator.markets import Pair, resolve_pair
from simulator.orders import ORDER_TYPES, TRIGGER_TYPES, VenueError

Params = dict[str, Any]

OFLAGS = frozenset({"post", "fcib", "fciq", "nompp", "viqc"})
TIME_IN_FORCE = frozenset({"GTC", "IOC", "GTD", "FOK"})
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
_INDEXED = re.compile(r"^orders\[(\d+)\]\[(\w+)\]$")


def invalid(name: str) -> VenueError:
    return VenueError(f"EGeneral:Invalid arguments:{name}")


def parse_body(body: bytes, content_type: str) -> Params:
    """Form or JSON body as a dict. `orders[0][type]=...` form keys become a list of dicts."""
    if content_type.startswith("application/json"):
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            raise VenueError("EAPI:Bad request") from None
        if not isinstance(parsed, dict):
            raise VenueError("EAPI:Bad request")
        return parsed
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise VenueError("EAPI:Bad request") from None
    params: Params = {}
    indexed: dict[int, dict[str, str]] = {}
    for key, value in pairs:
        match = _INDEXED.match(key)
        if match:
            indexed.setdefault(int(match.group(1)), {})[match.group(2)] = value
        else:
            params[key] = value
    if indexed:
        params["orders"] = [indexed[i] for i in sorted(indexed)]
    return params


def text(params: Params, name: str, required: bool = False) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise invalid(name)
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise invalid(name)


def flag(params: Params, name: str) -> bool:
    value = params.get(name)
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    lowered = str(value).strip().lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no", ""}:
        return False
    raise invalid(name)


def integer(params: Params, name: str, default: int | None = None) -> int | None:
    raw = text(params, name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid(name) from None


def number(params: Params, name: str) -> Decimal | None:
    raw = text(params, name)
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise invalid(name) from None
    if not value.is_finite():
        raise invalid(name)
    return value


def pair_param(params: Params, name: str = "pair") -> Pair:
    raw = text(params, name, required=True)
    assert raw is not None
    pair = resolve_pair(raw)
    if pair is None:
        raise VenueError("EQuery:Unknown asset pair")
    return pair


def price_param(params: Params, name: str, pair: Pair, last: Callable[[], Decimal]
                ) -> Decimal | None:
    """A price, absolute or relative to the last trade (`+5`, `-1.5%`), on the tick grid."""
    raw = text(params, name)
    if raw is None:
        return None
    sign = raw[0] if raw[0] in "+-" else ""
    body = raw[1:] if sign else raw
    percent = body.endswith("%")
    try:
        amount = Decimal(body[:-1] if percent else body)
    except InvalidOperation:
        raise invalid(name) from None
    if not amount.is_finite():
        raise invalid(name)
    if sign:
        base = last()
        delta = base * amount / 100 if percent else amount
        value = base + delta if sign == "+" else base - delta
        value = (value / pair.tick_size).to_integral_value() * pair.tick_size
    else:
        if percent:
            raise invalid(name)
        exponent = amount.as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        if places > pair.pair_decimals:
            raise VenueError(
                f"EOrder:Invalid price:{pair.wsname} price can only be specified up to "
                f"{pair.pair_decimals} decimals."
            )
        value = amount
    if value <= 0:
        raise VenueError("EOrder:Invalid price")
    if value % pair.tick_size != 0:
        raise VenueError("EOrder:Tick size check failed")
    return value


def _cl_ord_id(params: Params) -> str | None:
    raw = text(params, "cl_ord_id")
    if raw is None:
        return None
    free_ascii = len(raw) <= 18 and raw.isascii() and raw.isprintable()
    if not (_UUID.match(raw) or _HEX32.match(raw) or free_ascii):
        raise invalid("cl_ord_id")
    return raw


def _oflags(params: Params, ordertype: str, side: str) -> tuple[str, ...]:
    raw = text(params, "oflags")
    flags = tuple(f.strip() for f in raw.split(",") if f.strip()) if raw else ()
    if any(f not in OFLAGS for f in flags) or ("fcib" in flags and "fciq" in flags):
        raise invalid("oflags")
    if "post" in flags and ordertype != "limit":
        raise invalid("oflags")
    if "viqc" in flags and not (ordertype == "market" and side == "buy"):
        raise invalid("viqc")
    return flags


def _expiry(params: Params, now: float, timeinforce: str) -> float:
    raw = text(params, "expiretm")
    if raw is None or raw == "0":
        if timeinforce == "GTD":
            raise invalid("expiretm")
        return 0.0
    try:
        expiry = now + float(raw[1:]) if raw.startswith("+") else float(raw)
    except ValueError:
        raise invalid("expiretm") from None
    if expiry < now + 5 or expiry > now + 31 * 86400:
        raise VenueError("EAPI:Invalid arguments:expire_time out of range")
    return expiry


def order_request(params: Params, now: float, last: Callable[[Pair], Decimal]) -> OrderRequest:
    """Validate AddOrder parameters (the batch endpoint reuses this per order)."""
    pair = pair_param(params)
    side = text(params, "type", required=True)
    if side not in {"buy", "sell"}:
        raise invalid("type")
    ordertype = text(params, "ordertype", required=True)
    if ordertype not in ORDER_TYPES:
        raise invalid("ordertype")
    volume = number(params, "volume")
    if volume is None or volume <= 0:
        raise invalid("volume")
    oflags = _oflags(params, ordertype, side)
    if "viqc" not in oflags and volume != volume.quantize(Decimal(1).scaleb(-pair.lot_decimals)):
        raise invalid("volume")
    for unsupported in ("starttm", "leverage", "close[ordertype]"):
        value = text(params, unsupported)
        if value not in (None, "0", "none"):
            raise invalid(unsupported.split("[")[0])
    price = price_param(params, "price", pair, lambda: last(pair))
    price2 = price_param(params, "price2", pair, lambda: last(pair))
    if ordertype != "market" and price is None:
        raise invalid("price")
    if ordertype in TRIGGER_TYPES and ordertype.endswith("-limit") and price2 is None:
        raise invalid("price2")
    timeinforce = (text(params, "timeinforce") or "GTC").upper()
    if timeinforce not in TIME_IN_FORCE:
        raise invalid("timeinforce")
    userref = integer(params, "userref", 0) or 0
    if not -(2**31) <= userref < 2**31:
        raise invalid("userref")
    cl_ord_id = _cl_ord_id(params)
    if cl_ord_id is not None and text(params, "userref") is not None:
        raise invalid("cl_ord_id")
    return OrderRequest(
        pair=pair, side=side, ordertype=ordertype, volume=volume,
        price=price or Decimal(0), price2=price2 or Decimal(0), oflags=oflags,
        timeinforce=timeinforce, expiretm=_expiry(params, now, timeinforce),
        userref=userref, cl_ord_id=cl_ord_id,
    )
