"""Carries out a plan from the planner, in list order, through the account's
`OrderManager` (journal first, idempotent). Pause is checked before every order; a market
fallback is sent only after its cancel succeeded, and only for what the cancelled order
left unfilled."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any, Protocol

from actors.broker import BrokerError
from actors.execution import Blocked, Cancel, OrderIntent
from actors.kraken.errors import KrakenError
from actors.kraken.orders import OrderManager
from actors.trading.latency import SignalLatency
from actors.trading.tracker import TRADER_USERREF, OrderTracker, TrackedOrder

log = logging.getLogger("nija.trading")
ZERO = Decimal(0)


class AccountPort(Protocol):
    """What the trader needs from its broker: the venue connection and fresh balances."""

    orders: OrderManager
    balances: dict[str, Decimal]
    holds: dict[str, Decimal]

    def private(self, method: str, data: dict[str, Any] | None = None) -> Any: ...

    def refresh_balances(self) -> None: ...

    def rest_wait(self, method: str, spare: float = 0.0) -> float: ...


class OrderExecutor:
    def __init__(self, port: AccountPort, tracker: OrderTracker, marks: Mapping[str, Decimal],
                 is_paused: Callable[[], bool]) -> None:
        self.port = port
        self.tracker = tracker
        self.marks = marks  # the trader's live dict of marks
        self.is_paused = is_paused
        self.latency = SignalLatency()
        self.blocked = ""  # why the last wanted order was not sent ("" once one is)
        self._logged: deque[str] = deque(maxlen=16)  # reasons logged since the last order
        self.fills_pending = False  # a cancelled order had filled in part
        self.placing = False  # True while the trader's own order is being placed
        self.stale = False  # a cancel found a tracked order not open: poll it at once

    def execute(self, plan: Sequence[Any], signal: tuple[str, float] | None = None) -> None:
        """Carry out a plan in order; `signal` is (source, publish time) of what caused it."""
        cancelled: dict[str, Decimal] = {}
        for item in plan:
            if isinstance(item, Blocked):
                self.block(item.reason)
            elif isinstance(item, Cancel):
                remaining = self._cancel(item)
                if remaining is not None:
                    cancelled[item.txid] = remaining
            elif isinstance(item, OrderIntent):
                if item.replaces is not None:
                    if item.replaces not in cancelled:
                        continue  # the cancel failed: the original may have filled
                    item = _resized(item, cancelled[item.replaces])
                self._place(item, signal)

    def _cancel(self, cancel: Cancel) -> Decimal | None:
        """Cancel, then read what the order left unfilled (None: nothing was cancelled)."""
        log.info("cancel %s: %s", cancel.txid, cancel.reason)
        try:
            if self.port.orders.cancel(cancel.txid) != 1:
                self.stale = True  # filled or cancelled meanwhile: the tracker must learn it
                return None
            info = self.port.private("QueryOrders", {"txid": cancel.txid})[cancel.txid]
        except KrakenError as exc:
            log.warning("cancel %s failed: %s", cancel.txid, exc)
            return None
        order = self.tracker.orders.get(cancel.txid)
        self.tracker.update({cancel.txid: {**info, "status": "canceled"}})
        if order is not None:
            self.count(order, "cancelled")
            if order.vol_exec > 0:
                self.fills_pending = True
        return Decimal(str(info["vol"])) - Decimal(str(info.get("vol_exec", "0")))

    def _place(self, intent: OrderIntent, signal: tuple[str, float] | None) -> None:
        if self.is_paused():
            self.block(f"account paused: not sending {intent.side} {intent.pair}")
            return
        orders = self.port.orders
        mark = self.marks.get(intent.pair, intent.price or ZERO)
        try:
            params = orders.prepare(intent.pair, intent.side, intent.ordertype, intent.volume,
                                    intent.price, mark, post_only=intent.post_only,
                                    timeinforce=intent.timeinforce, userref=TRADER_USERREF)
            self.placing = True
            try:
                placed = orders.place(params, cause=_cause(intent))
            finally:
                self.placing = False
            if signal is not None:
                self.latency.observe(signal[0], time.time() - signal[1])
        except (BrokerError, KrakenError) as exc:
            log.warning("order not placed (%s %s %s): %s", intent.side, intent.volume,
                        intent.pair, exc)
            self.block(f"last order refused: {exc}")
            return
        self.blocked = ""
        self._logged.clear()
        log.info("placed %s %s %s %s (%s): %s", intent.ordertype, intent.side, intent.volume,
                 intent.pair, placed.txid, intent.reason)

    def block(self, reason: str) -> None:
        """Each distinct reason is logged once until an order goes out again: two pairs
        blocked by one pause alternated and wrote a line a second for as long as it lasted."""
        if reason not in self._logged:
            log.info("%s", reason)
            self._logged.append(reason)
        self.blocked = reason

    def count(self, order: TrackedOrder, outcome: str) -> None:
        """Final outcomes join `nija_orders_total` next to placed/rejected."""
        self.port.orders.stats.order(order.side, "market" if order.price is None else "limit",
                                     outcome)


def _resized(intent: OrderIntent, remaining: Decimal) -> OrderIntent:
    """The market fallback trades exactly what the cancelled order left unfilled."""
    return replace(intent, volume=min(intent.volume, remaining))


def _cause(intent: OrderIntent) -> str:
    """What the journal records as the reason for the order: a mirror names its leader
    trade, a market fallback the order it replaces (so audits can tell a leader trade
    followed twice from a remainder sent at market)."""
    if intent.cause:
        return intent.cause
    return f"replaces:{intent.replaces}" if intent.replaces else ""
