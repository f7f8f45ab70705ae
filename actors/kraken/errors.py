"""Kraken failures as types: every error string and transport failure maps to one class.

Flags each class promises (callers branch on them or on the type, never on substrings):
- `retryable`: a READ may be sent again after backing off;
- `outcome_unknown`: a WRITE may have been applied; reconcile (look it up by cl_ord_id)
  before sending it again;
- `unfixable`: a restart cannot help (bad key, signature or permission);
- `nonce_error`: send once more with a fresh nonce; the call was not applied.

`str(exc)` holds only the method and Kraken's error strings (or the transport failure's type
and HTTP status): never URLs, headers, bodies, keys or secrets. Raise `from None` to keep the
transport exception (whose text has the URL) out of tracebacks.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import requests

from actors.broker import BrokerError, CredentialsInvalid

DEFAULT_LOCKOUT_S = 900.0  # Kraken: "about 15 minutes"; retrying during it extends it
WRITE_METHODS = frozenset({"AddOrder", "AddOrderBatch", "CancelOrder", "CancelOrderBatch",
                           "CancelAll", "CancelAllOrdersAfter", "EditOrder", "AmendOrder"})


class KrakenError(BrokerError):
    retryable: ClassVar[bool] = False
    outcome_unknown: ClassVar[bool] = False
    nonce_error: ClassVar[bool] = False

    def __init__(self, message: str, *, errors: Sequence[str] = (),
                 method: str | None = None) -> None:
        super().__init__(message)
        self.errors = tuple(errors)  # Kraken's raw strings, warnings dropped
        self.method = method
        self.retry_after: float | None = None  # Unix time (s) before which a retry fails
        self._parse()

    def _parse(self) -> None:
        """Subclasses read the parameters of parameterised strings here."""

    def _suffix(self, prefix: str) -> str | None:
        """The text after `prefix` in the first error that has it, stripped."""
        for error in self.errors:
            _, found, rest = _normalise(error).partition(prefix)
            if found and rest:
                return rest.strip()
        return None


# Outcome known, do not retry without a fix: the default flags.
class BadRequest(KrakenError): ...
class UnknownMethod(KrakenError): ...
class UnknownAssetPair(KrakenError): ...
class UnknownAsset(KrakenError): ...
class UnknownOrder(KrakenError): ...  # not open: often filled or cancelled already; reconcile
class DuplicateOrder(KrakenError): ...  # cl_ord_id already open: it exists, look it up
class FundingRejected(KrakenError): ...  # EFunding:*, EEarnings:*
class AccountRestricted(KrakenError): ...  # regional limits, agreements, disabled features


class InvalidArguments(KrakenError):
    """`field` is Kraken's suffix: a parameter name, sometimes with a reason."""

    def _parse(self) -> None:
        self.field = self._suffix("Invalid arguments:")


class OrderRejected(KrakenError):
    """The venue refused the order; it was not placed."""


class InsufficientFunds(OrderRejected): ...
class OrderMinimumNotMet(OrderRejected): ...
class CostMinimumNotMet(OrderRejected): ...
class TickSizeError(OrderRejected): ...
class InvalidOrder(OrderRejected): ...
class PostOnlyRejected(OrderRejected): ...
class OrdersLimitExceeded(OrderRejected): ...
class MarketClosed(OrderRejected): ...  # EService:Market in cancel_only / post_only mode
class MarginRejected(OrderRejected): ...  # margin, positions, reduce-only


class InvalidPrice(OrderRejected):
    """`max_decimals` is set when Kraken said how many decimals the pair allows."""

    def _parse(self) -> None:
        found = re.search(r"up to (\d+) decimals", self._suffix("Invalid price:") or "")
        self.max_decimals = int(found.group(1)) if found else None


class CredentialsRejected(KrakenError, CredentialsInvalid):
    unfixable = True


class InvalidKey(CredentialsRejected): ...
class InvalidSignature(CredentialsRejected): ...
class PermissionDenied(CredentialsRejected): ...
class AccountLocked(CredentialsRejected): ...


class InvalidNonce(KrakenError):
    """Not applied (an AddOrder was not placed); repeated ones lead to a lockout."""
    nonce_error = True


class TemporaryLockout(KrakenError):
    """The key is locked out for `lockout_s`; any call before then extends the lockout."""
    lockout_s: float = DEFAULT_LOCKOUT_S


class RateLimitError(KrakenError):
    """Refused before it was applied; retry (reads and writes) once the counter decays."""
    retryable = True


class RateLimited(RateLimitError): ...  # the per-key REST call counter
class TooManyRequests(RateLimitError): ...
class TradingRateLimited(RateLimitError): ...  # the per-pair matching-engine counter


class Throttled(RateLimitError):
    """Too many concurrent requests; `retry_after` is the Unix time Kraken named."""

    def _parse(self) -> None:
        try:
            self.retry_after = float(self._suffix("Throttled:") or "")
        except ValueError:
            self.retry_after = None


class OutcomeUnknown(KrakenError):
    """The venue or the path to it failed mid-call: reads retry, writes reconcile first."""
    retryable = True
    outcome_unknown = True


class ServiceUnavailable(OutcomeUnknown): ...
class ServiceBusy(OutcomeUnknown): ...
class DeadlineElapsed(OutcomeUnknown): ...
class InternalError(OutcomeUnknown): ...
class CancelPending(OutcomeUnknown): ...
class TransportError(OutcomeUnknown): ...  # refused, reset, dropped, timed out
class MalformedResponse(OutcomeUnknown): ...  # not JSON, or not Kraken's envelope


class HTTPStatusError(OutcomeUnknown):
    """A non-2xx answer, typically Cloudflare's 5xx/520-524 with an HTML body."""

    def __init__(self, message: str, *, errors: Sequence[str] = (), method: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message, errors=errors, method=method)
        self.status = status


class UnknownKrakenError(KrakenError):
    """A string this table lacks: not retried, and a write is reconciled to be safe."""
    outcome_unknown = True


# One table. A key ending in "*" matches by prefix (the longest prefix wins); exact keys first.
ERROR_TABLE: Mapping[str, type[KrakenError]] = {
    "EAPI:Invalid key": InvalidKey,
    "EAPI:Invalid signature": InvalidSignature,
    "EAPI:Invalid nonce": InvalidNonce,
    "EAPI:Bad request": BadRequest,
    "EAPI:Rate limit exceeded": RateLimited,
    "EAPI:Invalid arguments": InvalidArguments,
    "EAPI:Invalid arguments:*": InvalidArguments,
    "EGeneral:Permission denied": PermissionDenied,
    "EGeneral:Invalid arguments": InvalidArguments,
    "EGeneral:Invalid arguments:*": InvalidArguments,
    "EGeneral:Invalid arguments:volume minimum not met": OrderMinimumNotMet,
    "EGeneral:Temporary lockout": TemporaryLockout,
    "EGeneral:Too many requests": TooManyRequests,
    "EGeneral:Internal error": InternalError,
    "EGeneral:Internal error:*": InternalError,
    "EGeneral:Unknown method": UnknownMethod,
    "EGeneral:Feature disabled": AccountRestricted,
    "EService:Unavailable": ServiceUnavailable,
    "EService:Busy": ServiceBusy,
    "EService:Throttled:*": Throttled,
    "EService:Deadline elapsed": DeadlineElapsed,
    "EService:Market in *": MarketClosed,
    "EDatabase:Internal error": InternalError,
    "EOrder:Insufficient funds": InsufficientFunds,
    "EOrder:Order minimum not met": OrderMinimumNotMet,
    "EOrder:Cost minimum not met": CostMinimumNotMet,
    "EOrder:Tick size check failed": TickSizeError,
    "EOrder:Invalid price": InvalidPrice,
    "EOrder:Invalid price:*": InvalidPrice,
    "EOrder:Invalid order": InvalidOrder,
    "EOrder:Post only order": PostOnlyRejected,
    "EOrder:Duplicate order": DuplicateOrder,
    "EOrder:Rate limit exceeded": TradingRateLimited,
    "EOrder:Domain rate limit exceeded": TradingRateLimited,
    "EOrder:Orders limit exceeded": OrdersLimitExceeded,
    "EOrder:Scheduled orders limit exceeded": OrdersLimitExceeded,
    "EOrder:Unknown order": UnknownOrder,
    "EOrder:Cancel pending": CancelPending,
    "EOrder:Trading agreement required": AccountRestricted,
    **dict.fromkeys(("EOrder:Positions limit exceeded", "EOrder:Unknown position",
                     "EOrder:Cannot open position", "EOrder:Cannot open opposing position",
                     "EOrder:Margin allowance exceeded", "EOrder:Margin level too low",
                     "EOrder:Margin position size exceeded", "EOrder:Insufficient margin",
                     "EOrder:Reduce only:*"), MarginRejected),
    "EQuery:Unknown asset pair": UnknownAssetPair,
    "EQuery:Invalid asset pair": UnknownAssetPair,
    "EQuery:Unknown asset": UnknownAsset,
    "ETrade:Invalid request": BadRequest,
    "ETrade:User Locked": AccountLocked,
    "EAuth:Account temporary disabled": AccountLocked,
    "EAuth:Account unconfirmed": AccountLocked,
    "EAuth:Rate limit exceeded": TooManyRequests,
    "EAuth:Too many requests": TooManyRequests,
    "EAuth:Failed": InvalidKey,
    "EAccount:Invalid permissions": PermissionDenied,
    "ESession:Invalid session": InvalidKey,
    "EFunding:*": FundingRejected,
    "EEarnings:*": FundingRejected,
    "EBM:*": AccountRestricted,
}
_EXACT = {k: v for k, v in ERROR_TABLE.items() if not k.endswith("*")}
_PREFIXES = sorted(((k[:-1], v) for k, v in ERROR_TABLE.items() if k.endswith("*")),
                   key=lambda kv: -len(kv[0]))


def _normalise(error: str) -> str:
    """`EService: Throttled: 1` -> `EService:Throttled: 1` (spacing varies between sources)."""
    category, _, rest = error.strip().partition(":")
    return f"{category.strip()}:{rest.lstrip()}" if rest else category.strip()


def error_class(error: str) -> type[KrakenError]:
    key = _normalise(error)
    exact = _EXACT.get(key)
    if exact is not None:
        return exact
    return next((cls for prefix, cls in _PREFIXES if key.startswith(prefix)), UnknownKrakenError)


def _severity(cls: type[KrakenError]) -> int:
    return 2 if cls.unfixable else 1 if issubclass(cls, TemporaryLockout) else 0


def classify_response(method: str, response: Mapping[str, Any], *,
                      lockout_s: float = DEFAULT_LOCKOUT_S) -> None:
    """Raise the mapped error if Kraken's envelope reports one; `W...` warnings are not errors.

    With several errors the most severe (unfixable, then lockout, then the first) picks the
    class; all are kept in `.errors`. Returning means `response["result"]` is present."""
    raw = response.get("error", [])
    if not isinstance(raw, list) or not all(isinstance(e, str) for e in raw):
        raise MalformedResponse(f"{method}: malformed error list", method=method)
    errors = [e for e in raw if not e.lstrip().startswith("W")]
    if not errors:
        if "result" not in response:
            raise MalformedResponse(f"{method}: no result", method=method)
        return
    cls = max((error_class(e) for e in errors), key=_severity)
    exc = cls(f"{method}: {', '.join(errors)}", errors=errors, method=method)
    if isinstance(exc, TemporaryLockout):
        exc.lockout_s = lockout_s
    raise exc


def from_transport(method: str, exc: BaseException) -> KrakenError:
    """Map a requests/krakenex failure; the text keeps only its type and HTTP status."""
    if isinstance(exc, KrakenError):
        return exc
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else None
        if status == 404:
            return UnknownMethod(f"{method}: HTTP 404", method=method)
        return HTTPStatusError(f"{method}: HTTP {status}", method=method, status=status)
    if isinstance(exc, json.JSONDecodeError | requests.JSONDecodeError):
        return MalformedResponse(f"{method}: response is not JSON", method=method)
    if isinstance(exc, requests.RequestException | OSError):
        return TransportError(f"{method}: {type(exc).__name__}", method=method)
    if isinstance(exc, ValueError):
        return MalformedResponse(f"{method}: {type(exc).__name__}", method=method)
    return UnknownKrakenError(f"{method}: {type(exc).__name__}", method=method)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with equal jitter: attempt n waits within
    [c/2, c] seconds, c = min(cap_s, base_s * 2**(n-1)). `attempt` counts from 1."""

    rng: random.Random = field(default_factory=random.Random)
    base_s: float = 0.5
    cap_s: float = 30.0
    max_attempts: int = 4

    def __post_init__(self) -> None:
        if not (0 < self.base_s <= self.cap_s and self.max_attempts >= 1):
            raise ValueError("need 0 < base_s <= cap_s and max_attempts >= 1")

    def delay(self, attempt: int, exc: KrakenError | None = None,
              now: float | None = None) -> float:
        """Seconds to wait after failed attempt `attempt`; at least until `exc.retry_after`."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(max(attempt, 1) - 1, 64))
        wait = ceiling / 2 + self.rng.uniform(0, ceiling / 2)
        if exc is not None and exc.retry_after is not None and now is not None:
            wait = max(wait, exc.retry_after - now)
        return wait

    def should_retry(self, exc: KrakenError, attempt: int, is_write: bool) -> bool:
        """Writes whose outcome is unknown are never resent blindly (reconcile first); a
        nonce error is retried only after the first attempt; a lockout never."""
        if attempt >= self.max_attempts or isinstance(exc, TemporaryLockout) or exc.unfixable:
            return False
        if exc.nonce_error:
            return attempt == 1
        if is_write and exc.outcome_unknown:
            return False
        return exc.retryable
