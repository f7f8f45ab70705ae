"""Idempotent orders: journal the intent, send it with a client order id, and when the
outcome is unknown (timeout, 5xx, dropped connection, EService) look the order up by that
id before deciding whether to send it again. Nothing is ever sent twice, nothing is lost.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any

from actors.broker import BrokerError
from actors.kraken.client import KrakenClient
from actors.kraken.errors import DuplicateOrder, KrakenError, OrderRejected, UnknownOrder
from actors.kraken.journal import JournalEntry, OrderJournal
from actors.kraken.stats import ClientStats

log = logging.getLogger("nija.kraken.orders")
RECONCILE_ATTEMPTS = 8


class LocalOrderRejected(BrokerError):
    """Refused before sending: below the pair's minimums, or not representable."""


class OrderOutcomeUnknown(BrokerError):
    """The venue could not be asked whether an order exists; it stays in the journal as an
    intent and is reconciled again on the next start, never resent blindly."""


@dataclass(frozen=True)
class PairRules:
    """What AssetPairs says about one pair; amounts are rounded to it before sending."""

    key: str
    altname: str
    base: str
    quote: str
    pair_decimals: int
    lot_decimals: int
    ordermin: Decimal
    costmin: Decimal
    tick_size: Decimal

    @classmethod
    def from_asset_pairs(cls, key: str, record: dict[str, Any]) -> PairRules:
        return cls(key, str(record["altname"]), str(record["base"]), str(record["quote"]),
                   int(record["pair_decimals"]),
                   int(record["lot_decimals"]), Decimal(str(record["ordermin"])),
                   Decimal(str(record.get("costmin") or "0")),
                   Decimal(str(record.get("tick_size") or f"1e-{record['pair_decimals']}")))

    def volume(self, value: Decimal) -> Decimal:
        return value.quantize(Decimal(1).scaleb(-self.lot_decimals), rounding=ROUND_DOWN)

    def price(self, value: Decimal) -> Decimal:
        ticks = (value / self.tick_size).to_integral_value(rounding=ROUND_HALF_EVEN)
        return (ticks * self.tick_size).quantize(Decimal(1).scaleb(-self.pair_decimals))


@dataclass(frozen=True)
class PlacedOrder:
    cl_ord_id: str
    txid: str
    reconciled: bool  # True when the outcome was learned by looking it up


class OrderManager:
    def __init__(self, client: KrakenClient, journal: OrderJournal, stats: ClientStats,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.journal = journal
        self.stats = stats
        self.sleep = sleep
        self.rules: dict[str, PairRules] = {}
        self.placed_at: dict[str, float] = {}  # txid -> monotonic time, for cancel penalties
        # Told of every order that reached the venue (txid, params): fills are watched for.
        self.listeners: list[Callable[[str, dict[str, str]], None]] = []

    def load_rules(self) -> None:
        pairs = self.client.public("AssetPairs")
        self.rules = {key: PairRules.from_asset_pairs(key, rec) for key, rec in pairs.items()}

    def rules_for(self, pair: str) -> PairRules:
        wanted = pair.replace("/", "").upper()
        for rules in self.rules.values():
            if wanted in (rules.key, rules.altname):
                return rules
        raise LocalOrderRejected(f"unknown pair {pair!r}")

    # -- placing ---------------------------------------------------------------------

    def prepare(self, pair: str, side: str, ordertype: str, volume: Decimal,
                price: Decimal | None, reference_price: Decimal, *, post_only: bool = False,
                timeinforce: str | None = None, userref: int = 0) -> dict[str, str]:
        """Round to the pair's decimals and enforce its minimums locally (no call spent)."""
        if side not in ("buy", "sell"):
            raise LocalOrderRejected(f"side must be buy or sell, not {side!r}")
        rules = self.rules_for(pair)
        vol = rules.volume(volume)
        if vol < rules.ordermin:
            raise LocalOrderRejected(
                f"{rules.altname}: volume {vol} is below the order minimum {rules.ordermin}")
        params = {"pair": rules.key, "type": side, "ordertype": ordertype,
                  "volume": format(vol, "f")}
        cost_price = reference_price
        if price is not None:
            rounded = rules.price(price)
            params["price"] = format(rounded, "f")
            cost_price = rounded
        elif ordertype != "market":
            raise LocalOrderRejected(f"a {ordertype} order needs a price")
        if vol * cost_price < rules.costmin:
            raise LocalOrderRejected(f"{rules.altname}: cost {vol * cost_price:.8f} is below "
                                     f"the cost minimum {rules.costmin}")
        if post_only:
            params["oflags"] = "post"
        if timeinforce:
            params["timeinforce"] = timeinforce
        if userref:
            params["userref"] = str(userref)
        return params

    def place(self, params: dict[str, str], cause: str = "") -> PlacedOrder:
        """Journal, send, and settle the outcome. Raises OrderRejected (not placed),
        OrderOutcomeUnknown (left for the next reconciliation), or KrakenError. `cause`
        is journaled beside the order (what made the trader send it), never sent."""
        cl_ord_id = str(uuid.uuid4())
        userref = int(params.pop("userref", "0"))
        self.journal.intent(cl_ord_id, userref, params, cause)
        return self._send(self.journal.entries[cl_ord_id])

    def _send(self, entry: JournalEntry) -> PlacedOrder:
        side, ordertype = entry.params["type"], entry.params["ordertype"]
        for _ in range(RECONCILE_ATTEMPTS):
            try:
                result = self.client.private("AddOrder", {**entry.params,
                                                          "cl_ord_id": entry.cl_ord_id},
                                             pair=entry.params["pair"])
            except DuplicateOrder:
                found = self.lookup(entry.cl_ord_id)  # it is open already: ours
                if found is not None:
                    return self._settled(entry, found, reconciled=True)
                continue
            except OrderRejected as exc:
                self.journal.rejected(entry.cl_ord_id, ", ".join(exc.errors) or str(exc))
                self.stats.order(side, ordertype, "rejected")
                raise
            except KrakenError as exc:
                if not exc.outcome_unknown:
                    self.journal.rejected(entry.cl_ord_id, ", ".join(exc.errors) or str(exc))
                    self.stats.order(side, ordertype, "error")
                    raise
                log.warning("AddOrder %s outcome unknown (%s); looking it up", entry.cl_ord_id,
                            type(exc).__name__)
                found = self.lookup(entry.cl_ord_id)
                if found is not None:
                    return self._settled(entry, found, reconciled=True)
                continue  # the venue never saw it: sending the same intent again is safe
            return self._settled(entry, str(result["txid"][0]), reconciled=False)
        self.stats.order(side, ordertype, "unknown")
        raise OrderOutcomeUnknown(f"order {entry.cl_ord_id}: outcome still unknown after "
                                  f"{RECONCILE_ATTEMPTS} attempts")

    def _settled(self, entry: JournalEntry, txid: str, reconciled: bool) -> PlacedOrder:
        self.journal.placed(entry.cl_ord_id, txid)
        self.placed_at[txid] = time.monotonic()
        self.stats.order(entry.params["type"], entry.params["ordertype"], "placed")
        for listener in self.listeners:
            listener(txid, entry.params)
        return PlacedOrder(entry.cl_ord_id, txid, reconciled)

    def lookup(self, cl_ord_id: str) -> str | None:
        """The txid of the order with this client id, open or closed; None if the venue
        has never seen it. Lookups are reads: the client retries them; if the venue stays
        unreachable the outcome remains unknown (raised)."""
        for _ in range(RECONCILE_ATTEMPTS):
            try:
                opened = self.client.private("OpenOrders", {"cl_ord_id": cl_ord_id})["open"]
                if opened:
                    return str(next(iter(opened)))
                closed = self.client.private("ClosedOrders", {"cl_ord_id": cl_ord_id})["closed"]
                return str(next(iter(closed))) if closed else None
            except KrakenError as exc:
                if not exc.retryable:
                    raise
                self.sleep(0.5)
        raise OrderOutcomeUnknown(f"cannot reach the venue to look up order {cl_ord_id}")

    def reconcile(self) -> dict[str, int]:
        """On start: settle every journaled intent whose outcome was never recorded."""
        found = not_placed = 0
        for entry in self.journal.unresolved():
            txid = self.lookup(entry.cl_ord_id)
            if txid is None:
                self.journal.not_placed(entry.cl_ord_id)
                not_placed += 1
            else:
                self.journal.placed(entry.cl_ord_id, txid)
                found += 1
        if found or not_placed:
            log.warning("reconciled the order journal: %d placed before the restart, %d never "
                        "reached the venue", found, not_placed)
        return {"reconciled_placed": found, "reconciled_not_placed": not_placed}

    # -- cancelling ------------------------------------------------------------------

    def cancel(self, txid: str, pair: str | None = None) -> int:
        placed = self.placed_at.get(txid)
        age = time.monotonic() - placed if placed is not None else None
        entry = self.journal.by_txid(txid)
        pair_key = pair or (entry.params["pair"] if entry else None)
        try:
            result = self.client.private("CancelOrder", {"txid": txid}, pair=pair_key or "?",
                                         order_age_s=age)
        except UnknownOrder:
            return 0  # already closed: filled or cancelled
        return int(result.get("count", 0))
