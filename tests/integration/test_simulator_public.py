"""Public endpoints over HTTP: shapes and names exactly as Kraken answers them."""

from __future__ import annotations

import itertools
import time
from decimal import Decimal

import pytest
import requests

from tests.venue_client import Client

PAIRS = ["XXBTZUSD", "XETHZUSD", "SOLUSD", "XLTCZUSD", "XBTUSDT", "ETHUSDT"]


@pytest.fixture
def client(venue):
    return Client(venue.url)


def test_time_and_status(client):
    now = client.public("Time")
    assert abs(now["unixtime"] - time.time()) < 5 and now["rfc1123"].endswith("+0000")
    assert client.public("SystemStatus")["status"] == "online"


def test_assets(client):
    assets = client.public("Assets")
    assert assets["XXBT"]["altname"] == "XBT" and assets["XXBT"]["decimals"] == 10
    assert client.public("Assets", asset="XBT,ETH").keys() == {"XXBT", "XETH"}
    assert client.query_public("Assets", {"asset": "NOPE"})["error"] == ["EQuery:Unknown asset"]


@pytest.mark.parametrize("name", ["XXBTZUSD", "XBTUSD", "XBT/USD", "xbtusd"])
def test_every_pair_spelling_is_answered_under_the_canonical_key(client, name):
    pairs = client.public("AssetPairs", pair=name)
    assert list(pairs) == ["XXBTZUSD"]
    record = pairs["XXBTZUSD"]
    assert record["altname"] == "XBTUSD" and record["wsname"] == "XBT/USD"
    assert record["base"] == "XXBT" and record["quote"] == "ZUSD"
    assert (record["pair_decimals"], record["lot_decimals"]) == (1, 8)
    assert (record["ordermin"], record["costmin"], record["tick_size"]) == ("0.00005", "0.5", "0.1")
    assert record["fees"][0] == [0, 0.40] and record["fees_maker"][0] == [0, 0.25]


def test_all_required_pairs_are_listed(client):
    assert set(PAIRS) <= set(client.public("AssetPairs"))
    assert set(client.public("AssetPairs", info="fees")["SOLUSD"]) == {
        "fees", "fees_maker", "fee_volume_currency"}


def test_ticker_shape(client):
    ticker = client.public("Ticker", pair="ETHUSD")["XETHZUSD"]
    assert len(ticker["a"]) == 3 and len(ticker["b"]) == 3 and len(ticker["c"]) == 2
    assert Decimal(ticker["b"][0]) < Decimal(ticker["a"][0])
    assert all(isinstance(n, int) for n in ticker["t"])
    assert isinstance(ticker["o"], str)


def test_ohlc_has_history_from_the_start_and_pages_with_since(client):
    result = client.public("OHLC", pair="XBTUSD", interval=5)
    rows, last = result["XXBTZUSD"], result["last"]
    assert len(rows) == 720 and isinstance(last, int)
    assert all(b[0] - a[0] == 300 for a, b in itertools.pairwise(rows))
    assert last == rows[-2][0]
    newer = client.public("OHLC", pair="XBTUSD", interval=5, since=last)["XXBTZUSD"]
    assert 1 <= len(newer) <= 2 and all(r[0] > last for r in newer)
    for interval in (1, 15, 60, 240, 1440, 10080, 21600):
        assert len(client.public("OHLC", pair="SOLUSD", interval=interval)["SOLUSD"]) == 720
    error = client.query_public("OHLC", {"pair": "XBTUSD", "interval": 7})["error"]
    assert error == ["EGeneral:Invalid arguments:interval"]


def test_depth_is_ordered_and_counted(client):
    book = client.public("Depth", pair="XBTUSD", count=10)["XXBTZUSD"]
    asks = [Decimal(a[0]) for a in book["asks"]]
    bids = [Decimal(b[0]) for b in book["bids"]]
    assert len(asks) == len(bids) == 10
    assert asks == sorted(asks) and bids == sorted(bids, reverse=True) and bids[0] < asks[0]


def test_trades_and_spread(client):
    # A venue started a moment ago may not have printed a trade yet: wait for the first.
    deadline = time.monotonic() + 15
    while True:
        trades = client.public("Trades", pair="XBTUSD")
        rows = trades["XXBTZUSD"]
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert rows and rows[0][3] in ("b", "s") and isinstance(rows[0][6], int)
    assert isinstance(trades["last"], str) and len(trades["last"]) == 19
    spread = client.public("Spread", pair="XBTUSD")
    assert spread["XXBTZUSD"] and isinstance(spread["last"], int)


def test_unknown_pair(client):
    for method in ("Ticker", "OHLC", "Depth", "Trades", "Spread", "AssetPairs"):
        error = client.query_public(method, {"pair": "DOGEUSD"})["error"]
        assert error == ["EQuery:Unknown asset pair"], method


def test_unknown_methods_and_post_to_public_are_404(venue):
    assert requests.get(f"{venue.url}/0/public/Teleport", timeout=10).status_code == 404
    assert requests.post(f"{venue.url}/0/public/Time", timeout=10).status_code == 404
    assert requests.get(f"{venue.url}/nowhere", timeout=10).json() == {
        "error": ["EGeneral:Unknown method"]}
