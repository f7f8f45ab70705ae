"""The account's own working orders and how much of each has filled.

Pure: the trader feeds it what it placed and what `QueryOrders` says; it answers which
orders filled (so the trade history is read only when something did), which closed,
and the resting orders as the planner sees them (unfilled volume only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from actors.execution.risk import OpenOrder, Side

ZERO = Decimal(0)
CLOSED_STATUSES = frozenset({"closed", "canceled", "expired"})
# Journaled (never sent: Kraken refuses userref with cl_ord_id) with the trader's orders,
# so a restarted actor knows which resting orders are its own.
TRADER_USERREF = 0x4E494A


@dataclass
class TrackedOrder:
    txid: str
    pair: str  # PairRules.key
    side: Side
    volume: Decimal
    price: Decimal | None  # None: market order
    placed_at: float  # Unix seconds
    vol_exec: Decimal = ZERO
    managed: bool = False  # placed by the trader: its timeout and market fallback apply


@dataclass(frozen=True)
class TrackerUpdate:
    filled: tuple[tuple[str, Decimal], ...]  # (txid, newly executed volume)
    closed: tuple[tuple[str, str], ...]  # (txid, final status)


class OrderTracker:
    def __init__(self) -> None:
        self.orders: dict[str, TrackedOrder] = {}

    def track(self, order: TrackedOrder) -> None:
        self.orders.setdefault(order.txid, order)

    def forget(self, txid: str) -> TrackedOrder | None:
        return self.orders.pop(txid, None)

    def txids(self, limit: int = 50) -> list[str]:
        """The oldest `limit` txids (QueryOrders takes at most 50 per call)."""
        by_age = sorted(self.orders.values(), key=lambda o: (o.placed_at, o.txid))
        return [o.txid for o in by_age[:limit]]

    def update(self, result: Mapping[str, Mapping[str, Any]]) -> TrackerUpdate:
        """Apply a QueryOrders (or OpenOrders/ClosedOrders) result keyed by txid."""
        filled: list[tuple[str, Decimal]] = []
        closed: list[tuple[str, str]] = []
        for txid, info in result.items():
            order = self.orders.get(txid)
            if order is None:
                continue
            executed = Decimal(str(info.get("vol_exec", "0")))
            if executed > order.vol_exec:
                filled.append((txid, executed - order.vol_exec))
                order.vol_exec = executed
            status = str(info.get("status", "open"))
            if status in CLOSED_STATUSES:
                closed.append((txid, status))
                del self.orders[txid]
        return TrackerUpdate(tuple(filled), tuple(closed))

    def open_orders(self, managed_only: bool = False) -> dict[str, OpenOrder]:
        """What the planner sees: resting orders with their unfilled volume (only the
        trader's own with `managed_only`: an operator's order is never timed out)."""
        return {o.txid: OpenOrder(o.pair, o.side, o.volume - o.vol_exec, o.price, o.placed_at)
                for o in self.orders.values()
                if o.volume > o.vol_exec and (o.managed or not managed_only)}


def tracked_from_venue(txid: str, info: Mapping[str, Any], pair_key: str,
                       managed: bool = False) -> TrackedOrder:
    """A TrackedOrder from an OpenOrders/QueryOrders entry (after a restart); `managed`
    when the journal says the trader placed it."""
    descr = info.get("descr", {})
    price = Decimal(str(descr.get("price", "0")))
    return TrackedOrder(txid=txid, pair=pair_key, side="buy" if descr.get("type") == "buy"
                        else "sell", volume=Decimal(str(info["vol"])),
                        price=price if descr.get("ordertype") == "limit" and price > 0 else None,
                        placed_at=float(info.get("opentm", 0.0)),
                        vol_exec=Decimal(str(info.get("vol_exec", "0"))),
                        managed=managed)
