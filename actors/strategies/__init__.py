"""Trading strategies: pure, pluggable, chosen by name in each account's config.

`make_strategy("trend", fast=9)` builds one; `REGISTRY` maps names to factories. How to
write one: docs/strategies.md.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from actors.strategies.base import Candle, Position, SignalCounter, Strategy, Target
from actors.strategies.hold import HoldStrategy
from actors.strategies.trend import TrendStrategy

REGISTRY: dict[str, Callable[..., Strategy]] = {
    HoldStrategy.name: HoldStrategy,
    TrendStrategy.name: TrendStrategy,
}


def make_strategy(name: str, **params: object) -> Strategy:
    """The strategy registered as `name`, built with `params` (from the account's config).

    Raises ValueError naming the unknown strategy (and the known ones), the unknown
    parameter (and the accepted ones), or the parameter whose value is refused.
    """
    factory = REGISTRY.get(name)
    if factory is None:
        raise ValueError(f"unknown strategy {name!r}; known strategies: "
                         f"{', '.join(sorted(REGISTRY))}")
    accepted = [p.name for p in inspect.signature(factory).parameters.values()
                if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"strategy {name!r} has no parameter {unknown[0]!r}; "
                         f"its parameters: {', '.join(accepted) or 'none'}")
    return factory(**params)


__all__ = ["REGISTRY", "Candle", "HoldStrategy", "Position", "SignalCounter", "Strategy",
           "Target", "TrendStrategy", "make_strategy"]
