"""The client's local rate-limit model against a reference venue that applies Kraken's rule
exactly (admit if level + cost <= max), with continuous or whole-unit decay and clock error.

The reference venue is written here on purpose, not imported from `simulator/`: the client
must agree with Kraken's published numbers, not with our own simulator.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.kraken.limits import (
    DEFAULT_DECAY_FACTOR,
    DEFAULT_HEADROOM,
    TIERS,
    CallCounter,
    CounterModel,
    RateLimiter,
    TradeAction,
    TradingCounter,
    rest_cost,
    trade_cost,
)

WINDOW = 60.0


class Venue:
    """One Kraken counter: admits iff level + cost <= limit. `discrete` decays whole units
    only, on a tick grid shifted by `phase` (a fraction of one tick)."""

    def __init__(self, limit: float, decay: float, *, discrete: bool = False,
                 phase: float = 0.0, count_rejected: bool = False, level: float = 0.0) -> None:
        self.limit, self.decay, self.discrete = limit, decay, discrete
        self.phase, self.count_rejected = phase / decay, count_rejected
        self.value, self.at = level, -math.inf if level == 0 else 0.0
        self.admitted = self.rejected = 0

    def _ticks(self, t: float) -> float:
        return math.floor((t - self.phase) * self.decay + 1e-9)

    def level(self, t: float) -> float:
        if self.value == 0:
            return 0.0
        if self.discrete:
            drained = self._ticks(t) - self._ticks(self.at)
        else:
            drained = (t - self.at) * self.decay
        return max(0.0, self.value - drained)

    def admit(self, t: float, cost: float) -> bool:
        assert t >= self.at, "the venue sees calls in arrival order"
        level = self.level(t)
        ok = level + cost <= self.limit
        if ok or self.count_rejected:
            self.value, self.at = level + cost, t
        self.admitted += ok
        self.rejected += not ok
        return ok


def ceiling(limit: float, decay: float, cost: float, window: float = WINDOW) -> int:
    """Kraken-api.md §5.5: calls that fit in `window` from an empty counter, N = ⌊(M+rT)/c⌋."""
    return math.floor((limit + decay * window) / cost)


def greedy_sends(reserve: Callable[[float], float], window: float = WINDOW) -> list[float]:
    """Send times of a client that calls again as soon as the limiter lets it."""
    now, sends = 0.0, []
    while (t := now + reserve(now)) <= window:
        sends.append(t)
        now = t
    return sends


CLOCKS: dict[str, Callable[[int, float], float]] = {
    "exact": lambda i, t: t,
    "ahead_50ms": lambda i, t: t + 0.05,
    "behind_50ms": lambda i, t: t - 0.05,
    "alternating_50ms": lambda i, t: t + (0.05 if i % 2 else -0.05),
    "random_50ms": lambda i, t: t + random.Random(i).uniform(-0.05, 0.05),
    # the worst ±50 ms case: the cold burst lands late, every later call early
    "late_burst_then_early": lambda i, t: t + 0.05 if t == 0 else t - 0.05,
    "early_burst_then_late": lambda i, t: t - 0.05 if t == 0 else t + 0.05,
    "slow_0.5pct": lambda i, t: t * 0.995,  # the venue's second is a little longer than ours
}


def run(limit: float, decay: float, cost: float, reserve: Callable[[float], float], *,
        clock: str = "exact", discrete: bool = False, phase: float = 0.0) -> tuple[int, int]:
    """(calls sent within the window, venue rejections) for a greedy client."""
    sends = greedy_sends(reserve)
    venue = Venue(limit, decay, discrete=discrete, phase=phase)
    for arrival in sorted(CLOCKS[clock](i, t) for i, t in enumerate(sends)):
        venue.admit(arrival, cost)
    return len(sends), venue.rejected


VENUES = [
    pytest.param(clock, discrete, phase, id=f"{clock}-{'discrete' if discrete else 'cont'}-{phase}")
    for clock in CLOCKS
    for discrete, phase in ((False, 0.0), (True, 0.0), (True, 0.37), (True, 0.93))
]


def test_rest_costs_follow_kraken_table() -> None:
    for method in ("Ledgers", "QueryLedgers", "TradesHistory", "QueryTrades"):
        assert rest_cost(method) == 2
    for method in ("AddOrder", "CancelOrder", "AddOrderBatch", "CancelOrderBatch",
                   "EditOrder", "AmendOrder"):
        assert rest_cost(method) == 0
    for method in ("Balance", "OpenOrders", "ClosedOrders", "QueryOrders", "CancelAll"):
        assert rest_cost(method) == 1


@pytest.mark.parametrize(("action", "age", "cost"), [
    ("add", 0.0, 1), ("add", 1000.0, 1),
    ("amend", 4.99, 4), ("amend", 5.0, 3), ("amend", 9.9, 3), ("amend", 14.9, 2),
    ("amend", 15.0, 1),
    ("edit", 0.0, 7), ("edit", 5.0, 6), ("edit", 10.0, 5), ("edit", 15.0, 3),
    ("edit", 45.0, 2), ("edit", 90.0, 1),
    ("cancel", 0.0, 8), ("cancel", 5.0, 6), ("cancel", 10.0, 5), ("cancel", 15.0, 4),
    ("cancel", 45.0, 2), ("cancel", 90.0, 1), ("cancel", 299.9, 1), ("cancel", 300.0, 0),
])
def test_trade_costs_follow_kraken_table(action: TradeAction, age: float, cost: int) -> None:
    assert trade_cost(action, age) == cost


def test_kraken_worked_example_add_amend_at_7s_cancel_at_43s_costs_8() -> None:
    assert trade_cost("add", 0) + trade_cost("amend", 7) + trade_cost("cancel", 43) == 8
    limiter = RateLimiter("intermediate", decay_factor=1.0, age_margin_s=0.0)
    for method, age in (("AddOrder", None), ("AmendOrder", 7.0), ("CancelOrder", 43.0)):
        assert limiter.reserve(method, 0.0, pair="XBTUSD", order_age_s=age) == 0
    assert limiter.trading.level("XBTUSD", 0.0) == 8
    assert limiter.rest.level(0.0) == 0  # order entry is not on the REST counter


def test_wait_is_exactly_enough() -> None:
    counter = CounterModel(15, 0.33)
    counter.record(0.0, 14)
    wait = counter.wait_time(0.0, 2)
    assert wait == pytest.approx(1.5 / (0.33 * DEFAULT_DECAY_FACTOR))
    assert counter.wait_time(wait, 2) == 0
    assert counter.wait_time(wait - 1e-6, 2) > 0
    assert counter.level(wait) + 2 == pytest.approx(15 - DEFAULT_HEADROOM)


@pytest.mark.parametrize("tier_name", list(TIERS))
def test_burst_from_cold_then_spaced_at_cost_over_decay(tier_name: str) -> None:
    tier = TIERS[tier_name]
    counter = CallCounter(tier)
    burst = math.floor(tier.rest_max - DEFAULT_HEADROOM)
    for _ in range(burst):
        assert counter.wait_time(0.0, 1) == 0
        counter.record(0.0, 1)
    sends = [0.0]
    for _ in range(5):
        now = sends[-1]
        sends.append(now + counter.wait_time(now, 1))
        counter.record(sends[-1], 1)
    assert sends[1] > 0
    gaps = [b - a for a, b in itertools.pairwise(sends[1:])]
    assert gaps == pytest.approx([1 / (tier.rest_decay * DEFAULT_DECAY_FACTOR)] * 4)


@pytest.mark.parametrize(("clock", "discrete", "phase"), VENUES)
@pytest.mark.parametrize("method", ["Balance", "Ledgers"])
@pytest.mark.parametrize("tier_name", list(TIERS))
def test_rest_counter_uses_95pct_of_ceiling_with_zero_rejections(
        tier_name: str, method: str, clock: str, discrete: bool, phase: float) -> None:
    tier, cost = TIERS[tier_name], rest_cost(method)
    limiter = RateLimiter(tier)
    sent, rejected = run(tier.rest_max, tier.rest_decay, cost,
                         lambda now: limiter.reserve(method, now),
                         clock=clock, discrete=discrete, phase=phase)
    assert rejected == 0
    assert sent >= 0.95 * ceiling(tier.rest_max, tier.rest_decay, cost)


@pytest.mark.parametrize(("clock", "discrete", "phase"), VENUES)
@pytest.mark.parametrize("tier_name", list(TIERS))
def test_trading_counter_uses_95pct_of_ceiling_with_zero_rejections(
        tier_name: str, clock: str, discrete: bool, phase: float) -> None:
    tier = TIERS[tier_name]
    limiter = RateLimiter(tier)
    sent, rejected = run(tier.trade_threshold, tier.trade_decay, 1,
                         lambda now: limiter.reserve("AddOrder", now, pair="XBTUSD"),
                         clock=clock, discrete=discrete, phase=phase)
    assert rejected == 0
    assert sent >= 0.95 * ceiling(tier.trade_threshold, tier.trade_decay, 1)


def test_pairs_have_independent_trading_counters_and_leave_rest_alone() -> None:
    limiter = RateLimiter("starter")
    for _ in range(59):
        assert limiter.reserve("AddOrder", 0.0, pair="XBTUSD") == 0
    assert limiter.reserve("AddOrder", 0.0, pair="XBTUSD") > 0
    assert limiter.reserve("AddOrder", 0.0, pair="ETHUSD") == 0
    assert limiter.reserve("Balance", 0.0) == 0
    assert limiter.waited_seconds_total > 0


def test_concurrent_reservations_queue_behind_each_other() -> None:
    counter = TradingCounter(TIERS["pro"])
    waits = []
    for _ in range(3):
        waits.append(wait := counter.wait_time("XBTUSD", 0.0, 60))
        counter.record("XBTUSD", wait, 60)
    assert waits[0] == waits[1] == 0
    assert waits[2] == pytest.approx(0.5 / (3.75 * DEFAULT_DECAY_FACTOR))
    assert counter.wait_time("XBTUSD", 0.0, 1) > waits[2]  # a later call cannot jump the queue


def test_unknown_age_is_charged_as_the_youngest_order() -> None:
    limiter = RateLimiter("pro")
    limiter.reserve("CancelOrder", 0.0, pair="XBTUSD")
    assert limiter.trading.level("XBTUSD", 0.0) == 8


def test_age_margin_never_undercharges_across_a_band_edge() -> None:
    limiter = RateLimiter("pro")  # default margin 0.1 s
    limiter.reserve("CancelOrder", 0.0, pair="XBTUSD", order_age_s=5.05)
    assert limiter.trading.level("XBTUSD", 0.0) == 8  # the venue may have seen 4.96 s


def test_batches_are_charged_per_order() -> None:
    limiter = RateLimiter("pro", age_margin_s=0.0)
    limiter.reserve("AddOrderBatch", 0.0, pair="XBTUSD", orders=6)
    limiter.reserve("CancelOrderBatch", 0.0, pair="XBTUSD", order_age_s=20.0, orders=3)
    assert limiter.trading.level("XBTUSD", 0.0) == 3 + 12


def test_trading_methods_need_a_pair_and_tiers_are_validated() -> None:
    with pytest.raises(ValueError, match="pair"):
        RateLimiter("pro").reserve("AddOrder", 0.0)
    with pytest.raises(ValueError, match="unknown Kraken tier"):
        RateLimiter("gold")


@pytest.mark.parametrize("method", ["Balance", "Ledgers"])
@pytest.mark.parametrize("tier_name", list(TIERS))
def test_rate_limited_resync_waits_at_least_cost_over_decay(tier_name: str, method: str) -> None:
    tier, cost = TIERS[tier_name], rest_cost(method)
    limiter = RateLimiter(tier)
    limiter.on_rate_limited(method, 0.0)
    assert limiter.reserve(method, 0.0) >= cost / tier.rest_decay
    assert limiter.rate_limited_total == limiter.rest.rate_limited_total == 1


def test_trading_rate_limited_resync_waits_for_the_pair_only() -> None:
    limiter = RateLimiter("intermediate")
    limiter.on_rate_limited("AddOrder", 0.0, pair="XBTUSD")
    assert limiter.reserve("AddOrder", 0.0, pair="XBTUSD") >= 1 / 2.34
    assert limiter.reserve("AddOrder", 0.0, pair="ETHUSD") == 0
    assert limiter.reserve("Balance", 0.0) == 0


@pytest.mark.parametrize("tier_name", list(TIERS))
def test_after_another_program_filled_the_key_one_rejection_then_none(tier_name: str) -> None:
    tier = TIERS[tier_name]
    venue = Venue(tier.rest_max, tier.rest_decay, count_rejected=True, level=tier.rest_max)
    limiter, now = RateLimiter(tier), 0.0
    while now <= WINDOW:
        now += limiter.reserve("Ledgers", now)
        if not venue.admit(now, 2):
            limiter.on_rate_limited("Ledgers", now)
    assert venue.rejected == 1
    assert venue.admitted >= 0.9 * ceiling(0, tier.rest_decay, 2)


REST_METHODS = ["Balance", "OpenOrders", "Ledgers", "QueryTrades"]
OPS = st.one_of(
    st.tuples(st.sampled_from(REST_METHODS), st.just(""), st.just(1)),
    st.tuples(st.sampled_from(["AddOrder", "AmendOrder", "EditOrder", "CancelOrder"]),
              st.sampled_from(["XBTUSD", "ETHUSD"]), st.just(1)),
    st.tuples(st.sampled_from(["AddOrderBatch", "CancelOrderBatch"]),
              st.sampled_from(["XBTUSD", "ETHUSD"]), st.integers(2, 5)),
)


@settings(max_examples=150, deadline=None)
@given(
    tier_name=st.sampled_from(list(TIERS)),
    discrete=st.booleans(),
    phase=st.floats(0, 0.999),
    steps=st.lists(st.tuples(st.floats(0, 2), OPS, st.integers(1, 40)), max_size=60),
)
def test_limiter_never_lets_the_venue_reject(
        tier_name: str, discrete: bool, phase: float,
        steps: list[tuple[float, tuple[str, str, int], int]]) -> None:
    """Callers may reserve before earlier calls are sent (concurrent use); order ages are
    what the venue would compute from send times. Each step repeats an op in a tight loop."""
    tier = TIERS[tier_name]
    limiter = RateLimiter(tier)
    orders: dict[str, list[float]] = {"XBTUSD": [], "ETHUSD": []}  # creation send times
    sends: list[tuple[float, str, float]] = []  # (send time, counter, venue-side cost)
    now = 0.0
    calls = ((gap / repeat, op) for gap, op, repeat in steps for _ in range(repeat))
    for gap, (method, pair, n) in calls:
        now += gap
        if method in ("AmendOrder", "EditOrder", "CancelOrder", "CancelOrderBatch") \
                and not orders[pair]:
            method, n = "AddOrder", 1
        created = orders[pair][-1] if orders.get(pair) else now
        age = None if method.startswith("Add") else now - created
        t = now + limiter.reserve(method, now, pair=pair or None, order_age_s=age, orders=n)
        if method in REST_METHODS:
            sends.append((t, "rest", rest_cost(method)))
            continue
        if method in ("AddOrder", "AddOrderBatch"):
            cost = 1 if method == "AddOrder" else n / 2
            orders[pair] += [t] * n
        elif method in ("AmendOrder", "EditOrder"):
            cost = trade_cost("amend" if method == "AmendOrder" else "edit", t - created)
            orders[pair][-1] = t
        else:
            cost = sum(trade_cost("cancel", t - c) for c in orders[pair][-n:])
            del orders[pair][-n:]
        sends.append((t, pair, cost))
    venues = {"rest": Venue(tier.rest_max, tier.rest_decay, discrete=discrete, phase=phase)}
    for pair in orders:
        venues[pair] = Venue(tier.trade_threshold, tier.trade_decay, discrete=discrete,
                             phase=phase)
    for t, counter, cost in sorted(sends, key=lambda s: s[0]):
        assert venues[counter].admit(t, cost), (counter, t, cost)
