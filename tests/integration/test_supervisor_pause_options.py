"""Pause options through nijactl: --cancel-open cancels resting orders, --flatten sells
holdings at market; a paused account refuses new orders; nijactl orders/positions."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.supervisor_harness import RunningSupervisor

# A paper account that never trades on its own: every order here is the test's.
HOLD_MASTER = '[[account]]\nname = "master"\nstrategy = "hold"\n'


def _query(sup: RunningSupervisor, *args: str) -> dict[str, object]:
    done = sup.ctl(*args)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@pytest.mark.timeout(120)
def test_cancel_open_and_flatten():
    with RunningSupervisor(["master"], config=HOLD_MASTER) as sup:
        ticker = _query(sup, "query", "master", "ticker", "-p", "pair=XBTUSD")["ticker"]
        last = Decimal(ticker["XXBTZUSD"]["c"][0])
        low = str((last * Decimal("0.5")).quantize(Decimal("0.1")))
        placed = _query(sup, "query", "master", "place_order", "-p", "pair=XBTUSD", "-p",
                        "side=buy", "-p", "ordertype=limit", "-p", f"price={low}", "-p",
                        "volume=0.001")
        assert list(_query(sup, "orders", "master")["open"]) == [placed["txid"]]
        assert sup.ctl("pause", "master", "--cancel-open").returncode == 0
        assert _query(sup, "orders", "master")["open"] == {}
        refused = sup.ctl("query", "master", "place_order", "-p", "pair=XBTUSD", "-p",
                          "side=buy", "-p", "volume=0.001")
        assert refused.returncode == 1 and "paused" in refused.stderr
        holdings = _query(sup, "positions", "master")["positions"]["holdings"]
        assert Decimal(holdings["XXBT"]) > 0
        assert sup.ctl("pause", "master", "--flatten").returncode == 0
        balances = _query(sup, "query", "master", "balance")["balances"]
        assert Decimal(balances.get("XXBT", "0")) < Decimal("0.00005")  # below ordermin
