"""Orders and trades on the venue, and their exact Kraken wire shapes."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from simulator.markets import ASSETS, Pair

ZERO = Decimal(0)
OPEN_STATES = frozenset({"pending", "open"})
TRIGGER_TYPES = frozenset({"stop-loss", "take-profit", "stop-loss-limit", "take-profit-limit"})
ORDER_TYPES = frozenset({"market", "limit", *TRIGGER_TYPES})


class VenueError(Exception):
    """A Kraken error string answered instead of a result."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def fmt(value: Decimal, places: int) -> str:
    """A fixed-point decimal string, never scientific notation."""
    return f"{value:.{places}f}"


def quantize(value: Decimal, places: int, rounding: str = ROUND_DOWN) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=rounding)


def asset_places(asset_id: str) -> int:
    return ASSETS[asset_id].decimals


def round_up(value: Decimal, places: int) -> Decimal:
    return quantize(value, places, ROUND_UP)


class IdSource:
    """Kraken-shaped ids (`OXXXXX-XXXXX-XXXXXX`), from a seeded RNG so runs replay."""

    _ALPHABET = string.ascii_uppercase + string.digits

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed ^ 0x5EED)
        self._seen: set[str] = set()

    def new(self, prefix: str) -> str:
        while True:
            chars = "".join(self._rng.choices(self._ALPHABET, k=16))
            ident = f"{prefix}{chars[:5]}-{chars[5:10]}-{chars[10:16]}"
            if ident not in self._seen:
                self._seen.add(ident)
                return ident


@dataclass(slots=True)
class Order:
    txid: str
    account: str
    pair: Pair
    side: str  # "buy" | "sell"
    ordertype: str
    volume: Decimal  # base units; for viqc market buys, the quote amount to spend
    price: Decimal  # limit price, or trigger price for stop/take-profit types
    price2: Decimal  # limit price once a *-limit trigger fires
    oflags: tuple[str, ...]
    timeinforce: str
    userref: int
    cl_ord_id: str | None
    opentm: float
    expiretm: float = 0.0
    status: str = "open"
    vol_exec: Decimal = ZERO
    cost: Decimal = ZERO
    fee: Decimal = ZERO  # quote-currency equivalent
    closetm: float | None = None
    reason: str | None = None
    misc: list[str] = field(default_factory=list)
    trades: list[str] = field(default_factory=list)
    hold_asset: str = ""
    hold: Decimal = ZERO
    touched_at: float = 0.0  # creation or last amend, for the trading counter's age penalties
    triggered: bool = False
    stopprice: Decimal = ZERO
    limitprice: Decimal = ZERO

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    @property
    def viqc(self) -> bool:
        return "viqc" in self.oflags

    @property
    def remaining(self) -> Decimal:
        return self.volume - self.vol_exec

    @property
    def post_only(self) -> bool:
        return "post" in self.oflags

    @property
    def fee_in_base(self) -> bool:
        return "fcib" in self.oflags

    @property
    def resting_limit(self) -> Decimal | None:
        """The limit this order rests at in the book, if it rests as a limit."""
        if self.ordertype == "limit":
            return self.price
        if self.triggered and self.ordertype.endswith("-limit"):
            return self.price2
        return None


def describe(order: Order) -> str:
    """Kraken's `descr.order` text, e.g. `buy 0.10000000 XBTUSD @ limit 50000.0`."""
    pair = order.pair
    head = f"{order.side} {fmt(order.volume, pair.lot_decimals)} {pair.altname} @ "
    price = fmt(order.price, pair.pair_decimals)
    price2 = fmt(order.price2, pair.pair_decimals)
    tails = {
        "market": "market",
        "limit": f"limit {price}",
        "stop-loss": f"stop loss {price}",
        "take-profit": f"take profit {price}",
        "stop-loss-limit": f"stop loss {price} -> limit {price2}",
        "take-profit-limit": f"take profit {price} -> limit {price2}",
    }
    return head + tails[order.ordertype]


def order_view(order: Order, with_trades: bool = False) -> dict[str, object]:
    pair = order.pair
    pd = pair.pair_decimals
    avg = order.cost / order.vol_exec if order.vol_exec else ZERO
    view: dict[str, object] = {
        "refid": None,
        "userref": order.userref,
        "cl_ord_id": order.cl_ord_id,
        "status": order.status,
        "opentm": round(order.opentm, 6),
        "starttm": 0,
        "expiretm": round(order.expiretm, 6) if order.expiretm else 0,
        "descr": {
            "pair": pair.altname,
            "type": order.side,
            "ordertype": order.ordertype,
            "price": fmt(order.price, pd),
            "price2": fmt(order.price2, pd),
            "leverage": "none",
            "order": describe(order),
            "close": "",
        },
        "vol": fmt(order.volume, pair.lot_decimals),
        "vol_exec": fmt(order.vol_exec, pair.lot_decimals),
        "cost": fmt(order.cost, pair.cost_decimals),
        "fee": fmt(order.fee, pair.cost_decimals),
        "price": fmt(quantize(avg, pd + 3), pd + 3) if order.vol_exec else fmt(ZERO, pd),
        "stopprice": fmt(order.stopprice, pd),
        "limitprice": fmt(order.limitprice, pd),
        "trigger": "last",
        "margin": False,
        "misc": ",".join(order.misc),
        "oflags": ",".join(order.oflags),
        "sender_sub_id": None,
    }
    if order.closetm is not None:
        view["closetm"] = round(order.closetm, 6)
        view["reason"] = order.reason
    if with_trades and order.trades:
        view["trades"] = list(order.trades)
    return view


@dataclass(frozen=True, slots=True)
class Trade:
    tid: str
    ordertxid: str
    postxid: str
    pair: Pair
    time: float
    side: str
    ordertype: str
    price: Decimal
    cost: Decimal
    fee: Decimal
    vol: Decimal
    maker: bool
    trade_id: int
    ledgers: tuple[str, ...]


def trade_view(trade: Trade, with_ledgers: bool = False) -> dict[str, object]:
    pair = trade.pair
    view: dict[str, object] = {
        "ordertxid": trade.ordertxid,
        "postxid": trade.postxid,
        "pair": pair.key,
        "time": round(trade.time, 6),
        "type": trade.side,
        "ordertype": trade.ordertype,
        "price": fmt(trade.price, pair.pair_decimals + 3),
        "cost": fmt(trade.cost, pair.cost_decimals),
        "fee": fmt(trade.fee, pair.cost_decimals),
        "vol": fmt(trade.vol, pair.lot_decimals),
        "margin": fmt(ZERO, pair.cost_decimals),
        "leverage": "0",
        "misc": "",
        "trade_id": trade.trade_id,
        "maker": trade.maker,
    }
    if with_ledgers:
        view["ledgers"] = list(trade.ledgers)
    return view


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    lid: str
    refid: str
    time: float
    type: str  # "trade" | "deposit"
    asset: str
    amount: Decimal
    fee: Decimal
    balance: Decimal


def ledger_view(entry: LedgerEntry) -> dict[str, object]:
    places = asset_places(entry.asset)
    return {
        "refid": entry.refid,
        "time": round(entry.time, 6),
        "type": entry.type,
        "subtype": "",
        "aclass": "currency",
        "asset": entry.asset,
        "amount": fmt(entry.amount, places),
        "fee": fmt(entry.fee, places),
        "balance": fmt(entry.balance, places),
    }
