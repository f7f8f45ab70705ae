"""Moving averages and volatility in Decimal, aligned with their input.

Every function returns one entry per input value: `None` until the indicator has enough
data, a Decimal after. Arithmetic runs in a fixed context (28 significant digits, round
half even) so results do not depend on the caller's decimal context.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from actors.strategies.base import Candle

INDICATOR_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)


def _check_period(period: int) -> None:
    if period < 1:
        raise ValueError(f"period {period} must be at least 1")


def ema(values: Sequence[Decimal], period: int) -> list[Decimal | None]:
    """Exponential moving average with smoothing 2 / (period + 1), seeded with the simple
    average of the first `period` values: first defined at index `period - 1`."""
    _check_period(period)
    out: list[Decimal | None] = [None] * len(values)
    if len(values) < period:
        return out
    with localcontext(INDICATOR_CONTEXT):
        alpha = Decimal(2) / (period + 1)
        current = sum(values[:period], Decimal(0)) / period
        out[period - 1] = current
        for i in range(period, len(values)):
            current = current + alpha * (values[i] - current)
            out[i] = current
    return out


def true_ranges(candles: Sequence[Candle]) -> list[Decimal]:
    """Wilder's true range: the candle's range widened to the previous close (the first
    candle, having no previous close, uses high - low)."""
    out: list[Decimal] = []
    previous: Candle | None = None
    for candle in candles:
        spread = candle.high - candle.low
        if previous is not None:
            spread = max(spread, abs(candle.high - previous.close),
                         abs(candle.low - previous.close))
        out.append(spread)
        previous = candle
    return out


def wilder_atr(candles: Sequence[Candle], period: int) -> list[Decimal | None]:
    """Wilder's average true range: the simple average of the first `period` true ranges
    (first defined at index `period - 1`), then ATR = (ATR_prev * (period - 1) + TR) / period."""
    _check_period(period)
    ranges = true_ranges(candles)
    out: list[Decimal | None] = [None] * len(ranges)
    if len(ranges) < period:
        return out
    with localcontext(INDICATOR_CONTEXT):
        current = sum(ranges[:period], Decimal(0)) / period
        out[period - 1] = current
        for i in range(period, len(ranges)):
            current = (current * (period - 1) + ranges[i]) / period
            out[i] = current
    return out
