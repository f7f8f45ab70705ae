"""Copy trading end to end: a leader's fill, published on its bus, becomes orders on each
follower's own key, sized as the same fraction of the follower's equity; a follower under
its minimum balance does not follow and says why."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import pytest

from tests.supervisor_harness import RunningSupervisor
from tests.venue_client import Admin

CONFIG = """
[paper]
balances = { ZUSD = "10000" }
account_balances = { daivon = { ZUSD = "2500" } }

[market]
pairs = ["XBTUSD"]

[[account]]
name = "master"
strategy = "hold"

[[account]]
name = "daivon"
mode = "follow"
leader = "master"

[[account]]
name = "tania"
mode = "follow"
leader = "master"
[account.risk]
min_balance_usd = "20000"
"""


def _json(sup: RunningSupervisor, *args: str) -> dict[str, Any]:
    done = sup.ctl(*args)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@pytest.mark.timeout(120)
def test_leader_fill_is_mirrored_in_proportion_and_a_poor_follower_says_why():
    with RunningSupervisor(config=CONFIG) as sup:
        admin = Admin(sup.venue_url())
        for name in ("master", "daivon"):
            sup.wait_for(lambda n=name: sup.summary(n).get("equity_usd"), 30,
                         f"{name} to value its account")
        leader_equity = Decimal(sup.summary("master")["equity_usd"])
        follower_equity = Decimal(sup.summary("daivon")["equity_usd"])
        placed = _json(sup, "query", "master", "place_order", "-p", "pair=XBTUSD", "-p",
                       "side=buy", "-p", "ordertype=market", "-p", "volume=0.004")

        def mirrored() -> list[dict[str, Any]]:
            return admin.orders("daivon")

        orders = sup.wait_for(mirrored, 30, "daivon to mirror the master's buy")
        assert len(orders) == 1 and orders[0]["type"] == "buy"
        fill = _json(sup, "query", "master", "order", "-p", f"txid={placed['txid']}")
        leader_order = fill["orders"][placed["txid"]]
        price = Decimal(leader_order["price"])
        share = Decimal(leader_order["vol_exec"]) * price / leader_equity
        expected = share * follower_equity / price  # the follower's own mark is near it
        volume = Decimal(orders[0]["vol"])
        assert abs(volume - expected) <= expected * Decimal("0.02") + Decimal("0.00000001"), (
            volume, expected)

        # Only daivon's own key was used: the master's key placed only the master's order.
        assert [o["txid"] for o in admin.orders("master")] == [placed["txid"]]
        assert admin.orders("tania") == []
        reason = sup.wait_for(lambda: sup.summary("tania").get("blocked"), 15,
                              "tania to say why it did not follow")
        assert "min_balance_usd" in reason and "20000" in reason


@pytest.mark.timeout(120)
def test_a_paused_leader_stops_followers_from_opening_positions():
    with RunningSupervisor(config=CONFIG) as sup:
        admin = Admin(sup.venue_url())
        ticker = _json(sup, "query", "master", "ticker", "-p", "pair=XBTUSD")["ticker"]
        last = Decimal(ticker["XXBTZUSD"]["c"][0])
        below = (last * Decimal("0.95")).quantize(Decimal("0.1"))
        resting = _json(sup, "query", "master", "place_order", "-p", "pair=XBTUSD", "-p",
                        "side=buy", "-p", "ordertype=limit", "-p", f"price={below}", "-p",
                        "volume=0.004")
        assert sup.ctl("pause", "master").returncode == 0  # the resting buy stays
        sup.wait_for(lambda: "paused" in sup.actor("master")["state"], 10, "master paused")
        time.sleep(3)  # the followers hear the leader's paused state (every 2 s)
        admin.set_price("XBTUSD", str((below * Decimal("0.99")).quantize(Decimal("0.1"))))
        sup.wait_for(lambda: Decimal(admin.orders("master")[0]["vol_exec"]) > 0, 30,
                     "the master's resting buy to fill while it is paused")
        reason = sup.wait_for(lambda: "leader master is paused" in sup.summary(
            "daivon").get("blocked", "") and sup.summary("daivon")["blocked"], 20,
            "daivon to refuse the paused leader's buy")
        assert "not opening positions" in reason
        assert admin.orders("daivon") == []
        assert [o["txid"] for o in admin.orders("master")] == [resting["txid"]]
