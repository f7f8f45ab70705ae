"""A local model of Kraken's two rate counters, so the client waits *just* long enough.

Kraken keeps a REST call counter per API key and a trading counter per pair; each rises by
a call's cost and decays linearly, and a call is admitted if `level + cost <= max`
(kraken-api.md §5). We mirror both and ask, before each call, how long to wait so the
venue never answers `EAPI:Rate limit exceeded` / `EOrder:Rate limit exceeded`.

The venue's numbers are not quite ours: its clock differs from ours by tens of ms, and it
may decay in whole units ("every couple of seconds"). So the model keeps `headroom` units
below the max and decays at `decay_factor` x the nominal rate. The defaults (0.5, 0.99)
survive a whole-unit decay and +/-50 ms of timing error at every tier while still using
>= 97% of the theoretical ceiling N(T) = floor((M + r*T) / c) over a 60 s window.

Pure: no clock or sleep inside. Times are monotonic seconds passed in as `now`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

TradeAction = Literal["add", "amend", "edit", "cancel"]

DEFAULT_HEADROOM = 0.5
DEFAULT_DECAY_FACTOR = 0.99
DEFAULT_AGE_MARGIN_S = 0.1  # the venue dates orders by its own arrival times, not our send times
_EPS = 1e-9  # float slack in the admission test, far below any unit that matters


@dataclass(frozen=True, slots=True)
class TierLimits:
    """One verification tier's limits: REST counter per key, trading counter per pair."""

    rest_max: float
    rest_decay: float  # units per second
    trade_threshold: float
    trade_decay: float  # units per second
    max_open_orders: int  # per pair; enforced by the order book owner, kept here as data


TIERS: dict[str, TierLimits] = {
    "starter": TierLimits(15, 0.33, 60, 1.0, 60),
    "intermediate": TierLimits(20, 0.5, 125, 2.34, 80),
    "pro": TierLimits(20, 1.0, 180, 3.75, 225),
}

# Private REST methods off the default cost of 1. Order entry rides the trading counter.
_REST_COSTS: dict[str, int] = {
    "Ledgers": 2, "QueryLedgers": 2, "TradesHistory": 2, "QueryTrades": 2,
    "AddOrder": 0, "CancelOrder": 0, "AddOrderBatch": 0, "CancelOrderBatch": 0,
    "EditOrder": 0, "AmendOrder": 0,
}
TRADING_METHODS: dict[str, TradeAction] = {
    "AddOrder": "add", "AmendOrder": "amend", "EditOrder": "edit", "CancelOrder": "cancel",
    "AddOrderBatch": "add", "CancelOrderBatch": "cancel",
}
# Trading increments: fixed part, then a penalty by the order's age (created or last amended).
_AGE_BANDS = (5.0, 10.0, 15.0, 45.0, 90.0, 300.0)
_TRADE_COSTS: dict[str, tuple[int, tuple[int, ...]]] = {
    "add": (1, (0, 0, 0, 0, 0, 0)),
    "amend": (1, (3, 2, 1, 0, 0, 0)),
    "edit": (1, (6, 5, 4, 2, 1, 0)),
    "cancel": (0, (8, 6, 5, 4, 2, 1)),
}


def rest_cost(method: str) -> int:
    """REST counter units for one private call (0: it is on the trading counter instead)."""
    return _REST_COSTS.get(method, 1)


def trade_cost(action: TradeAction, order_age_s: float) -> int:
    """Trading counter units for one action on an order of this age (seconds)."""
    fixed, penalties = _TRADE_COSTS[action]
    for below, penalty in zip(_AGE_BANDS, penalties, strict=True):
        if order_age_s < below:
            return fixed + penalty
    return fixed


class CounterModel:
    """Our conservative copy of one decaying counter (`limit`, `decay` units/s).

    Invariant: the modelled level is never below the venue's, so a call admitted here
    (`level + cost <= limit - headroom`) is admitted there. Calls are recorded at the
    time they will be sent, which may be in the future; later calls queue behind them.
    """

    def __init__(self, limit: float, decay: float, *, headroom: float = DEFAULT_HEADROOM,
                 decay_factor: float = DEFAULT_DECAY_FACTOR) -> None:
        if not 0 <= headroom < limit:
            raise ValueError(f"headroom must be in [0, {limit}), got {headroom}")
        if not 0 < decay_factor <= 1:
            raise ValueError(f"decay_factor must be in (0, 1], got {decay_factor}")
        self.limit = limit
        self.cap = limit - headroom
        self.rate = decay * decay_factor
        self.rate_limited_total = 0
        self._value = 0.0
        self._at = float("-inf")  # time of the last change (possibly a future send time)

    def _value_at(self, t: float) -> float:
        return max(0.0, self._value - self.rate * (t - self._at)) if self._value else 0.0

    def level(self, now: float) -> float:
        """Modelled level at `now` (at the last queued send time if that is later)."""
        return self._value_at(max(now, self._at))

    def wait_time(self, now: float, cost: float) -> float:
        """Seconds from `now` until `level + cost <= limit - headroom`. A cost above the
        whole allowance (a big batch cancel, which Kraken accepts) waits for an empty counter."""
        if cost <= 0:
            return 0.0
        start = max(now, self._at)
        excess = self._value_at(start) + min(cost, self.cap) - self.cap
        return start - now + (excess / self.rate if excess > _EPS else 0.0)

    def record(self, now: float, cost: float) -> None:
        """A call of `cost` is sent at `now` (a send time from `wait_time`, never earlier)."""
        if cost > 0:
            start = max(now, self._at)
            self._value, self._at = self._value_at(start) + cost, start

    def on_rate_limited(self, now: float, cost: float = 0.0) -> None:
        """The venue refused a call: its counter is at least full, plus the refused call's
        `cost` if it counts refusals. Resynchronise to that so the next wait backs off;
        repeated refusals push the level higher still. Already-issued waits stand."""
        start = max(now, self._at)
        self._value, self._at = max(self._value_at(start), self.limit) + cost, start
        self.rate_limited_total += 1


    def seed(self, level: float, now: float) -> None:
        """Start from at least `level` (a previous incarnation's counter, decayed since)."""
        start = max(now, self._at)
        self._value, self._at = max(self._value_at(start), level), start


class CallCounter(CounterModel):
    """The REST call counter of one API key."""

    def __init__(self, tier: TierLimits, *, headroom: float = DEFAULT_HEADROOM,
                 decay_factor: float = DEFAULT_DECAY_FACTOR) -> None:
        super().__init__(tier.rest_max, tier.rest_decay, headroom=headroom,
                         decay_factor=decay_factor)


class TradingCounter:
    """The trading counters of one account, one per pair, independent of each other."""

    def __init__(self, tier: TierLimits, *, headroom: float = DEFAULT_HEADROOM,
                 decay_factor: float = DEFAULT_DECAY_FACTOR) -> None:
        self._tier, self._headroom, self._factor = tier, headroom, decay_factor
        self._pairs: dict[str, CounterModel] = {}

    def pair(self, pair: str) -> CounterModel:
        model = self._pairs.get(pair)
        if model is None:
            model = self._pairs[pair] = CounterModel(
                self._tier.trade_threshold, self._tier.trade_decay,
                headroom=self._headroom, decay_factor=self._factor)
        return model

    def wait_time(self, pair: str, now: float, cost: float) -> float:
        return self.pair(pair).wait_time(now, cost)

    def record(self, pair: str, now: float, cost: float) -> None:
        self.pair(pair).record(now, cost)

    def on_rate_limited(self, pair: str, now: float, cost: float = 0.0) -> None:
        self.pair(pair).on_rate_limited(now, cost)

    def level(self, pair: str, now: float) -> float:
        return self.pair(pair).level(now)


class RateLimiter:
    """Both counters of one API key behind one question: how long before this call?"""

    def __init__(self, tier: str | TierLimits, *, headroom: float = DEFAULT_HEADROOM,
                 decay_factor: float = DEFAULT_DECAY_FACTOR,
                 age_margin_s: float = DEFAULT_AGE_MARGIN_S) -> None:
        if isinstance(tier, str):
            if tier not in TIERS:
                raise ValueError(f"unknown Kraken tier {tier!r}; expected one of {sorted(TIERS)}")
            tier = TIERS[tier]
        self.tier = tier
        self.age_margin_s = age_margin_s
        self.rest = CallCounter(tier, headroom=headroom, decay_factor=decay_factor)
        self.trading = TradingCounter(tier, headroom=headroom, decay_factor=decay_factor)
        self.waited_seconds_total = 0.0
        self.rate_limited_total = 0

    def _trade_cost(self, method: str, order_age_s: float | None, orders: int) -> float:
        if method == "AddOrderBatch":
            return orders / 2
        # Ages are shortened by the margin (jitter between our clock and the venue's), and
        # taken at `now`, not at the later send time, so the charge is never below the
        # venue's. An unknown age is charged as the youngest band (dearest).
        age = max(0.0, (order_age_s or 0.0) - self.age_margin_s)
        cost = trade_cost(TRADING_METHODS[method], age)
        return cost * orders if method == "CancelOrderBatch" else cost

    def rest_wait(self, method: str, now: float, spare: float = 0.0) -> float:
        """Seconds before `method` could be sent with `spare` units still left on the REST
        counter, booking nothing: lets optional calls (polls) yield to necessary ones."""
        return self.rest.wait_time(now, rest_cost(method) + spare)

    def reserve(self, method: str, now: float, *, pair: str | None = None,
                order_age_s: float | None = None, orders: int = 1) -> float:
        """Seconds to wait before sending `method` (0: send now). The call is booked at
        `now + wait`, so reservations made before it was sent queue correctly. Trading
        methods need their `pair`; cancel/amend/edit want the order's age (for a batch
        cancel, the youngest order's), best measured from the add's or amend's reply."""
        cost = rest_cost(method)
        wait = self.rest.wait_time(now, cost)
        trade = 0.0
        if method in TRADING_METHODS:
            if pair is None:
                raise ValueError(f"{method} needs the pair: its trading counter is per pair")
            trade = self._trade_cost(method, order_age_s, orders)
            wait = max(wait, self.trading.wait_time(pair, now, trade))
        self.rest.record(now + wait, cost)
        if trade:
            self.trading.record(pair or "", now + wait, trade)
        self.waited_seconds_total += wait
        return wait

    def snapshot(self, now: float, wall: float) -> dict[str, Any]:
        """The modelled levels at wall-clock time `wall` (monotonic time does not survive a
        restart). A restarted actor restores them, so its first calls do not assume an empty
        counter the venue still remembers as full."""
        return {"wall": wall, "rest": self.rest.level(now),
                "trading": {p: m.level(now) for p, m in self.trading._pairs.items()}}

    def restore(self, snapshot: Mapping[str, Any], now: float, wall: float) -> None:
        elapsed = max(0.0, wall - float(snapshot["wall"]))
        self.rest.seed(max(0.0, float(snapshot["rest"]) - self.rest.rate * elapsed), now)
        for pair, level in dict(snapshot.get("trading", {})).items():
            model = self.trading.pair(str(pair))
            model.seed(max(0.0, float(level) - model.rate * elapsed), now)

    def on_rate_limited(self, method: str, now: float, pair: str | None = None) -> None:
        """The venue refused `method` as rate limited (someone else shares the key, or our
        clock drifted): resynchronise the counter it hit to full, counting the refusal."""
        if method not in TRADING_METHODS:
            self.rest.on_rate_limited(now, rest_cost(method))
        elif pair is None:
            raise ValueError(f"{method} needs the pair: its trading counter is per pair")
        else:
            # a refused transaction still pays its fixed part (Kraken: a rejected add costs +1)
            self.trading.on_rate_limited(pair, now, _TRADE_COSTS[TRADING_METHODS[method]][0])
        self.rate_limited_total += 1
