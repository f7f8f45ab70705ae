"""The trader's pure parts: order tracking, account valuation and bus coalescing."""

from __future__ import annotations

from decimal import Decimal

from actors.kraken.orders import PairRules
from actors.subscriptions import coalesce
from actors.trading.tracker import (
    OrderTracker,
    TrackedOrder,
    tracked_from_venue,
)
from actors.trading.valuation import account_view, usd_pairs, value_account
from protocol.bus import CandleRow, Candles, Fill, LeaderState, Prices

D = Decimal
XBT = PairRules("XXBTZUSD", "XBTUSD", "XXBT", "ZUSD", 1, 8, D("0.0001"), D("0.5"), D("0.1"))
XBTUSDT = PairRules("XBTUSDT", "XBTUSDT", "XXBT", "USDT", 1, 8, D("0.0001"), D("0.5"), D("0.1"))


def _order(txid: str, volume: str = "1", price: str | None = "100") -> TrackedOrder:
    return TrackedOrder(txid, "XXBTZUSD", "buy", D(volume), D(price) if price else None, 1.0)


def test_tracker_reports_only_new_fills_and_forgets_closed_orders():
    tracker = OrderTracker()
    tracker.track(_order("A"))
    tracker.track(_order("B", "2"))
    first = tracker.update({"A": {"vol_exec": "0.4", "status": "open"},
                            "B": {"vol_exec": "0", "status": "open"}})
    assert first.filled == (("A", D("0.4")),) and first.closed == ()
    assert tracker.open_orders()["A"].volume == D("0.6")
    again = tracker.update({"A": {"vol_exec": "0.4", "status": "open"}})
    assert again.filled == ()  # the same answer twice is not a second fill
    done = tracker.update({"A": {"vol_exec": "1", "status": "closed"},
                           "B": {"vol_exec": "0", "status": "canceled"}})
    assert done.filled == (("A", D("0.6")),)
    assert sorted(done.closed) == [("A", "closed"), ("B", "canceled")]
    assert tracker.orders == {}


def test_tracker_ignores_orders_it_does_not_track_and_lists_the_oldest_first():
    tracker = OrderTracker()
    for i in range(60):
        tracker.track(TrackedOrder(f"T{i:02}", "XXBTZUSD", "sell", D(1), None, float(60 - i)))
    assert tracker.update({"X": {"vol_exec": "1", "status": "closed"}}).filled == ()
    assert tracker.txids()[:2] == ["T59", "T58"] and len(tracker.txids()) == 50


def test_order_adopted_after_a_restart_keeps_what_had_filled():
    info = {"vol": "0.5", "vol_exec": "0.2", "opentm": 12.5,
            "descr": {"type": "sell", "ordertype": "limit", "price": "101.0"}}
    order = tracked_from_venue("O1", info, "XXBTZUSD")
    assert (order.side, order.price, order.vol_exec, order.placed_at) == (
        "sell", D("101.0"), D("0.2"), 12.5)
    market = tracked_from_venue("O2", {**info, "descr": {"type": "buy",
                                                         "ordertype": "market"}}, "XXBTZUSD")
    assert market.price is None and market.side == "buy"
    assert not order.managed  # an operator's order is never timed out to market
    assert tracked_from_venue("O3", info, "XXBTZUSD", managed=True).managed


def test_valuation_counts_usd_cash_free_of_holds_and_leaves_unpriced_assets_out():
    by_base = usd_pairs([XBTUSDT, XBT])
    assert by_base == {"XXBT": XBT}  # only USD-quoted pairs value holdings
    value = value_account({"ZUSD": D("1000"), "XXBT": D("0.5"), "DOGE": D("10")},
                          {"ZUSD": D("200")}, {"XXBTZUSD": D("100")}, by_base)
    assert value.equity_usd == D("1050") and value.cash_usd == D("800")
    assert value.positions == {"XXBTZUSD": D("0.5")} and value.exposure_usd == D("50")
    assert value.unvalued == ("DOGE",)


def test_account_view_drops_open_orders_on_pairs_without_a_mark():
    value = value_account({"ZUSD": D("1000")}, {}, {}, {})
    tracker = OrderTracker()
    tracker.track(_order("A"))
    view = account_view(value, {}, tracker.open_orders(), D(0), D(0), paused=True)
    assert view.open_orders == {} and view.paused


def _candles(pair: str, seq: int) -> Candles:
    row = CandleRow(seq, D(1), D(1), D(1), D(1), D(0))
    return Candles(broker="kraken", pair=pair, altname=pair, interval_min=1, candles=(row,),
                   published_at=float(seq), seq=seq)


def test_coalesce_keeps_every_fill_and_only_the_newest_candles_prices_and_leader_state():
    prices = [Prices(broker="kraken", last={"P": D(i)}, server_time=0.0, published_at=0.0,
                     seq=i) for i in (1, 2)]
    fills = [Fill(broker="kraken", leader="master", trade_id=f"T{i}", order_txid="O",
                  pair="P", side="buy", volume=D(1), price=D(1), leader_equity_usd=D(1),
                  time=0.0, published_at=0.0) for i in (1, 2)]
    state = [LeaderState(broker="kraken", leader="master", paused=p, equity_usd=None,
                         published_at=0.0) for p in (True, False)]
    batch = [_candles("A", 1), prices[0], fills[0], _candles("B", 1), state[0],
             _candles("A", 2), fills[1], prices[1], state[1]]
    assert coalesce(batch) == [fills[0], _candles("B", 1), _candles("A", 2), fills[1],
                               prices[1], state[1]]


def test_a_blocked_reason_is_logged_once_until_an_order_goes_out(caplog):
    from actors.trading.executor import OrderExecutor
    from actors.trading.tracker import OrderTracker

    executor = OrderExecutor(port=None, tracker=OrderTracker(), marks={},  # type: ignore[arg-type]
                             is_paused=lambda: True)
    with caplog.at_level("INFO", logger="nija.trading"):
        for _ in range(5):
            executor.block("account paused: not rebalancing XBTUSD")
            executor.block("account paused: not rebalancing ETHUSD")
    assert len(caplog.records) == 2
    assert executor.blocked == "account paused: not rebalancing ETHUSD"


def test_a_bus_frame_nested_past_the_recursion_limit_is_malformed_not_a_crash():
    import pytest

    from protocol.bus import decode_bus
    from protocol.codec import ProtocolError

    nested = b"\x82\xa4type\xa6Prices\xa4junk" + b"\x91" * 5000 + b"\x90"  # 5000 lists deep
    with pytest.raises(ProtocolError) as info:
        decode_bus([b"prices", nested])
    assert info.value.code == "malformed"


class _GoneOrderPort:
    """A venue where the one tracked order filled before the trader's cancel reached it:
    cancels answer 0 (Unknown order), QueryOrders says closed, the REST counter is full."""

    def __init__(self) -> None:
        from types import SimpleNamespace

        self.calls: list[str] = []
        self.balances = {"ZUSD": D("1000")}
        self.holds: dict[str, D] = {}
        journal = SimpleNamespace(by_txid=lambda txid: None)
        stats = SimpleNamespace(order=lambda *args: None)
        self.orders = SimpleNamespace(cancel=self._cancel, journal=journal, stats=stats,
                                      rules={})

    def _cancel(self, txid: str, pair: str | None = None) -> int:
        self.calls.append("CancelOrder")
        return 0

    def private(self, method: str, data: dict[str, str] | None = None) -> object:
        self.calls.append(method)
        assert method == "QueryOrders"
        return {"OGONE-AAAAA-BBBBBB": {"status": "closed", "vol": "0.01", "vol_exec": "0.01"}}

    def refresh_balances(self) -> None:
        self.calls.append("BalanceEx")

    def rest_wait(self, method: str, spare: float = 0.0) -> float:
        return 5.0  # optional polls are postponed


def test_an_order_a_cancel_finds_gone_is_polled_at_once_and_never_cancelled_again(tmp_path):
    from actors.execution import Cancel
    from actors.launch import TradingSettings
    from actors.trading.tracker import TrackedOrder
    from actors.trading.trader import Trader

    port = _GoneOrderPort()
    trader = Trader(TradingSettings(), "a", "kraken", port, tmp_path,  # type: ignore[arg-type]
                    is_paused=lambda: False)
    trader.tracker.track(TrackedOrder("OGONE-AAAAA-BBBBBB", "XXBTZUSD", "buy", D("0.01"),
                                      D("50000"), 0.0, managed=True))
    trader.executor.execute([Cancel("OGONE-AAAAA-BBBBBB", "timed out")])
    assert trader.executor.stale
    trader.tick()
    assert port.calls[:2] == ["CancelOrder", "QueryOrders"]  # polled despite the full counter
    assert not trader.tracker.orders and not trader.executor.stale
    trader.tick()
    assert port.calls.count("CancelOrder") == 1
