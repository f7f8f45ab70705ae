"""Fault injection over HTTP: the failures that make naive clients lose or duplicate orders."""

from __future__ import annotations

import time

import pytest
import requests


def place(client, **extra):
    return client.private("AddOrder", pair="XBTUSD", type="buy", ordertype="market",
                          volume="0.001", **extra)


def test_cloudflare_5xx_is_an_html_page_and_places_nothing(own_venue):
    venue = own_venue(faults="[endpoint.AddOrder]\nhttp_5xx = 1.0\n")
    client, name = venue.account()
    with pytest.raises(requests.HTTPError) as info:
        place(client)
    assert info.value.response.status_code == 520
    assert "text/html" in info.value.response.headers["Content-Type"]
    assert venue.admin.orders(name) == []
    assert venue.admin.get("stats")["faults_injected"]["http_5xx"] == 1


@pytest.mark.parametrize(("kind", "error"), [
    ("service_unavailable", "EService:Unavailable"),
    ("service_busy", "EService:Busy"),
    ("deadline_elapsed", "EService:Deadline elapsed"),
    ("rate_limit", "EAPI:Rate limit exceeded"),
    ("lockout", "EGeneral:Temporary lockout"),
])
def test_service_errors_are_answered_without_applying(venue, kind, error):
    client, name = venue.account()
    venue.admin.faults({"endpoint": {"AddOrder": {kind: 1.0}}})
    try:
        assert place(client)["error"] == [error]
        assert venue.admin.orders(name) == []
        assert client.ok("Balance")  # other endpoints unaffected
    finally:
        venue.admin.faults({})


def test_apply_then_fail_places_the_order_but_answers_5xx(own_venue):
    venue = own_venue()
    client, name = venue.account()
    venue.admin.faults({"endpoint": {"AddOrder": {"apply_then_fail": 1.0,
                                                  "apply_then_fail_mode": "5xx"}}})
    with pytest.raises(requests.HTTPError):
        place(client, cl_ord_id="atf-1")
    (order,) = venue.admin.orders(name)
    assert order["cl_ord_id"] == "atf-1" and order["status"] == "closed"


def test_apply_then_fail_can_drop_the_connection(own_venue):
    venue = own_venue()
    client, name = venue.account()
    venue.admin.faults({"endpoint": {"AddOrder": {"apply_then_fail": 1.0,
                                                  "apply_then_fail_mode": "drop"}}})
    with pytest.raises(requests.ConnectionError):
        place(client, cl_ord_id="atf-2")
    assert [o["cl_ord_id"] for o in venue.admin.orders(name)] == ["atf-2"]
    venue.admin.faults({})
    client.ok("Balance")  # the venue itself is fine


def test_latency_is_added(own_venue):
    venue = own_venue(faults="[default]\nlatency = 1.0\nlatency_ms = [300, 300]\n")
    client, _ = venue.account()
    started = time.monotonic()
    client.ok("Balance")
    assert time.monotonic() - started >= 0.3


def test_seeded_faults_replay(own_venue):
    faults = "seed = 99\n[endpoint.Balance]\nservice_busy = 0.5\n"
    runs = []
    for _ in range(2):
        venue = own_venue(faults=faults)
        client, _ = venue.account()
        runs.append([bool(client.private("Balance")["error"]) for _ in range(30)])
    assert runs[0] == runs[1] and any(runs[0]) and not all(runs[0])


def test_admin_rejects_bad_fault_documents_naming_the_field(venue):
    response = requests.post(f"{venue.url}/admin/faults",
                             json={"default": {"service_busy": 7}}, timeout=10)
    assert response.status_code == 400
    assert "default.service_busy" in response.json()["error"]
    response = requests.post(f"{venue.url}/admin/faults",
                             json={"endpoint": {"Nope": {}}}, timeout=10)
    assert "endpoint.Nope" in response.json()["error"]
