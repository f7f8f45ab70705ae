"""Kraken's two rate counters as the venue enforces them: REST calls per key, trades per pair.

Numbers from Kraken's rate-limit guides (see docs/simulator.md). Pure: `now` is passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

DecayMode = Literal["continuous", "discrete"]


@dataclass(frozen=True, slots=True)
class TierLimits:
    rest_max: float
    rest_decay: float  # per second
    trade_threshold: float
    trade_decay: float  # per second
    max_open_orders: int  # per pair


TIERS: dict[str, TierLimits] = {
    "starter": TierLimits(15, 0.33, 60, 1.0, 60),
    "intermediate": TierLimits(20, 0.5, 125, 2.34, 80),
    "pro": TierLimits(20, 1.0, 180, 3.75, 225),
}

# REST counter cost per private method; methods absent here cost 1.
# AddOrder/CancelOrder and their batch/amend relatives ride the trading counter instead.
REST_COST_OVERRIDES: dict[str, int] = {
    "Ledgers": 2, "QueryLedgers": 2, "TradesHistory": 2, "QueryTrades": 2,
    "AddOrder": 0, "AddOrderBatch": 0, "CancelOrder": 0, "CancelOrderBatch": 0,
    "EditOrder": 0, "AmendOrder": 0,
}

# Age-dependent penalties (seconds-below, points) on top of each transaction's fixed part.
_AGE_BANDS = (5.0, 10.0, 15.0, 45.0, 90.0, 300.0)
_PENALTIES: dict[str, tuple[int, tuple[int, ...]]] = {
    "add": (1, (0, 0, 0, 0, 0, 0)),
    "amend": (1, (3, 2, 1, 0, 0, 0)),
    "edit": (1, (6, 5, 4, 2, 1, 0)),
    "cancel": (0, (8, 6, 5, 4, 2, 1)),
}


def trade_increment(action: str, order_age_s: float) -> int:
    """Counter increment for one transaction on an order of the given age."""
    fixed, by_age = _PENALTIES[action]
    for limit, points in zip(_AGE_BANDS, by_age, strict=True):
        if order_age_s < limit:
            return fixed + points
    return fixed


def rest_cost(method: str, ledger_cost: int = 2) -> int:
    cost = REST_COST_OVERRIDES.get(method, 1)
    return ledger_cost if cost == 2 else cost


class DecayingCounter:
    """A counter that rises by each call's cost and decays linearly towards zero.

    `discrete` decay removes whole units only, as Kraken's "every couple of seconds"
    wording suggests; `continuous` removes fractions too.
    """

    __slots__ = ("_anchor", "_value", "decay", "mode")

    def __init__(self, decay: float, mode: DecayMode = "continuous", now: float = 0.0) -> None:
        self.decay = decay
        self.mode = mode
        self._value = 0.0
        self._anchor = now

    def level(self, now: float) -> float:
        drained = max(0.0, now - self._anchor) * self.decay
        if self.mode == "discrete":
            drained = math.floor(drained + 1e-9)
        return max(0.0, self._value - drained)

    def add(self, now: float, amount: float) -> None:
        current = self.level(now)
        if self.mode == "discrete" and current > 0:
            # keep the partial unit already drained so discrete decay does not lose time
            used = math.floor(max(0.0, now - self._anchor) * self.decay + 1e-9)
            self._anchor += used / self.decay if self.decay else 0.0
        else:
            self._anchor = now
        self._value = current + amount


@dataclass
class RestLimiter:
    """The per-key REST call counter. Over the max, calls fail and (by default) still count."""

    max: float
    counter: DecayingCounter
    count_rejected: bool = True

    def admit(self, now: float, cost: int) -> bool:
        if cost == 0:
            return True
        level = self.counter.level(now)
        if level + cost <= self.max:
            self.counter.add(now, cost)
            return True
        if self.count_rejected:
            # rejected calls keep the key pinned, bounded so it can recover
            self.counter.add(now, min(cost, 2 * self.max - level))
        return False


@dataclass
class TradingLimiter:
    """The per-pair trading counter: each transaction is admitted if it stays at or below
    the threshold; a rejected add still pays its fixed +1 (as Kraken documents)."""

    threshold: float
    decay: float
    mode: DecayMode = "continuous"

    def __post_init__(self) -> None:
        self._counters: dict[str, DecayingCounter] = {}

    def _counter(self, pair: str, now: float) -> DecayingCounter:
        counter = self._counters.get(pair)
        if counter is None:
            counter = self._counters[pair] = DecayingCounter(self.decay, self.mode, now)
        return counter

    def level(self, pair: str, now: float) -> float:
        return self._counter(pair, now).level(now)

    def admit(self, pair: str, now: float, increment: float, fixed_on_reject: float = 0) -> bool:
        counter = self._counter(pair, now)
        if counter.level(now) + increment <= self.threshold:
            counter.add(now, increment)
            return True
        if fixed_on_reject:
            counter.add(now, fixed_on_reject)
        return False

    def charge(self, pair: str, now: float, increment: float) -> None:
        """Add without a check (batch cancels are accepted even past the threshold)."""
        self._counter(pair, now).add(now, increment)
