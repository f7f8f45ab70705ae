"""Turns an account's targets, stops, resting orders and a leader's fills into orders, under
that account's own `RiskLimits`. Pure: the actor passes in what it knows (an `AccountView`,
`now`) and sends what comes back through `OrderManager.prepare`/`place` (the idempotent
path) and `OrderManager.cancel`, in list order.

Rules chosen here, beyond the brief:
- One order per call. A rebalance bigger than `max_order_usd` is done in slices, one per
  tick, and a pair with a working order is not rebalanced until that order fills or times
  out, so a tick that comes before a fill never doubles it.
- One slice per call: the trader plans a rebalance on each new candle.
- Volumes are sized at the mark (not at the limit price), so an order is never worth more
  than its cap at the mark and a buy at or below the mark costs no more than was budgeted.
- A buy opens risk; a sell (spot, long-only) only reduces it. Paused: rebalancing and
  following stop altogether and a timed-out order is only cancelled. `plan_stops` does
  not look at pause: the trader sends no order at all while paused (strict pause; exit
  with `nijactl pause --flatten`). Daily loss limit reached: no buys, sells still go.
- The one order that may exceed `max_order_usd` is a sell that takes a dust remainder
  (below `ordermin` or `costmin`, so unsellable on its own) along with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal, localcontext
from typing import Literal

from actors.execution.risk import (
    ZERO,
    AccountView,
    OpenOrder,
    RiskLimits,
    Side,
    buy_headroom_usd,
    daily_loss_reached,
    daily_loss_reason,
)
from actors.kraken.orders import PairRules

DEFAULT_LIMIT_OFFSET_BPS = Decimal("5")


@dataclass(frozen=True)
class OrderIntent:
    """An order for the actor to send through `OrderManager`. `pair` is `PairRules.key`;
    volume and price are already on the pair's grid. `replaces` names the txid of a
    cancelled order this one stands in for: send it only once that cancel succeeded
    (count 1), otherwise the original may have filled and this would trade twice."""

    pair: str
    side: Side
    ordertype: Literal["limit", "market"]
    volume: Decimal
    price: Decimal | None
    reason: str
    post_only: bool = False
    timeinforce: str | None = None
    replaces: str | None = None
    cause: str = ""  # journaled with the order: "follow:<leader trade id>" for a mirror


@dataclass(frozen=True)
class Cancel:
    txid: str
    reason: str


@dataclass(frozen=True)
class Blocked:
    """An order the account's own rules held back, with the reason to show as its state."""

    reason: str


@dataclass(frozen=True)
class LeaderFill:
    """One executed trade of the leader account, as its actor reports it."""

    pair: str
    side: Side
    volume: Decimal
    price: Decimal
    txid: str


def plan_rebalance(target_fraction: Decimal | None, pair: PairRules, view: AccountView,
                   limits: RiskLimits, *,
                   limit_offset_bps: Decimal = DEFAULT_LIMIT_OFFSET_BPS,
                   ) -> list[OrderIntent | Blocked]:
    """At most one limit order moving the position toward `target_fraction` of equity.

    The target is capped by the pair's position cap and by what the exposure cap leaves
    after the other pairs; a negative fraction means flat (spot cannot short). `Blocked`
    comes back only when an order would otherwise have been sent.
    """
    if target_fraction is None or view.orders_on(pair.key):
        return []
    mark = view.marks.get(pair.key)
    if mark is None:
        return [Blocked(f"no mark for {pair.altname}: cannot size a rebalance")]
    target_usd = max(ZERO, min(max(target_fraction, ZERO) * view.equity_usd,
                               limits.max_position_usd,
                               limits.max_exposure_usd - view.exposure_usd(excluding=pair.key)))
    held = view.held(pair.key)
    reason = f"rebalance {pair.altname} to {target_usd:.2f} USD ({target_fraction} of equity)"
    order: OrderIntent | None = None
    if target_usd > held * mark:
        budget = min(target_usd - held * mark, buy_headroom_usd(view, limits, pair.key))
        order = _limit(pair, "buy", _volume_worth(budget, mark, pair), mark,
                       limit_offset_bps, reason)
    elif target_usd < held * mark:
        wanted = min(held - target_usd / mark, _volume_worth(limits.max_order_usd, mark, pair))
        volume = _sell_volume(pair, wanted, view.sellable_volume(pair.key), mark)
        order = _limit(pair, "sell", volume, mark, limit_offset_bps, reason)
    if order is None:
        return []
    if view.paused:
        return [Blocked(f"account paused: not rebalancing {pair.altname}")]
    if order.side == "buy" and daily_loss_reached(view, limits):
        return [Blocked(daily_loss_reason(limits))]
    return [order]


def plan_stops(stop_loss: Decimal | None, take_profit: Decimal | None, pair: PairRules,
               view: AccountView) -> list[Cancel | OrderIntent]:
    """A market sell of the whole position once the mark is at or below `stop_loss` or at
    or above `take_profit` (prices in USD). Runs while paused and after the daily loss
    limit: an exit only reduces risk. Working orders on the pair are cancelled first (they
    hold part of the balance, and a resting buy would reopen the position); the sell is
    last in the list. A position below the pair's minimums cannot be sold and is left."""
    mark = view.marks.get(pair.key)
    held = pair.volume(view.held(pair.key))
    if mark is None or held <= 0:
        return []
    if stop_loss is not None and mark <= stop_loss:
        reason = f"stop-loss hit at {mark} (stop {stop_loss})"
    elif take_profit is not None and mark >= take_profit:
        reason = f"take-profit hit at {mark} (take-profit {take_profit})"
    else:
        return []
    if not _tradeable(pair, held, mark):
        return []
    cancels: list[Cancel | OrderIntent] = [
        Cancel(txid, f"{reason}: clearing the way for the exit")
        for txid in view.orders_on(pair.key)]
    return [*cancels, OrderIntent(pair.key, "sell", "market", held, None, reason)]


def plan_timeouts(view: AccountView, now: float, timeout_s: float, *,
                  rules: Mapping[str, PairRules], limits: RiskLimits,
                  ) -> list[Cancel | OrderIntent]:
    """Cancel every resting limit order at least `timeout_s` old and, right after each
    cancel, the same unfilled volume as a market order (`replaces` = the cancelled txid).
    No fallback while paused, for a buy once the daily loss limit is reached, for a pair
    missing from `rules`, or when the remainder is below the pair's minimums at the mark.
    The fallback is funded by what the cancel releases, so cash is not checked again."""
    plan: list[Cancel | OrderIntent] = []
    by_age = sorted(view.open_orders.items(), key=lambda item: (item[1].placed_at, item[0]))
    for txid, order in by_age:
        age = now - order.placed_at
        if order.price is None or age < timeout_s:
            continue
        reason = (f"limit {order.side} of {order.volume} {order.pair} at {order.price} "
                  f"unfilled after {age:.0f}s")
        plan.append(Cancel(txid, reason))
        fallback = _market_fallback(txid, order, view, rules.get(order.pair), limits, reason)
        if fallback is not None:
            plan.append(fallback)
    return plan


def plan_follow(leader_fill: LeaderFill, leader_equity_usd: Decimal, pair: PairRules,
                view: AccountView, limits: RiskLimits, *,
                limit_offset_bps: Decimal = DEFAULT_LIMIT_OFFSET_BPS,
                ) -> list[OrderIntent | Blocked]:
    """Mirror one leader fill as the same fraction of the follower's equity (leader fill
    value / leader equity), under the follower's own caps and minimums; sells are capped
    to what the follower holds and has not already offered. Every fill is answered with
    an order, a `Blocked` naming why not, or nothing when the mirrored size falls below
    the pair's minimums or the caps leave no room. Sized at the follower's mark, or at the
    leader's price when the follower has no mark for the pair."""
    if leader_fill.pair not in (pair.key, pair.altname):
        raise ValueError(f"leader fill is for {leader_fill.pair}, rules are for {pair.key}")
    if view.paused:
        return [Blocked(f"account paused: not following leader trade {leader_fill.txid}")]
    if view.equity_usd < limits.min_balance_usd:
        return [Blocked(f"equity {view.equity_usd} USD is below min_balance_usd "
                        f"{limits.min_balance_usd}: not following")]
    if leader_equity_usd <= 0:
        return [Blocked(f"leader equity {leader_equity_usd} USD: cannot size a follow")]
    if leader_fill.side == "buy" and daily_loss_reached(view, limits):
        return [Blocked(daily_loss_reason(limits))]
    share = leader_fill.volume * leader_fill.price / leader_equity_usd
    wanted_usd = share * view.equity_usd
    mark = view.marks.get(pair.key, leader_fill.price)
    reason = (f"follow leader {leader_fill.side} {leader_fill.txid}: {share:.4%} of equity "
              f"= {wanted_usd:.2f} USD")
    if leader_fill.side == "buy":
        budget = min(wanted_usd, buy_headroom_usd(view, limits, pair.key))
        volume = _volume_worth(budget, mark, pair)
    else:
        wanted = min(_volume_worth(wanted_usd, mark, pair),
                     _volume_worth(limits.max_order_usd, mark, pair))
        volume = _sell_volume(pair, wanted, view.sellable_volume(pair.key), mark)
    order = _limit(pair, leader_fill.side, volume, mark, limit_offset_bps, reason)
    return [replace(order, cause=f"follow:{leader_fill.txid}")] if order is not None else []


def _volume_worth(usd: Decimal, mark: Decimal, pair: PairRules) -> Decimal:
    """The most base volume on the lot grid worth no more than `usd` at the mark."""
    if usd <= 0:
        return ZERO
    with localcontext() as ctx:
        ctx.rounding = ROUND_DOWN  # the division must not round up across a lot boundary
        return pair.volume(usd / mark)


def _sell_volume(pair: PairRules, wanted: Decimal, sellable: Decimal, mark: Decimal) -> Decimal:
    """`wanted` capped at `sellable`, on the lot grid; the whole sellable volume instead
    when the remainder would be dust the venue refuses to trade on its own."""
    everything = pair.volume(sellable)
    volume = pair.volume(max(ZERO, min(wanted, sellable)))
    rest = everything - volume
    if volume > 0 and rest > 0 and (rest < pair.ordermin or rest * mark < pair.costmin):
        return everything
    return volume


def _tradeable(pair: PairRules, volume: Decimal, price: Decimal) -> bool:
    """What `OrderManager.prepare` would accept: at least `ordermin`, cost >= `costmin`."""
    return volume > 0 and volume >= pair.ordermin and volume * price >= pair.costmin


def _limit(pair: PairRules, side: Side, volume: Decimal, mark: Decimal,
           offset_bps: Decimal, reason: str) -> OrderIntent | None:
    """A limit order `offset_bps` on the passive side of the mark, or None below minimums.
    The price rounds away from the mark (buys down, sells up to the tick), so a coarse
    tick never turns a buy into one that pays more than the mark it was sized at."""
    shift = offset_bps / Decimal(10_000)
    ticks = (mark * (1 - shift) if side == "buy" else mark * (1 + shift)) / pair.tick_size
    whole_ticks = ticks.to_integral_value(rounding=ROUND_FLOOR if side == "buy" else ROUND_CEILING)
    price = pair.price(whole_ticks * pair.tick_size)
    if price <= 0 or not _tradeable(pair, volume, price):
        return None
    return OrderIntent(pair.key, side, "limit", volume, price, reason)


def _market_fallback(txid: str, order: OpenOrder, view: AccountView, pair: PairRules | None,
                     limits: RiskLimits, reason: str) -> OrderIntent | None:
    if view.paused or pair is None:
        return None
    if order.side == "buy" and daily_loss_reached(view, limits):
        return None
    volume = pair.volume(order.volume)
    if not _tradeable(pair, volume, view.marks[order.pair]):
        return None
    return OrderIntent(pair.key, order.side, "market", volume, None,
                       f"{reason}: market fallback", replaces=txid)
