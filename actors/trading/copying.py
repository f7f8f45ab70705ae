"""Copy trading plumbing: the leader's PUB of its fills and state, and the follower's
record of which leader trades it has already mirrored.

A follower mirrors each leader trade at most once: the trade id is written (fsynced)
before the mirrored order is sent, so a crash between the two loses that one follow
rather than doubling it (the order itself goes through the idempotent journal path).
"""

from __future__ import annotations

import json
import os
from collections import deque
from pathlib import Path

import zmq

from protocol.bus import BusUnion, encode_bus

REMEMBERED_TRADES = 2000


class BusPublisher:
    """A PUB socket bound at `endpoint`. Created and used on the broker's worker thread."""

    def __init__(self, endpoint: str) -> None:
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.PUB)
        self.sock.setsockopt(zmq.SNDHWM, 10_000)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(endpoint)
        self.sent = 0
        self.dropped = 0

    def publish(self, message: BusUnion) -> None:
        try:
            self.sock.send_multipart(encode_bus(message), zmq.NOBLOCK)
            self.sent += 1
        except zmq.Again:  # every subscriber's queue is full: they are gone or stuck
            self.dropped += 1

    def close(self) -> None:
        self.sock.close(linger=0)


class FollowedTrades:
    """Leader trade ids this follower has acted on (the most recent few thousand)."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.path = Path(state_dir) / "followed.json"
        self._ids: deque[str] = deque(maxlen=REMEMBERED_TRADES)
        if self.path.exists():
            try:
                self._ids.extend(str(t) for t in json.loads(self.path.read_text()))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{self.path} is unreadable ({exc}); remove it to start "
                                 f"following afresh") from None
        self._known = set(self._ids)

    def __contains__(self, trade_id: str) -> bool:
        return trade_id in self._known

    def add(self, trade_id: str) -> None:
        """Durably record `trade_id` before its mirror order is sent."""
        if len(self._ids) == self._ids.maxlen:
            self._known.discard(self._ids[0])
        self._ids.append(trade_id)
        self._known.add(trade_id)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(list(self._ids), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
