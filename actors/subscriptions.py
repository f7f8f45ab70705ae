"""An actor's subscriptions to the trading bus (market data, a leader's fills).

The SUB sockets live on the actor's socket thread, next to its DEALER; messages are
decoded there and handed to the broker's worker in coalesced batches.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import zmq

from protocol.bus import BusUnion, Candles, LeaderState, Prices, decode_bus
from protocol.codec import ProtocolError

log = logging.getLogger("nija.actor")


class BusSubscriptions:
    def __init__(self, poller: zmq.Poller) -> None:
        self.poller = poller
        self.sockets: list[zmq.Socket[bytes]] = []
        self.pending: list[BusUnion] = []

    def subscribe(self, ctx: zmq.Context[zmq.Socket[bytes]], endpoints: Iterable[str]) -> None:
        """SUB to every non-empty endpoint, once (a broker restart keeps them)."""
        if self.sockets:
            return
        for endpoint in endpoints:
            if not endpoint:
                continue
            sub = ctx.socket(zmq.SUB)
            sub.setsockopt(zmq.RCVHWM, 10_000)  # leader fills must not be dropped here
            sub.setsockopt(zmq.LINGER, 0)
            sub.setsockopt(zmq.SUBSCRIBE, b"")
            sub.connect(endpoint)
            self.poller.register(sub, zmq.POLLIN)
            self.sockets.append(sub)

    def drain(self, sub: zmq.Socket[bytes]) -> int:
        """Read everything waiting on `sub` into `pending`; returns frames dropped as bad.
        `pending` is kept coalesced: while the worker is busy it holds the newest candles
        and prices and every fill, not every message that arrived meanwhile."""
        dropped = 0
        while True:
            try:
                frames = sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            try:
                self.pending.append(decode_bus(frames))
            except ProtocolError as exc:
                dropped += 1
                log.warning("dropped a bus message: %s", exc)
        self.pending = coalesce(self.pending)
        return dropped

    def take(self) -> list[BusUnion]:
        batch, self.pending = coalesce(self.pending), []
        return batch

    def close(self) -> None:
        for sub in self.sockets:
            sub.close(linger=0)


def coalesce(messages: Sequence[BusUnion]) -> list[BusUnion]:
    """Keep every Fill; of Candles (per pair), Prices and LeaderState (per leader) only the
    newest, in the position of that newest one."""
    def key(message: BusUnion) -> tuple[str, str] | None:
        if isinstance(message, Candles):
            return ("candles", message.pair)
        if isinstance(message, Prices):
            return ("prices", "")
        if isinstance(message, LeaderState):
            return ("leader", message.leader)
        return None

    last = {key(m): i for i, m in enumerate(messages) if key(m) is not None}
    return [m for i, m in enumerate(messages) if (k := key(m)) is None or last[k] == i]
