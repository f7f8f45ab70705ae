"""Rate counters over HTTP, with the venue's clock moved instead of sleeping."""

from __future__ import annotations

from decimal import Decimal

import pytest


@pytest.fixture
def limited(own_venue):
    return own_venue(settings='decay_mode = "continuous"\n')


def test_rest_counter_allows_the_tier_burst_then_refuses_until_it_decays(limited):
    client, name = limited.account(tier="starter")
    for _ in range(15):
        client.ok("Balance")
    assert client.err("Balance") == "EAPI:Rate limit exceeded"
    assert limited.admin.stats(name)["rest_rate_limited"] == 1
    limited.admin.advance(10)  # 3.3 units decayed; the rejected call counted too
    client.ok("Balance")


def test_history_calls_cost_two_and_orders_cost_nothing(limited):
    client, _ = limited.account(tier="starter")
    for _ in range(7):
        client.ok("Ledgers")  # 14
    assert client.err("TradesHistory") == "EAPI:Rate limit exceeded"  # 14 + 2 > 15
    for _ in range(3):  # AddOrder rides the trading counter, not this one
        client.ok("AddOrder", pair="XBTUSD", type="buy", ordertype="market", volume="0.001")


def test_pro_tier_has_a_larger_burst(limited):
    client, _ = limited.account(tier="pro")
    for _ in range(20):
        client.ok("Balance")
    assert client.err("Balance") == "EAPI:Rate limit exceeded"


def test_trading_counter_charges_young_cancels_and_refuses_past_the_threshold(limited):
    client, name = limited.account(tier="starter")
    ticker = client.public("Ticker", pair="XBTUSD")["XXBTZUSD"]
    low = str((Decimal(ticker["c"][0]) * Decimal("0.5")).quantize(Decimal("0.1")))
    order = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "volume": "0.001",
             "price": low}
    for _ in range(6):  # each add (1) + cancel under 5 s (8) = 9; 54 after six cycles
        txid = client.ok("AddOrder", **order)["txid"][0]
        client.ok("CancelOrder", txid=txid)
    txid = client.ok("AddOrder", **order)["txid"][0]  # 55
    assert client.err("CancelOrder", txid=txid) == "EOrder:Rate limit exceeded"  # 63 > 60
    assert limited.admin.stats(name)["trade_rate_limited"] == 1
    other = {**order, "pair": "ETHUSD", "price": "100.00", "volume": "0.01"}
    client.ok("AddOrder", **other)  # another pair has its own counter
    limited.admin.advance(10)
    client.ok("CancelOrder", txid=txid)


def test_old_orders_cancel_cheaply(limited):
    client, _ = limited.account(tier="starter")
    ticker = client.public("Ticker", pair="XBTUSD")["XXBTZUSD"]
    low = str((Decimal(ticker["c"][0]) * Decimal("0.5")).quantize(Decimal("0.1")))
    txids = [client.ok("AddOrder", pair="XBTUSD", type="buy", ordertype="limit",
                       volume="0.001", price=low)["txid"][0] for _ in range(50)]
    limited.admin.advance(301)  # counter drained, orders older than 300 s: cancels cost 0
    for txid in txids:
        client.ok("CancelOrder", txid=txid)


def test_open_orders_per_pair_are_capped_by_tier(limited):
    client, _ = limited.account(tier="starter")
    ticker = client.public("Ticker", pair="XBTUSD")["XXBTZUSD"]
    low = str((Decimal(ticker["c"][0]) * Decimal("0.5")).quantize(Decimal("0.1")))
    for _ in range(59):
        client.ok("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.001",
                  price=low)
    limited.admin.advance(60)
    client.ok("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.001",
              price=low)
    assert client.err("AddOrder", pair="XBTUSD", type="buy", ordertype="limit",
                      volume="0.001", price=low) == "EOrder:Orders limit exceeded"
