"""Minimal Kraken broker for the process model: a live Balance call at start (so a bad key
is caught as credentials_invalid) and balance queries. The full client (persistent nonce,
rate limiting, idempotent orders) replaces it in the Kraken actor issue."""

from __future__ import annotations

import threading
import time
from typing import Any

import krakenex
import requests

from actors.broker import BrokerError, CredentialsInvalid, UnknownQuery
from actors.launch import ActorLaunch
from protocol.messages import HistogramPoint, MetricPoint

UNFIXABLE = {"EAPI:Invalid key", "EAPI:Invalid signature", "EGeneral:Permission denied"}


class KrakenProbe:
    def __init__(self, launch: ActorLaunch) -> None:
        self._api = krakenex.API(launch.api_key, launch.api_secret)
        self._api.uri = launch.venue_url
        self._api._nonce = self._nonce  # millisecond nonces collide; see docs/kraken.md
        self._last_nonce = 0
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str], int] = {}

    def _nonce(self) -> int:
        self._last_nonce = max(time.time_ns() // 1000, self._last_nonce + 1)
        return self._last_nonce

    def _private(self, method: str) -> dict[str, Any]:
        with self._lock:
            try:
                response = self._api.query_private(method, {}, timeout=10)
            except (requests.RequestException, ValueError) as exc:  # transport, bad JSON
                self._count(method, "transport_error")
                raise BrokerError(f"{method}: {type(exc).__name__}") from None
        errors = response.get("error") or []
        if errors:
            self._count(method, "error")
            if any(e in UNFIXABLE for e in errors):
                raise CredentialsInvalid(f"{method}: {', '.join(errors)}")
            raise BrokerError(f"{method}: {', '.join(errors)}")
        self._count(method, "ok")
        return dict(response["result"])

    def _count(self, method: str, outcome: str) -> None:
        self._calls[(method, outcome)] = self._calls.get((method, outcome), 0) + 1

    def start(self) -> dict[str, Any]:
        return {"assets": len(self._private("Balance"))}

    def tick(self, paused: bool) -> float:
        return 60.0

    def pause(self, cancel_open: bool, flatten: bool) -> dict[str, Any]:
        return {"cancelled": 0, "flattened": 0}

    def resume(self) -> None:
        return None

    def query(self, what: str, params: dict[str, str]) -> dict[str, Any]:
        if what == "balance":
            return {"balances": self._private("Balance")}
        raise UnknownQuery(f"unknown query {what!r}")

    def metrics(self) -> tuple[list[MetricPoint], list[MetricPoint], list[HistogramPoint]]:
        counters = [
            MetricPoint("nija_exchange_requests_total", (("method", m), ("outcome", o)), n)
            for (m, o), n in sorted(self._calls.items())
        ]
        return counters, [], []

    def close(self, deadline_s: float) -> None:
        self._api.session.close()
