"""One API key's account on the venue: balances, holds, orders, trades, ledger and limits."""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from decimal import Decimal

from simulator.auth import NonceGuard
from simulator.keys import KeySpec
from simulator.markets import resolve_asset
from simulator.orders import ZERO, IdSource, LedgerEntry, Order, Trade, asset_places, quantize
from simulator.ratelimit import TIERS, DecayingCounter, DecayMode, RestLimiter, TradingLimiter


@dataclass
class AccountStats:
    requests: int = 0
    nonce_rejections: int = 0
    rest_rate_limited: int = 0
    trade_rate_limited: int = 0
    lockout_rejections: int = 0
    permission_denied: int = 0


@dataclass(frozen=True)
class LimitSettings:
    decay_mode: DecayMode = "continuous"
    count_rejected: bool = True
    ledger_cost: int = 2
    enforce: bool = True  # False only for capacity benchmarks: counters never refuse


class Account:
    def __init__(self, spec: KeySpec, now: float, ids: IdSource, limits: LimitSettings) -> None:
        tier = TIERS[spec.tier]
        self.spec = spec
        self.name = spec.name
        self.secret = base64.b64decode(spec.secret)
        self.permissions = frozenset(spec.permissions)
        self.tier = tier
        self.nonces = NonceGuard(spec.nonce_window)
        unlimited = not limits.enforce
        self.rest = RestLimiter(
            math.inf if unlimited else tier.rest_max,
            DecayingCounter(tier.rest_decay, limits.decay_mode, now), limits.count_rejected,
        )
        self.trading = TradingLimiter(math.inf if unlimited else tier.trade_threshold,
                                      tier.trade_decay, limits.decay_mode)
        self.balances: dict[str, Decimal] = {}
        self.holds: dict[str, Decimal] = {}
        self.orders: dict[str, Order] = {}  # every order ever accepted, in acceptance order
        self.open_orders: dict[str, Order] = {}
        self.trades: dict[str, Trade] = {}
        self.ledger: dict[str, LedgerEntry] = {}
        self.volume_30d = ZERO
        self.dms_trigger: float | None = None
        self.stats = AccountStats()
        self._ids = ids
        for name, amount in spec.balances.items():
            asset = resolve_asset(name)
            assert asset is not None  # validated with the keys file
            self.post(asset.id, Decimal(amount), ZERO, ids.new("Q"), "deposit", now)

    def available(self, asset: str) -> Decimal:
        return self.balances.get(asset, ZERO) - self.holds.get(asset, ZERO)

    def set_hold(self, order: Order, asset: str, amount: Decimal) -> None:
        """Replace the order's hold; holds are what BalanceEx reports as hold_trade."""
        if order.hold_asset:
            self.holds[order.hold_asset] = self.holds.get(order.hold_asset, ZERO) - order.hold
        order.hold_asset, order.hold = asset, amount
        if asset:
            self.holds[asset] = self.holds.get(asset, ZERO) + amount

    def post(self, asset: str, amount: Decimal, fee: Decimal, refid: str, kind: str,
             now: float) -> LedgerEntry:
        """Move `amount - fee` of `asset` and record it in the ledger."""
        places = asset_places(asset)
        amount, fee = quantize(amount, places), quantize(fee, places)
        balance = self.balances.get(asset, ZERO) + amount - fee
        self.balances[asset] = balance
        entry = LedgerEntry(self._ids.new("L"), refid, now, kind, asset, amount, fee, balance)
        self.ledger[entry.lid] = entry
        return entry

    def open_count(self, pair_key: str) -> int:
        return sum(1 for o in self.open_orders.values() if o.pair.key == pair_key)


@dataclass
class Registry:
    """Accounts by API key string and by name."""

    by_key: dict[str, Account] = field(default_factory=dict)
    by_name: dict[str, Account] = field(default_factory=dict)

    def add(self, account: Account) -> None:
        if account.name in self.by_name:
            raise ValueError(f"duplicate key name {account.name!r}")
        if account.spec.key in self.by_key:
            raise ValueError(f"key {account.name!r} repeats another key's API key")
        self.by_key[account.spec.key] = account
        self.by_name[account.name] = account
