"""The account's durable order journal: every order intent is written (and fsynced) before
it is sent, and every outcome after. On start the actor replays it and reconciles the
orders whose outcome it never learned with the venue, by client order id.

Format: JSON lines, one event each: `intent` (cl_ord_id, userref, the order parameters,
and `cause` when the trader gave one: `follow:<leader trade id>`, `replaces:<txid>`),
`placed` (txid), `rejected` (Kraken error), `not_placed` (reconciled: the venue never saw
it), `closed` (final venue status). Appends are atomic at line granularity; a torn last
line from a crash is ignored (the intent before it still stands).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FINAL = frozenset({"rejected", "not_placed", "closed"})


@dataclass
class JournalEntry:
    cl_ord_id: str
    userref: int
    params: dict[str, str]
    created: float
    status: str = "intent"  # intent | placed | rejected | not_placed | closed
    cause: str = ""  # why it was sent, e.g. "follow:<leader trade id>"; "" if not told
    txid: str | None = None
    error: str | None = None
    events: list[str] = field(default_factory=list)

    @property
    def unresolved(self) -> bool:
        """Sent (or maybe sent) but its outcome at the venue is unknown."""
        return self.status == "intent"


class OrderJournal:
    def __init__(self, state_dir: str | os.PathLike[str], filename: str = "orders.jsonl") -> None:
        self.path = Path(state_dir) / filename
        self._lock = threading.Lock()
        self.entries: dict[str, JournalEntry] = {}
        self.torn_lines = 0
        self._replay()
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held open

    def _replay(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    event = json.loads(line)
                except ValueError:
                    self.torn_lines += 1  # a crash mid-append; the intent before it stands
                    continue
                self._apply(event)

    def _apply(self, event: dict[str, Any]) -> None:
        op, cl_ord_id = event["op"], event["cl_ord_id"]
        if op == "intent":
            self.entries[cl_ord_id] = JournalEntry(cl_ord_id, int(event["userref"]),
                                                   dict(event["params"]), float(event["ts"]),
                                                   cause=str(event.get("cause", "")))
            return
        entry = self.entries.get(cl_ord_id)
        if entry is None:
            return
        entry.events.append(op)
        if op == "placed":
            entry.status, entry.txid = "placed", event["txid"]
        elif op in FINAL:
            entry.status = op
            entry.txid = event.get("txid", entry.txid)
            entry.error = event.get("error")

    def _append(self, event: dict[str, Any]) -> None:
        """Write one event durably: the line, flush, fsync, before returning."""
        with self._lock:
            self._file.write(json.dumps(event, separators=(",", ":")) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
            self._apply(event)

    # -- events ----------------------------------------------------------------------

    def intent(self, cl_ord_id: str, userref: int, params: dict[str, str],
               cause: str = "") -> JournalEntry:
        if cl_ord_id in self.entries:
            raise ValueError(f"client order id {cl_ord_id} is already journaled")
        self._append({"op": "intent", "cl_ord_id": cl_ord_id, "userref": userref,
                      "params": params, "ts": time.time(), **_cause(cause)})
        return self.entries[cl_ord_id]

    def placed(self, cl_ord_id: str, txid: str) -> None:
        self._append({"op": "placed", "cl_ord_id": cl_ord_id, "txid": txid, "ts": time.time()})

    def rejected(self, cl_ord_id: str, error: str) -> None:
        self._append({"op": "rejected", "cl_ord_id": cl_ord_id, "error": error,
                      "ts": time.time()})

    def not_placed(self, cl_ord_id: str) -> None:
        self._append({"op": "not_placed", "cl_ord_id": cl_ord_id, "ts": time.time()})

    def closed(self, cl_ord_id: str, txid: str, status: str) -> None:
        self._append({"op": "closed", "cl_ord_id": cl_ord_id, "txid": txid, "error": status,
                      "ts": time.time()})

    # -- queries ---------------------------------------------------------------------

    def unresolved(self) -> list[JournalEntry]:
        return [e for e in self.entries.values() if e.unresolved]

    def by_txid(self, txid: str) -> JournalEntry | None:
        return next((e for e in self.entries.values() if e.txid == txid), None)

    def compact(self) -> None:
        """Rewrite with one event line per order: bounded growth, same replay result."""
        with self._lock:
            tmp = self.path.with_suffix(".tmp")
            with open(tmp, "w", encoding="utf-8") as handle:
                for entry in self.entries.values():
                    handle.write(json.dumps({"op": "intent", "cl_ord_id": entry.cl_ord_id,
                                             "userref": entry.userref, "params": entry.params,
                                             "ts": entry.created, **_cause(entry.cause)})
                                 + "\n")
                    if entry.status != "intent":
                        op = "placed" if entry.status == "placed" else entry.status
                        handle.write(json.dumps({"op": op, "cl_ord_id": entry.cl_ord_id,
                                                 "txid": entry.txid, "error": entry.error,
                                                 "ts": entry.created}) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
            self._file.close()
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def close(self) -> None:
        with self._lock:
            self._file.close()


def _cause(cause: str) -> dict[str, str]:
    return {"cause": cause} if cause else {}
