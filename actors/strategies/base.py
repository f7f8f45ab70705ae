"""What every strategy sees and says: candles and a position in, a target out.

A strategy is pure: the same candles and position always give the same target, and it
reads no clock, socket, file or environment. The account's actor fetches candles, asks
the strategy, and turns the target into orders under the account's risk limits.
Prices and volumes are Decimal (never float); times are Unix seconds (the candle's open).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise
from typing import Protocol

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True)
class Candle:
    """One committed OHLC candle. Promises low <= open, close <= high and volume >= 0."""

    time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    def __post_init__(self) -> None:
        if not (self.low <= min(self.open, self.close) and max(self.open, self.close) <= self.high):
            raise ValueError(f"candle at {self.time}: low <= open, close <= high does not hold")
        if self.low < ZERO or self.volume < ZERO:
            raise ValueError(f"candle at {self.time}: negative price or volume")

    @classmethod
    def from_kraken(cls, row: Sequence[object]) -> Candle:
        """From a Kraken OHLC row `[time, open, high, low, close, vwap, volume, count]`
        (prices and volume as strings, time and count as integers)."""
        if len(row) < 7:
            raise ValueError(f"OHLC row has {len(row)} fields, expected 8")
        time, open_, high, low, close, _vwap, volume = row[:7]
        if isinstance(time, bool) or not isinstance(time, int | str):
            raise ValueError(f"OHLC row time {time!r} is not an integer")
        return cls(time=int(time), open=_decimal(open_), high=_decimal(high),
                   low=_decimal(low), close=_decimal(close), volume=_decimal(volume))


def _decimal(cell: object) -> Decimal:
    if not isinstance(cell, str | int | Decimal) or isinstance(cell, bool):
        raise ValueError(f"OHLC cell {cell!r} is not a decimal string")
    value = Decimal(cell)
    if not value.is_finite():
        raise ValueError(f"OHLC cell {cell!r} is not a finite number")
    return value


@dataclass(frozen=True)
class Position:
    """The account's holding in one pair: base-currency volume (spot: never short) and the
    average price paid for it (quote currency per unit of base)."""

    pair: str
    volume: Decimal
    average_price: Decimal = ZERO

    def __post_init__(self) -> None:
        if self.volume < ZERO or self.average_price < ZERO:
            raise ValueError(f"position in {self.pair}: volume and price must be >= 0")


@dataclass(frozen=True)
class Target:
    """What the strategy wants held in `pair`.

    `fraction` is the desired position value as a fraction of account equity, 0..1
    (0 = flat; spot, so never short). `None` means "no opinion": the actor places no order
    for this pair and leaves whatever is held alone (warm-up, or a strategy that never
    trades). `stop_loss` and `take_profit` are prices at which the position should be
    closed; they are only given with a long target and then stop_loss < take_profit.
    """

    pair: str
    fraction: Decimal | None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.fraction is None or self.fraction == ZERO:
            if self.stop_loss is not None or self.take_profit is not None:
                raise ValueError("stop_loss and take_profit need a long target")
            return
        if not ZERO < self.fraction <= ONE:
            raise ValueError(f"fraction {self.fraction} is outside 0..1")
        for name, price in (("stop_loss", self.stop_loss), ("take_profit", self.take_profit)):
            if price is not None and price <= ZERO:
                raise ValueError(f"{name} {price} must be a positive price")
        if (self.stop_loss is not None and self.take_profit is not None
                and self.stop_loss >= self.take_profit):
            raise ValueError(f"stop_loss {self.stop_loss} must be below "
                             f"take_profit {self.take_profit}")

    @property
    def is_long(self) -> bool:
        return self.fraction is not None and self.fraction > ZERO


class Strategy(Protocol):
    """A pure decision rule, chosen by name in the account's config."""

    @property
    def name(self) -> str:
        """The registry name, e.g. "trend"."""
        ...

    @property
    def warmup(self) -> int:
        """Candles needed before `decide` may give an opinion; with fewer it returns
        `fraction=None`, with `warmup` or more it returns a Decimal fraction."""
        ...

    def decide(self, pair: str, candles: Sequence[Candle],
               position: Position | None) -> Target:
        """The target for `pair` after the last of `candles` (committed candles,
        oldest first; the venue's still-open candle is not included)."""
        ...


def check_candles(candles: Sequence[Candle]) -> None:
    """Refuse candles that are not strictly oldest-first (a caller bug, not market data)."""
    for before, after in pairwise(candles):
        if after.time <= before.time:
            raise ValueError(f"candles out of order: {after.time} follows {before.time}")


def period_param(name: str, value: object) -> int:
    """A config parameter that counts candles: an integer >= 1, or ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"parameter {name!r} must be an integer >= 1, not {value!r}")
    return value


def decimal_param(name: str, value: object, *, low: Decimal,
                  high: Decimal | None = None) -> Decimal:
    """A config parameter that is a number in (low, high]: given as Decimal, int, string or
    (from TOML) float, which is read through its shortest repr ("0.25", not binary noise)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str | float):
        raise ValueError(f"parameter {name!r} must be a number, not {value!r}")
    try:
        number = Decimal(repr(value) if isinstance(value, float) else value)
    except ArithmeticError:
        raise ValueError(f"parameter {name!r} must be a number, not {value!r}") from None
    if not number.is_finite() or number <= low or (high is not None and number > high):
        bounds = f"above {low}" + ("" if high is None else f" and at most {high}")
        raise ValueError(f"parameter {name!r} must be {bounds}, not {value!r}")
    return number


@dataclass
class SignalCounter:
    """Counts changes of target per (pair, kind) for the "strategy signals" metric.

    Kinds: `enter` (flat to long), `exit` (long to flat), `resize` (long to another long
    fraction). "No opinion" is not a signal and does not forget the last target.
    """

    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    _last: dict[str, Decimal] = field(default_factory=dict)

    def record(self, target: Target) -> str | None:
        """Count `target` against the last one for its pair; return the kind, if any."""
        if target.fraction is None:
            return None
        before = self._last.get(target.pair, ZERO)
        self._last[target.pair] = target.fraction
        if before == target.fraction:
            return None
        kind = "enter" if before == ZERO else "exit" if target.fraction == ZERO else "resize"
        key = (target.pair, kind)
        self.counts[key] = self.counts.get(key, 0) + 1
        return kind
