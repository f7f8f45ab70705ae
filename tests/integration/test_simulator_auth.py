"""Signing, nonces, lockouts and permissions, through krakenex over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import requests

from simulator.keys import TRADING_PERMISSIONS
from tests.venue_client import Client, next_nonce


def test_unmodified_krakenex_works_after_changing_only_its_base_url(venue):
    client, _ = venue.account()
    plain = __import__("krakenex").API(client.key, client.secret)
    plain.uri = venue.url
    time.sleep(0.002)  # krakenex's own millisecond nonce must be past the last one used
    assert plain.query_private("Balance", timeout=10)["result"]["ZUSD"] == "1000000.0000"
    assert "XXBTZUSD" in plain.query_public("Ticker", {"pair": "XBTUSD"}, timeout=10)["result"]


def test_unknown_key_is_refused(venue):
    stranger = Client(venue.url, "bm90LWEta2V5", base64.b64encode(b"x" * 64).decode())
    assert stranger.err("Balance") == "EAPI:Invalid key"


def test_wrong_secret_is_an_invalid_signature(venue):
    client, _ = venue.account()
    forger = Client(venue.url, client.key, base64.b64encode(b"y" * 64).decode())
    assert forger.err("Balance") == "EAPI:Invalid signature"


def test_signature_over_a_different_body_is_refused(venue):
    client, _ = venue.account()
    nonce = str(next_nonce())
    signed = f"nonce={nonce}"
    digest = hashlib.sha256((nonce + signed).encode()).digest()
    sig = base64.b64encode(hmac.new(base64.b64decode(client.secret),
                                    b"/0/private/Balance" + digest, hashlib.sha512).digest())
    response = requests.post(f"{venue.url}/0/private/Balance", data=signed + "&asset=XBT",
                             headers={"API-Key": client.key, "API-Sign": sig.decode(),
                                      "Content-Type": "application/x-www-form-urlencoded"},
                             timeout=10)
    assert response.json()["error"] == ["EAPI:Invalid signature"]


def test_json_bodies_are_signed_over_their_raw_bytes(venue):
    client, _ = venue.account()
    nonce = next_nonce()
    body = json.dumps({"nonce": nonce})
    digest = hashlib.sha256((str(nonce) + body).encode()).digest()
    sig = base64.b64encode(hmac.new(base64.b64decode(client.secret),
                                    b"/0/private/Balance" + digest, hashlib.sha512).digest())
    response = requests.post(f"{venue.url}/0/private/Balance", data=body,
                             headers={"API-Key": client.key, "API-Sign": sig.decode(),
                                      "Content-Type": "application/json"}, timeout=10)
    assert response.json()["error"] == []
    assert response.json()["result"]["XXBT"] == "10.0000000000"


def test_a_nonce_not_above_the_last_accepted_one_is_refused(venue):
    client, name = venue.account()
    fixed = next_nonce()
    client._nonce = lambda: fixed
    assert client.private("Balance")["error"] == []
    assert client.err("Balance") == "EAPI:Invalid nonce"
    client._nonce = lambda: fixed - 1
    assert client.err("Balance") == "EAPI:Invalid nonce"
    assert venue.admin.stats(name)["nonce_rejections"] == 2
    refusals = [r for r in venue.admin.get("stats")["nonce_refusals"] if r["key"] == name]
    assert [(r["method"], r["nonce"]) for r in refusals] == [("Balance", fixed),
                                                             ("Balance", fixed - 1)]


def test_nonce_window_accepts_late_arrivals_once(venue):
    client, _ = venue.account(nonce_window=1_000_000)
    high = next_nonce() + 500_000
    client._nonce = lambda: high
    client.ok("Balance")
    client._nonce = lambda: high - 400_000  # inside the window, never used
    client.ok("Balance")
    assert client.err("Balance") == "EAPI:Invalid nonce"  # the same nonce again
    client._nonce = lambda: high - 2_000_000  # outside the window
    assert client.err("Balance") == "EAPI:Invalid nonce"


def test_repeated_auth_failures_lock_the_key_out_until_it_expires(own_venue):
    venue = own_venue(settings="lockout_threshold = 3\nlockout_duration_s = 30\n")
    client, name = venue.account()
    fixed = next_nonce()
    client._nonce = lambda: fixed
    client.ok("Balance")
    for _ in range(3):
        assert client.err("Balance") == "EAPI:Invalid nonce"
    client._nonce = next_nonce
    assert client.err("Balance") == "EGeneral:Temporary lockout"  # even a good call
    assert venue.admin.stats(name)["lockout_rejections"] == 1
    venue.admin.advance(31)
    client.ok("Balance")


def test_unknown_keys_hammering_get_locked_out(own_venue):
    venue = own_venue(settings="lockout_threshold = 2\n")
    stranger = Client(venue.url, "c3RyYW5nZXI=", base64.b64encode(b"z" * 64).decode())
    assert stranger.err("Balance") == "EAPI:Invalid key"
    assert stranger.err("Balance") == "EAPI:Invalid key"
    assert stranger.err("Balance") == "EGeneral:Temporary lockout"


def test_permissions_are_enforced_per_endpoint(venue):
    reader, _ = venue.account(permissions=["query_funds", "query_open_orders"])
    reader.ok("Balance")
    reader.ok("OpenOrders")
    for method, data in [
        ("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.01"}),
        ("CancelOrder", {"txid": "OAAAAA-AAAAA-AAAAAA"}),
        ("ClosedOrders", {}),
        ("TradesHistory", {}),
        ("Ledgers", {}),
        ("WithdrawAddresses", {}),
    ]:
        assert reader.err(method, **data) == "EGeneral:Permission denied", method


def test_only_withdraw_keys_can_see_withdrawal_endpoints(venue):
    trader, _ = venue.account()
    withdrawer, _ = venue.account(permissions=[*TRADING_PERMISSIONS, "withdraw"])
    assert trader.err("WithdrawMethods") == "EGeneral:Permission denied"
    assert withdrawer.ok("WithdrawMethods") == []
    assert withdrawer.ok("WithdrawAddresses") == []


def test_websocket_token(venue):
    client, _ = venue.account()
    token = client.ok("GetWebSocketsToken")
    assert token["expires"] == 900 and len(token["token"]) >= 30


def test_unknown_private_method_is_a_404_with_krakens_error(venue):
    response = requests.post(f"{venue.url}/0/private/Teleport", data={"nonce": 1}, timeout=10)
    assert response.status_code == 404
    assert response.json() == {"error": ["EGeneral:Unknown method"]}
