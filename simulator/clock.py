"""The venue's two clocks, derived from one time source.

`now()` is server time: it drives rate-limit decay, lockouts, the dead man's
switch and order timestamps, so client-side models calibrated on real seconds
stay valid. `market_now()` is market time: the price path and candles advance
`speed` times faster, so paper trading shows activity quickly. Tests move both
forward with `advance()` instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class VenueClock:
    def __init__(self, speed: float = 1.0, source: Callable[[], float] = time.time) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self._source = source
        self._offset = 0.0
        self.speed = speed
        self.started_at = source()

    def now(self) -> float:
        """Server time, unix seconds."""
        return self._source() + self._offset

    def market_now(self) -> float:
        """Market time, unix seconds: equal to server time at start, then `speed` times faster."""
        return self.started_at + (self.now() - self.started_at) * self.speed

    def advance(self, seconds: float) -> None:
        """Jump server time forward (market time moves `speed` times as far)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds
