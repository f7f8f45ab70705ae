"""The exposition's promises that need no process: a heartbeat age that keeps growing when
the main loop stops writing it, HELP text for reported series, and the daily-loss gauge
following the trader's latched test rather than its last block reason."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from prometheus_client import CollectorRegistry, generate_latest

from actors.execution.risk import RiskLimits
from actors.trading.metrics import trading_points
from actors.trading.trader import Trader
from protocol.messages import MetricPoint, MetricsSample
from supervisor.metrics import REPORTED_HELP, ActorSeries, MetricsState


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _exposition(*series: ActorSeries) -> str:
    state = MetricsState()
    state.actors = {s.account: s for s in series}
    registry = CollectorRegistry(auto_describe=False)
    registry.register(state)
    return generate_latest(registry).decode()


def test_heartbeat_age_grows_while_the_main_loop_writes_nothing():
    clock = FakeClock()
    series = ActorSeries("master", "kraken", clock=clock)
    assert series.heartbeat_age_s is None
    series.heartbeat_age_s = 0.5
    clock.now += 40  # the main loop is stuck: no new write for 40 s
    assert series.heartbeat_age_s == 40.5
    assert 'nija_actor_heartbeat_age_seconds{account="master",broker="kraken"} 40.5' in (
        _exposition(series))
    series.heartbeat_age_s = 0.25  # the loop runs again
    assert series.heartbeat_age_s == 0.25
    series.heartbeat_age_s = None  # the actor exited: no age at all
    assert "nija_actor_heartbeat_age_seconds{" not in _exposition(series)


def test_reported_series_get_their_own_help_text():
    series = ActorSeries("master", "kraken")
    series.ingest(MetricsSample(counters=(MetricPoint(
        "nija_orders_total", (("side", "buy"), ("type", "limit"), ("result", "placed")), 1.0),),
        gauges=(MetricPoint("nija_account_daily_loss_limit_reached", (), 1.0),
                MetricPoint("nija_something_new", (), 2.0))))
    text = _exposition(series)
    assert f"# HELP nija_orders_total {REPORTED_HELP['nija_orders']}" in text
    assert "# HELP nija_account_daily_loss_limit_reached 1 once today's loss" in text
    assert "# HELP nija_something_new Reported by the actors: nija_something_new" in text
    assert 'nija_account_daily_loss_limit_reached{account="master",broker="kraken"} 1.0' in text


def _gauges(summary: dict[str, str]) -> dict[str, float]:
    trader = SimpleNamespace(signals=SimpleNamespace(counts={}))
    _counters, gauges = trading_points(trader, summary)  # type: ignore[arg-type]
    return {p.name: p.value for p in gauges if not p.labels}


def test_daily_loss_gauge_follows_the_summary_flag_not_the_block_reason():
    assert _gauges({"daily_loss_limit_reached": "true", "blocked": ""})[
        "nija_account_daily_loss_limit_reached"] == 1.0
    assert _gauges({"daily_loss_limit_reached": "false", "blocked": "daily loss limit 5 USD"})[
        "nija_account_daily_loss_limit_reached"] == 0.0
    assert _gauges({})["nija_account_daily_loss_limit_reached"] == 0.0


def _reached(day_pnl: str, day_low: str, limit: str) -> bool:
    trader = SimpleNamespace(day_pnl=Decimal(day_pnl), day_low=Decimal(day_low),
                             settings=SimpleNamespace(limits=RiskLimits(
                                 max_daily_loss_usd=Decimal(limit))))
    return Trader.daily_loss_limit_reached(trader)  # type: ignore[arg-type]


def test_daily_loss_limit_stays_reached_after_an_intraday_recovery():
    assert _reached("-100", "-100", "100")
    assert _reached("20", "-150", "100")  # recovered, but the day's low hit the limit
    assert not _reached("-99.99", "-99.99", "100")
    assert not _reached("0", "0", "0")
    assert _reached("-0.01", "-0.01", "0")  # 0: stop at the first loss
