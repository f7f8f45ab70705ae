"""The account actor process: handshake, heartbeats, commands, and the broker slot.

One thread owns the ZeroMQ socket and never blocks on the exchange: broker calls run on a
single worker thread and report back through a wake-up pipe, so heartbeats keep flowing
and a Pause takes effect within milliseconds even while an HTTP call is in flight.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import zmq

from actors.broker import Broker, BrokerError
from actors.launch import ActorLaunch
from actors.subscriptions import BusSubscriptions
from protocol.codec import MAX_FRAME_BYTES, ProtocolError, encode, supervisor_codec
from protocol.messages import (
    PROTOCOL_VERSION,
    Error,
    Heartbeat,
    Hello,
    LogRecord,
    Message,
    MetricPoint,
    MetricsSample,
    Pause,
    Ping,
    Query,
    Reply,
    Resume,
    Shutdown,
    StateChanged,
    Welcome,
)

EXIT_OK, EXIT_CRASH, EXIT_UNFIXABLE = 0, 1, 78
log = logging.getLogger("nija.actor")


class WireLogHandler(logging.Handler):
    """Queues records for the socket thread (sockets are not thread-safe)."""

    def __init__(self, outbox: queue.SimpleQueue[LogRecord], wake: Callable[[], None]) -> None:
        super().__init__()
        self.outbox, self.wake = outbox, wake

    def emit(self, record: logging.LogRecord) -> None:
        self.outbox.put(LogRecord(level=record.levelno, logger=record.name,
                                  message=record.getMessage(), created=record.created,
                                  exc_text=record.exc_text or ""))
        self.wake()


class ActorRuntime:
    def __init__(self, launch: ActorLaunch, sock: zmq.Socket[bytes],
                 make_broker: Callable[[], Broker], pause_event: threading.Event) -> None:
        self.launch = launch
        self.sock = sock
        self._make_broker = make_broker
        self.broker: Broker | None = None
        self._start_attempts = 0
        self.paused = pause_event
        self.codec = supervisor_codec()
        self.state = "starting"
        self.started = time.monotonic()
        self.facts: dict[str, Any] = {}
        self.counters = {"commands": 0, "queries": 0, "heartbeats": 0, "dropped_frames": 0}
        self.outbox: queue.SimpleQueue[LogRecord] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="broker")
        self._pending: list[tuple[Future[Any], Callable[[Future[Any]], None]]] = []
        self._exit_code: int | None = None
        self._stop_deadline: float | None = None
        self._next_tick = 0.0
        self._tick_hint: float | None = None
        self._retry_start_at: float | None = None
        self._ticking = False
        self._seq = 0
        self._parent = os.getppid()
        self._last_ping = time.monotonic()
        self.interval = launch.heartbeat_interval_s
        self.misses = 3
        self.poller = zmq.Poller()
        self.bus = BusSubscriptions(self.poller)
        self._bus_in_flight = False

    # -- plumbing ------------------------------------------------------------------

    def wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:  # pipe full: the loop is already due to wake
            return

    def send(self, message: Message) -> None:
        try:
            self.sock.send(encode(message), zmq.NOBLOCK)
        except zmq.Again:  # supervisor unreachable or slow: periodic traffic is re-sent anyway
            self.counters["dropped_frames"] += 1

    def submit(self, fn: Callable[[], Any], then: Callable[[Future[Any]], None]) -> None:
        future = self._worker.submit(fn)
        future.add_done_callback(lambda _: self.wake())
        self._pending.append((future, then))

    def set_state(self, state: str, reason: str = "") -> None:
        if state != self.state:
            self.state = state
            self.send(StateChanged(state=state, reason=reason))

    # -- lifecycle -----------------------------------------------------------------

    def handshake(self, timeout_s: float = 30.0) -> Welcome:
        deadline = time.monotonic() + timeout_s
        hello = Hello(actor_id=self.launch.actor_id, pid=os.getpid(),
                      protocol_version=PROTOCOL_VERSION, started_at=time.time())
        while time.monotonic() < deadline:
            self.send(hello)
            if self.sock.poll(1000):
                message = self._read()
                if isinstance(message, Welcome):
                    return message
                if isinstance(message, Error):
                    raise SystemExit(f"supervisor refused this actor: {message.message}")
        raise SystemExit("no Welcome from the supervisor")

    def run(self) -> int:
        welcome = self.handshake()
        self.interval, self.misses = welcome.heartbeat_interval_s, welcome.heartbeat_misses
        if welcome.paused:
            self.paused.set()
        self._last_ping = time.monotonic()
        self.submit(self._start_broker, self._started)
        poller = self.poller
        poller.register(self.sock, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        next_beat = 0.0
        while self._exit_code is None:
            now = time.monotonic()
            if now >= next_beat:
                self._beat()
                next_beat = now + self.interval
            self._check_links(now)
            if self._retry_start_at is not None and now >= self._retry_start_at:
                self._retry_start_at = None
                self.submit(self._start_broker, self._started)
            self._maybe_tick(now)
            tick_at = next_beat if self._ticking or self.state not in (
                "running", "paused") else self._next_tick
            wait = max(0.0, min(next_beat, tick_at, self._stop_deadline or next_beat,
                                self._retry_start_at or next_beat) - time.monotonic())
            for sock, _ in poller.poll(int(wait * 1000)):
                if sock is self.sock:
                    self._drain_socket()
                elif sock == self._wake_r:
                    self._drain_wake()
                else:
                    self._drain_bus(sock)
            self._finish_pending()
            self._flush_logs()
            if self._stop_deadline is not None and time.monotonic() >= self._stop_deadline:
                log.warning("shutdown deadline passed with work in flight")
                self._exit_code = EXIT_OK
        self._flush_logs()
        self.bus.close()
        return self._exit_code

    def _start_broker(self) -> dict[str, Any]:
        """Build the broker (opening its state) and prove the connection, on the worker."""
        if self.broker is None:
            self.broker = self._make_broker()
        return self.broker.start()

    def _started(self, future: Future[Any]) -> None:
        try:
            self.facts = future.result()
        except BrokerError as exc:
            if exc.unfixable:
                log.error("cannot trade with this account as configured: %s", exc)
                self.set_state(exc.state, str(exc))
                self._exit_code = EXIT_UNFIXABLE
                return
            # The venue is down or refusing for now: retry here with backoff, so an outage
            # does not burn the restart budget kept for crashes.
            self._start_attempts += 1
            delay = min(60.0, 0.5 * 2 ** min(self._start_attempts, 7))
            log.error("broker start failed (%s); retrying in %.1fs", exc, delay)
            self.set_state("error", str(exc))
            self._retry_start_at = time.monotonic() + delay
            return
        except Exception:  # a bug: log it with its traceback, then crash for a restart
            log.exception("broker start crashed")
            self._exit_code = EXIT_CRASH
            return
        self._start_attempts = 0
        self.bus.subscribe(self.sock.context,
                           (self.launch.market_endpoint, self.launch.leader_endpoint))
        self.set_state("paused" if self.paused.is_set() else "running")
        log.info("actor %s is %s", self.launch.actor_id, self.state)

    # -- the trading bus -------------------------------------------------------------

    def _drain_bus(self, sub: zmq.Socket[bytes]) -> None:
        dropped = self.bus.drain(sub)
        self.counters["dropped_frames"] += dropped
        self._deliver_bus()

    def _deliver_bus(self) -> None:
        """One delivery in flight at a time, so a slow broker sees the newest candles and
        prices (coalesced) and every fill, in order, rather than a growing backlog."""
        broker = self.broker
        if self._bus_in_flight or not self.bus.pending or broker is None:
            return
        batch = self.bus.take()
        self._bus_in_flight = True
        self.submit(lambda: broker.on_bus(batch), self._bus_done)

    def _bus_done(self, future: Future[Any]) -> None:
        self._bus_in_flight = False
        try:
            wanted = future.result()
        except Exception:  # a failing delivery is logged; the next message is tried again
            log.exception("handling bus messages failed")
            wanted = None
        if wanted is not None:
            self._want_tick(time.monotonic() + float(wanted))
        self._deliver_bus()

    def _check_links(self, now: float) -> None:
        """An actor whose supervisor is gone must not keep trading on its key."""
        if os.getppid() != self._parent:
            log.error("parent process died; exiting")
            self._exit_code = EXIT_CRASH
        elif now - self._last_ping > self.interval * self.misses * 3:
            log.error("no heartbeat from the supervisor for %.1fs; exiting",
                      now - self._last_ping)
            self._exit_code = EXIT_CRASH

    def _maybe_tick(self, now: float) -> None:
        if self.state not in ("running", "paused") or self._ticking or now < self._next_tick:
            return
        self._ticking = True
        broker = self.broker
        assert broker is not None  # running/paused only after the broker started
        self.submit(lambda: broker.tick(self.paused.is_set()), self._ticked)

    def _ticked(self, future: Future[Any]) -> None:
        self._ticking = False
        try:
            self._next_tick = time.monotonic() + float(future.result())
        except Exception:  # a failing tick is logged and retried, it must not kill the loop
            log.exception("broker tick failed")
            self._next_tick = time.monotonic() + self.interval
        if self._tick_hint is not None:
            self._next_tick = min(self._next_tick, self._tick_hint)
            self._tick_hint = None

    def _want_tick(self, at: float) -> None:
        """Bring the next tick forward to `at` (kept until a running tick has finished)."""
        if self._ticking:
            self._tick_hint = min(at, self._tick_hint or at)
        else:
            self._next_tick = min(self._next_tick, at)

    def _beat(self) -> None:
        self._seq += 1
        self.counters["heartbeats"] += 1
        summary = self.broker.summary() if self.broker and self.state in (
            "running", "paused") else {}
        self.send(Heartbeat(seq=self._seq, state=self.state, sent_at=time.time(),
                            counters=dict(self.counters), summary=summary))
        if self._seq % 2 == 0 and self.state in ("running", "paused"):
            self._send_metrics()

    def _send_metrics(self) -> None:
        own = [MetricPoint("nija_actor_commands_total", (("kind", k),), float(v))
               for k, v in sorted(self.counters.items()) if k in ("commands", "queries")]
        counters, gauges, histograms = self.broker.metrics() if self.broker else ([], [], [])
        self.send(MetricsSample(counters=(*own, *counters), gauges=tuple(gauges),
                                histograms=tuple(histograms)))

    # -- inbound ---------------------------------------------------------------------

    def _read(self) -> Message | None:
        frame = self.sock.recv()
        try:
            return self.codec.decode(frame)
        except ProtocolError as exc:
            self.send(exc.to_error())
            return None

    def _drain_socket(self) -> None:
        while self.sock.poll(0):
            message = self._read()
            if message is not None:
                self._handle(message)

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            return

    def _finish_pending(self) -> None:
        """Run the callback of every finished call. Each future is asked `done()` once: it
        can finish on the worker at any moment, and one that finished between a "which are
        done" pass and a "which are not" pass was in neither list, its callback lost (a bus
        delivery never finishing: no delivery ever again and a backlog that only grows)."""
        done: list[tuple[Future[Any], Callable[[Future[Any]], None]]] = []
        waiting: list[tuple[Future[Any], Callable[[Future[Any]], None]]] = []
        for item in self._pending:
            (done if item[0].done() else waiting).append(item)
        self._pending = waiting
        for future, then in done:
            then(future)

    def _handle(self, message: Message) -> None:
        if isinstance(message, Ping):
            self._last_ping = time.monotonic()
        elif isinstance(message, Pause):
            self._pause(message)
        elif isinstance(message, Resume):
            self.counters["commands"] += 1
            self.paused.clear()
            if self.state == "paused":
                self.set_state("running")
            self.submit(lambda: self.broker.resume() if self.broker else None,
                        lambda f: self._reply(message.request_id, f, {}))
        elif isinstance(message, Shutdown):
            self.counters["commands"] += 1
            self._shutdown(message)
        elif isinstance(message, Query):
            self.counters["queries"] += 1
            self._query(message)
        elif isinstance(message, Welcome):
            self._last_ping = time.monotonic()

    def _pause(self, message: Pause) -> None:
        self.counters["commands"] += 1
        self.paused.set()  # takes effect now: the broker checks it before every order
        if self.state == "running":
            self.set_state("paused")
        self.submit(lambda: self.broker.pause(message.cancel_open, message.flatten)
                    if self.broker else {"cancelled": 0, "flattened": []},
                    lambda f: self._reply(message.request_id, f, None))

    def _shutdown(self, message: Shutdown) -> None:
        self.set_state("stopping")
        self._stop_deadline = time.monotonic() + message.deadline_s

        def closed(future: Future[Any]) -> None:
            self._reply(message.request_id, future, {"stopped": True})
            self._exit_code = EXIT_OK

        self.submit(lambda: self.broker.close(message.deadline_s) if self.broker else None,
                    closed)

    def _query(self, message: Query) -> None:
        if message.what == "status":
            self.send(Reply(request_id=message.request_id, result={
                "state": self.state, "pid": os.getpid(), "paused": self.paused.is_set(),
                "uptime_s": time.monotonic() - self.started, **self.facts}))
            return
        broker = self.broker
        if broker is None or self.state not in ("running", "paused"):
            self.send(Error(request_id=message.request_id, code="not_running",
                            message=f"{self.launch.actor_id} is {self.state}"))
            return
        self.submit(lambda: broker.query(message.what, dict(message.params)),
                    lambda f: self._reply(message.request_id, f, None))

    def _reply(self, request_id: int, future: Future[Any], fixed: dict[str, Any] | None) -> None:
        try:
            result = future.result()
        except BrokerError as exc:  # refused for a reason the caller can act on
            self.send(Error(request_id=request_id, code="refused", message=str(exc)))
            return
        except Exception as exc:  # reported to the requester by type and text, then logged
            log.exception("request %d failed", request_id)
            self.send(Error(request_id=request_id, code="internal",
                            message=f"{type(exc).__name__}: {exc}"))
            return
        reply = Reply(request_id=request_id, result=fixed if fixed is not None else result)
        if len(encode(reply)) > MAX_FRAME_BYTES:
            self.send(Error(request_id=request_id, code="oversized", message=(
                f"the answer exceeds {MAX_FRAME_BYTES} bytes; ask for less (e.g. a page)")))
            return
        self.send(reply)

    def _flush_logs(self) -> None:
        while True:
            try:
                record = self.outbox.get_nowait()
            except queue.Empty:
                return
            self.send(record)

