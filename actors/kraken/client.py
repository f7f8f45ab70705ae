"""One API key's connection to Kraken through krakenex.

Per call: wait as long as the local rate model says (never longer), take the next
persistent nonce and send while holding the key's call lock (so calls arrive in nonce
order), and turn every failure into a typed KrakenError. Reads are retried with backoff;
a write whose outcome is unknown is never resent here (the order manager reconciles by
client order id first). `EAPI:Invalid nonce` is recovered by one nonce jump; a
`Temporary lockout` stops every call on the key until it has passed.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import krakenex
import requests

from actors.kraken.errors import (
    DEFAULT_LOCKOUT_S,
    WRITE_METHODS,
    KrakenError,
    RateLimitError,
    RetryPolicy,
    TemporaryLockout,
    classify_response,
    from_transport,
)
from actors.kraken.limits import RateLimiter
from actors.kraken.nonce import NonceStore
from actors.kraken.stats import ClientStats

log = logging.getLogger("nija.kraken")
Scalar = str | int | Decimal | bool


def clean_params(data: Mapping[str, Scalar | None] | None) -> dict[str, str]:
    """Only scalar strings reach krakenex: it signs `urlencode(data)` while requests sends
    the dict, and the two disagree for None and lists (EAPI:Invalid signature)."""
    out: dict[str, str] = {}
    for key, value in (data or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, Decimal):
            out[key] = format(value, "f")
        elif isinstance(value, (str, int)):
            out[key] = str(value)
        else:
            raise TypeError(f"parameter {key!r} must be a scalar, not {type(value).__name__}")
    return out


class KrakenClient:
    def __init__(self, url: str, api_key: str, api_secret: str, *, nonces: NonceStore,
                 limiter: RateLimiter, stats: ClientStats | None = None,
                 retry: RetryPolicy | None = None, timeout_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 limits_file: Path | None = None,
                 lockout_s: float = DEFAULT_LOCKOUT_S) -> None:
        self._api = krakenex.API(api_key, api_secret)
        self._api.uri = url.rstrip("/")
        self._api._nonce = self._take_nonce  # called by krakenex inside query_private
        self._nonce_for_call = 0
        self.nonces = nonces
        self.limiter = limiter
        self.stats = stats or ClientStats()
        self.retry = retry or RetryPolicy()
        self.timeout_s = timeout_s
        self.clock = clock
        self.sleep = sleep
        self.locked_until = 0.0  # monotonic; set by EGeneral:Temporary lockout
        self.lockout_s = lockout_s  # how long a lockout stops every call on the key
        self.on_lockout: Callable[[float], None] | None = None  # told of each venue lockout
        self.limits_file = limits_file
        if limits_file is not None:
            self._restore_limits(limits_file)

    def _restore_limits(self, path: Path) -> None:
        try:
            snapshot = json.loads(path.read_text())
            self.limiter.restore(snapshot, self.clock(), time.time())
        except FileNotFoundError:
            return
        except (ValueError, KeyError, TypeError):
            # unreadable: assume the counter is full rather than empty (a few slow calls)
            log.warning("rate-limit state %s unreadable; starting from a full counter", path)
            self.limiter.rest.seed(self.limiter.rest.limit, self.clock())

    def _save_limits(self) -> None:
        """After every call, without fsync: losing it costs a few waits, never an order."""
        if self.limits_file is None:
            return
        tmp = self.limits_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.limiter.snapshot(self.clock(), time.time())))
        os.replace(tmp, self.limits_file)

    def __repr__(self) -> str:  # the krakenex object holds key and secret: never print it
        return f"KrakenClient(url={self._api.uri!r})"

    def _take_nonce(self) -> int:
        return self._nonce_for_call

    # -- private -------------------------------------------------------------------

    def private(self, method: str, data: Mapping[str, Scalar | None] | None = None, *,
                pair: str | None = None, order_age_s: float | None = None,
                expect_error: bool = False) -> Any:
        """The `result` of a signed call, or a KrakenError (logged as a warning unless the
        caller expects refusals, as the permission probe does)."""
        params = clean_params(data)
        is_write = method in WRITE_METHODS
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._attempt(method, params, pair, order_age_s)
            except KrakenError as exc:
                self._account(method, exc, expect_error)
                if isinstance(exc, TemporaryLockout):
                    self._locked_out(exc)
                    raise
                if exc.nonce_error and attempt == 1:
                    self.nonces.jump()
                    self.stats.nonce_recoveries += 1
                    continue
                if isinstance(exc, RateLimitError):
                    self.limiter.on_rate_limited(method, self.clock(), pair)
                    if attempt < self.retry.max_attempts:
                        continue  # the resynchronised model makes the next wait long enough
                    raise
                if not self.retry.should_retry(exc, attempt, is_write):
                    raise
                self.sleep(self.retry.delay(attempt, exc, time.time()))

    def _locked_out(self, exc: TemporaryLockout) -> None:
        """The venue's lockout (not our own refusal during one) starts the quiet period and
        is reported, so a restarted actor keeps it too instead of extending it."""
        now = self.clock()
        if now < self.locked_until:
            return  # refused locally: the lockout already known is still running
        self.locked_until = now + exc.lockout_s
        if self.on_lockout is not None:
            self.on_lockout(exc.lockout_s)

    def _attempt(self, method: str, params: dict[str, str], pair: str | None,
                 order_age_s: float | None) -> Any:
        now = self.clock()
        if now < self.locked_until:
            raise TemporaryLockout(f"{method}: key locked out for another "
                                   f"{self.locked_until - now:.0f}s", method=method)
        with self.nonces.call_lock:
            wait = self.limiter.reserve(method, self.clock(), pair=pair, order_age_s=order_age_s)
            if wait > 0:
                self.stats.rate_limit_wait_s += wait
                self.sleep(wait)
            self._nonce_for_call = self.nonces.next()
            started = time.perf_counter()
            try:
                response = self._api.query_private(method, dict(params), timeout=self.timeout_s)
            except (requests.RequestException, ValueError) as exc:
                self.stats.observe(method, "transport_error", time.perf_counter() - started)
                raise from_transport(method, exc) from None
            finally:
                self._save_limits()
            elapsed = time.perf_counter() - started
        if not isinstance(response, dict):
            self.stats.observe(method, "malformed", elapsed)
            raise from_transport(method, ValueError("not an object"))
        classify_response(method, response, lockout_s=self.lockout_s)
        self.stats.observe(method, "ok", elapsed)
        return response["result"]

    def _account(self, method: str, exc: KrakenError, expected: bool) -> None:
        """Count and log a refusal. One the caller asked for (the permission probe's
        validate-only order, its cancel of an order that cannot exist) is counted as
        `expected_refusal`, so error rates and alerts see only real errors."""
        benign = expected and not (exc.nonce_error or isinstance(exc, RateLimitError))
        outcome = "expected_refusal" if benign else type(exc).__name__
        level = logging.DEBUG if expected else logging.WARNING
        if exc.nonce_error:
            self.stats.nonce_errors += 1
        if isinstance(exc, RateLimitError):
            self.stats.rate_limit_errors += 1
        if exc.errors:  # transport failures were observed where they happened
            self.stats.observe(method, outcome, 0.0, timed=False)
        log.log(level, "%s", exc)

    # -- public --------------------------------------------------------------------

    def public(self, method: str, data: Mapping[str, Scalar | None] | None = None) -> Any:
        params = clean_params(data)
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                response = self._api.query_public(method, params, timeout=self.timeout_s)
                if not isinstance(response, dict):
                    raise ValueError("not an object")
                classify_response(method, response)
            except (requests.RequestException, ValueError, KrakenError) as exc:
                error = from_transport(method, exc)
                self.stats.observe(method, type(error).__name__, time.perf_counter() - started)
                if not self.retry.should_retry(error, attempt, is_write=False):
                    raise error from None
                self.sleep(self.retry.delay(attempt, error, time.time()))
                continue
            self.stats.observe(method, "ok", time.perf_counter() - started)
            return response["result"]

    def close(self) -> None:
        self._api.session.close()
