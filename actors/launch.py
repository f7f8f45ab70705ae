"""What one actor process is given at start: its identity and only its own credentials.

It travels pickled through the forkserver's pipe to the new child, never through argv or
the environment (both readable by other processes of the same user).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ActorLaunch:
    actor_id: str  # "kraken:master"
    broker: str
    account: str
    endpoint: str  # the supervisor's actor ROUTER
    state_dir: str  # this account's own directory
    venue_url: str  # live exchange or the paper simulator
    tier: str = "starter"
    allow_withdraw: bool = False
    buying_power_assets: tuple[str, ...] = ("ZUSD", "USDT")
    log_level: int = 20
    heartbeat_interval_s: float = 1.0
    api_key: str = field(default="", repr=False)
    api_secret: str = field(default="", repr=False)

    @property
    def has_credentials(self) -> bool:
        return bool(self.api_key and self.api_secret)
