"""What one actor process is given at start: its identity, its trading settings and only
its own credentials.

It travels pickled through the forkserver's pipe to the new child, never through argv or
the environment (both readable by other processes of the same user).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from actors.execution.risk import RiskLimits

Role = Literal["account", "market"]
Mode = Literal["independent", "follow"]


@dataclass(frozen=True)
class TradingSettings:
    """How one account trades. `independent` runs `strategy` on `pairs`; `follow` mirrors
    `leader`'s fills as the same fraction of equity. Limits are the account's own."""

    mode: Mode = "independent"
    strategy: str = "hold"
    strategy_params: tuple[tuple[str, object], ...] = ()
    pairs: tuple[str, ...] = ("XBTUSD",)  # altnames or keys, resolved against AssetPairs
    limits: RiskLimits = field(default_factory=RiskLimits)
    leader: str = ""
    follow_when_leader_paused: bool = False  # a paused leader blocks new follower positions
    order_timeout_s: float = 30.0  # a resting limit order older than this goes to market
    limit_offset_bps: Decimal = Decimal("5")
    max_fill_age_s: float = 60.0  # a leader fill older than this is not mirrored


@dataclass(frozen=True)
class MarketSettings:
    """What the market data actor polls and how gently (Kraken: about 1 public call/s/IP)."""

    pairs: tuple[str, ...] = ("XBTUSD", "ETHUSD")
    interval_min: int = 1
    poll_s: float = 2.0
    public_calls_per_s: float = 0.9
    window: int = 120  # committed candles per Candles message


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
    lockout_s: float = 900.0  # after EGeneral:Temporary lockout, no call on the key this long
    heartbeat_interval_s: float = 1.0
    role: Role = "account"
    market_endpoint: str = ""  # SUB here for Candles/Prices ("" = no market data)
    fills_endpoint: str = ""  # bind a PUB here for this account's fills ("" = nobody follows)
    leader_endpoint: str = ""  # follower: SUB here for the leader's Fill/LeaderState
    trading: TradingSettings | None = None  # None: connection and monitoring only
    market: MarketSettings | None = None  # role "market" only
    api_key: str = field(default="", repr=False)
    api_secret: str = field(default="", repr=False)

    @property
    def has_credentials(self) -> bool:
        return bool(self.api_key and self.api_secret)
