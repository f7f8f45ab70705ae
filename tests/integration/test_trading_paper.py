"""Paper trading end to end: the real supervisor, market data actor, account actors and
simulator, driven and observed only through nijactl and the simulator's admin API."""

from __future__ import annotations

import json
import os
import signal
import time
from decimal import Decimal
from typing import Any

import pytest

from tests.supervisor_harness import RunningSupervisor, metric_samples
from tests.venue_client import Admin

FAST_TREND = """
[account.strategy_params]
fast = 3
slow = 6
atr_period = 5
"""


def _config(master: str = "", followers: str = "", balances: str = '{ ZUSD = "10000" }',
            speed: int = 60) -> str:
    return f"""
[paper]
speed = {speed}
balances = {balances}

[market]
pairs = ["XBTUSD"]

[[account]]
name = "master"
tier = "pro"
strategy = "trend"
order_timeout_s = 5.0
{master}
{FAST_TREND}
{followers}
"""


FOLLOWERS = """
[[account]]
name = "daivon"
tier = "pro"
mode = "follow"
leader = "master"

[[account]]
name = "tania"
tier = "pro"
mode = "follow"
leader = "master"
"""


def _json(sup: RunningSupervisor, *args: str) -> dict[str, Any]:
    done = sup.ctl(*args)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _venue_orders(admin: Admin, account: str) -> list[dict[str, Any]]:
    return admin.orders(account)


def _filled(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in orders if Decimal(o["vol_exec"]) > 0]


def _quiesce(sup: RunningSupervisor, account: str) -> None:
    """Pause with --cancel-open and wait until the actor tracks no working order."""
    assert sup.ctl("pause", account, "--cancel-open").returncode == 0
    sup.wait_for(lambda: sup.summary(account).get("open_orders") == "0", 30,
                 f"{account} to have no open orders")


@pytest.mark.timeout(180)
def test_paper_accounts_trade_and_pnl_is_what_the_venue_ledger_implies():
    with RunningSupervisor(config=_config(followers=FOLLOWERS)) as sup:
        admin = Admin(sup.venue_url())
        sup.wait_for(lambda: len(_filled(_venue_orders(admin, "master"))) >= 2, 90,
                     "master to have filled orders at the venue")
        sup.wait_for(lambda: all(_filled(_venue_orders(admin, name))
                                 for name in ("daivon", "tania")), 60,
                     "followers to mirror a master fill")
        def reported(scrape: str) -> bool:  # samples arrive every other heartbeat
            return all(sum(metric_samples(scrape, "nija_orders_total", account=name,
                                          result="placed")) >= 1
                       for name in ("master", "daivon", "tania"))

        def scrape_once_reported() -> str | None:
            text = sup.scrape()
            return text if reported(text) else None

        scrape = sup.wait_for(scrape_once_reported, 15, "order counts in the metrics")
        for name in ("master", "daivon", "tania"):
            assert metric_samples(scrape, "nija_account_equity_usd", account=name)
            assert metric_samples(scrape, "nija_account_pnl_usd", account=name, kind="realised")
        assert sum(metric_samples(scrape, "nija_strategy_signals_total", account="master")) >= 1
        assert not metric_samples(scrape, "nija_account_paused", account="market")
        for name in ("master", "daivon", "tania"):
            _quiesce(sup, name)
        time.sleep(2.5)  # a last fill seen by the poll is read into the ledger
        for name in ("master", "daivon", "tania"):
            pnl = _json(sup, "positions", name)
            balances = _json(sup, "query", name, "balance")["balances"]
            marks = {p: Decimal(v["mark"]) for p, v in pnl["positions"]["pairs"].items()}
            equity = Decimal(balances.get("ZUSD", "0")) + Decimal(
                balances.get("XXBT", "0")) * marks.get("XXBTZUSD", Decimal(0))
            # Only USD to start with: every cent of equity change is realised + unrealised.
            total = Decimal(pnl["realised_pnl"]) + Decimal(pnl["unrealised_pnl"])
            assert abs(equity - Decimal("10000") - total) < Decimal("0.01"), (name, pnl)
            # The actor's own incremental ledger agrees with a replay of the venue's history.
            summary = sup.summary(name)
            assert Decimal(summary["realised_pnl_usd"]) == Decimal(pnl["realised_pnl"]), name


@pytest.mark.timeout(180)
def test_pausing_one_account_leaves_the_others_trading():
    with RunningSupervisor(config=_config(followers=FOLLOWERS)) as sup:
        admin = Admin(sup.venue_url())
        assert sup.ctl("pause", "daivon").returncode == 0
        paused_at = len(_venue_orders(admin, "daivon"))
        before = {n: len(_venue_orders(admin, n)) for n in ("master", "tania")}
        sup.wait_for(lambda: all(len(_venue_orders(admin, n)) > before[n]
                                 for n in ("master", "tania")), 120,
                     "master and tania to keep placing orders")
        assert len(_venue_orders(admin, "daivon")) == paused_at
        assert "paused" in sup.summary("daivon").get("blocked", "") or paused_at == len(
            _venue_orders(admin, "daivon"))
        assert sup.ctl("resume", "daivon").returncode == 0
        sup.wait_for(lambda: len(_venue_orders(admin, "daivon")) > paused_at, 120,
                     "daivon to follow again after resume")


@pytest.mark.timeout(180)
def test_restarted_actor_resumes_with_the_same_positions_and_pnl():
    with RunningSupervisor(["master"], config=_config()) as sup:
        admin = Admin(sup.venue_url())
        sup.wait_for(lambda: len(_filled(_venue_orders(admin, "master"))) >= 1, 90,
                     "master to have a fill")
        _quiesce(sup, "master")
        time.sleep(2.5)
        before = sup.summary("master")
        pid = sup.pid_of("master")
        os.kill(pid, signal.SIGKILL)
        sup.wait_state("master", ("running", "paused"), 30, not_pid=pid)
        after = sup.wait_for(lambda: (s := sup.summary("master")).get("equity_usd") and s, 30,
                             "the restarted master to report figures")
        assert after["realised_pnl_usd"] == before["realised_pnl_usd"]
        assert after["positions"] == before["positions"]
        held = _json(sup, "positions", "master")["positions"]["pairs"]
        assert Decimal(after["realised_pnl_usd"]) == sum(
            (Decimal(p["realised_pnl"]) for p in held.values()), Decimal(0))


@pytest.mark.timeout(180)
def test_daily_loss_limit_stops_new_entries():
    risk = """
[account.risk]
max_position_usd = "1000"
max_exposure_usd = "3000"
max_order_usd = "500"
max_daily_loss_usd = "0"
"""
    with RunningSupervisor(["master"], config=_config(
            master=risk, balances='{ ZUSD = "10000", XXBT = "0.05" }')) as sup:
        admin = Admin(sup.venue_url())
        ticker = _json(sup, "query", "master", "ticker", "-p", "pair=XBTUSD")["ticker"]
        last = Decimal(ticker["XXBTZUSD"]["c"][0])
        admin.set_price("XBTUSD", str((last * Decimal("0.97")).quantize(Decimal("0.1"))))
        sup.wait_for(lambda: "daily loss" in sup.summary("master").get("blocked", ""), 90,
                     "master to report the daily loss limit")
        buys_at = sum(1 for o in _venue_orders(admin, "master") if o["type"] == "buy")
        time.sleep(10)
        assert sum(1 for o in _venue_orders(admin, "master") if o["type"] == "buy") == buys_at
        assert Decimal(sup.summary("master")["day_pnl_usd"]) < 0
