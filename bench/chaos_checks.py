"""The invariants a chaos run must keep, judged from what the venue and nija wrote down.

Pure: the venue's order list and balances (admin API), each account's order journal
entries, and the positions nija reports come in; findings come out. The venue is the
truth: an order it holds that nija's journal does not name, or a position nija reports
that the venue's balances do not show, is a failure however it came about.

- duplicate: two venue orders with one client order id, or one leader trade mirrored by
  more than one follower order that is not a market fallback of the first;
- unknown: a venue order without a client order id, or with one the journal lacks;
- forgotten: a journal entry marked `not_placed`/`rejected` that the venue has, `placed` with
  another txid than the venue's, or still unresolved after the final restart;
- position: nija's volume of a base asset differs from the venue's balance of it (the
  accounts start with quote currency only, so every unit held was traded by nija).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

ZERO = Decimal(0)
EXAMPLES = 5  # findings kept per kind, for the report


@dataclass
class AccountAudit:
    """What one account's audit found; every list holds short descriptions."""

    account: str
    venue_orders: int = 0
    filled_orders: int = 0
    journaled: int = 0
    duplicates: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    positions: list[str] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return len(self.duplicates) + len(self.unknown) + len(self.forgotten) + len(
            self.positions)


@dataclass(frozen=True)
class JournalView:
    """One journal entry as the audit needs it (see actors/kraken/journal.py)."""

    cl_ord_id: str
    status: str
    txid: str | None
    cause: str


def audit_account(account: str, venue_orders: Sequence[Mapping[str, Any]],
                  journal: Iterable[JournalView], venue_balances: Mapping[str, str],
                  nija_volumes: Mapping[str, Decimal], bases: Iterable[str]) -> AccountAudit:
    """`nija_volumes` maps a base asset (XXBT) to the volume nija's ledger holds; `bases`
    are the base assets of the pairs traded, whose venue balance must equal it."""
    entries = {e.cl_ord_id: e for e in journal}
    audit = AccountAudit(account, venue_orders=len(venue_orders), journaled=len(entries))
    audit.filled_orders = sum(1 for o in venue_orders if Decimal(str(o["vol_exec"])) > 0)
    _check_ids(audit, venue_orders, entries)
    _check_follows(audit, venue_orders, entries)
    for asset in sorted(set(bases)):
        held = Decimal(str(venue_balances.get(asset, "0")))
        ours = nija_volumes.get(asset, ZERO)
        if held != ours:
            audit.positions.append(f"{asset}: nija {ours}, venue {held}")
    return audit


def _check_ids(audit: AccountAudit, venue_orders: Sequence[Mapping[str, Any]],
               entries: Mapping[str, JournalView]) -> None:
    by_id = Counter(str(o.get("cl_ord_id") or "") for o in venue_orders)
    audit.duplicates += [f"cl_ord_id {cid} at the venue {n} times"
                         for cid, n in sorted(by_id.items()) if cid and n > 1]
    at_venue = {str(o["cl_ord_id"]): str(o["txid"]) for o in venue_orders if o.get("cl_ord_id")}
    for order in venue_orders:
        cid = order.get("cl_ord_id")
        if not cid:
            audit.unknown.append(f"{order['txid']} has no client order id")
        elif cid not in entries:
            audit.unknown.append(f"{order['txid']} ({cid}) is not in the journal")
    for cid, entry in sorted(entries.items()):
        venue_txid = at_venue.get(cid)
        if entry.status == "intent":
            audit.forgotten.append(f"{cid} still unresolved in the journal")
        elif entry.status in ("not_placed", "rejected") and venue_txid is not None:
            audit.forgotten.append(f"{cid} journaled {entry.status}, venue has {venue_txid}")
        elif venue_txid is not None and entry.txid not in (None, venue_txid):
            audit.forgotten.append(f"{cid} journaled as {entry.txid}, venue has {venue_txid}")
        elif entry.status in ("placed", "closed") and venue_txid is None:
            audit.forgotten.append(f"{cid} journaled {entry.status}, the venue never had it")


def _check_follows(audit: AccountAudit, venue_orders: Sequence[Mapping[str, Any]],
                   entries: Mapping[str, JournalView]) -> None:
    """A mirror order names its leader trade; a market fallback names what it replaces
    and is not a second mirror."""
    sent = {str(o["cl_ord_id"]) for o in venue_orders if o.get("cl_ord_id")}
    mirrors = Counter(e.cause for cid, e in entries.items()
                      if e.cause.startswith("follow:") and cid in sent)
    audit.duplicates += [f"leader trade {cause[7:]} mirrored {n} times"
                         for cause, n in sorted(mirrors.items()) if n > 1]


def base_volumes(pairs: Mapping[str, Mapping[str, Any]], base_of: Mapping[str, str]
                 ) -> dict[str, Decimal]:
    """nija's `positions` pairs (pair key -> {"volume": ...}) as base asset -> volume."""
    volumes: dict[str, Decimal] = {}
    for pair, position in pairs.items():
        base = base_of[pair]
        volumes[base] = volumes.get(base, ZERO) + Decimal(str(position["volume"]))
    return volumes


def summarise(audits: Sequence[AccountAudit]) -> dict[str, Any]:
    """Totals over every account, with a few examples of each kind of finding."""
    kinds = ("duplicates", "unknown", "forgotten", "positions")
    out: dict[str, Any] = {
        "accounts": len(audits),
        "venue_orders": sum(a.venue_orders for a in audits),
        "filled_orders": sum(a.filled_orders for a in audits),
        "journaled": sum(a.journaled for a in audits),
    }
    for kind in kinds:
        found = [f"{a.account}: {text}" for a in audits for text in getattr(a, kind)]
        out[kind] = len(found)
        if found:
            out[f"{kind}_examples"] = found[:EXAMPLES]
    out["ok"] = all(out[kind] == 0 for kind in kinds)
    return out


def secret_findings(needles: Mapping[str, str], sources: Mapping[str, str]) -> list[str]:
    """Which secret (by label, never the value) occurs in which source, whole or as its
    first 16 characters (a recognisable prefix counts as a leak too)."""
    found = []
    for where, text in sources.items():
        for label, secret in needles.items():
            if secret in text or secret[:16] in text:
                found.append(f"{label} in {where}")
    return found


def unexplained_nonce_refusals(refusals: Iterable[Mapping[str, Any]],
                               killed_at: Mapping[str, Sequence[float]],
                               late_s: float) -> list[str]:
    """Venue nonce refusals that no kill explains. A request still in flight (say, held
    up by a latency spike) when its actor is SIGKILLed reaches the venue after the
    successor's first call, whose nonce is higher: the venue refuses it, which is what
    keeps a dead process's late AddOrder from landing after the successor has reconciled
    its journal. Such a refusal comes within `late_s` of a kill of that account; any other
    is a nonce nija reused or let go backwards."""
    unexplained = []
    for refusal in refusals:
        at, account = float(refusal["at"]), str(refusal["key"])
        if not any(0 <= at - k <= late_s for k in killed_at.get(account, ())):
            unexplained.append(f"{account} {refusal['method']} nonce {refusal['nonce']}")
    return unexplained
