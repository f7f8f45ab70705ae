"""Trading: public REST volume per fleet size, signal-to-order and follow latency.

Every figure comes from real paper supervisors (`run_supervisor.py --paper`, each with
its own simulator), one after the other, in one run:

1. Public REST calls per minute with 1 and with 50 accounts (`strategy = "hold"`, pro
   tier), counted by the simulator (`/admin/stats` `public_calls` deltas) over the same
   steady-state window once every account is running. One market data actor per broker
   polls for everyone, so the goal is a ratio of 1.0.
2. Signal-to-order latency of a paper master running a fast trend (speed 60, XBTUSD):
   the actor's own samples (`nijactl query master signal_latency`: bus publish time of
   the Candles/Prices that caused an order -> AddOrder answer received). Baseline, same
   venue, same run, right after: plain krakenex AddOrder round trips on fresh keys (a
   limit buy far below the market, which the venue places and rests).
3. Leader-fill-to-follower-order latency with 50 followers: the bench makes a `hold`
   master trade (`nijactl query master place_order`, buy and sell alternating); every
   follower's `leader_fill` samples (leader's Fill publish time -> the follower's AddOrder
   answered), and how many followers placed an order for each leader trade (the venue's
   order lists). Also, from the venue's own timestamps, leader order -> follower order.

`--quick` uses 10 accounts/followers and shorter windows (it says so in the JSON).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from actors.kraken.limits import rest_cost
from bench.table import Row, fmt, goal, ratio, row
from bench.trading_fleet import (
    FAST_TREND,
    Fleet,
    account_table,
    admin_get,
    fleet,
    fleet_config,
    krakenex_add_order,
    latency_samples,
    metric,
    ms_summary,
    private_calls,
    public_calls_by_actor,
)

# Equal by design (one poller per broker); the OHLC schedule follows the simulated candle
# clock, whose timing jitter moves a minute's count by a few calls either way.
GOALS = {"public_calls_ratio_max": 1.05}
LEADER_VOLUME = "0.001"
PRO_REST_DECAY_PER_MIN = 60.0  # Kraken's pro tier: the REST counter decays 1 point/s
# Followers hold some XBT so they can mirror a sell whatever their buys did, well under
# the default max_position_usd (1000) so a mirrored buy is not refused by risk limits.
FOLLOW_BALANCES = '{ ZUSD = "10000", XXBT = "0.005" }'


@dataclass(frozen=True)
class Plan:
    """Sizes and windows of one run: FULL fits ~5 minutes on 2 cores, QUICK ~1.6."""

    accounts: int  # the large fleet of part 1
    window_s: float  # part 1's counting window
    settle_s: float  # after every account runs, before measuring
    signal_samples: int  # part 2 waits for this many candle-caused orders...
    signal_wait_s: float  # ...or this long
    baseline_calls: int
    followers: int
    leader_trades: int
    trade_gap_s: float
    ready_timeout_s: float


FULL = Plan(accounts=50, window_s=60.0, settle_s=5.0, signal_samples=20, signal_wait_s=120.0,
            baseline_calls=200, followers=50, leader_trades=6, trade_gap_s=4.0,
            ready_timeout_s=150.0)
QUICK = Plan(accounts=10, window_s=15.0, settle_s=3.0, signal_samples=8, signal_wait_s=30.0,
             baseline_calls=60, followers=10, leader_trades=4, trade_gap_s=3.0,
             ready_timeout_s=90.0)


def _names(count: int, prefix: str) -> list[str]:
    return [f"{prefix}{i:02d}" for i in range(1, count + 1)]


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


# -- 1. public REST calls --------------------------------------------------------------

def public_calls(count: int, plan: Plan) -> dict[str, Any]:
    """Public calls per minute the venue saw from a fleet of `count` hold accounts."""
    names = ["master", *_names(count - 1, "acct")]
    config = fleet_config([account_table(n, strategy="hold") for n in names])
    with fleet(names, config, plan.ready_timeout_s) as sup:
        url = sup.venue_url()
        time.sleep(plan.settle_s)
        before, started = admin_get(url, "stats"), time.monotonic()
        counted = public_calls_by_actor(sup)
        time.sleep(plan.window_s)
        after, elapsed = admin_get(url, "stats"), time.monotonic() - started
        counted = {k: v - counted[k] for k, v in public_calls_by_actor(sup).items()}
        running = sum(a["state"] == "running" for a in sup.status())
    per_min = 60.0 / elapsed
    methods = {m: round((n - before["public_calls"].get(m, 0)) * per_min, 2)
               for m, n in sorted(after["public_calls"].items())}
    private = sum(k["requests"] for k in after["keys"].values()) - sum(
        k["requests"] for k in before["keys"].values())
    return {"accounts": count, "running_at_end": running, "window_s": round(elapsed, 1),
            "public_calls_per_min": round(sum(methods.values()), 2),
            "public_calls_per_min_by_method": methods,
            "public_calls_per_min_as_counted_by": {k: round(v * per_min, 2)
                                                   for k, v in counted.items()},
            "private_calls_per_min_per_account": round(private * per_min / count, 2)}


# -- 2. signal to order ----------------------------------------------------------------

def _wait_for_samples(sup: Fleet, plan: Plan) -> dict[str, list[float]]:
    deadline = time.monotonic() + plan.signal_wait_s
    while True:
        samples = latency_samples(sup, ["master"])
        if (len(samples.get("candles", [])) >= plan.signal_samples
                or time.monotonic() >= deadline):
            return samples
        time.sleep(1.0)


def _throttled(sup: Fleet) -> float:
    return metric(sup, "nija_rate_limit_wait_seconds_total", account="master") or 0.0


def signal_to_order(plan: Plan) -> dict[str, Any]:
    config = fleet_config([account_table("master", FAST_TREND, strategy="trend")],
                          paper={"speed": "60"}, pairs=["XBTUSD"])
    with fleet(["master"], config, plan.ready_timeout_s) as sup:
        time.sleep(2.5)  # the start-up calls reach /metrics (sampled every two heartbeats)
        started, throttled, calls = time.monotonic(), _throttled(sup), private_calls(sup, "master")
        samples = _wait_for_samples(sup, plan)
        waited, throttled = time.monotonic() - started, _throttled(sup) - throttled
        calls = {m: n - calls.get(m, 0.0) for m, n in private_calls(sup, "master").items()}
        baseline, placed = krakenex_add_order(sup.venue_url(), plan.baseline_calls)
    per_min = 60.0 / waited
    report: dict[str, Any] = {
        "waited_s": round(waited, 1), "wanted_candle_samples": plan.signal_samples,
        "krakenex_add_order": baseline,
        # Seconds the master's worker thread slept for its own REST rate model while the
        # samples were taken: a bus message arriving meanwhile waits behind the sleep.
        "master_rate_limit_wait_s_in_window": round(throttled, 2),
        "master_private_calls_per_min": {m: round(n * per_min, 1)
                                         for m, n in sorted(calls.items()) if n},
        "master_rest_counter_points_per_min": round(
            sum(n * rest_cost(m) for m, n in calls.items()) * per_min, 1),
        "pro_tier_rest_decay_points_per_min": PRO_REST_DECAY_PER_MIN}
    base = ms_summary(placed)
    for source in ("candles", "prices"):
        figures = ms_summary(samples.get(source, []))
        report[f"{source}_ms"] = figures
        if figures["n"]:
            report[f"{source}_ratio_vs_krakenex"] = {
                "p50": _ratio(figures["p50"], base["p50"]),
                "p99": _ratio(figures["p99"], base["p99"])}
    return report


# -- 3. follow ----------------------------------------------------------------------------

def _leader_trades(sup: Fleet, plan: Plan) -> list[str]:
    """Have the master trade through nijactl, alternating buy and sell; its txids."""
    txids = []
    for i in range(plan.leader_trades):
        side = "buy" if i % 2 == 0 else "sell"
        done = sup.ctl("query", "master", "place_order", "-p", "pair=XBTUSD", "-p",
                       f"side={side}", "-p", "ordertype=market", "-p",
                       f"volume={LEADER_VOLUME}")
        if done.returncode != 0:
            raise RuntimeError(f"leader place_order failed: {done.stderr}")
        txids.append(str(json.loads(done.stdout)["txid"]))
        time.sleep(plan.trade_gap_s)
    return txids


def _mirrors(orders: dict[str, list[dict[str, Any]]], txids: list[str],
             followers: list[str]) -> list[dict[str, Any]]:
    """Per leader order: which followers placed an order of the same side after it and
    before the leader's next order of that side (sides alternate, so a late mirror is
    not credited to the following trade), and how long after it, by venue timestamps."""
    leader = {o["txid"]: o for o in orders["master"]}
    placed = [leader[t] for t in txids if t in leader]
    out = []
    for i, order in enumerate(placed):
        later = [o["opentm"] for o in placed[i + 1:] if o["type"] == order["type"]]
        until = later[0] if later else float("inf")
        delays, missed = [], []
        for name in followers:
            times = [o["opentm"] for o in orders.get(name, [])
                     if o["type"] == order["type"] and order["opentm"] <= o["opentm"] < until]
            if times:
                delays.append(min(times) - order["opentm"])
            else:
                missed.append(name)
        out.append({"txid": order["txid"], "side": order["type"],
                    "followers_mirrored": len(delays), "missed_by": missed,
                    "delays_s": delays})
    return out


def _what_they_said(logs: list[dict[str, Any]], accounts: set[str]) -> dict[str, list[str]]:
    """Evidence for a missed mirror: each such follower's warnings and follow decisions."""
    said: dict[str, list[str]] = {}
    for entry in logs:
        account, msg = entry.get("account"), str(entry.get("msg", ""))
        if account in accounts and (entry.get("level") != "INFO" or "follow" in msg
                                    or "placed" in msg):
            said.setdefault(str(account), []).append(f"{entry.get('ts')} {msg}"[:300])
    return {account: lines[-12:] for account, lines in said.items()}


def follow_latency(plan: Plan) -> dict[str, Any]:
    followers = _names(plan.followers, "f")
    tables = [account_table("master", strategy="hold")]
    tables += [account_table(n, mode="follow", leader="master") for n in followers]
    config = fleet_config(tables, paper={"balances": FOLLOW_BALANCES}, pairs=["XBTUSD"])
    with fleet(["master", *followers], config, plan.ready_timeout_s) as sup:
        url = sup.venue_url()
        time.sleep(plan.settle_s)  # followers' SUB sockets connect and prices arrive
        txids = _leader_trades(sup, plan)
        deadline = time.monotonic() + 30.0
        while True:  # every follower has answered every leader trade, or give up
            trades = _mirrors(admin_get(url, "orders")["keys"], txids, followers)
            if (all(t["followers_mirrored"] == len(followers) for t in trades)
                    or time.monotonic() >= deadline):
                break
            time.sleep(0.5)
        time.sleep(1.0)  # samples are recorded right after the venue answered
        samples = latency_samples(sup, followers).get("leader_fill", [])
        blocked = Counter(str(a.get("summary", {}).get("blocked") or "")
                          for a in sup.status() if a["account"] in followers)
        missed = {name for t in trades for name in t["missed_by"]}
        logs = _what_they_said(sup.logs(), missed)
    delays = [d for t in trades for d in t.pop("delays_s")]
    blocked.pop("", None)
    return {"followers": len(followers), "leader_trades": trades,
            "followers_blocked_at_end": dict(blocked), "missed_follower_logs": logs,
            "leader_fill_to_order_ms": ms_summary(samples),
            "leader_order_to_follower_order_ms_venue_clock": ms_summary(delays)}


# -- run -------------------------------------------------------------------------------

def _latency_rows(signal: dict[str, Any], follow: dict[str, Any], followers: int) -> list[Row]:
    base = signal["krakenex_add_order"]["placed_limit_ms"]
    candles = signal.get("candles_ms", {})
    fill = follow["leader_fill_to_order_ms"]
    venue = follow["leader_order_to_follower_order_ms_venue_clock"]
    rows = [row(f"signal to order {q} (ms)", candles.get(q), None,
                f"{fmt(base.get(q))}: krakenex AddOrder, same venue",
                ratio(candles.get(q), base.get(q))) for q in ("p50", "p99")]
    return [*rows,
            row(f"leader fill to follower order p99, {followers} followers (ms)",
                fill.get("p99")),
            row("leader fill to follower order p50 (ms)", fill.get("p50")),
            row("leader order to follower order p50, venue clock (ms)", venue.get("p50"))]


def _table(one: dict[str, Any], many: dict[str, Any], calls_ratio: float | None,
           signal: dict[str, Any], follow: dict[str, Any]) -> list[Row]:
    """The report's rows: the headline's figures, each with the baseline it is read against."""
    limit = GOALS["public_calls_ratio_max"]
    mirrored = [t["followers_mirrored"] for t in follow["leader_trades"]]
    followers = follow["followers"]
    by_accounts = sum(part["public_calls_per_min_as_counted_by"]["account_actors"]
                      for part in (one, many))
    return [
        row(f"public REST calls/min, {many['accounts']} accounts", many["public_calls_per_min"],
            goal(f"≤ {limit}× one account", calls_ratio is not None and calls_ratio <= limit),
            f"{fmt(one['public_calls_per_min'])}: one account", calls_ratio),
        row("public calls/min from account actors, both fleets", by_accounts,
            goal("0", by_accounts == 0)),
        *_latency_rows(signal, follow, followers),
        row(f"followers mirroring each leader trade (of {followers})",
            ", ".join(str(m) for m in mirrored),
            goal("all", bool(mirrored) and all(m == followers for m in mirrored))),
    ]


def run(quick: bool = False) -> dict[str, Any]:
    plan = QUICK if quick else FULL
    started, load_before = time.monotonic(), os.getloadavg()
    one = public_calls(1, plan)
    many = public_calls(plan.accounts, plan)
    calls_ratio = _ratio(many["public_calls_per_min"], one["public_calls_per_min"])
    signal = signal_to_order(plan)
    follow = follow_latency(plan)
    mirrored = [t["followers_mirrored"] for t in follow["leader_trades"]]
    follow_p99 = follow["leader_fill_to_order_ms"].get("p99")
    return {
        "benchmark": "trading",
        "quick": quick,
        "plan": asdict(plan),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "loadavg_1m_before_after": [round(load_before[0], 2),
                                                round(os.getloadavg()[0], 2)]},
        "public_calls": {"one_account": one, f"{plan.accounts}_accounts": many,
                         "ratio": calls_ratio},
        "signal_to_order": signal,
        "follow": follow,
        "goals": {"public_calls_ratio<=1.05": calls_ratio is not None
                  and calls_ratio <= GOALS["public_calls_ratio_max"],
                  "no_public_calls_from_account_actors": all(
                      part["public_calls_per_min_as_counted_by"]["account_actors"] == 0
                      for part in (one, many))},
        "table": _table(one, many, calls_ratio, signal, follow),
        "seconds_total": round(time.monotonic() - started, 1),
        "headline": {
            "public_calls_ratio": calls_ratio,
            "accounts": plan.accounts,
            "signal_to_order_p50_ratio_vs_krakenex":
                signal.get("candles_ratio_vs_krakenex", {}).get("p50"),
            "follower_p99_ms": follow_p99,
            "followers": plan.followers,
            "followers_mirrored_per_trade": mirrored,
        },
    }

