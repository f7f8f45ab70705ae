"""Kraken's public REST endpoints without a key: GET, typed errors, reads retried with
backoff, and every attempt (retries included) paced by the caller's budget.

Why not `KrakenClient.public`: that one needs a key's nonce store and rate limiter, which
public calls do not use, and its retries are not paced, so a burst of retries could break
the venue's per-IP public limit (about 1 call/s). This one also reports the server's clock
from the answer's HTTP `Date` header, so the caller needs no extra `Time` call.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from actors.kraken.client import Scalar, clean_params
from actors.kraken.errors import KrakenError, RetryPolicy, classify_response, from_transport
from actors.kraken.stats import ClientStats

USER_AGENT = "nija-marketdata"


@dataclass(frozen=True)
class PublicAnswer:
    """A call's `result`, and the server's clock when it answered (Unix s, whole seconds;
    None if the answer had no usable Date header)."""

    result: Any
    server_time: float | None


def _server_time(response: requests.Response) -> float | None:
    header = response.headers.get("Date")
    if not header:
        return None
    try:
        return email.utils.parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        return None


class PublicClient:
    """`pace()` is called before every HTTP attempt and may sleep: it is where the caller's
    budget waits and spends. Failures come out as KrakenError subclasses whose text holds
    only the method and Kraken's error strings."""

    def __init__(self, url: str, *, stats: ClientStats | None = None,
                 retry: RetryPolicy | None = None, timeout_s: float = 10.0,
                 pace: Callable[[], None] = lambda: None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = url.rstrip("/")
        self.stats = stats or ClientStats()
        self.retry = retry or RetryPolicy()
        self.timeout_s = timeout_s
        self.pace = pace
        self.sleep = sleep
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT

    def __repr__(self) -> str:
        return f"PublicClient(url={self.url!r})"

    def public(self, method: str, data: Mapping[str, Scalar | None] | None = None
               ) -> PublicAnswer:
        params = clean_params(data)
        attempt = 0
        while True:
            attempt += 1
            self.pace()
            started = time.perf_counter()
            try:
                answer = self._attempt(method, params)
            except KrakenError as exc:
                self.stats.observe(method, type(exc).__name__, time.perf_counter() - started)
                if not self.retry.should_retry(exc, attempt, is_write=False):
                    raise
                self.sleep(self.retry.delay(attempt, exc, time.time()))
                continue
            self.stats.observe(method, "ok", time.perf_counter() - started)
            return answer

    def _attempt(self, method: str, params: dict[str, str]) -> PublicAnswer:
        try:
            response = self.session.get(f"{self.url}/0/public/{method}", params=params,
                                        timeout=self.timeout_s)
            response.raise_for_status()
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise from_transport(method, exc) from None
        if not isinstance(body, dict):
            raise from_transport(method, ValueError("not an object"))
        classify_response(method, body)
        return PublicAnswer(body["result"], _server_time(response))

    def close(self) -> None:
        self.session.close()
