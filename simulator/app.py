"""Assembling and serving a venue: settings, keys, faults, clock, market, HTTP."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import msgspec
from aiohttp import web

from simulator.accounts import LimitSettings
from simulator.admin import admin_routes
from simulator.auth import LockoutTracker
from simulator.clock import VenueClock
from simulator.engine import Exchange
from simulator.faults import FaultConfig, FaultInjector
from simulator.keys import KeySpec
from simulator.prices import Market
from simulator.ratelimit import DecayMode
from simulator.server import Venue, build_app


class SettingsError(ValueError):
    """The venue settings file is unusable; the message names the field."""


class VenueSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Behaviour Kraken leaves unconfirmed, made configurable (see docs/simulator.md)."""

    lockout_threshold: int = 10  # auth failures (key, signature, nonce) ...
    lockout_window_s: float = 60.0  # ... within this window lock the key out ...
    lockout_duration_s: float = 900.0  # ... for this long
    lockout_extends: bool = True  # calls while locked out extend the lockout
    decay_mode: DecayMode = "continuous"
    count_rejected: bool = True  # rate-limited REST calls still add to the counter
    ledger_cost: int = 2  # REST cost of ledger/trade-history calls (some docs say 4)
    enforce_rate_limits: bool = True  # off only to measure the venue's own capacity


def load_settings(path: str | os.PathLike[str]) -> VenueSettings:
    try:
        return msgspec.toml.decode(Path(path).read_bytes(), type=VenueSettings)
    except OSError as exc:
        raise SettingsError(f"cannot read venue settings {path}: {exc.strerror}") from exc
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise SettingsError(f"venue settings {path}: {exc}") from None


def build_venue(
    keys: Sequence[KeySpec], *, seed: int = 42, speed: float = 1.0,
    faults: FaultConfig | None = None, settings: VenueSettings | None = None,
    clock: VenueClock | None = None,
) -> Venue:
    settings = settings or VenueSettings()
    clock = clock or VenueClock(speed=speed)
    market = Market(seed=seed, start_time=clock.market_now())
    limits = LimitSettings(settings.decay_mode, settings.count_rejected, settings.ledger_cost,
                           settings.enforce_rate_limits)
    exchange = Exchange(clock, market, seed, limits)
    for spec in keys:
        exchange.add_account(spec)
    lockouts = LockoutTracker(settings.lockout_threshold, settings.lockout_window_s,
                              settings.lockout_duration_s)
    return Venue(exchange, FaultInjector(faults or FaultConfig(), seed), lockouts,
                 settings.lockout_extends)


async def serve(venue: Venue, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Start serving; returns the runner (to clean up) and the base URL actually bound."""
    runner = web.AppRunner(build_app(venue, admin_routes(venue)), access_log=None,
                           handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True, backlog=1024)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return runner, f"http://{shown}:{bound_port}"
