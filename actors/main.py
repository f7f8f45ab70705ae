"""Entry point of an actor process (the target the supervisor spawns)."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading

import zmq

from actors.broker import Broker
from actors.launch import ActorLaunch
from actors.runtime import EXIT_CRASH, ActorRuntime, WireLogHandler
from protocol.redaction import RedactingFilter, Redactor
from protocol.sockets import dealer

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask the kernel to SIGKILL us when our parent dies. Under forkserver the parent is
    the fork server, which itself exits when the supervisor dies; the runtime also watches
    getppid() and the supervisor's heartbeat, so no single mechanism is relied on."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _release_fork_server() -> None:
    """CPython gives every forkserver child the write end of the fork server's "alive"
    pipe, which keeps the fork server running as long as any actor lives. Dropping it
    lets the fork server exit the moment the supervisor dies, and PR_SET_PDEATHSIG then
    takes every actor down with it."""
    from multiprocessing import forkserver

    server: object = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if isinstance(fd, int):
        with contextlib.suppress(OSError):
            os.close(fd)
        setattr(server, "_forkserver_alive_fd", None)  # noqa: B010


def make_broker(launch: ActorLaunch, paused: threading.Event) -> Broker:
    if launch.role == "market":
        from actors.marketdata.broker import MarketDataBroker

        return MarketDataBroker(launch)
    if launch.broker == "kraken":
        from actors.kraken.broker import KrakenBroker

        return KrakenBroker(launch, paused)
    raise SystemExit(f"unknown broker {launch.broker!r}")


def actor_main(launch: ActorLaunch) -> None:
    _die_with_parent()
    _release_fork_server()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the supervisor, which stops us
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = dealer(ctx, identity=f"{launch.actor_id}/{os.getpid()}".encode())
    sock.setsockopt(zmq.IMMEDIATE, 0)  # queue the Hello until the connection is up
    sock.connect(launch.endpoint)
    paused = threading.Event()
    runtime = ActorRuntime(launch, sock, lambda: make_broker(launch, paused), paused)
    handler = WireLogHandler(runtime.outbox, runtime.wake)
    handler.addFilter(RedactingFilter(Redactor([launch.api_key, launch.api_secret])))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(launch.log_level)
    for noisy in ("urllib3", "requests"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    code = EXIT_CRASH
    try:
        code = runtime.run()
    except SystemExit as exc:
        logging.getLogger("nija.actor").error("%s", exc.code)
        runtime._flush_logs()
    finally:
        sock.setsockopt(zmq.LINGER, 500)  # let the last StateChanged and logs out
        sock.close()
        ctx.term()
        # os._exit: a worker thread stuck in an HTTP call must not hold the process open.
        sys.stdout.flush()
        os._exit(code)
