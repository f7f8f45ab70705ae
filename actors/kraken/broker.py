"""The Kraken account actor's broker: connection proof, permissions, orders and queries.

Runs on the actor's worker thread. Every order goes through OrderManager (journal first,
look up before resending); the dead man's switch is re-armed while the actor is healthy,
so resting orders are cancelled if the actor and its supervisor are both gone.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from actors.broker import BrokerError, ConfigInvalid, CredentialsInvalid, UnknownQuery
from actors.kraken.client import KrakenClient
from actors.kraken.errors import KrakenError, PermissionDenied, TemporaryLockout
from actors.kraken.journal import OrderJournal
from actors.kraken.limits import RateLimiter
from actors.kraken.nonce import NonceStore
from actors.kraken.orders import LocalOrderRejected, OrderManager
from actors.kraken.pnl import valuation
from actors.kraken.stats import ClientStats
from actors.launch import ActorLaunch
from actors.trading.copying import BusPublisher
from actors.trading.metrics import trading_points
from actors.trading.trader import Trader
from protocol.bus import BusUnion, Prices
from protocol.messages import HistogramPoint, MetricPoint

log = logging.getLogger("nija.kraken")
DMS_TIMEOUT_S = 60  # Kraken's advice: refresh every 15-30 s with a 60 s timeout
DMS_REFRESH_S = 20.0
BALANCE_REFRESH_S = 30.0

# What each permission blocks, for the message when it is missing.
BLOCKS = {
    "query_funds": "balances and buying power",
    "query_open_orders": "open orders, positions and order status",
    "query_closed_orders": "trade history, P&L and reconciling orders after a restart",
    "create_orders": "placing orders",
    "cancel_orders": "cancelling orders and the dead man's switch",
}


class PermissionsMissing(CredentialsInvalid):
    """The key lacks permissions trading needs; a restart cannot grant them."""


class WithdrawalKeyRefused(CredentialsInvalid):
    """A trading key must not be able to withdraw."""


class KrakenBroker:
    def __init__(self, launch: ActorLaunch, paused: threading.Event) -> None:
        state = Path(launch.state_dir)
        self.launch = launch
        self.paused = paused
        self.stats = ClientStats()
        self.nonces = NonceStore(state)
        self.client = KrakenClient(launch.venue_url, launch.api_key, launch.api_secret,
                                   nonces=self.nonces, limiter=RateLimiter(launch.tier),
                                   stats=self.stats, limits_file=state / "limits.json",
                                   lockout_s=launch.lockout_s)
        self.client.on_lockout = self._persist_lockout
        self.journal = OrderJournal(state)
        self.orders = OrderManager(self.client, self.journal, self.stats)
        self.lockout_file = state / "lockout.json"
        self.permissions: dict[str, bool] = {}
        self.balances: dict[str, Decimal] = {}
        self.holds: dict[str, Decimal] = {}  # what open orders hold, per asset
        self.marks: dict[str, Decimal] = {}  # last prices from the market data actor
        self.equity_usd: Decimal | None = None
        self.trader: Trader | None = None
        self.publisher: BusPublisher | None = None
        self._summary: dict[str, str] = {}
        self._next_dms = 0.0
        self._next_balance = 0.0

    # -- start -----------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        self._respect_persisted_lockout()
        self._refresh_balances()  # this Balance call already proves query_funds
        self.permissions = self.probe_permissions(skip={"query_funds"})
        missing = [p for p, ok in self.permissions.items() if not ok and p in BLOCKS]
        if missing:
            raise PermissionsMissing("key lacks " + "; ".join(
                f"{p} (blocks {BLOCKS[p]})" for p in missing))
        if self.permissions.get("withdraw"):
            if not self.launch.allow_withdraw:
                raise WithdrawalKeyRefused(
                    "this key can WITHDRAW funds; trading keys must not. Create a key "
                    "without withdrawal permission, or set allow_withdraw_permission = true "
                    "for this account (not recommended)")
            log.warning("ACCOUNT %s USES A KEY THAT CAN WITHDRAW FUNDS (allowed by config)",
                        self.launch.actor_id)
        self.orders.load_rules()
        self.equity_usd = self._equity_usd()
        reconciled = self.orders.reconcile()
        self.journal.compact()
        self._arm_dead_mans_switch()
        facts = {"permissions": self.permissions, **reconciled}
        if self.launch.trading is not None:
            facts.update(self._start_trading())
        self._snapshot()
        return facts

    def _start_trading(self) -> dict[str, Any]:
        settings = self.launch.trading
        assert settings is not None
        try:
            if self.launch.fills_endpoint and self.publisher is None:
                self.publisher = BusPublisher(self.launch.fills_endpoint)
            self.trader = Trader(settings, self.launch.account, self.launch.broker, self,
                                 Path(self.launch.state_dir), self.paused.is_set,
                                 publisher=self.publisher)
            return self.trader.start()
        except (ValueError, LocalOrderRejected) as exc:  # a pair or parameter that cannot work
            raise ConfigInvalid(f"trading settings: {exc}") from None

    def _respect_persisted_lockout(self) -> None:
        """A restart during a lockout must not call (each call would extend it)."""
        try:
            until = float(json.loads(self.lockout_file.read_text())["until"])
        except (FileNotFoundError, ValueError, KeyError):
            return
        wait = until - time.time()
        if wait > 0:
            log.error("key is locked out by Kraken for another %.0fs; waiting", wait)
            time.sleep(wait)
        self.lockout_file.unlink(missing_ok=True)

    def _persist_lockout(self, seconds: float) -> None:
        tmp = self.lockout_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"until": time.time() + seconds}))
        os.replace(tmp, self.lockout_file)

    def probe_permissions(self, skip: frozenset[str] | set[str] = frozenset()
                          ) -> dict[str, bool]:
        """Which permissions the key has, without placing anything: read calls, a
        validate-only order, a cancel of an order that cannot exist."""
        probes: dict[str, tuple[str, dict[str, str]]] = {
            "query_funds": ("Balance", {}),
            "query_open_orders": ("OpenOrders", {}),
            "query_closed_orders": ("ClosedOrders", {}),
            "create_orders": ("AddOrder", {"pair": "XBTUSD", "type": "buy",
                                           "ordertype": "limit", "volume": "0.0001",
                                           "price": "1.0", "validate": "true"}),
            "cancel_orders": ("CancelOrder", {"txid": "OPROBE-NIJA0-000000"}),
            "withdraw": ("WithdrawAddresses", {}),
        }
        granted = {p: True for p in skip}
        for permission, (method, data) in probes.items():
            if permission in skip:
                continue
            try:
                self.client.private(method, data, pair="XXBTZUSD" if method in (
                    "AddOrder", "CancelOrder") else None, expect_error=True)
                granted[permission] = True
            except PermissionDenied:
                granted[permission] = False
            except KrakenError as exc:
                if _not_an_answer(exc):
                    raise  # fixable: the start is retried; never read as a permission
                granted[permission] = True  # refused for another reason: the key may do it
        return granted

    # -- periodic --------------------------------------------------------------------

    def tick(self, paused: bool) -> float:
        now = time.monotonic()
        if now >= self._next_dms:
            self._arm_dead_mans_switch()
        if now >= self._next_balance:
            self._refresh_balances()
        wait = min(self._next_dms, self._next_balance) - time.monotonic()
        if self.trader is not None:
            wait = min(wait, self.trader.tick())
        self._snapshot()
        return max(0.05, wait)

    def on_bus(self, messages: Sequence[BusUnion]) -> float | None:
        for message in messages:
            if isinstance(message, Prices):
                self.marks.update({k: v for k, v in message.last.items() if v > 0})
        wanted = self.trader.on_bus(messages) if self.trader is not None else None
        self._snapshot()
        return wanted

    def private(self, method: str, data: dict[str, Any] | None = None) -> Any:
        """A private call for the trader (rate-limited and retried like every other)."""
        pair = data.get("pair") if data else None
        return self.client.private(method, data, pair=str(pair) if pair else None)

    def refresh_balances(self) -> None:
        self._refresh_balances()

    def rest_wait(self, method: str, spare: float = 0.0) -> float:
        """How long `method` would wait for the REST counter now (nothing is booked)."""
        return self.client.limiter.rest_wait(method, self.client.clock(), spare)

    def _arm_dead_mans_switch(self) -> None:
        self.client.private("CancelAllOrdersAfter", {"timeout": DMS_TIMEOUT_S})
        self._next_dms = time.monotonic() + DMS_REFRESH_S

    def _refresh_balances(self) -> None:
        raw = self.client.private("BalanceEx")
        self.balances = {asset: Decimal(v["balance"]) for asset, v in raw.items()}
        self.holds = {asset: Decimal(v.get("hold_trade", "0")) for asset, v in raw.items()}
        self._next_balance = time.monotonic() + BALANCE_REFRESH_S
        if self.orders.rules:
            self.equity_usd = self._equity_usd()

    def _equity_usd(self) -> Decimal:
        """Every holding valued at its USD pair's last price: the market data actor's
        prices once they arrive (no public call per account), one Ticker call before."""
        last = self.marks or {key: Decimal(t["c"][0])
                              for key, t in self.client.public("Ticker").items()}
        by_base = {r.base: r.key for r in self.orders.rules.values() if r.quote == "ZUSD"}
        total = Decimal(0)
        for asset, amount in self.balances.items():
            if asset in ("ZUSD", "USDC"):
                total += amount
            elif asset in by_base and by_base[asset] in last:
                total += amount * last[by_base[asset]]
        return total

    # -- commands --------------------------------------------------------------------

    def pause(self, cancel_open: bool, flatten: bool) -> dict[str, Any]:
        cancelled = self.cancel_all()["cancelled"] if cancel_open else 0
        flattened = self.flatten() if flatten else []
        return {"cancelled": cancelled, "flattened": flattened}

    def resume(self) -> None:
        return None

    def cancel_all(self) -> dict[str, Any]:
        result = self.client.private("CancelAll")
        return {"cancelled": int(result.get("count", 0))}

    def flatten(self) -> list[str]:
        """Sell every spot holding with a USD market, as far as minimums allow."""
        self._refresh_balances()
        txids = []
        for rules in self.orders.rules.values():
            base = rules.base
            if (rules.quote != "ZUSD" or self.balances.get(base, Decimal(0)) <= 0
                    or base in self.launch.buying_power_assets):  # cash-like: USDT stays
                continue
            mark = self._mark(rules.key)
            try:
                params = self.orders.prepare(rules.key, "sell", "market", self.balances[base],
                                             None, mark)
            except LocalOrderRejected as exc:
                log.warning("cannot flatten %s: %s", base, exc)
                continue
            txids.append(self.orders.place(params).txid)
        return txids

    def _mark(self, pair: str) -> Decimal:
        if pair in self.marks:
            return self.marks[pair]
        ticker = self.client.public("Ticker", {"pair": pair})
        return Decimal(next(iter(ticker.values()))["c"][0])

    # -- queries ---------------------------------------------------------------------

    def query(self, what: str, params: dict[str, str]) -> dict[str, Any]:
        handler = getattr(self, f"_q_{what}", None)
        if handler is None:
            raise UnknownQuery(f"unknown query {what!r}; known: " + ", ".join(
                sorted(n[3:] for n in dir(self) if n.startswith("_q_"))))
        result: dict[str, Any] = handler(params)
        return result

    def _q_balance(self, params: dict[str, str]) -> dict[str, Any]:
        self._refresh_balances()
        assets = self.launch.buying_power_assets
        power = sum((self.balances.get(a, Decimal(0)) for a in assets), Decimal(0))
        return {"balances": {a: str(v) for a, v in self.balances.items()},
                "equity_usd": str(self.equity_usd),
                "usd_buying_power": str(power), "buying_power_assets": list(assets)}

    def _q_permissions(self, params: dict[str, str]) -> dict[str, Any]:
        return {"permissions": self.probe_permissions()}

    def _q_ticker(self, params: dict[str, str]) -> dict[str, Any]:
        return {"ticker": self.client.public("Ticker", {"pair": params.get("pair", "XBTUSD")})}

    def _q_ohlc(self, params: dict[str, str]) -> dict[str, Any]:
        return {"ohlc": self.client.public("OHLC", {"pair": params.get("pair", "XBTUSD"),
                                                    "interval": params.get("interval", "1"),
                                                    "since": params.get("since")})}

    def _q_open_orders(self, params: dict[str, str]) -> dict[str, Any]:
        return {"open": self.client.private("OpenOrders")["open"]}

    def _q_order(self, params: dict[str, str]) -> dict[str, Any]:
        return {"orders": self.client.private("QueryOrders", {"txid": params["txid"]})}

    def _q_trades(self, params: dict[str, str]) -> dict[str, Any]:
        return {"trades": self.client.private("TradesHistory", {"ofs": params.get("ofs")})}

    def _q_positions(self, params: dict[str, str]) -> dict[str, Any]:
        return self._valuation()["positions"]  # type: ignore[no-any-return]

    def _q_pnl(self, params: dict[str, str]) -> dict[str, Any]:
        return self._valuation()

    def _q_ledger(self, params: dict[str, str]) -> dict[str, Any]:
        """The trader's own books, kept incrementally and across restarts (what its
        decisions and status figures use), unlike `pnl`, a fresh replay of the venue's
        whole trade history: the two agree unless something was lost."""
        if self.trader is None:
            raise UnknownQuery("ledger: this account does not trade")
        ledger = self.trader.ledger
        return {"trade_count": ledger.trade_count, **ledger.valuation(self.trader.marks)}

    def _valuation(self) -> dict[str, Any]:
        self._refresh_balances()
        trades = self._all_trades()
        marks = {key: self._mark(key) for key in {t["pair"] for t in trades.values()}}
        return valuation(self.balances, trades, marks)

    def _all_trades(self) -> dict[str, Any]:
        trades: dict[str, Any] = {}
        while True:
            page = self.client.private("TradesHistory", {"ofs": len(trades)})
            trades.update(page["trades"])
            if not page["trades"] or len(trades) >= int(page["count"]):
                return trades

    def _q_place_order(self, params: dict[str, str]) -> dict[str, Any]:
        if self.paused.is_set():
            raise BrokerError("account is paused: no new orders")
        price = Decimal(params["price"]) if params.get("price") else None
        pair = params.get("pair", "XBTUSD")
        reference = price if price is not None else self._mark(self.orders.rules_for(pair).key)
        prepared = self.orders.prepare(
            pair, params["side"], params.get("ordertype", "market"), Decimal(params["volume"]),
            price, reference, post_only=params.get("post_only") == "true",
            timeinforce=params.get("timeinforce"), userref=int(params.get("userref", "0")))
        placed = self.orders.place(prepared)
        return {"txid": placed.txid, "cl_ord_id": placed.cl_ord_id,
                "reconciled": placed.reconciled}

    def _q_cancel(self, params: dict[str, str]) -> dict[str, Any]:
        return {"cancelled": self.orders.cancel(params["txid"], params.get("pair"))}

    def _q_signal_latency(self, params: dict[str, str]) -> dict[str, Any]:
        """The last signal-to-order latencies in seconds, per source (for benchmarks)."""
        return {"samples": self.trader.executor.latency.samples() if self.trader else {}}

    def _q_cancel_all(self, params: dict[str, str]) -> dict[str, Any]:
        return self.cancel_all()

    # -- metrics and shutdown --------------------------------------------------------

    def _snapshot(self) -> None:
        """Figures for heartbeats and metrics, computed here on the worker thread and read
        by the socket thread as one immutable object."""
        if self.trader is not None:
            summary = self.trader.summary()
            if self.trader.valuation is not None:
                self.equity_usd = self.trader.valuation.equity_usd
        else:
            summary = {"mode": "monitor", "strategy": "none"}
            if self.equity_usd is not None:
                summary["equity_usd"] = str(self.equity_usd)
        self._summary = summary

    def summary(self) -> dict[str, str]:
        return self._summary

    def metrics(self) -> tuple[list[MetricPoint], list[MetricPoint], list[HistogramPoint]]:
        counters, histograms = self.stats.points()
        gauges = [MetricPoint("nija_account_balance", (("asset", a),), float(v))
                  for a, v in sorted(self.balances.items())]
        gauges += [MetricPoint("nija_account_permission", (("permission", p),), float(ok))
                   for p, ok in sorted(self.permissions.items())]
        if self.equity_usd is not None:
            gauges.append(MetricPoint("nija_account_equity_usd", (), float(self.equity_usd)))
        if self.trader is not None:
            more_counters, more_gauges = trading_points(self.trader, self._summary)
            counters += more_counters
            gauges += more_gauges
            histograms += self.trader.executor.latency.points()
        return counters, gauges, histograms

    def close(self, deadline_s: float) -> None:
        if self.trader is not None:
            self.trader.save()
        if self.publisher is not None:
            self.publisher.close()
        self.journal.close()
        self.client.close()
        self.nonces.close()


def _not_an_answer(exc: KrakenError) -> bool:
    """The venue did not judge the probe's request itself (outage, rate limit, lockout, a
    nonce refusal) or refused the key outright. Reading such an error as "allowed" once
    made a rate-limited WithdrawAddresses probe refuse a trading key as able to withdraw."""
    return (exc.outcome_unknown or exc.unfixable or exc.retryable or exc.nonce_error
            or isinstance(exc, TemporaryLockout))
