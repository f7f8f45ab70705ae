"""`hold`: never trades. For accounts that should only connect and be monitored."""

from __future__ import annotations

from collections.abc import Sequence

from actors.strategies.base import Candle, Position, Target


class HoldStrategy:
    """Always "no opinion": the actor places no orders and leaves any holding alone."""

    name = "hold"
    warmup = 0

    def decide(self, pair: str, candles: Sequence[Candle],
               position: Position | None) -> Target:
        return Target(pair=pair, fraction=None, reason="hold: this account never trades")
