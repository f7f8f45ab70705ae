"""Who may call: Kraken's request signature, per-key nonces, and the failure lockout.

All pure: times are passed in, nothing here touches sockets or clocks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections import deque
from dataclasses import dataclass, field


def api_sign(urlpath: str, nonce: str, body: bytes, secret: bytes) -> bytes:
    """Raw HMAC-SHA512 of urlpath + SHA256(nonce + body), as Kraken computes API-Sign.

    `secret` is the already base64-decoded secret; the header carries base64 of the result.
    """
    digest = hashlib.sha256(nonce.encode() + body).digest()
    return hmac.new(secret, urlpath.encode() + digest, hashlib.sha512).digest()


def signature_matches(header: str, urlpath: str, nonce: str, body: bytes, secret: bytes) -> bool:
    try:
        given = base64.b64decode(header, validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(given, api_sign(urlpath, nonce, body, secret))


@dataclass
class NonceGuard:
    """Accepts a nonce only if it exceeds the last accepted one, or lies inside the window.

    Inside a non-zero window an exact repeat is still rejected (the replay-safe reading
    of Kraken's unconfirmed behaviour). Rejected nonces never advance the state.
    """

    window: int = 0
    last: int = 0
    _recent: set[int] = field(default_factory=set)

    def accept(self, nonce: int) -> bool:
        if nonce > self.last:
            if self.window:
                self._recent.add(nonce)
                floor = nonce - self.window
                self._recent = {n for n in self._recent if n > floor}
            self.last = nonce
            return True
        if self.window and nonce > self.last - self.window and nonce not in self._recent:
            self._recent.add(nonce)
            return True
        return False


@dataclass
class LockoutTracker:
    """`threshold` auth failures within `window_s` lock an API key out for `duration_s`.

    Failed calls while locked out extend the lockout, as Kraken warns they do.
    """

    threshold: int = 10
    window_s: float = 60.0
    duration_s: float = 900.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _locked_until: dict[str, float] = field(default_factory=dict)

    def locked(self, ident: str, now: float) -> bool:
        until = self._locked_until.get(ident)
        if until is None:
            return False
        if now < until:
            return True
        del self._locked_until[ident]
        return False

    def extend(self, ident: str, now: float) -> None:
        self._locked_until[ident] = now + self.duration_s

    def record_failure(self, ident: str, now: float) -> bool:
        """Count a failure; True if this one triggers a lockout."""
        times = self._failures.setdefault(ident, deque())
        times.append(now)
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) >= self.threshold:
            times.clear()
            self._locked_until[ident] = now + self.duration_s
            return True
        return False

    def record_success(self, ident: str) -> None:
        self._failures.pop(ident, None)
