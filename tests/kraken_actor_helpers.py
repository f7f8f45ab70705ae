"""Build a real KrakenBroker (the actor's broker) against a running simulator."""

from __future__ import annotations

import threading
from pathlib import Path

from actors.kraken.broker import KrakenBroker
from actors.launch import ActorLaunch
from tests.venue_client import Client


def broker_for(url: str, client: Client, state_dir: Path, *, tier: str = "starter",
               allow_withdraw: bool = False,
               buying_power_assets: tuple[str, ...] = ("ZUSD", "USDT"),
               lockout_s: float = 900.0) -> KrakenBroker:
    launch = ActorLaunch(actor_id="kraken:test", broker="kraken", account="test",
                         endpoint="ipc:///unused", state_dir=str(state_dir), venue_url=url,
                         tier=tier, allow_withdraw=allow_withdraw, lockout_s=lockout_s,
                         buying_power_assets=buying_power_assets, api_key=client.key,
                         api_secret=client.secret)
    return KrakenBroker(launch, threading.Event())
