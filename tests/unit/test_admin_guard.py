"""The admin API answers loopback peers only. A non-loopback peer cannot be produced on
this machine's network, so the peer address is the one mocked part here."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from simulator.server import loopback_only


async def _ok(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


def _request_from(peer: str) -> web.Request:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 40000) if name == "peername" else default)
    return make_mocked_request("GET", "/admin/orders", transport=transport)


@pytest.mark.parametrize(("peer", "status"), [
    ("127.0.0.1", 200), ("127.5.5.5", 200), ("::1", 200),
    ("192.0.2.10", 403), ("10.1.2.3", 403), ("fd00::2", 403), ("", 403),
])
def test_only_loopback_peers_reach_admin(peer, status):
    response = asyncio.run(loopback_only(_ok)(_request_from(peer)))
    assert response.status == status
