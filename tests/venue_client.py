"""Test-side clients for the simulator: krakenex over real HTTP, and the admin API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
from typing import Any

import krakenex
import requests

_lock = threading.Lock()
_last_nonce = 0


def next_nonce() -> int:
    """Strictly increasing across every client in this test process (tests call faster
    than krakenex's millisecond nonce allows)."""
    global _last_nonce
    with _lock:
        _last_nonce = max(time.time_ns(), _last_nonce + 1)
        return _last_nonce


class Client(krakenex.API):  # type: ignore[misc]
    def __init__(self, url: str, key: str = "", secret: str = "") -> None:
        super().__init__(key, secret)
        self.uri = url

    def _nonce(self) -> int:
        return next_nonce()

    def private(self, method: str, **data: Any) -> dict[str, Any]:
        return self.query_private(method, {k: v for k, v in data.items() if v is not None},
                                  timeout=10)

    def ok(self, method: str, **data: Any) -> Any:
        response = self.private(method, **data)
        assert response["error"] == [], f"{method} failed: {response['error']}"
        return response["result"]

    def err(self, method: str, **data: Any) -> str:
        response = self.private(method, **data)
        assert response["error"], f"{method} unexpectedly succeeded: {response.get('result')}"
        assert len(response["error"]) == 1
        return str(response["error"][0])

    def private_json(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        """A private call with a JSON body (Kraken's batch endpoints need one)."""
        nonce = next_nonce()
        raw = json.dumps({"nonce": nonce, **body})
        digest = hashlib.sha256((str(nonce) + raw).encode()).digest()
        urlpath = f"/0/private/{method}"
        sign = hmac.new(base64.b64decode(self.secret), urlpath.encode() + digest,
                        hashlib.sha512).digest()
        response = self.session.post(self.uri + urlpath, data=raw, timeout=10, headers={
            "API-Key": self.key, "API-Sign": base64.b64encode(sign).decode(),
            "Content-Type": "application/json"})
        response.raise_for_status()
        return dict(response.json())

    def public(self, method: str, **data: Any) -> Any:
        response = self.query_public(method, data, timeout=10)
        assert response["error"] == [], f"{method} failed: {response['error']}"
        return response["result"]


class Admin:
    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def get(self, path: str, **params: str) -> Any:
        response = self.session.get(f"{self.url}/admin/{path}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Any) -> Any:
        response = self.session.post(f"{self.url}/admin/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def orders(self, key: str) -> list[dict[str, Any]]:
        return list(self.get("orders", key=key)["keys"][key])

    def balances(self, key: str) -> dict[str, str]:
        return dict(self.get("balances", key=key)["keys"][key]["balances"])

    def stats(self, key: str) -> dict[str, int]:
        return dict(self.get("stats")["keys"][key])

    def advance(self, seconds: float) -> None:
        self.post("clock", {"advance_s": seconds})

    def set_price(self, pair: str, price: str) -> None:
        self.post("price", {"pair": pair, "price": price})

    def faults(self, config: dict[str, Any]) -> Any:
        return self.post("faults", config)


_names = itertools.count()


def unique_name(prefix: str) -> str:
    return f"{prefix}-{next(_names)}-{time.monotonic_ns() % 10**6}"
