"""`python -m bench trading --quick` end to end: the report is well formed, public REST
volume does not grow with the number of accounts (one market data actor polls for all),
and every follower mirrors a leader trade. No timing is asserted: latencies are figures
to read, not to pass."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_trading_bench_public_calls_do_not_grow_and_followers_mirror():
    done = subprocess.run([sys.executable, "-m", "bench", "trading", "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-4000:]
    *body, last = done.stdout.strip().splitlines()
    report = json.loads("\n".join(body))
    headline = json.loads(last)["headline"]
    assert "headline" not in report
    assert set(headline) >= {"public_calls_ratio", "signal_to_order_p50_ratio_vs_krakenex",
                             "follower_p99_ms"}

    calls = report["public_calls"]
    one, many = calls["one_account"], calls[f"{report['plan']['accounts']}_accounts"]
    assert one["running_at_end"] == 1 and many["running_at_end"] == many["accounts"] > 1
    assert one["public_calls_per_min"] > 0, "the market data actor made no public call"
    assert headline["public_calls_ratio"] == calls["ratio"]
    # What makes volume independent of the account count: only the market data actor
    # calls the public API. (The ratio itself is reported, not bounded here: in a 15 s
    # quick window on a loaded CI machine, the market actor's own OHLC timing at speed 60
    # moves it by tens of percent; the full run measures it over 60 s.)
    for fleet in (one, many):
        counted = fleet["public_calls_per_min_as_counted_by"]
        assert counted["account_actors"] == 0, f"account actors made public calls: {fleet}"
        assert counted["market_actor"] > 0

    follow = report["follow"]
    mirrored = [t["followers_mirrored"] for t in follow["leader_trades"]]
    assert follow["followers"] == headline["followers"] > 1
    assert len(mirrored) == report["plan"]["leader_trades"], "a leader order is missing"
    assert follow["followers"] in mirrored, f"no leader trade mirrored by all: {mirrored}"
    assert follow["leader_fill_to_order_ms"]["n"] >= follow["followers"]
    assert report["signal_to_order"]["krakenex_add_order"]["placed_limit_ms"]["n"] > 0
