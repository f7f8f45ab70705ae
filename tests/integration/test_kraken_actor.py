"""The Kraken account actor's broker against the simulator over real HTTP."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import time
import uuid
from collections import Counter
from decimal import Decimal

import pytest

from actors.broker import BrokerError, CredentialsInvalid
from actors.kraken.broker import PermissionsMissing, WithdrawalKeyRefused
from actors.kraken.errors import (
    RateLimitError,
    RetryPolicy,
    ServiceUnavailable,
    TemporaryLockout,
)
from actors.kraken.journal import OrderJournal
from actors.kraken.orders import LocalOrderRejected
from simulator.keys import TRADING_PERMISSIONS
from tests.kraken_actor_helpers import broker_for

ORDER = {"pair": "XBTUSD", "side": "buy", "volume": "0.001"}


def test_start_proves_the_connection_probes_permissions_and_arms_the_switch(venue, tmp_path):
    client, name = venue.account()
    broker = broker_for(venue.url, client, tmp_path)
    facts = broker.start()
    assert facts["permissions"] == {"query_funds": True, "query_open_orders": True,
                                    "query_closed_orders": True, "create_orders": True,
                                    "cancel_orders": True, "withdraw": False}
    assert venue.admin.orders(name) == []  # the probe placed nothing
    balance = broker.query("balance", {})
    assert Decimal(balance["usd_buying_power"]) == Decimal("1100000")  # ZUSD + USDT
    ticker = client.public("Ticker")
    expected = Decimal("1000000") + sum(
        Decimal(amount) * Decimal(ticker[pair]["c"][0]) for pair, amount in (
            ("XXBTZUSD", "10"), ("XETHZUSD", "100"), ("SOLUSD", "1000"), ("XLTCZUSD", "1000"),
            ("USDTZUSD", "100000")))
    assert abs(Decimal(balance["equity_usd"]) - expected) < expected * Decimal("0.01")
    keys = {k["name"]: k for k in venue.admin.get("keys")["keys"]}
    assert keys[name]["dead_mans_switch_at"] > time.time() + 30
    broker.close(1)


def test_a_key_without_create_permission_is_refused_naming_what_it_blocks(venue, tmp_path):
    perms = [p for p in TRADING_PERMISSIONS if p != "create_orders"]
    client, _ = venue.account(permissions=perms)
    broker = broker_for(venue.url, client, tmp_path)
    blocks = r"create_orders \(blocks placing orders\)"
    with pytest.raises(PermissionsMissing, match=blocks) as info:
        broker.start()
    assert info.value.unfixable
    broker.close(1)


def test_a_key_that_can_withdraw_is_refused_unless_allowed(venue, tmp_path):
    client, _ = venue.account(permissions=[*TRADING_PERMISSIONS, "withdraw"])
    refused = broker_for(venue.url, client, tmp_path / "a")
    with pytest.raises(WithdrawalKeyRefused, match="WITHDRAW"):
        refused.start()
    refused.close(1)
    allowed = broker_for(venue.url, client, tmp_path / "b", allow_withdraw=True)
    assert allowed.start()["permissions"]["withdraw"] is True
    allowed.close(1)


def test_orders_under_apply_then_fail_faults_are_never_duplicated_or_lost(own_venue, tmp_path):
    venue = own_venue(faults="seed = 3\n[endpoint.AddOrder]\napply_then_fail = 0.3\n"
                             "http_5xx = 0.1\nservice_unavailable = 0.1\n")
    client, name = venue.account(tier="pro")
    broker = broker_for(venue.url, client, tmp_path, tier="pro")
    broker.start()
    placed = [broker.query("place_order", dict(ORDER)) for _ in range(40)]
    at_venue = venue.admin.orders(name)
    assert len(at_venue) == 40  # exactly one venue order per intent
    assert Counter(o["cl_ord_id"] for o in at_venue).most_common(1)[0][1] == 1
    assert {p["txid"] for p in placed} == {o["txid"] for o in at_venue}
    assert any(p["reconciled"] for p in placed)  # some outcomes were learned by lookup
    faults = venue.admin.get("stats")["faults_injected"]
    assert faults.get("apply_then_fail_5xx", 0) + faults.get("apply_then_fail_drop", 0) > 0
    broker.close(1)


def test_crash_between_journal_write_and_send_is_reconciled_as_not_placed(venue, tmp_path):
    client, name = venue.account()
    journal = OrderJournal(tmp_path)
    journal.intent(str(uuid.uuid4()), 0, {"pair": "XXBTZUSD", "type": "buy",
                                          "ordertype": "market", "volume": "0.001"})
    journal.close()  # the process died here, before AddOrder
    broker = broker_for(venue.url, client, tmp_path)
    assert broker.start()["reconciled_not_placed"] == 1
    assert venue.admin.orders(name) == []
    broker.close(1)


def test_crash_between_send_and_reply_is_reconciled_without_resending(venue, tmp_path):
    client, name = venue.account()
    cl_ord_id = str(uuid.uuid4())
    params = {"pair": "XXBTZUSD", "type": "buy", "ordertype": "market", "volume": "0.001"}
    journal = OrderJournal(tmp_path)
    journal.intent(cl_ord_id, 0, params)
    journal.close()
    # the crashed incarnation sent this with its own (microsecond) nonce, then died
    client._nonce = lambda: time.time_ns() // 1000
    client.ok("AddOrder", **params, cl_ord_id=cl_ord_id)
    broker = broker_for(venue.url, client, tmp_path)
    assert broker.start()["reconciled_placed"] == 1
    (order,) = venue.admin.orders(name)
    assert broker.journal.entries[cl_ord_id].txid == order["txid"]
    broker.close(1)


def _place_forever(url: str, key: str, secret: str, state_dir: str) -> None:
    from tests.venue_client import Client

    broker = broker_for(url, Client(url, key, secret), __import__("pathlib").Path(state_dir))
    broker.start()
    while True:
        broker.query("place_order", dict(ORDER))


def test_kill_9_mid_order_loses_and_duplicates_nothing(venue, tmp_path):
    client, name = venue.account(tier="pro")
    ctx = mp.get_context("spawn")
    for round_ in range(6):
        proc = ctx.Process(target=_place_forever,
                           args=(venue.url, client.key, client.secret, str(tmp_path)))
        proc.start()
        time.sleep(1.5 + 0.37 * round_)  # die at different points of the order cycle
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
    broker = broker_for(venue.url, client, tmp_path, tier="pro")
    broker.start()  # reconciles whatever the last kill left in flight
    at_venue = venue.admin.orders(name)
    journaled = {e.cl_ord_id: e for e in broker.journal.entries.values()}
    assert at_venue, "the children placed orders"
    assert Counter(o["cl_ord_id"] for o in at_venue).most_common(1)[0][1] == 1
    for order in at_venue:  # every venue order is known to the journal, with its txid
        assert journaled[order["cl_ord_id"]].txid == order["txid"]
    assert not broker.journal.unresolved()
    assert venue.admin.stats(name)["nonce_rejections"] == 0
    broker.close(1)


def test_an_invalid_nonce_is_recovered_by_one_jump(venue, tmp_path):
    client, _ = venue.account()
    broker = broker_for(venue.url, client, tmp_path)
    ahead = broker.nonces.next() + 3_000_000  # another program used a higher nonce
    client._nonce = lambda: ahead
    client.ok("Balance")
    assert broker.query("balance", {})["balances"]
    assert broker.stats.nonce_errors == 1 and broker.stats.nonce_recoveries == 1
    broker.close(1)


def test_a_lockout_stops_calls_on_the_key_and_is_remembered(own_venue, tmp_path):
    venue = own_venue(faults="[endpoint.BalanceEx]\nlockout = 1.0\n")
    client, name = venue.account()
    broker = broker_for(venue.url, client, tmp_path)
    with pytest.raises(TemporaryLockout):
        broker.start()
    assert (tmp_path / "lockout.json").exists()
    before = venue.admin.stats(name)["requests"]
    with pytest.raises(TemporaryLockout):
        broker.client.private("OpenOrders")  # refused locally: the venue is not called
    assert venue.admin.stats(name)["requests"] == before
    broker.close(1)


def test_the_lockout_lasts_the_accounts_lockout_s_then_calls_resume(own_venue, tmp_path):
    venue = own_venue(faults="[endpoint.BalanceEx]\nlockout = 1.0\n")
    client, _ = venue.account()
    broker = broker_for(venue.url, client, tmp_path, lockout_s=1.5)
    with pytest.raises(TemporaryLockout):
        broker.start()
    until = json.loads((tmp_path / "lockout.json").read_text())["until"]
    assert 1.0 < until - time.time() <= 1.5
    with pytest.raises(TemporaryLockout):
        broker.client.private("Balance")  # still inside the 1.5 s: refused locally
    time.sleep(1.6)
    broker.client.private("Balance")  # past it: the venue is called again
    broker.close(1)


def test_a_lockout_after_start_is_saved_for_the_next_incarnation(own_venue, tmp_path):
    venue = own_venue(faults="[endpoint.QueryOrders]\nlockout = 1.0\n")
    client, _ = venue.account()
    broker = broker_for(venue.url, client, tmp_path, lockout_s=600)
    broker.start()
    assert not (tmp_path / "lockout.json").exists()
    with pytest.raises(TemporaryLockout):
        broker.client.private("QueryOrders", {"txid": "OAAAAA-BBBBB-CCCCCC"})
    until = json.loads((tmp_path / "lockout.json").read_text())["until"]
    assert 590 < until - time.time() <= 600
    with pytest.raises(TemporaryLockout):  # our own refusal does not move the saved end
        broker.client.private("Balance")
    assert json.loads((tmp_path / "lockout.json").read_text())["until"] == until
    broker.close(1)


@pytest.mark.parametrize(("method", "fault", "raised"), [
    ("WithdrawAddresses", "rate_limit", RateLimitError),
    ("WithdrawAddresses", "lockout", TemporaryLockout),
    ("ClosedOrders", "service_unavailable", ServiceUnavailable),
])
def test_a_probe_the_venue_did_not_answer_is_never_read_as_a_permission(
        own_venue, tmp_path, method, fault, raised):
    venue = own_venue(faults=f"[endpoint.{method}]\n{fault} = 1.0\n")
    client, _ = venue.account()  # no withdraw permission: refusing it as one would be wrong
    broker = broker_for(venue.url, client, tmp_path)
    broker.client.retry = RetryPolicy(base_s=0.01, cap_s=0.02)
    with pytest.raises(raised) as info:
        broker.start()
    assert not isinstance(info.value, CredentialsInvalid)  # fixable: the start is retried
    broker.close(1)


def test_a_restarted_actor_remembers_the_rate_counter_it_left_full(venue, tmp_path):
    client, name = venue.account(tier="starter")
    first = broker_for(venue.url, client, tmp_path)
    for _ in range(15):  # the whole starter burst
        first.client.private("Balance")
    first.close(1)  # the process dies here; the venue's counter is still full
    second = broker_for(venue.url, client, tmp_path)
    started = time.monotonic()
    second.client.private("Balance")
    second.client.private("Balance")
    assert venue.admin.stats(name)["rest_rate_limited"] == 0
    assert time.monotonic() - started > 2.5  # it waited instead of being refused
    second.close(1)


def test_every_operation_through_the_broker(venue, tmp_path):
    client, name = venue.account(tier="pro")
    broker = broker_for(venue.url, client, tmp_path, tier="pro", buying_power_assets=("ZUSD",))
    broker.start()
    assert Decimal(broker.query("balance", {})["usd_buying_power"]) == Decimal("1000000")
    last = Decimal(broker.query("ticker", {"pair": "XBTUSD"})["ticker"]["XXBTZUSD"]["c"][0])
    assert len(broker.query("ohlc", {"pair": "XBTUSD", "interval": "5"})["ohlc"]["XXBTZUSD"]) \
        == 720
    low = str((last * Decimal("0.5")).quantize(Decimal("0.1")))
    resting = broker.query("place_order", {"pair": "XBTUSD", "side": "buy",
                                           "ordertype": "limit", "price": low,
                                           "volume": "0.01", "post_only": "true"})
    assert list(broker.query("open_orders", {})["open"]) == [resting["txid"]]
    order = broker.query("order", {"txid": resting["txid"]})["orders"][resting["txid"]]
    assert order["status"] == "open" and order["cl_ord_id"] == resting["cl_ord_id"]
    assert broker.query("cancel", {"txid": resting["txid"]}) == {"cancelled": 1}
    assert broker.query("cancel", {"txid": resting["txid"]}) == {"cancelled": 0}  # closed
    broker.query("place_order", {"pair": "XBTUSD", "side": "buy", "ordertype": "limit",
                                 "price": low, "volume": "0.01"})
    assert broker.query("cancel_all", {}) == {"cancelled": 1}
    bought = broker.query("place_order", {"pair": "XBTUSD", "side": "buy", "volume": "0.5"})
    trades = broker.query("trades", {})["trades"]
    assert trades["count"] == 1
    pnl = broker.query("pnl", {})
    position = pnl["positions"]["pairs"]["XXBTZUSD"]
    (trade,) = trades["trades"].values()
    assert trade["ordertxid"] == bought["txid"]
    assert Decimal(position["volume"]) == Decimal("0.5")
    cost_with_fee = Decimal(trade["cost"]) + Decimal(trade["fee"])
    assert Decimal(position["average_price"]) * Decimal("0.5") == cost_with_fee
    assert broker.query("positions", {})["holdings"]["XXBT"] == "10.5000000000"
    assert broker.query("permissions", {})["permissions"]["create_orders"] is True
    broker.paused.set()
    with pytest.raises(BrokerError, match="paused"):
        broker.query("place_order", {"pair": "XBTUSD", "side": "buy", "volume": "0.01"})
    with pytest.raises(LocalOrderRejected, match="order minimum"):
        broker.paused.clear()
        broker.query("place_order", {"pair": "XBTUSD", "side": "buy", "volume": "0.00001"})
    assert len(venue.admin.orders(name)) == 3  # the refused ones never reached the venue
    broker.close(1)
