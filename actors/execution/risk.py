"""One account's risk limits and the snapshot of the account they are checked against.

Pure data and arithmetic: the account actor builds an `AccountView` from the venue each
tick and hands it to the planner; nothing here reads a socket or a clock. Money is Decimal
USD (the quote of every traded pair), valued at the mark. Accounts are spot and long-only,
so every sell reduces risk and every buy adds to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Literal

Side = Literal["buy", "sell"]
ZERO = Decimal(0)
CASH_FEE_BUFFER = Decimal("0.005")
"""Share of free cash a buy never spends, so Kraken's taker fee (0.40% at the lowest tier)
and a little slippage of a market fallback still fit in the balance."""


@dataclass(frozen=True)
class RiskLimits:
    """An account's own limits, from its config. Amounts are USD at the mark.

    `max_daily_loss_usd` counts the change in equity since 00:00 UTC (realised plus
    unrealised P&L; deposits and withdrawals count too); once the loss
    reaches it the account opens nothing new until the next UTC day (0 means: stop at the
    first loss). `min_balance_usd` only matters to followers: below it they do not follow.
    """

    max_position_usd: Decimal = Decimal("1000")  # per pair
    max_exposure_usd: Decimal = Decimal("3000")  # all pairs together
    max_order_usd: Decimal = Decimal("500")
    max_daily_loss_usd: Decimal = Decimal("200")
    min_balance_usd: Decimal = Decimal("0")

    def __post_init__(self) -> None:
        for limit in fields(self):
            value = getattr(self, limit.name)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise ValueError(f"{limit.name} must be a finite Decimal, not {value!r}")
            if value < 0:
                raise ValueError(f"{limit.name} must be >= 0, not {value}")
        if self.max_order_usd > self.max_position_usd:
            raise ValueError(f"max_order_usd {self.max_order_usd} exceeds max_position_usd "
                             f"{self.max_position_usd}")
        if self.max_position_usd > self.max_exposure_usd:
            raise ValueError(f"max_position_usd {self.max_position_usd} exceeds "
                             f"max_exposure_usd {self.max_exposure_usd}")


@dataclass(frozen=True)
class OpenOrder:
    """A resting order as the venue reports it. `volume` is what is still unfilled;
    `price` is None for a market order still working; `placed_at` is on the same clock
    as the `now` the actor passes to `plan_timeouts`."""

    pair: str
    side: Side
    volume: Decimal
    price: Decimal | None
    placed_at: float


@dataclass(frozen=True)
class AccountView:
    """What the planner knows about one account, built by its actor from the venue.

    `cash_usd` is free USD (not held by open orders). `positions` and `marks` are keyed by
    `PairRules.key`; every pair with a position or an open order must have a mark, because
    a holding that cannot be valued would make every exposure check a guess.
    `day_pnl_low_usd` is the lowest `day_pnl_usd` the actor has seen since 00:00 UTC: it
    keeps the daily loss limit latched after an intraday recovery (None: not tracked).
    """

    equity_usd: Decimal
    cash_usd: Decimal
    positions: Mapping[str, Decimal]
    marks: Mapping[str, Decimal]
    day_pnl_usd: Decimal
    open_orders: Mapping[str, OpenOrder] = field(default_factory=dict)
    paused: bool = False
    day_pnl_low_usd: Decimal | None = None

    def __post_init__(self) -> None:
        for pair, mark in self.marks.items():
            if not mark > 0:
                raise ValueError(f"mark for {pair} must be > 0, not {mark}")
        for pair, volume in self.positions.items():
            if volume < 0:
                raise ValueError(f"position in {pair} is {volume}: spot accounts are long-only")
        valued = {p for p, v in self.positions.items() if v} | {
            o.pair for o in self.open_orders.values()}
        missing = sorted(valued - set(self.marks))
        if missing:
            raise ValueError(f"no mark for {', '.join(missing)}: positions cannot be valued")

    def held(self, pair: str) -> Decimal:
        return self.positions.get(pair, ZERO)

    def orders_on(self, pair: str) -> dict[str, OpenOrder]:
        return {txid: o for txid, o in sorted(self.open_orders.items()) if o.pair == pair}

    def committed_volume(self, pair: str) -> Decimal:
        """Held plus resting buys: what the account holds if everything it asked for fills."""
        buying = sum((o.volume for o in self.orders_on(pair).values() if o.side == "buy"), ZERO)
        return self.held(pair) + buying

    def sellable_volume(self, pair: str) -> Decimal:
        """Held minus what resting sells already promise to the market."""
        selling = sum((o.volume for o in self.orders_on(pair).values() if o.side == "sell"),
                      ZERO)
        return max(ZERO, self.held(pair) - selling)

    def committed_usd(self, pair: str) -> Decimal:
        volume = self.committed_volume(pair)
        return volume * self.marks[pair] if volume else ZERO

    def exposure_usd(self, excluding: str | None = None) -> Decimal:
        """Committed value of every pair at its mark, optionally leaving one pair out."""
        pairs = set(self.positions) | {o.pair for o in self.open_orders.values()}
        return sum((self.committed_usd(p) for p in sorted(pairs) if p != excluding), ZERO)


def daily_loss_reached(view: AccountView, limits: RiskLimits) -> bool:
    """True once today's worst P&L is a loss of at least `max_daily_loss_usd`."""
    worst = view.day_pnl_usd
    if view.day_pnl_low_usd is not None:
        worst = min(worst, view.day_pnl_low_usd)
    return worst < 0 and -worst >= limits.max_daily_loss_usd


def daily_loss_reason(limits: RiskLimits) -> str:
    return (f"daily loss limit {limits.max_daily_loss_usd} USD reached: no new positions "
            f"until 00:00 UTC")


def buy_headroom_usd(view: AccountView, limits: RiskLimits, pair: str) -> Decimal:
    """The most one buy of `pair` may be worth at the mark: what is left under the pair's
    position cap and the account's exposure cap (resting buys counted as filled), no more
    than one order's cap, and no more than free cash less the fee buffer."""
    headroom = min(limits.max_position_usd - view.committed_usd(pair),
                   limits.max_exposure_usd - view.exposure_usd(),
                   limits.max_order_usd,
                   view.cash_usd * (1 - CASH_FEE_BUFFER))
    return max(ZERO, headroom)
