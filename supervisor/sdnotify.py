"""systemd's service notification protocol (sd_notify(3)), in the few lines it needs, and
what the supervisor announces with it.

The protocol: newline-separated `KEY=VALUE` assignments in one datagram to the AF_UNIX
socket named by `$NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace). The
kernel attaches the sender's pid, and with `NotifyAccess=main` systemd accepts datagrams
from the main process only; the supervisor also removes the variables from the
environment its children inherit (`supervisor/main.py`), so no actor can even find the
socket. Everything here is a no-op when `$NOTIFY_SOCKET` is unset.

What the supervisor sends (`ServiceNotifier`, driven by `Supervisor.run` with `now`):

- `READY=1` once, when every actor has said Hello or reached a terminal state (a bad key
  must not hold the start up), and at the latest `ready_after_s` after the loop started:
  the supervisor's own service (control socket, /metrics, restarts) is up by then, and an
  account that cannot start is the account's problem, not a reason for systemd to kill the
  whole fleet at `TimeoutStartSec=`.
- `STATUS=` a one-line summary, whenever it changes, at most once per `status_every_s`.
- `WATCHDOG=1` every half `$WATCHDOG_USEC`, from the main loop only: a loop that stalls
  stops pinging, and systemd restarts the supervisor.
- `STOPPING=1` when a graceful stop begins.
"""

from __future__ import annotations

import logging
import math
import re
import socket
from collections.abc import Iterable, Mapping

log = logging.getLogger("nija.supervisor")

NOTIFY_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
TERMINAL_STATES = frozenset({"failed", "credentials_invalid", "config_invalid", "stopped"})
STATE_ORDER = ("running", "paused", "starting", "backoff", "error", "stopping", "stopped",
               "failed", "credentials_invalid", "config_invalid")
_KEY = re.compile(r"[A-Z][A-Z0-9_]*")


def socket_address(name: str) -> bytes:
    """The AF_UNIX address for a `$NOTIFY_SOCKET` value: `@name` is the abstract socket
    `\\0name`, an absolute path is itself. Anything else (relative, `vsock:`) is refused
    with ValueError, as sd_notify(3) does."""
    if name.startswith("@") and len(name) > 1:
        return b"\0" + name[1:].encode()
    if name.startswith("/"):
        return name.encode()
    raise ValueError(f"NOTIFY_SOCKET={name!r}: not an absolute path or @abstract name")


def format_message(fields: Mapping[str, str]) -> bytes:
    """`KEY=VALUE` lines, in the given order. A value with a newline would inject another
    assignment, so it is refused (callers flatten free text first)."""
    lines = []
    for key, value in fields.items():
        if not _KEY.fullmatch(key):
            raise ValueError(f"sd_notify key {key!r} is not an upper-case name")
        if "\n" in value:
            raise ValueError(f"sd_notify value of {key} contains a newline")
        lines.append(f"{key}={value}")
    return ("\n".join(lines) + "\n").encode()


def watchdog_ping_interval_s(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of `$WATCHDOG_USEC`, as sd_watchdog_enabled(3)
    advises), or None when there is no watchdog for this process: unset or malformed
    `WATCHDOG_USEC`, or a `WATCHDOG_PID` naming another process."""
    usec = environ.get("WATCHDOG_USEC", "").strip()
    if not usec.isdigit() or int(usec) == 0:
        return None
    owner = environ.get("WATCHDOG_PID", "").strip()
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None
    return int(usec) / 2e6


def fleet_ready(actors: Iterable[tuple[str, bool]]) -> bool:
    """Every actor (state, connected) has said Hello in its current incarnation or is in a
    state it will not leave by itself."""
    return all(connected or state in TERMINAL_STATES for state, connected in actors)


def status_line(states: Iterable[str], mode: str) -> str:
    """`4 actors: 3 running, 1 backoff; paper mode`: counts in a fixed order of states."""
    counts: dict[str, int] = {}
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    order = sorted(counts, key=lambda s: (STATE_ORDER.index(s) if s in STATE_ORDER
                                          else len(STATE_ORDER), s))
    total = sum(counts.values())
    parts = ", ".join(f"{counts[s]} {s}" for s in order) or "none"
    return f"{total} actor{'' if total == 1 else 's'}: {parts}; {mode} mode"


class NotifySocket:
    """Sends datagrams to `$NOTIFY_SOCKET`; `send` never blocks and never raises (a stuck or
    vanished systemd must not stall or crash the supervisor: failures are logged)."""

    def __init__(self, address: bytes | None) -> None:
        self.address = address
        self._sock: socket.socket | None = None
        if address is not None:  # non-inheritable: no child gets a descriptor to it
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._failed = False

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, fields: Mapping[str, str]) -> bool:
        if self._sock is None or self.address is None:
            return False
        try:
            self._sock.sendto(format_message(fields), socket.MSG_DONTWAIT, self.address)
        except OSError as exc:
            level = logging.DEBUG if self._failed else logging.WARNING
            self._failed = True
            log.log(level, "cannot notify systemd (%s): %s", ", ".join(fields), exc)
            return False
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class ServiceNotifier:
    """When to send READY, STATUS, WATCHDOG and STOPPING (see the module docstring). The
    loop calls `update` on every turn with `now` (monotonic seconds) and wakes by
    `deadline()`; nothing here reads a clock."""

    def __init__(self, sock: NotifySocket, watchdog_interval_s: float | None = None, *,
                 ready_after_s: float = 30.0, status_every_s: float = 1.0) -> None:
        self.sock = sock
        self.watchdog_interval_s = watchdog_interval_s if sock.enabled else None
        self.ready_after_s = ready_after_s
        self.status_every_s = status_every_s
        self.ready = False
        self.first_update: float | None = None
        self.next_watchdog = 0.0  # monotonic time: the first update pings
        self.sent_status: str | None = None
        self.status_sent_at = -status_every_s  # the first status goes out at once
        self.latest_status = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], pid: int,
                     ready_after_s: float = 30.0) -> ServiceNotifier:
        """From `$NOTIFY_SOCKET`/`$WATCHDOG_*` of the environment the service was started
        with; disabled (every call a no-op) when there is no usable socket."""
        name = environ.get("NOTIFY_SOCKET", "")
        address = None
        if name:
            try:
                address = socket_address(name)
            except ValueError as exc:
                log.warning("systemd notification disabled: %s", exc)
        return cls(NotifySocket(address), watchdog_ping_interval_s(environ, pid),
                   ready_after_s=ready_after_s)

    @property
    def enabled(self) -> bool:
        return self.sock.enabled

    def deadline(self) -> float:
        """The next moment `update` has something to send even without new events."""
        if not self.enabled:
            return math.inf
        due = self.next_watchdog if self.watchdog_interval_s is not None else math.inf
        if self.latest_status != self.sent_status:
            due = min(due, self.status_sent_at + self.status_every_s)
        if not self.ready and self.first_update is not None:
            due = min(due, self.first_update + self.ready_after_s)
        return due

    def update(self, now: float, actors: Iterable[tuple[str, bool]], mode: str) -> None:
        """`actors`: (state, connected) of every supervised actor; `mode`: paper or live."""
        if not self.enabled:
            return
        actors = list(actors)
        if self.first_update is None:
            self.first_update = now
        self.latest_status = status_line((state for state, _ in actors), mode)
        fields: dict[str, str] = {}
        if not self.ready and (fleet_ready(actors)
                               or now - self.first_update >= self.ready_after_s):
            self.ready = True
            fields["READY"] = "1"
        if "READY" in fields or (self.latest_status != self.sent_status
                                 and now - self.status_sent_at >= self.status_every_s):
            fields["STATUS"] = self.latest_status
            self.sent_status, self.status_sent_at = self.latest_status, now
        if self.watchdog_interval_s is not None and now >= self.next_watchdog:
            fields["WATCHDOG"] = "1"
            self.next_watchdog = now + self.watchdog_interval_s
        if fields:
            self.sock.send(fields)

    def stopping(self, now: float, detail: str) -> None:
        """A graceful stop has begun: systemd now waits up to `TimeoutStopSec=`."""
        status = f"stopping: {detail}".replace("\n", " ")
        if self.sock.send({"STOPPING": "1", "STATUS": status}):
            self.sent_status, self.status_sent_at = status, now
