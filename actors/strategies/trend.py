"""`trend`: EMA crossover with ATR-based stop-loss and take-profit, long or flat (spot).

Rules (see docs/strategies.md):
- enter long on the candle where the fast EMA of closes crosses above the slow EMA
  (fast > slow now, fast <= slow on the candle before), if the ATR there is positive;
- the entry fixes stop = close - stop_atr * ATR and take = close + take_atr * ATR;
- a later candle with low <= stop, or else high >= take, closes the position; so does
  fast <= slow (the death cross);
- after any exit, stay flat until the next fresh upward cross: no re-entry on the same
  trend.

The decision is a replay of these rules over the candles given, so it depends on the
candles only: a restarted actor decides exactly as the one before it, and fills, manual
holdings or dust never start a trade. A trade whose entry cross lies before the first
candles given is not seen (flat, waiting for a fresh cross).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from actors.strategies.base import (
    ONE,
    ZERO,
    Candle,
    Position,
    Target,
    check_candles,
    decimal_param,
    period_param,
)
from actors.strategies.indicators import INDICATOR_CONTEXT, ema, wilder_atr


@dataclass(frozen=True)
class OpenTrade:
    """A long the replay is in: where it entered and the levels fixed at entry."""

    entry_time: int
    entry_price: Decimal
    stop_loss: Decimal | None  # None when close - stop_atr * ATR would be <= 0
    take_profit: Decimal


class TrendStrategy:
    """EMA crossover, long `fraction` of equity or flat, with ATR stops fixed at entry.

    Defaults suit 1- to 15-minute candles. `warmup` is the fewest candles for which
    both EMAs exist on the last two candles and the ATR on the last one:
    max(slow + 1, atr_period).
    """

    name = "trend"

    def __init__(self, *, fast: int = 12, slow: int = 26, atr_period: int = 14,
                 stop_atr: Decimal | int | str | float = Decimal("2.0"),
                 take_atr: Decimal | int | str | float = Decimal("3.0"),
                 fraction: Decimal | int | str | float = Decimal("0.25")) -> None:
        self.fast = period_param("fast", fast)
        self.slow = period_param("slow", slow)
        if self.fast >= self.slow:
            raise ValueError(f"parameter 'fast' ({fast}) must be below 'slow' ({slow})")
        self.atr_period = period_param("atr_period", atr_period)
        self.stop_atr = decimal_param("stop_atr", stop_atr, low=ZERO)
        self.take_atr = decimal_param("take_atr", take_atr, low=ZERO)
        self.fraction = decimal_param("fraction", fraction, low=ZERO, high=ONE)
        self.warmup = max(self.slow + 1, self.atr_period)

    def __repr__(self) -> str:
        return (f"TrendStrategy(fast={self.fast}, slow={self.slow}, "
                f"atr_period={self.atr_period}, stop_atr={self.stop_atr}, "
                f"take_atr={self.take_atr}, fraction={self.fraction})")

    def decide(self, pair: str, candles: Sequence[Candle],
               position: Position | None) -> Target:
        """The target after the last candle; `position` is not used (see the module doc)."""
        check_candles(candles)
        if len(candles) < self.warmup:
            return Target(pair=pair, fraction=None,
                          reason=f"warming up: {len(candles)}/{self.warmup} candles")
        trade, why = self.replay(candles)
        if trade is None:
            return Target(pair=pair, fraction=ZERO, reason=why)
        return Target(pair=pair, fraction=self.fraction, stop_loss=trade.stop_loss,
                      take_profit=trade.take_profit, reason=why)

    def replay(self, candles: Sequence[Candle]) -> tuple[OpenTrade | None, str]:
        """Run the rules from the first decidable candle to the last: the open trade at
        the end (None if flat) and why. Needs at least `warmup` candles."""
        closes = [candle.close for candle in candles]
        fast, slow = ema(closes, self.fast), ema(closes, self.slow)
        atr = wilder_atr(candles, self.atr_period)
        trade: OpenTrade | None = None
        why = f"no upward cross of ema{self.fast} over ema{self.slow} in the candles given"
        for i in range(self.warmup - 1, len(candles)):
            candle, fast_now, slow_now = candles[i], _at(fast, i), _at(slow, i)
            if trade is not None:
                exit_why = self._exit(trade, candle, fast_now, slow_now)
                if exit_why is not None:
                    trade, why = None, exit_why
                else:
                    why = (f"long since ema{self.fast} crossed above ema{self.slow} "
                           f"at {trade.entry_time} (entry {trade.entry_price})")
                continue
            if fast_now > slow_now and _at(fast, i - 1) <= _at(slow, i - 1):
                trade, why = self._enter(candle, _at(atr, i))
        return trade, why

    def _enter(self, candle: Candle, atr: Decimal) -> tuple[OpenTrade | None, str]:
        crossed = f"ema{self.fast} crossed above ema{self.slow} at {candle.time}"
        if atr <= ZERO:
            return None, f"{crossed} with zero ATR: no room for stops, not entering"
        with localcontext(INDICATOR_CONTEXT):
            stop = candle.close - self.stop_atr * atr
            take = candle.close + self.take_atr * atr
        trade = OpenTrade(entry_time=candle.time, entry_price=candle.close,
                          stop_loss=stop if stop > ZERO else None, take_profit=take)
        return trade, f"{crossed} (entry {candle.close})"

    def _exit(self, trade: OpenTrade, candle: Candle, fast_now: Decimal,
              slow_now: Decimal) -> str | None:
        """Why `candle` closes `trade`, or None. The stop is checked first: when one candle
        spans both levels, the order within it is unknown and the loss is assumed."""
        waiting = "; waiting for a fresh upward cross"
        if trade.stop_loss is not None and candle.low <= trade.stop_loss:
            return f"stop-loss {trade.stop_loss} hit at {candle.time}{waiting}"
        if candle.high >= trade.take_profit:
            return f"take-profit {trade.take_profit} hit at {candle.time}{waiting}"
        if fast_now <= slow_now:
            return f"ema{self.fast} crossed below ema{self.slow} at {candle.time}"
        return None


def _at(series: Sequence[Decimal | None], i: int) -> Decimal:
    value = series[i]
    if value is None:  # replay starts at warmup - 1, where every series is defined
        raise AssertionError(f"indicator undefined at index {i}")
    return value
