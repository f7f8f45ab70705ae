"""ZeroMQ sockets with every option set on purpose (docs/protocol.md explains each).

- LINGER 0: on close, unsent frames are dropped at once; nothing we send is worth
  blocking shutdown for (requests are retried by their owner, heartbeats are periodic).
- SNDHWM/RCVHWM 1000 per peer: far above the steady rate (one heartbeat per second plus
  replies), low enough that a wedged peer costs bounded memory. The ROUTERs receive up to
  ROUTER_RCVHWM per peer instead: when a peer disconnects while its inbound queue is at
  the HWM, the frames it still had in flight are discarded (`python -m bench logging`:
  1,298 of 160,000 records from 8 exiting peers lost at libzmq's default 1,000, none at
  10,000); an actor's last log lines and state before it exits must survive a burst.
  10,000 frames of a few hundred bytes is ~2 MB per peer at worst.
- ROUTER_MANDATORY 1: sending to a peer that is gone raises instead of silently dropping,
  so the supervisor learns an actor is unreachable.
- ROUTER_HANDOVER 0 (the default), deliberately: every actor incarnation has its own
  routing id (`kraken:master/<pid>`), so a restart never needs to take an identity over,
  and no other local peer can take over a live actor's identity (with handover on, that
  was possible, and libzmq 4.3.5 could abort on the handed-over connection).
- IMMEDIATE 1 on DEALERs: do not queue frames for a connection that is not complete.
- MAXMSGSIZE 1 MiB: libzmq disconnects a peer sending more (frames over the codec's
  256 KiB limit but under this still get an "oversized" Error reply).
- ZMTP heartbeats (IVL 1 s, TIMEOUT 3 s) as a cheap second layer for dead links; the
  application heartbeats are what detect a hung actor loop.
"""

from __future__ import annotations

import zmq

MAX_SOCKET_MESSAGE = 1024 * 1024
HWM = 1000
ROUTER_RCVHWM = 10_000


def _common(sock: zmq.Socket[bytes]) -> None:
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, HWM)
    sock.setsockopt(zmq.RCVHWM, HWM)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_SOCKET_MESSAGE)
    sock.setsockopt(zmq.HEARTBEAT_IVL, 1000)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3000)


def router(ctx: zmq.Context[zmq.Socket[bytes]]) -> zmq.Socket[bytes]:
    sock = ctx.socket(zmq.ROUTER)
    _common(sock)
    sock.setsockopt(zmq.RCVHWM, ROUTER_RCVHWM)
    sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
    return sock


def dealer(ctx: zmq.Context[zmq.Socket[bytes]], identity: bytes | None = None
           ) -> zmq.Socket[bytes]:
    sock = ctx.socket(zmq.DEALER)
    _common(sock)
    sock.setsockopt(zmq.IMMEDIATE, 1)
    sock.setsockopt(zmq.RECONNECT_IVL, 50)
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
    if identity is not None:
        sock.setsockopt(zmq.ROUTING_ID, identity)
    return sock
