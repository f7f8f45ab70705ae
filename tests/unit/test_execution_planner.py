"""The execution planner: targets, stops, timeouts and leader fills become orders that keep
inside the account's own risk limits. Hand-computed numbers at a mark of 100 USD."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.execution import (
    AccountView,
    Blocked,
    Cancel,
    LeaderFill,
    OpenOrder,
    OrderIntent,
    RiskLimits,
    plan_follow,
    plan_rebalance,
    plan_stops,
    plan_timeouts,
)
from actors.kraken.orders import PairRules

SOL = PairRules("SOLUSD", "SOLUSD", "SOL", "ZUSD", pair_decimals=2, lot_decimals=2,
                ordermin=D("0.5"), costmin=D("5"), tick_size=D("0.01"))
ETH = PairRules("XETHZUSD", "ETHUSD", "XETH", "ZUSD", pair_decimals=2, lot_decimals=4,
                ordermin=D("0.01"), costmin=D("5"), tick_size=D("0.01"))
LIMITS = RiskLimits()  # position 1000, exposure 3000, order 500, daily loss 200


def view(held="0", mark="100", *, equity="10000", cash="10000", day_pnl="0", **extra):
    positions = {SOL.key: D(held), **extra.pop("positions", {})}
    marks = {SOL.key: D(mark), **extra.pop("marks", {})}
    return AccountView(D(equity), D(cash), positions, marks, D(day_pnl), **extra)


def only_order(plan) -> OrderIntent:
    assert len(plan) == 1 and isinstance(plan[0], OrderIntent), plan
    return plan[0]


def rebalance(fraction, account, limits=LIMITS, pair=SOL):
    return plan_rebalance(D(fraction), pair, account, limits)


# -- limits and the view -------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "named"), [
    ({"max_order_usd": D("-1")}, "max_order_usd"),
    ({"max_order_usd": D("600"), "max_position_usd": D("500")}, "max_order_usd"),
    ({"max_position_usd": D("4000")}, "max_exposure_usd"),
    ({"min_balance_usd": D("NaN")}, "min_balance_usd"),
])
def test_inconsistent_limits_are_refused_naming_the_field(kwargs, named):
    with pytest.raises(ValueError, match=named):
        RiskLimits(**kwargs)


def test_a_position_without_a_mark_is_refused():
    with pytest.raises(ValueError, match="no mark for XETHZUSD"):
        view(positions={ETH.key: D("1")})


# -- rebalancing ---------------------------------------------------------------------

def test_rebalance_up_buys_the_difference_below_the_mark():
    order = only_order(rebalance("0.03", view(held="2")))  # 300 wanted, 200 held
    assert (order.side, order.ordertype, order.volume, order.price) == (
        "buy", "limit", D("1"), D("99.95"))


def test_rebalance_down_sells_the_difference_above_the_mark():
    order = only_order(rebalance("0.03", view(held="8")))  # 300 wanted, 800 held
    assert (order.side, order.volume, order.price) == ("sell", D("5"), D("100.05"))


def test_rebalance_on_target_or_without_a_target_does_nothing():
    assert rebalance("0.05", view(held="5")) == []
    assert rebalance("0.0502", view(held="5")) == []  # 2 USD: 0.02 SOL is below ordermin
    assert plan_rebalance(None, SOL, view(held="5"), LIMITS) == []


def test_position_cap_binds():
    assert only_order(rebalance("0.5", view(held="6"))).volume == D("4")  # 1000 - 600


def test_exposure_cap_binds_after_the_other_pairs():
    account = view(positions={ETH.key: D("2.7")}, marks={ETH.key: D("1000")})  # 2700 USD
    assert only_order(rebalance("0.2", account)).volume == D("3")  # 3000 - 2700


def test_order_cap_slices_big_moves_one_order_per_call():
    assert only_order(rebalance("0.1", view())).volume == D("5")
    assert only_order(rebalance("0", view(held="9"))).volume == D("5")


def test_a_pair_with_a_working_order_waits_for_it():
    working = {"O1": OpenOrder(SOL.key, "buy", D("5"), D("99.95"), 0.0)}
    assert rebalance("0.1", view(open_orders=working)) == []


def test_volume_rounds_down_to_the_lot_and_price_to_the_tick():
    coarse = replace(SOL, tick_size=D("0.05"))
    order = only_order(rebalance("0.01", view(mark="33.33"), pair=coarse))
    assert order.volume == D("3.00")  # 100 / 33.33 = 3.0003
    assert order.price == D("33.30")  # 33.3133 to the 0.05 tick


def test_limit_prices_round_away_from_the_mark_on_a_coarse_tick():
    whole_dollars = replace(SOL, pair_decimals=0, tick_size=D("1"))
    assert only_order(rebalance("0.01", view(mark="16.51"), pair=whole_dollars)).price == D(16)
    assert only_order(rebalance("0", view("5", "16.49"), pair=whole_dollars)).price == D(17)


def test_orders_below_ordermin_or_costmin_are_dropped():
    assert rebalance("0.0004", view()) == []  # 0.04 SOL < ordermin 0.5
    tiny_lots = replace(SOL, ordermin=D("0.01"))
    assert rebalance("0.0004", view(), pair=tiny_lots) == []  # 3.998 USD < costmin 5


def test_a_sell_that_would_leave_dust_sells_everything():
    order = only_order(rebalance("0", view(held="5.3")))  # 0.3 left would be < ordermin
    assert order.volume == D("5.3")
    cheap_rest = replace(SOL, ordermin=D("0.01"))  # 0.03 left is 3 USD < costmin 5
    assert only_order(rebalance("0", view(held="5.03"), pair=cheap_rest)).volume == D("5.03")


def test_buys_never_spend_more_than_cash_less_a_fee_buffer():
    order = only_order(rebalance("0.05", view(cash="201")))  # 201 * 0.995 = 199.995
    assert order.volume == D("1.99")


def test_paused_account_rebalances_nothing_and_says_why():
    for fraction, held in (("0.05", "0"), ("0", "5")):
        [blocked] = rebalance(fraction, view(held=held, paused=True))
        assert isinstance(blocked, Blocked) and "paused" in blocked.reason


def test_daily_loss_limit_blocks_buys_but_not_reducing_sells():
    assert rebalance("0.05", view(day_pnl="-200")) == [Blocked(
        "daily loss limit 200 USD reached: no new positions until 00:00 UTC")]
    assert only_order(rebalance("0", view(held="3", day_pnl="-250"))).side == "sell"


def test_daily_loss_limit_stays_hit_after_an_intraday_recovery():
    recovered = view(day_pnl="-50", day_pnl_low_usd=D("-250"))
    assert isinstance(rebalance("0.05", recovered)[0], Blocked)


# -- stops ---------------------------------------------------------------------------

def test_stop_loss_sells_the_whole_position_at_market_even_when_paused():
    for paused in (False, True):
        order = only_order(plan_stops(D("95"), D("120"), SOL, view("7.5", "90", paused=paused)))
        assert (order.side, order.ordertype, order.volume, order.price) == (
            "sell", "market", D("7.5"), None)
        assert order.reason.startswith("stop-loss hit at 90")


def test_take_profit_sells_the_whole_position():
    order = only_order(plan_stops(D("95"), D("120"), SOL, view("2", "120")))
    assert order.reason.startswith("take-profit hit at 120") and order.volume == D("2")


def test_stops_between_the_levels_or_without_a_position_do_nothing():
    assert plan_stops(D("95"), D("120"), SOL, view("2", "100")) == []
    assert plan_stops(D("95"), None, SOL, view("0", "90")) == []
    assert plan_stops(None, None, SOL, view("2", "10")) == []


def test_a_stop_cancels_working_orders_on_the_pair_before_selling():
    working = {"O2": OpenOrder(SOL.key, "sell", D("1"), D("130"), 0.0)}
    plan = plan_stops(D("95"), None, SOL, view("3", "94", open_orders=working))
    assert isinstance(plan[0], Cancel) and plan[0].txid == "O2"
    assert isinstance(plan[1], OrderIntent) and plan[1].volume == D("3")


# -- timeouts ------------------------------------------------------------------------

RULES = {SOL.key: SOL}
STALE = OpenOrder(SOL.key, "buy", D("2"), D("99.95"), placed_at=100.0)


def timeouts(account, now=200.0, limits=LIMITS):
    return plan_timeouts(account, now, 60.0, rules=RULES, limits=limits)


def test_a_stale_limit_order_is_cancelled_then_sent_at_market():
    cancel, fallback = timeouts(view(open_orders={"O3": STALE}))
    assert cancel == Cancel("O3", cancel.reason) and "unfilled after 100s" in cancel.reason
    assert (fallback.side, fallback.ordertype, fallback.volume, fallback.replaces) == (
        "buy", "market", D("2"), "O3")


def test_a_young_order_is_left_alone():
    assert timeouts(view(open_orders={"O3": STALE}), now=150.0) == []


def test_paused_or_loss_limited_buys_are_only_cancelled():
    [cancel] = timeouts(view(open_orders={"O3": STALE}, paused=True))
    assert isinstance(cancel, Cancel)
    [cancel] = timeouts(view(open_orders={"O3": STALE}, day_pnl="-300"))
    assert isinstance(cancel, Cancel)
    stale_sell = replace(STALE, side="sell")
    plan = timeouts(view("2", open_orders={"O4": stale_sell}, day_pnl="-300"))
    assert [type(p) for p in plan] == [Cancel, OrderIntent]


def test_a_remainder_below_ordermin_is_only_cancelled():
    [cancel] = timeouts(view(open_orders={"O3": replace(STALE, volume=D("0.3"))}))
    assert isinstance(cancel, Cancel)


# -- following -----------------------------------------------------------------------

LEADER_BUY = LeaderFill(SOL.key, "buy", D("10"), D("100"), "TLEAD")  # 1000 USD


def follow(account, fill=LEADER_BUY, limits=LIMITS):
    return plan_follow(fill, D("10000"), SOL, account, limits)


def test_a_follower_buys_the_same_fraction_of_its_equity():
    order = only_order(follow(view(equity="2000", cash="2000")))  # 10% of 2000 = 200 USD
    assert (order.side, order.volume, order.price) == ("buy", D("2"), D("99.95"))


def test_a_mirror_order_names_the_leader_trade_it_follows():
    assert only_order(follow(view(equity="2000", cash="2000"))).cause == "follow:TLEAD"


def test_a_follower_stays_under_its_own_caps():
    small = RiskLimits(max_order_usd=D("100"))
    assert only_order(follow(view(equity="2000"), limits=small)).volume == D("1")
    working = {"O5": OpenOrder(SOL.key, "buy", D("1.5"), D("99"), 0.0)}  # 800 + 150 committed
    assert only_order(follow(view("8", equity="2000", open_orders=working))).volume == D("0.5")


def test_a_follower_below_its_minimum_balance_says_why():
    limits = RiskLimits(min_balance_usd=D("100"))
    assert follow(view(equity="40"), limits=limits) == [
        Blocked("equity 40 USD is below min_balance_usd 100: not following")]


def test_a_paused_or_loss_limited_follower_does_not_buy():
    [paused] = follow(view(equity="2000", paused=True))
    assert "paused" in paused.reason
    [limited] = follow(view(equity="2000", day_pnl="-200"))
    assert "daily loss limit" in limited.reason


def test_a_follower_sells_no_more_than_it_holds():
    sell = replace(LEADER_BUY, side="sell")
    order = only_order(follow(view("1", equity="2000", day_pnl="-500"), fill=sell))
    assert (order.side, order.volume) == ("sell", D("1"))


# -- invariants ----------------------------------------------------------------------

money = st.decimals(min_value=0, max_value=20000, places=2)


@st.composite
def scenarios(draw):
    """Limits, a pair and an account scaled so that most draws do trade."""
    lot = draw(st.integers(0, 8))
    decimals = draw(st.integers(0, 4))
    pair = PairRules("PAIR", "PAIR", "B", "ZUSD", decimals, lot,
                     ordermin=draw(st.integers(0, 10)) * D(1).scaleb(-lot),
                     costmin=draw(st.decimals(0, 5, places=2)), tick_size=D(1).scaleb(-decimals))
    exposure = draw(st.decimals(100, 20000, places=2))
    position = draw(st.decimals(0, exposure, places=2))
    limits = RiskLimits(position, exposure, draw(st.decimals(0, position, places=2)),
                        draw(money))
    mark = draw(st.decimals(D("0.01"), 1000, places=2))
    held = (draw(st.decimals(0, 2, places=4)) * position / mark).quantize(D("1e-8"))
    account = AccountView(draw(money) * 3, draw(money), {"PAIR": held}, {"PAIR": mark},
                          draw(st.decimals(-500, 500, places=2)), paused=draw(st.booleans()))
    return pair, account, limits


def assert_within_limits(plan, pair, account, limits):
    mark, held = account.marks["PAIR"], account.held("PAIR")
    for order in (p for p in plan if isinstance(p, OrderIntent)):
        assert order.volume == pair.volume(order.volume) and order.volume >= pair.ordermin
        full_exit = order.side == "sell" and order.volume == pair.volume(held)
        assert order.volume * mark <= limits.max_order_usd or full_exit
        assert not (account.paused and order.side == "buy")
        if order.side == "buy":
            assert (held + order.volume) * mark <= limits.max_position_usd
            assert order.volume * order.price <= account.cash_usd


@settings(max_examples=300, deadline=None)
@given(scenarios(), st.decimals(-D("0.1"), 1, places=3))
def test_rebalance_never_breaks_a_limit(scenario, fraction):
    pair, account, limits = scenario
    assert_within_limits(plan_rebalance(fraction, pair, account, limits), pair, account, limits)


@settings(max_examples=300, deadline=None)
@given(scenarios(), st.sampled_from(["buy", "sell"]), money, money)
def test_follow_never_breaks_a_limit(scenario, side, value, leader_equity):
    pair, account, limits = scenario
    fill = LeaderFill("PAIR", side, value / 100, D(100), "T")
    plan = plan_follow(fill, leader_equity, pair, account, limits)
    assert_within_limits(plan, pair, account, limits)
