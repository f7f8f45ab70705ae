"""The sd_notify sequence of the real supervisor on a real AF_UNIX datagram socket, the
way systemd receives it: READY once the actors have said Hello, STATUS lines, WATCHDOG
within the interval, none while the main loop is stopped, STOPPING at SIGTERM. The
receiving socket has SO_PASSCRED, so the kernel stamps every datagram with its sender's
pid: all of them must come from the supervisor, none from an actor."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from supervisor.sdnotify import NotifySocket
from tests.supervisor_harness import RunningSupervisor, proc_text, short_tempdir, wait_until

UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
WATCHDOG_USEC = 2_000_000
# The supervisor's hung detection must not mistake its own 3 s stall for hung actors.
CONFIG = "[supervisor]\nheartbeat_misses = 10\n"


@dataclass(frozen=True)
class Datagram:
    at: float  # monotonic, when received
    pid: int | None  # the sender, from SCM_CREDENTIALS
    fields: dict[str, str]


class NotifyReceiver:
    """What systemd does with $NOTIFY_SOCKET: a bound datagram socket with SO_PASSCRED,
    read on a thread so the test can act meanwhile."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.settimeout(0.1)
        self.received: list[Datagram] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(UCRED.size))
            except TimeoutError:
                continue
            pid = None
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = UCRED.unpack(payload[:UCRED.size])[0]
            lines = data.decode().splitlines()
            fields = dict(line.split("=", 1) for line in lines if line)
            self.received.append(Datagram(time.monotonic(), pid, fields))

    def with_field(self, key: str, value: str | None = None) -> list[Datagram]:
        return [d for d in list(self.received)
                if key in d.fields and (value is None or d.fields[key] == value)]

    def wait_for(self, key: str, value: str | None = None, timeout: float = 30.0,
                 after: float = 0.0) -> Datagram:
        found = wait_until(lambda: [d for d in self.with_field(key, value) if d.at > after],
                           timeout, f"{key}={value or '*'} on the notify socket", 0.02)
        return found[0]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def receiver() -> Iterator[NotifyReceiver]:
    root = short_tempdir("nija-notify-")
    notify = NotifyReceiver(str(root / "notify"))
    yield notify
    notify.close()
    with contextlib.suppress(OSError):
        (root / "notify").unlink()
        root.rmdir()


def _check_ready_moment(sup: RunningSupervisor) -> None:
    """Right after READY every actor is connected (it said Hello: the supervisor reports a
    heartbeat age only for connected actors) and starting, running or paused."""
    sup.with_market = True
    actors = sup.status()
    assert {a["account"] for a in actors} == {"market", "master", "daivon", "tania"}
    for actor in actors:
        assert actor["state"] in ("starting", "running", "paused"), actor
        assert actor["heartbeat_age_s"] is not None, actor


def _watchdog_gaps(receiver: NotifyReceiver, start: float, end: float) -> list[float]:
    times = [d.at for d in receiver.with_field("WATCHDOG", "1") if start <= d.at <= end]
    assert len(times) >= 3, f"too few WATCHDOG pings between {start} and {end}: {times}"
    return [b - a for a, b in itertools.pairwise(times)]


def test_ready_status_watchdog_stall_and_stopping_come_from_the_supervisor_alone(
        receiver: NotifyReceiver) -> None:
    path = receiver.sock.getsockname()
    sup = RunningSupervisor(config=CONFIG, env={"NOTIFY_SOCKET": path,
                                                "WATCHDOG_USEC": str(WATCHDOG_USEC)})
    sup.env.pop("WATCHDOG_PID", None)
    try:
        sup.launch()
        ready = receiver.wait_for("READY", "1", timeout=45)
        _check_ready_moment(sup)
        assert ready.fields["STATUS"].startswith("4 actors: "), ready.fields
        assert ready.fields["STATUS"].endswith("; paper mode"), ready.fields
        running = receiver.wait_for("STATUS", "4 actors: 4 running; paper mode", timeout=30)

        # The watchdog keeps to its interval: systemd would kill at WATCHDOG_USEC.
        time.sleep(3.5)
        gaps = _watchdog_gaps(receiver, running.at, time.monotonic())
        assert max(gaps) < WATCHDOG_USEC / 1e6, gaps

        # A stalled main loop (SIGSTOP) sends nothing; it pings again once resumed.
        os.kill(sup.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        time.sleep(3.0)
        os.kill(sup.pid, signal.SIGCONT)
        resumed_at = time.monotonic()
        during = [d for d in list(receiver.received) if stopped_at + 0.2 < d.at < resumed_at]
        assert during == [], during
        receiver.wait_for("WATCHDOG", "1", timeout=5, after=resumed_at)

        children = sup.tracker.alive() if sup.tracker is not None else []
        assert len(children) >= 5  # fork server, simulator, market + 3 accounts (+ tracker)
        for child in children:
            with contextlib.suppress(OSError):  # one may have exited since
                environ = proc_text(child.pid, "environ").split(b"\0")
                assert not any(v.startswith((b"NOTIFY_SOCKET=", b"WATCHDOG_"))
                               for v in environ), (child.pid, child.name())

        sup.send_signal(signal.SIGTERM)
        stopping = receiver.wait_for("STOPPING", "1", timeout=10)
        assert stopping.fields["STATUS"].startswith("stopping: "), stopping.fields
        assert sup.wait_exit(timeout=30) == 0
        senders = {d.pid for d in receiver.received}
        assert senders == {sup.pid}, (senders, sup.pid)
    finally:
        sup.close()


def test_datagrams_reach_an_abstract_socket_and_a_missing_one_is_not_fatal() -> None:
    name = f"nija-test-{uuid.uuid4().hex}"
    notify = NotifyReceiver(b"\0" + name.encode())
    sender = NotifySocket(b"\0" + name.encode())
    try:
        assert sender.send({"STATUS": "abstract", "WATCHDOG": "1"})
        got = notify.wait_for("STATUS", "abstract", timeout=5)
        assert got.fields == {"STATUS": "abstract", "WATCHDOG": "1"}
        assert got.pid == os.getpid()
    finally:
        sender.close()
        notify.close()
    empty = short_tempdir()
    gone = NotifySocket(str(empty / "no-such-socket").encode())
    try:
        assert gone.send({"WATCHDOG": "1"}) is False
    finally:
        gone.close()
        empty.rmdir()
