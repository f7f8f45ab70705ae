"""The trading series one account actor reports (the supervisor adds `account`/`broker`)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from actors.trading.trader import Trader
from protocol.messages import MetricPoint


def _number(text: str | None) -> float | None:
    try:
        return float(Decimal(text)) if text else None
    except InvalidOperation:
        return None


def trading_points(trader: Trader, summary: dict[str, str],
                   ) -> tuple[list[MetricPoint], list[MetricPoint]]:
    """(counters, gauges). Gauges come from the summary the worker thread last computed,
    so this is safe to call from the socket thread."""
    counters = [MetricPoint("nija_strategy_signals_total", (("pair", pair), ("kind", kind)),
                            float(n)) for (pair, kind), n in sorted(trader.signals.counts.items())]
    gauges: list[MetricPoint] = []
    for kind in ("realised", "unrealised", "day"):
        value = _number(summary.get(f"{kind}_pnl_usd"))
        if value is not None:
            gauges.append(MetricPoint("nija_account_pnl_usd", (("kind", kind),), value))
    for name, key in (("nija_account_exposure_usd", "exposure_usd"),
                      ("nija_open_orders", "open_orders"),
                      ("nija_account_positions", "positions")):
        value = _number(summary.get(key))
        if value is not None:
            gauges.append(MetricPoint(name, (), value))
    gauges.append(MetricPoint("nija_account_trading_blocked", (),
                              1.0 if summary.get("blocked") else 0.0))
    gauges.append(MetricPoint("nija_account_daily_loss_limit_reached", (),
                              1.0 if summary.get("daily_loss_limit_reached") == "true" else 0.0))
    last = _number(summary.get("last_order_at"))
    if last is not None:
        gauges.append(MetricPoint("nija_account_last_order_timestamp_seconds", (), last))
    return counters, gauges
