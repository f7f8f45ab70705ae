from hypothesis import given
from hypothesis import strategies as st

from simulator.ratelimit import (
    TIERS,
    DecayingCounter,
    RestLimiter,
    TradingLimiter,
    rest_cost,
    trade_increment,
)


def starter_rest(count_rejected=True):
    tier = TIERS["starter"]
    return RestLimiter(tier.rest_max, DecayingCounter(tier.rest_decay), count_rejected)


def test_starter_allows_a_burst_of_15_then_refuses():
    limiter = starter_rest()
    assert all(limiter.admit(0.0, 1) for _ in range(15))
    assert not limiter.admit(0.0, 1)


def test_decay_frees_capacity_at_the_tier_rate():
    limiter = starter_rest(count_rejected=False)
    for _ in range(15):
        limiter.admit(0.0, 1)
    assert not limiter.admit(3.0, 1)  # 0.99 drained: 14.01 + 1 > 15
    assert limiter.admit(3.04, 1)  # 1.0032 drained


def test_rejected_calls_keep_counting_by_default():
    lenient, strict = starter_rest(count_rejected=False), starter_rest(count_rejected=True)
    for limiter in (lenient, strict):
        for _ in range(15):
            limiter.admit(0.0, 1)
        for t in range(5):
            limiter.admit(t * 0.1, 1)
    assert lenient.admit(3.1, 1)
    assert not strict.admit(3.1, 1)


def test_costs_per_method():
    assert rest_cost("Balance") == 1
    assert rest_cost("Ledgers") == 2
    assert rest_cost("TradesHistory") == 2
    assert rest_cost("Ledgers", ledger_cost=4) == 4
    assert rest_cost("AddOrder") == 0
    assert rest_cost("CancelOrder") == 0


def test_trade_penalties_follow_krakens_table():
    # Kraken's worked example: add (1) + amend at 7 s (1 + 2) + cancel at 43 s (4) = 8
    assert trade_increment("add", 0) + trade_increment("amend", 7) + trade_increment(
        "cancel", 43) == 8
    assert trade_increment("cancel", 4.9) == 8
    assert trade_increment("cancel", 299) == 1
    assert trade_increment("cancel", 300) == 0
    assert trade_increment("edit", 1) == 7


def test_trading_counter_decays_like_krakens_example():
    limiter = TradingLimiter(threshold=125, decay=2.34)
    for _ in range(50):
        assert limiter.admit("XXBTZUSD", 0.0, 1)
    assert abs(limiter.level("XXBTZUSD", 10.0) - 26.6) < 1e-9
    assert limiter.level("XETHZUSD", 10.0) == 0  # per pair


def test_rejected_add_still_pays_its_fixed_part():
    limiter = TradingLimiter(threshold=2, decay=1)
    assert limiter.admit("P", 0, 1)
    assert limiter.admit("P", 0, 1)
    assert not limiter.admit("P", 0, 1, fixed_on_reject=1)
    assert limiter.level("P", 0) == 3


def test_discrete_decay_removes_whole_units_only():
    counter = DecayingCounter(decay=0.5, mode="discrete")
    counter.add(0.0, 5)
    assert counter.level(1.9) == 5
    assert counter.level(2.0) == 4
    counter.add(3.0, 1)  # 1.5 drained so far: one unit gone, half a unit of time kept
    assert counter.level(3.0) == 5
    assert counter.level(4.0) == 4


@given(st.lists(st.tuples(st.floats(0, 5), st.integers(1, 3)), max_size=100))
def test_counter_never_admits_past_the_maximum(steps):
    limiter = starter_rest(count_rejected=False)
    now = 0.0
    for gap, cost in steps:
        now += gap
        before = limiter.counter.level(now)
        if limiter.admit(now, cost):
            assert before + cost <= limiter.max + 1e-9
        assert limiter.counter.level(now) <= limiter.max + 1e-9
