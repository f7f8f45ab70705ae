"""One account's trading, inside its actor, on the broker's worker thread.

Candles and prices come from the market data actor over the bus; a follower also gets
its leader's fills. Each decision goes strategy -> planner (under the account's own risk
limits) -> `OrderManager` (journal first, idempotent). Fills are learned by polling the
account's own working orders and, only when one filled, reading the trade history into
the ledger (the venue is the truth for positions and P&L). A leader publishes each new
trade for its followers.

Pause is strict: while paused the trader sends no order at all (timed-out orders are
still cancelled); `nijactl pause --flatten` is the way to exit positions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from actors.broker import BrokerError
from actors.execution import (
    LeaderFill,
    OrderIntent,
    plan_follow,
    plan_rebalance,
    plan_stops,
    plan_timeouts,
)
from actors.execution.risk import AccountView, daily_loss_reached
from actors.kraken.orders import PairRules
from actors.launch import TradingSettings
from actors.strategies import Candle, Position, SignalCounter, Strategy, Target, make_strategy
from actors.trading.copying import BusPublisher, FollowedTrades
from actors.trading.executor import AccountPort, OrderExecutor
from actors.trading.ledger import DayPnl, LedgerCorrupt, NewTrade, TradeLedger
from actors.trading.tracker import (
    TRADER_USERREF,
    OrderTracker,
    TrackedOrder,
    tracked_from_venue,
)
from actors.trading.valuation import Valuation, account_view, usd_pairs, value_account
from protocol.bus import BusUnion, Candles, Fill, LeaderState, Prices

log = logging.getLogger("nija.trading")
ZERO = Decimal(0)
POLL_OPEN_S = 1.0  # how often working orders are checked for fills, budget permitting
# REST units a poll leaves free: about what a restart of this actor spends before it runs
# (balance, permission probe, journal lookups, trade history). Polls still run at the
# counter's decay rate; they just keep it low enough that a crashed actor comes back
# without waiting for its own polls to decay (it waited 5-10 s with 4 units spare).
POLL_SPARE = 12.0
LEADER_STATE_S = 2.0
SYNC_TRADES_S = 60.0  # read the trade history this often even without a seen fill


class Trader:
    def __init__(self, settings: TradingSettings, account: str, broker: str,
                 port: AccountPort, state_dir: Path, is_paused: Callable[[], bool],
                 publisher: BusPublisher | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.account, self.broker = account, broker
        self.port = port
        self.state_dir = state_dir
        self.is_paused = is_paused
        self.publisher = publisher
        self.clock = clock
        self.strategy: Strategy | None = (
            make_strategy(settings.strategy, **dict(settings.strategy_params))
            if settings.mode == "independent" else None)
        self.ledger_file, self.day_file = state_dir / "pnl.json", state_dir / "day.json"
        self.ledger, self.day = _load_books(self.ledger_file, self.day_file)
        self.followed = FollowedTrades(state_dir) if settings.mode == "follow" else None
        self.tracker = OrderTracker()
        self.signals = SignalCounter()
        self.pairs: dict[str, PairRules] = {}
        self.by_base: dict[str, PairRules] = {}
        self.candles: dict[str, list[Candle]] = {}
        self.targets: dict[str, Target] = {}
        self.marks: dict[str, Decimal] = {}
        self.executor = OrderExecutor(port, self.tracker, self.marks, is_paused)
        self.leader_paused = False
        self.leader_equity: Decimal | None = None
        self.last_order_at: float | None = None
        self.valuation: Valuation | None = None
        self.day_pnl = self.day_low = ZERO
        self._fills_pending = False
        self._next_poll = 0.0
        self._next_leader_state = 0.0
        self._next_sync = clock() + SYNC_TRADES_S

    # -- start ---------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        """Resolve pairs, reconcile the ledger with the venue and adopt open orders."""
        rules = self.port.orders
        self.pairs = {rules.rules_for(p).key: rules.rules_for(p) for p in self.settings.pairs}
        self.by_base = usd_pairs(rules.rules.values())
        self.ledger.set_quotes({key: pair.quote for key, pair in rules.rules.items()})
        self._reconcile_ledger()
        opened = self.port.private("OpenOrders")["open"]
        for txid, info in opened.items():
            pair = self._pair_key(str(info["descr"]["pair"]))
            entry = self.port.orders.journal.by_txid(txid)
            if pair is not None:
                self.tracker.track(tracked_from_venue(
                    txid, info, pair, managed=entry is not None
                    and entry.userref == TRADER_USERREF))
        rules.listeners.append(self._on_placed)
        return {"mode": self.settings.mode, "strategy": self.settings.strategy,
                "pairs": sorted(self.pairs), "adopted_orders": len(self.tracker.orders)}

    def _reconcile_ledger(self) -> None:
        """The venue is the truth: read what happened since the saved ledger's watermark;
        if the trade count then differs from the venue's (a lost, stale or foreign file, or
        a paper venue that started afresh), rebuild from the whole history. With no saved
        trades the full read is the only call (its pages carry the venue's count)."""
        if self.ledger.trade_count:
            self.sync_trades(publish=False)
            venue_count = int(self.port.private("TradesHistory", {"ofs": 0})["count"])
            if self.ledger.trade_count == venue_count:
                return
            log.warning("the saved ledger (%d trades) disagrees with the venue (%d trades); "
                        "rebuilding positions and P&L from the full trade history",
                        self.ledger.trade_count, venue_count)
            self.ledger = TradeLedger()
            self.ledger.set_quotes({k: p.quote for k, p in self.port.orders.rules.items()})
        self.sync_trades(publish=False)
        self.ledger.save(self.ledger_file)

    def _pair_key(self, name: str) -> str | None:
        try:
            return self.port.orders.rules_for(name).key
        except BrokerError:
            return None

    def _on_placed(self, txid: str, params: dict[str, str]) -> None:
        """Every order this account places (strategy, follow, nijactl) is watched for fills."""
        price = params.get("price")
        self.tracker.track(TrackedOrder(
            txid=txid, pair=params["pair"], side="buy" if params["type"] == "buy" else "sell",
            volume=Decimal(params["volume"]), placed_at=self.clock(),
            managed=self.executor.placing,
            price=Decimal(price) if price and params["ordertype"] == "limit" else None))
        self.last_order_at = self.clock()
        self._next_poll = 0.0

    # -- bus -------------------------------------------------------------------------

    def on_bus(self, messages: Sequence[BusUnion]) -> float | None:
        for message in messages:
            if isinstance(message, Prices):
                self.marks.update({k: v for k, v in message.last.items() if v > 0})
                self._revalue()
                self._check_stops(message.published_at)
            elif isinstance(message, Candles):
                self._on_candles(message)
            elif isinstance(message, LeaderState):
                self.leader_paused = message.paused
                self.leader_equity = message.equity_usd
            elif isinstance(message, Fill):
                self._on_leader_fill(message)
        return 0.0 if self.tracker.orders and self._next_poll == 0.0 else None

    def _on_candles(self, message: Candles) -> None:
        rows = [Candle(r.time, r.open, r.high, r.low, r.close, r.volume)
                for r in message.candles]
        self.candles[message.pair] = rows
        if self.strategy is None or message.pair not in self.pairs or not rows:
            return
        self.marks.setdefault(message.pair, rows[-1].close)
        self._revalue()
        held = self.valuation.positions.get(message.pair, ZERO) if self.valuation else ZERO
        average = self.ledger.average_price(message.pair)
        target = self.strategy.decide(message.pair, rows, Position(message.pair, held, average))
        self.targets[message.pair] = target
        kind = self.signals.record(target)
        if kind:
            log.info("signal %s %s: %s", kind, self.pairs[message.pair].altname, target.reason)
        view = self._view()
        if view is None:
            return
        pair = self.pairs[message.pair]
        plan: list[Any] = [] if view.paused else plan_stops(
            target.stop_loss, target.take_profit, pair, view)
        if not plan:
            plan = plan_rebalance(target.fraction, pair, view, self.settings.limits,
                                  limit_offset_bps=self.settings.limit_offset_bps)
        self.executor.execute(plan, signal=("candles", message.published_at))

    def _check_stops(self, signal_at: float) -> None:
        view = None if self.is_paused() else self._view()
        if view is None:
            return
        for key, target in self.targets.items():
            if target.is_long and key in self.pairs:
                plan = plan_stops(target.stop_loss, target.take_profit, self.pairs[key], view)
                self.executor.execute(plan, signal=("prices", signal_at))

    def _on_leader_fill(self, fill: Fill) -> None:
        if self.followed is None or fill.leader != self.settings.leader:
            return
        if fill.trade_id in self.followed:
            return
        age = self.clock() - fill.time
        if age > self.settings.max_fill_age_s:
            log.warning("not following leader trade %s: %.0fs old (max_fill_age_s %.0f)",
                        fill.trade_id, age, self.settings.max_fill_age_s)
            return
        if (fill.side == "buy" and self.leader_paused
                and not self.settings.follow_when_leader_paused):
            self.executor.block(f"leader {fill.leader} is paused: not opening positions")
            return
        pair = self.port.orders.rules.get(fill.pair)
        view = self._view(extra_mark=(fill.pair, fill.price))
        if pair is None or view is None:
            self.executor.block(f"cannot follow {fill.trade_id}: no rules or no valuation yet")
            return
        plan = plan_follow(LeaderFill(fill.pair, fill.side, fill.volume, fill.price,
                                      fill.trade_id), fill.leader_equity_usd, pair, view,
                           self.settings.limits, limit_offset_bps=self.settings.limit_offset_bps)
        if any(isinstance(p, OrderIntent) for p in plan):
            self.followed.add(fill.trade_id)  # at most once, even across a crash
        self.executor.execute(plan, signal=("leader_fill", fill.published_at))

    # -- periodic ----------------------------------------------------------------------

    def tick(self) -> float:
        now = self.clock()
        if self.tracker.orders and self.executor.stale:
            # A cancel found an order no longer open: learn how it ended before any timeout
            # is judged again (otherwise it is "cancelled" every second, in vain).
            self._poll_orders()
            self.executor.stale = False
            self._next_poll = now + POLL_OPEN_S
        elif self.tracker.orders and now >= self._next_poll:
            # Polls are optional: never sleep on the rate limiter for one, so the worker
            # stays free to act on the next signal at once (orders use another counter).
            wait = self.port.rest_wait("QueryOrders", POLL_SPARE)
            if wait <= 0:
                self._poll_orders()
            self._next_poll = now + max(POLL_OPEN_S, wait)
        fills = self._fills_pending or self.executor.fills_pending
        if fills and self.port.rest_wait("TradesHistory") > 0:
            fills = False  # read them on a later tick rather than sleep here
        if fills or now >= self._next_sync:
            if self._fills_pending or self.executor.fills_pending:
                self.port.refresh_balances()
            self.sync_trades(publish=self.publisher is not None)
            self._fills_pending = self.executor.fills_pending = False
            self._next_sync = now + SYNC_TRADES_S
        self._revalue()
        view = self._view(managed_only=True)  # an operator's resting order is left alone
        if view is not None:
            self.executor.execute(plan_timeouts(view, now, self.settings.order_timeout_s,
                                        rules=self.port.orders.rules,
                                        limits=self.settings.limits))
        if self.publisher is not None and now >= self._next_leader_state:
            self.publisher.publish(LeaderState(
                broker=self.broker, leader=self.account, paused=self.is_paused(),
                equity_usd=self.valuation.equity_usd if self.valuation else None,
                published_at=time.time()))
            self._next_leader_state = now + LEADER_STATE_S
        return POLL_OPEN_S if self.tracker.orders else LEADER_STATE_S

    def _poll_orders(self) -> None:
        result = self.port.private("QueryOrders", {"txid": ",".join(self.tracker.txids())})
        before = dict(self.tracker.orders)
        update = self.tracker.update(result)
        for txid, status in update.closed:
            entry = self.port.orders.journal.by_txid(txid)
            if entry is not None and entry.status == "placed":
                self.port.orders.journal.closed(entry.cl_ord_id, txid, status)
            order = before[txid]
            if status == "closed":
                self.executor.count(order, "filled")
            elif order.vol_exec < order.volume:
                self.executor.count(order, "cancelled" if status == "canceled" else status)
        if update.filled:
            self._fills_pending = True

    def sync_trades(self, publish: bool) -> list[NewTrade]:
        """Read the trade history since the ledger's watermark; publish new trades."""
        trades: dict[str, Any] = {}
        start = self.ledger.fetch_from()
        while True:
            page = self.port.private("TradesHistory", {
                "start": None if start is None else f"{start:.6f}", "ofs": len(trades)})
            trades.update(page["trades"])
            if not page["trades"] or len(trades) >= int(page["count"]):
                break
        new = self.ledger.apply(trades)
        if new:
            self.ledger.save(self.ledger_file)
            self._revalue()
        if publish and self.publisher is not None:
            equity = self.valuation.equity_usd if self.valuation else ZERO
            for trade in new:
                self.publisher.publish(Fill(
                    broker=self.broker, leader=self.account, trade_id=trade.trade_id,
                    order_txid=trade.order_txid, pair=trade.pair, side=trade.side,
                    volume=trade.volume, price=trade.price, leader_equity_usd=equity,
                    time=trade.time, published_at=time.time()))
        return new

    # -- valuation ---------------------------------------------------------------------

    def _revalue(self) -> None:
        self.valuation = value_account(self.port.balances, self.port.holds, self.marks,
                                       self.by_base)
        if self.valuation.equity_usd > 0 and not self.valuation.unvalued:
            # Only a complete valuation may set or move the day's baseline.
            day, low = self.day.day, self.day_low
            self.day_pnl, self.day_low = self.day.observe(self.valuation.equity_usd,
                                                          self.clock())
            if self.day.day != day or self.day_low < low:
                self.day.save(self.day_file)  # a crash must not reset the daily loss latch

    def _view(self, extra_mark: tuple[str, Decimal] | None = None,
              managed_only: bool = False) -> AccountView | None:
        if self.valuation is None:
            self._revalue()
        assert self.valuation is not None
        marks = dict(self.marks)
        if extra_mark is not None:
            marks.setdefault(*extra_mark)
        try:
            return account_view(self.valuation, marks,
                                self.tracker.open_orders(managed_only=managed_only),
                                self.day_pnl, self.day_low, self.is_paused())
        except ValueError as exc:
            self.executor.block(f"cannot value the account yet: {exc}")
            return None

    def save(self) -> None:
        self.ledger.save(self.ledger_file)
        self.day.save(self.day_file)

    def daily_loss_limit_reached(self) -> bool:
        """The planner's test on today's figures: latched until 00:00 UTC, unlike
        `executor.blocked`, which clears whenever some other order (a sell) goes out."""
        return daily_loss_reached(_day_only_view(self.day_pnl, self.day_low),
                                  self.settings.limits)

    def summary(self) -> dict[str, str]:
        valuation = self.valuation
        pnl = self.ledger.valuation(self.marks)
        figures = {
            "mode": self.settings.mode if self.settings.mode == "independent"
            else f"follow {self.settings.leader}",
            "strategy": self.settings.strategy,
            "realised_pnl_usd": str(pnl["realised_pnl"]),
            "unrealised_pnl_usd": str(pnl["unrealised_pnl"]),
            "day_pnl_usd": str(self.day_pnl),
            "open_orders": str(len(self.tracker.orders)),
            "last_order_at": "" if self.last_order_at is None else f"{self.last_order_at:.3f}",
            "blocked": self.executor.blocked,
            "daily_loss_limit_reached": "true" if self.daily_loss_limit_reached() else "false",
        }
        if valuation is not None:
            figures.update(equity_usd=str(valuation.equity_usd),
                           exposure_usd=str(valuation.exposure_usd),
                           positions=str(len(valuation.positions)))
        return figures


def _day_only_view(day_pnl: Decimal, day_low: Decimal) -> AccountView:
    """Just the day's figures, for the planner's own daily-loss test."""
    return AccountView(equity_usd=ZERO, cash_usd=ZERO, positions={}, marks={},
                       day_pnl_usd=day_pnl, day_pnl_low_usd=day_low)


def _load_books(ledger_file: Path, day_file: Path) -> tuple[TradeLedger, DayPnl]:
    """The persisted ledger and day baseline. An unreadable ledger is rebuilt from the
    venue's full trade history (the venue is the truth); an unreadable day file starts
    today's baseline afresh, said loudly, since the daily loss low is lost with it."""
    try:
        ledger = TradeLedger.load(ledger_file)
    except LedgerCorrupt as exc:
        log.error("%s; rebuilding positions and P&L from the venue's trade history", exc)
        ledger = TradeLedger()
    try:
        day = DayPnl.load(day_file)
    except LedgerCorrupt as exc:
        log.error("%s; today's P&L baseline starts again now", exc)
        day = DayPnl()
    return ledger, day
