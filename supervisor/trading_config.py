"""How each account trades and what the market data actor polls: the `[market]` table and
the trading keys of `[[account]]`, validated at load and turned into what actors receive.

This module sits below `supervisor.config` (which imports it), so it never raises
`ConfigError` itself: every check raises ValueError phrased `key: problem`, and config
turns that into a ConfigError naming the full key (`account[2].leader: ...`). Money is
Decimal; a TOML float where money is expected is refused rather than rounded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from actors.execution.risk import RiskLimits
from actors.launch import MarketSettings, TradingSettings
from actors.marketdata.feed import KRAKEN_INTERVALS
from actors.strategies import REGISTRY, make_strategy

if TYPE_CHECKING:
    from supervisor.config import AccountConfig, Config

__all__ = ["MARKET_ACTOR", "MarketSettingsConfig", "RiskConfig", "StrategyParam",
           "check_account_fields", "check_accounts", "check_pairs", "describe_market",
           "describe_trading", "market_settings",
           "prepare_account_entry", "resolve_market", "trading_settings"]

MARKET_ACTOR = "market"
"""The reserved account name of each broker's market data actor (`kraken:market`)."""
RESERVED = f"{MARKET_ACTOR!r} is reserved for the market data actor (kraken:{MARKET_ACTOR})"
StrategyParam = bool | int | float | str
MAX_WINDOW = 720  # Kraken's OHLC answers hold at most 720 candles
PAPER_POLL_S = 1.0
PAPER_PUBLIC_CALLS_PER_S = 20.0  # the simulator has no public rate limit
_LIVE = MarketSettings()
_RISK = RiskLimits()
_PAIR = re.compile(r"[A-Za-z0-9./_-]{1,32}")
_MONEY_FLOAT = ("a TOML float is inexact for money and prices; quote it as a decimal string "
                "(\"500\" or \"0.5\") or write an integer")


def _positive(value: float) -> bool:
    """> 0 and finite (TOML allows inf and nan)."""
    return 0 < value < math.inf


def _normal(pair: str) -> str:
    """How the market data actor compares pair names: any case, with or without a '/'."""
    return pair.replace("/", "").strip().upper()


def check_pairs(pairs: Sequence[str], field: str) -> None:
    """At least one pair, each a plausible Kraken name, none named twice."""
    if not pairs:
        raise ValueError(f"{field}: must name at least one pair")
    seen: dict[str, int] = {}
    for i, pair in enumerate(pairs):
        if _PAIR.fullmatch(pair) is None:
            raise ValueError(f"{field}[{i}]: must be a Kraken pair name such as \"XBTUSD\"")
        if (first := seen.setdefault(_normal(pair), i)) != i:
            raise ValueError(f"{field}[{i}]: {pair!r} is already listed at {field}[{first}]")


class MarketSettingsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The `[market]` table: one market data actor per broker polls these pairs. `poll_s`
    and `public_calls_per_s` of None mean the mode's default; `load_config` resolves them
    (live: 2.0 s and 0.9 calls/s, Kraken's public limit; paper: 1.0 s and 20 calls/s)."""

    pairs: tuple[str, ...] = _LIVE.pairs
    interval_min: int = _LIVE.interval_min
    poll_s: float | None = None
    public_calls_per_s: float | None = None
    window: int = _LIVE.window

    def __post_init__(self) -> None:
        check_pairs(self.pairs, "pairs")
        if self.interval_min not in KRAKEN_INTERVALS:
            raise ValueError(f"interval_min: must be one of Kraken's OHLC intervals "
                             f"{', '.join(map(str, KRAKEN_INTERVALS))}")
        if self.poll_s is not None and not _positive(self.poll_s):
            raise ValueError("poll_s: must be > 0")
        if self.public_calls_per_s is not None and not _positive(self.public_calls_per_s):
            raise ValueError("public_calls_per_s: must be > 0")
        if not 2 <= self.window <= MAX_WINDOW:
            raise ValueError(f"window: must be >= 2 and <= {MAX_WINDOW}")


def resolve_market(market: MarketSettingsConfig, paper_mode: bool) -> MarketSettingsConfig:
    """`market` with None-means-default fields filled in for the mode."""
    settings = market_settings_for(market, paper_mode)
    return msgspec.structs.replace(market, poll_s=settings.poll_s,
                                   public_calls_per_s=settings.public_calls_per_s)


def market_settings_for(market: MarketSettingsConfig, paper_mode: bool) -> MarketSettings:
    poll_s = PAPER_POLL_S if paper_mode else _LIVE.poll_s
    calls = PAPER_PUBLIC_CALLS_PER_S if paper_mode else _LIVE.public_calls_per_s
    return MarketSettings(
        pairs=market.pairs, interval_min=market.interval_min,
        poll_s=poll_s if market.poll_s is None else market.poll_s,
        public_calls_per_s=calls if market.public_calls_per_s is None
        else market.public_calls_per_s,
        window=market.window)


def market_settings(config: Config) -> MarketSettings:
    """What the market data actor of every broker receives."""
    return market_settings_for(config.market, config.paper_mode)


class RiskConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`[account.risk]`: the account's `RiskLimits`, USD. Checked by building them, so the
    config refuses exactly what the actor would."""

    max_position_usd: Decimal = _RISK.max_position_usd
    max_exposure_usd: Decimal = _RISK.max_exposure_usd
    max_order_usd: Decimal = _RISK.max_order_usd
    max_daily_loss_usd: Decimal = _RISK.max_daily_loss_usd
    min_balance_usd: Decimal = _RISK.min_balance_usd

    def __post_init__(self) -> None:
        try:
            self.limits()
        except ValueError as err:
            message = str(err)
            field, _, rest = message.partition(" ")
            if field not in self.__struct_fields__:
                raise
            raise ValueError(f"{field}: {rest}") from None

    def limits(self) -> RiskLimits:
        return RiskLimits(**msgspec.structs.asdict(self))


def prepare_account_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One raw `[[account]]` table made ready for conversion: money given as a TOML float
    is refused (it was rounded to binary before we saw it), and `[account.strategy_params]`
    becomes ordered (name, value) pairs holding only scalars."""
    data = dict(entry)
    if isinstance(data.get("limit_offset_bps"), float):
        raise ValueError(f"limit_offset_bps: {_MONEY_FLOAT}")
    risk = data.get("risk")
    if isinstance(risk, Mapping):
        for key, value in risk.items():
            if isinstance(value, float):
                raise ValueError(f"risk.{key}: {_MONEY_FLOAT}")
    if "strategy_params" in data:
        params = data["strategy_params"]
        if not isinstance(params, Mapping):
            raise ValueError("strategy_params: expected a table")
        for key, value in params.items():
            if not isinstance(value, StrategyParam):
                raise ValueError(f"strategy_params.{key}: must be a number, string or boolean")
        data["strategy_params"] = [[key, value] for key, value in params.items()]
    return data


def check_account_fields(account: AccountConfig) -> None:
    """The rules one account can check alone: mode and leader agree, the strategy and its
    parameters build, and the numbers are in range. Leaders are checked by `check_accounts`."""
    if account.mode == "follow":
        if not account.leader:
            raise ValueError('leader: required when mode = "follow"')
        if account.leader == account.name:
            raise ValueError("leader: an account cannot follow itself")
        if account.strategy != "hold":
            raise ValueError("strategy: a follower mirrors its leader's trades; leave strategy "
                             'unset (or "hold")')
        if account.strategy_params:
            raise ValueError("strategy_params: a follower runs no strategy; remove them")
    elif account.leader:
        raise ValueError('leader: only a follower (mode = "follow") has a leader')
    _check_strategy(account.strategy, dict(account.strategy_params))
    if account.pairs is not None:
        check_pairs(account.pairs, "pairs")
    for field in ("order_timeout_s", "max_fill_age_s"):
        if not _positive(getattr(account, field)):
            raise ValueError(f"{field}: must be > 0")
    bps = account.limit_offset_bps
    if not (bps.is_finite() and 0 <= bps < 10_000):
        raise ValueError("limit_offset_bps: must be >= 0 and < 10000 (100%)")


def _check_strategy(name: str, params: dict[str, object]) -> None:
    """Build the strategy once, as the actor will, and name the key its error is about."""
    if name not in REGISTRY:
        raise ValueError(f"strategy: unknown strategy {name!r}; known strategies: "
                         f"{', '.join(sorted(REGISTRY))}")
    try:
        make_strategy(name, **params)
    except (ValueError, TypeError) as err:  # the key the operator wrote, else the first named
        named = [param for param in re.findall(r"'([^']+)'", str(err)) if param != name]
        given = [param for param in named if param in params]
        key = f"strategy_params.{(given or named)[0]}" if named else "strategy_params"
        raise ValueError(f"{key}: {err}") from None


def check_accounts(accounts: Sequence[AccountConfig], labels: Mapping[str, str],
                   market: MarketSettingsConfig) -> list[AccountConfig]:
    """The rules between accounts, with account pairs defaulted to `[market].pairs`.
    `labels` maps a name to its key (`account[2]`). A leader is another configured account
    of the same broker that is itself independent (no chains); an enabled follower needs
    an enabled leader. Every account pair must be polled by the market data actor."""
    by_name = {account.name: account for account in accounts}
    polled = {_normal(pair) for pair in market.pairs}
    resolved = []
    for account in accounts:
        where = labels.get(account.name, f"account {account.name!r}")
        if account.mode == "follow":
            _check_leader(account, by_name.get(account.leader), f"{where}.leader")
        for i, pair in enumerate(account.pairs or ()):
            if _normal(pair) not in polled:
                raise ValueError(f"{where}.pairs[{i}]: {pair!r} is not in [market].pairs "
                                 f"({', '.join(market.pairs)})")
        if account.pairs is None:
            account = msgspec.structs.replace(account, pairs=market.pairs)
        resolved.append(account)
    return resolved


def _check_leader(follower: AccountConfig, leader: AccountConfig | None, key: str) -> None:
    name = follower.leader
    if leader is None:
        raise ValueError(f"{key}: no account named {name!r} is configured")
    if leader.broker != follower.broker:
        raise ValueError(f"{key}: {name!r} trades on {leader.broker}, not {follower.broker}")
    if leader.mode != "independent":
        raise ValueError(f"{key}: {name!r} is itself a follower (of {leader.leader!r}); "
                         "follow an independent account (no chains)")
    if follower.enabled and not leader.enabled:
        raise ValueError(f"{key}: {name!r} is disabled; enable it or disable this follower")


def trading_settings(account: AccountConfig) -> TradingSettings:
    """What the account's actor receives. Needs pairs resolved (by `load_config`)."""
    if account.pairs is None:
        raise ValueError(f"account {account.name!r}: pairs not resolved (use load_config)")
    return TradingSettings(
        mode=account.mode, strategy=account.strategy,
        strategy_params=tuple(account.strategy_params), pairs=account.pairs,
        limits=account.risk.limits(), leader=account.leader,
        follow_when_leader_paused=account.follow_when_leader_paused,
        order_timeout_s=account.order_timeout_s, limit_offset_bps=account.limit_offset_bps,
        max_fill_age_s=account.max_fill_age_s)


def describe_trading(account: AccountConfig) -> str:
    """`mode=... strategy=...` (or `leader=...` for a follower) and the pairs, for logs."""
    role = (f"leader={account.leader}" if account.mode == "follow"
            else f"strategy={account.strategy}")
    pairs = ",".join(account.pairs) if account.pairs is not None else "[market].pairs"
    return f"mode={account.mode} {role} pairs={pairs}"


def describe_market(market: MarketSettings) -> str:
    return (f"market: {MARKET_ACTOR} actor per broker polls {','.join(market.pairs)} "
            f"({market.interval_min}-minute candles, window {market.window}, every "
            f"{market.poll_s}s, at most {market.public_calls_per_s} public calls/s)")
