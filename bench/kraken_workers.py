"""Child-process bodies for `bench.kraken` (spawned; kept light: no simulator imports).

Every worker gets its key material through the spawn pipe (pickled arguments), never
through argv or the environment, and reports through a queue or a shared counter.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import krakenex
import requests

from actors.kraken.client import KrakenClient
from actors.kraken.errors import KrakenError
from actors.kraken.limits import TIERS, RateLimiter, TierLimits
from actors.kraken.nonce import NonceStore

# The venue's counters are off for the nonce run: the client's local model must not
# throttle either, or 10,000 calls would take hours at 1 call/s.
UNLIMITED = TierLimits(1e12, 1e12, 1e12, 1e12, 10**6)


def quiet_client_logs() -> None:
    """The client logs every refused call as a warning; a benchmark counts them instead."""
    nija = logging.getLogger("nija")
    nija.addHandler(logging.NullHandler())
    nija.propagate = False


def _wait_until(start_at: float) -> None:
    while time.time() < start_at:
        time.sleep(min(0.01, max(0.0, start_at - time.time())))


def _response_errors(response: Any) -> list[str]:
    if not isinstance(response, dict):
        return ["<malformed>"]
    return [str(e) for e in response.get("error") or []]


# -- part 1: rate-limit utilisation ------------------------------------------------------

def throttle_worker(kind: str, url: str, key: str, secret: str, tier: str, calls: int,
                    state_dir: str, start_at: float, out: Any) -> None:
    """`calls` Balance calls from a cold counter, one of three ways:

    - "nija": KrakenClient with its RateLimiter model and persistent NonceStore;
    - "krakenex": plain krakenex, no throttling, its default millisecond nonce;
    - "fixed": plain krakenex, one call every cost/decay seconds (the sustained rate).
    """
    quiet_client_logs()
    errors: Counter[str] = Counter()
    ok = 0
    extra: dict[str, Any] = {}
    limits = TIERS[tier]
    if kind == "nija":
        store = NonceStore(Path(state_dir))
        client = KrakenClient(url, key, secret, nonces=store, limiter=RateLimiter(tier))
        _wait_until(start_at)
        started = time.perf_counter()
        for _ in range(calls):
            try:
                client.private("Balance")
                ok += 1
            except KrakenError as exc:
                errors[", ".join(exc.errors) or type(exc).__name__] += 1
        seconds = time.perf_counter() - started
        extra = {"client_rate_limit_errors": client.stats.rate_limit_errors,
                 "client_nonce_errors": client.stats.nonce_errors,
                 "client_waited_s": round(client.stats.rate_limit_wait_s, 3),
                 "nonce_store_writes": store.writes}
        client.close()
        store.close()
    else:
        api = krakenex.API(key, secret)
        api.uri = url
        interval = 1.0 / limits.rest_decay  # Balance costs 1 unit
        _wait_until(start_at)
        started = time.perf_counter()
        for i in range(calls):
            if kind == "fixed":
                delay = started + i * interval - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            try:
                found = _response_errors(api.query_private("Balance", timeout=10))
            except (requests.RequestException, ValueError) as exc:  # a naive client's failure
                found = [f"<{type(exc).__name__}>"]
            if found:
                errors.update(found)
            else:
                ok += 1
        seconds = time.perf_counter() - started
        api.session.close()
    out.put({"kind": kind, "tier": tier, "calls": calls, "ok": ok, "seconds": seconds,
             "errors": dict(errors), **extra})


# -- part 2: nonce safety ----------------------------------------------------------------

def nonce_worker(url: str, key: str, secret: str, state_dir: str, calls: int,
                 progress: Any) -> None:
    """One incarnation: up to `calls` Balance calls with a persistent NonceStore, counting
    finished calls in `progress` (a shared int) until it is done or SIGKILLed."""
    quiet_client_logs()
    parent = os.getppid()
    store = NonceStore(Path(state_dir))
    client = KrakenClient(url, key, secret, nonces=store, limiter=RateLimiter(UNLIMITED))
    for _ in range(calls):
        if os.getppid() != parent:
            break  # the benchmark is gone: do not retry against a stopped venue for hours
        # a refusal is counted by the venue (nonce rejections are what matter); keep calling
        with contextlib.suppress(KrakenError):
            client.private("Balance")
        progress.value += 1
    client.close()
    store.close()


def krakenex_nonce_worker(url: str, key: str, secret: str, calls: int, start_at: float,
                          out: Any) -> None:
    """Plain krakenex (millisecond nonce) in a tight loop; another process shares the key."""
    api = krakenex.API(key, secret)
    api.uri = url
    errors: Counter[str] = Counter()
    invalid_at: list[float] = []
    ok = 0
    _wait_until(start_at)
    for _ in range(calls):
        try:
            found = _response_errors(api.query_private("Balance", timeout=10))
        except (requests.RequestException, ValueError) as exc:  # a naive client's failure
            found = [f"<{type(exc).__name__}>"]
        if not found:
            ok += 1
        errors.update(found)
        if "EAPI:Invalid nonce" in found:
            invalid_at.append(time.time())
    api.session.close()
    out.put({"calls": calls, "ok": ok, "errors": dict(errors), "invalid_at": invalid_at})
