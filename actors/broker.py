"""The broker slot: what an account actor runs. Kraken fills it now; Coinbase and Alpaca
implement the same interface later. Every method runs on the actor's worker thread, so a
slow exchange call never delays heartbeats or pause."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from protocol.bus import BusUnion
from protocol.messages import HistogramPoint, MetricPoint


class BrokerError(Exception):
    """A failure the actor reports; `unfixable` ones stop restarts (bad key, no permission)."""

    unfixable = False
    state = "error"  # the actor state reported with it


class CredentialsInvalid(BrokerError):
    unfixable = True
    state = "credentials_invalid"


class ConfigInvalid(BrokerError):
    """The account's configuration cannot work against this venue (e.g. an unknown pair)."""

    unfixable = True
    state = "config_invalid"


class UnknownQuery(BrokerError):
    pass


class Broker(Protocol):
    def start(self) -> dict[str, Any]:
        """Connect and prove it with a live call; raise CredentialsInvalid if a restart
        cannot help. Returns facts for the status (e.g. permissions)."""

    def tick(self, paused: bool) -> float:
        """Periodic work (trading, refreshing); returns seconds until it wants the next tick."""

    def pause(self, cancel_open: bool, flatten: bool) -> dict[str, Any]:
        """Stop opening positions at once; optionally cancel resting orders / flatten."""

    def resume(self) -> None: ...

    def query(self, what: str, params: dict[str, str]) -> dict[str, Any]:
        """Answer a Query; raise UnknownQuery for what it does not know."""

    def metrics(self) -> tuple[list[MetricPoint], list[MetricPoint], list[HistogramPoint]]:
        """(counters, gauges, histograms), counters as totals since start."""

    def on_bus(self, messages: Sequence[BusUnion]) -> float | None:
        """Market data and leader fills from the bus, oldest first (the runtime coalesces
        Candles per pair and Prices to the latest). Returns seconds until it wants a tick,
        or None."""

    def summary(self) -> dict[str, str]:
        """A few figures for `nijactl status` (equity, P&L, positions, orders...)."""

    def close(self, deadline_s: float) -> None:
        """Finish in-flight work within the deadline."""
