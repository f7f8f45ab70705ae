"""The venue over HTTP (aiohttp): Kraken's REST routes, the checks before dispatch in
Kraken's order, fault injection, and a loopback-only admin API for tests."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
from aiohttp import web

from simulator.accounts import Account
from simulator.auth import LockoutTracker, signature_matches
from simulator.engine import Exchange
from simulator.faults import BEFORE_ERRORS, NO_FAULT, FaultInjector, FaultPlan
from simulator.orders import VenueError
from simulator.params import Params, parse_body
from simulator.private_api import HANDLERS, permitted
from simulator.public_api import PUBLIC_HANDLERS
from simulator.ratelimit import rest_cost

log = logging.getLogger("simulator")

_ENCODER = msgspec.json.Encoder(decimal_format="number")
_CLOUDFLARE_PAGE = (
    "<html><head><title>{code} | api.kraken.com | Cloudflare</title></head>"
    "<body><h1>Error {code}</h1><p>Web server is returning an unknown error</p></body></html>"
)
TICK_INTERVAL_S = 0.2
ALL_METHODS = frozenset(HANDLERS) | frozenset(PUBLIC_HANDLERS)


def envelope(result: object = None, error: str | None = None, status: int = 200) -> web.Response:
    body: dict[str, object] = {"error": [error]} if error else {"error": [], "result": result}
    return web.Response(body=_ENCODER.encode(body), status=status,
                        content_type="application/json")


def cloudflare_5xx(code: int = 520) -> web.Response:
    return web.Response(text=_CLOUDFLARE_PAGE.format(code=code), status=code,
                        content_type="text/html")


class Venue:
    """Owns the exchange state and answers HTTP; one instance per server."""

    def __init__(self, exchange: Exchange, faults: FaultInjector, lockouts: LockoutTracker,
                 lockout_extends: bool = True) -> None:
        self.exchange = exchange
        self.faults = faults
        self.lockouts = lockouts
        self.lockout_extends = lockout_extends
        self.auth_failures: dict[str, int] = {"invalid_key": 0, "invalid_signature": 0}
        # The latest nonce refusals (key name, method, nonce, Unix time): lets an audit tell
        # which sender a refusal answered, e.g. a killed process's delayed request.
        self.nonce_refusals: deque[dict[str, object]] = deque(maxlen=1000)
        self.public_calls: dict[str, int] = {}  # per method, every GET that reached one

    # -- public --------------------------------------------------------------------

    async def public(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        handler = PUBLIC_HANDLERS.get(method)
        if handler is None or request.method != "GET":
            return envelope(error="EGeneral:Unknown method", status=404)
        self.public_calls[method] = self.public_calls.get(method, 0) + 1
        plan = self.faults.plan(method)
        early = await self._before(plan)
        if early is not None:
            return early
        self.exchange.catch_up()
        try:
            return envelope(handler(self.exchange, request.query))
        except VenueError as exc:
            return envelope(error=exc.error)

    # -- private -------------------------------------------------------------------

    async def private(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        handler = HANDLERS.get(method)
        if handler is None:
            return envelope(error="EGeneral:Unknown method", status=404)
        body = await request.read()
        plan = self.faults.plan(method)
        early = await self._before(plan)
        if early is not None:
            return early
        self.exchange.catch_up()
        try:
            account, params = self._authenticate(request, method, body)
            result = handler(self.exchange, account, params)
        except VenueError as exc:
            return envelope(error=exc.error)
        if plan.after == "drop":
            _drop_connection(request)
            return web.Response(status=500)
        if plan.after == "5xx":
            return cloudflare_5xx(520)
        return envelope(result)

    def _authenticate(self, request: web.Request, method: str, body: bytes
                      ) -> tuple[Account, Params]:
        """Kraken's checks in order: lockout, key, signature, nonce, permission, call counter."""
        now = self.exchange.clock.now()
        api_key = request.headers.get("API-Key", "")
        if self.lockouts.locked(api_key, now):
            if self.lockout_extends:
                self.lockouts.extend(api_key, now)
            account = self.exchange.accounts.by_key.get(api_key)
            if account is not None:
                account.stats.lockout_rejections += 1
            raise VenueError("EGeneral:Temporary lockout")
        account = self.exchange.accounts.by_key.get(api_key)
        if account is None:
            self.auth_failures["invalid_key"] += 1
            self.lockouts.record_failure(api_key, now)
            raise VenueError("EAPI:Invalid key")
        account.stats.requests += 1
        params = parse_body(body, request.headers.get("Content-Type", ""))
        nonce_text = params.get("nonce")
        urlpath = "/0/private/" + method
        if not signature_matches(request.headers.get("API-Sign", ""), urlpath,
                                 str(nonce_text if nonce_text is not None else ""), body,
                                 account.secret):
            self.auth_failures["invalid_signature"] += 1
            self.lockouts.record_failure(api_key, now)
            raise VenueError("EAPI:Invalid signature")
        try:
            nonce = int(str(nonce_text))
        except ValueError:
            nonce = -1
        if nonce < 0 or nonce >= 2**64 or not account.nonces.accept(nonce):
            account.stats.nonce_rejections += 1
            self.nonce_refusals.append({"key": account.name, "method": method, "nonce": nonce,
                                        "at": time.time()})
            account.rest.admit(now, 1)  # invalid nonces still count against the limits
            self.lockouts.record_failure(api_key, now)
            raise VenueError("EAPI:Invalid nonce")
        self.lockouts.record_success(api_key)
        if not permitted(account, method):
            account.stats.permission_denied += 1
            raise VenueError("EGeneral:Permission denied")
        if not account.rest.admit(now, rest_cost(method, self.exchange.limits.ledger_cost)):
            account.stats.rest_rate_limited += 1
            raise VenueError("EAPI:Rate limit exceeded")
        return account, params

    async def _before(self, plan: FaultPlan) -> web.StreamResponse | None:
        if plan is NO_FAULT:
            return None
        if plan.delay_s:
            await asyncio.sleep(plan.delay_s)
        if plan.before == "http_5xx":
            return cloudflare_5xx(520)
        if plan.before is not None:
            return envelope(error=BEFORE_ERRORS[plan.before])
        return None

    # -- background ----------------------------------------------------------------

    async def run_clock(self) -> None:
        """Let orders fill, stops trigger and dead man's switches fire with no requests."""
        while True:
            await asyncio.sleep(TICK_INTERVAL_S)
            try:
                self.exchange.catch_up()
            except Exception:  # the venue must outlive a bug in one tick; log it loudly
                log.exception("market tick failed")


def _drop_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


def loopback_only(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def guarded(request: web.Request) -> web.StreamResponse:
        remote = request.remote or ""
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(remote).is_loopback:
                return await handler(request)
        return web.json_response({"error": "admin endpoints are loopback-only"}, status=403)

    return guarded


async def _not_found(request: web.Request) -> web.StreamResponse:
    return envelope(error="EGeneral:Unknown method", status=404)


def build_app(venue: Venue, admin_routes: list[web.RouteDef]) -> web.Application:
    app = web.Application(client_max_size=1 << 20)
    app.router.add_route("*", "/0/public/{method}", venue.public)
    app.router.add_post("/0/private/{method}", venue.private)
    app.add_routes(admin_routes)
    app.router.add_route("*", "/{tail:.*}", _not_found)

    async def start_clock(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(venue.run_clock())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(start_clock)
    return app
