"""The sd_notify protocol and the supervisor's announcement policy, without sockets or
clocks: a recording socket stands in for $NOTIFY_SOCKET and `now` is passed in."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest

from supervisor.sdnotify import (
    NotifySocket,
    ServiceNotifier,
    fleet_ready,
    format_message,
    socket_address,
    status_line,
    watchdog_ping_interval_s,
)


class RecordingSocket(NotifySocket):
    """Collects what would be sent, in order."""

    def __init__(self) -> None:
        super().__init__(None)
        self.sent: list[dict[str, str]] = []

    @property
    def enabled(self) -> bool:
        return True

    def send(self, fields: Mapping[str, str]) -> bool:
        self.sent.append(dict(fields))
        return True


def notifier(watchdog_s: float | None = 1.0, ready_after_s: float = 30.0,
             ) -> tuple[ServiceNotifier, RecordingSocket]:
    sock = RecordingSocket()
    return ServiceNotifier(sock, watchdog_s, ready_after_s=ready_after_s), sock


STARTING = [("starting", False), ("starting", False)]
HELLO = [("starting", True), ("starting", True)]


def test_message_is_newline_terminated_key_value_lines_in_order() -> None:
    assert format_message({"READY": "1", "STATUS": "2 actors: 2 running; paper mode"}) == (
        b"READY=1\nSTATUS=2 actors: 2 running; paper mode\n")


@pytest.mark.parametrize("fields", [{"STATUS": "two\nlines"}, {"ready": "1"}, {"": "1"},
                                    {"READY=1\nX": "1"}])
def test_message_refuses_values_or_keys_that_would_inject_assignments(
        fields: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        format_message(fields)


def test_abstract_socket_names_map_to_a_leading_nul_and_paths_to_themselves() -> None:
    assert socket_address("@/org/freedesktop/systemd1/notify") == (
        b"\0/org/freedesktop/systemd1/notify")
    assert socket_address("/run/systemd/notify") == b"/run/systemd/notify"


@pytest.mark.parametrize("name", ["@", "relative/notify", "vsock:2:1234", " /run/x"])
def test_unusable_socket_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        socket_address(name)


@pytest.mark.parametrize(("environ", "expected"), [
    ({"WATCHDOG_USEC": "2000000"}, 1.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 15.0),
    ({"WATCHDOG_USEC": " 500000 "}, 0.25),
    ({}, None),
    ({"WATCHDOG_USEC": ""}, None),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "-1"}, None),
    ({"WATCHDOG_USEC": "1.5"}, None),
    ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "4243"}, None),
    ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "me"}, None),
])
def test_watchdog_pings_at_half_the_interval_only_for_our_pid(
        environ: dict[str, str], expected: float | None) -> None:
    assert watchdog_ping_interval_s(environ, pid=4242) == expected


def test_without_notify_socket_everything_is_a_no_op() -> None:
    service = ServiceNotifier.from_environ({"WATCHDOG_USEC": "2000000"}, pid=1)
    assert not service.enabled
    assert service.watchdog_interval_s is None
    assert service.deadline() == math.inf
    service.update(0.0, HELLO, "paper")
    service.stopping(0.0, "now")
    assert not service.ready
    assert service.sock.send({"READY": "1"}) is False


def test_a_malformed_notify_socket_disables_notification() -> None:
    service = ServiceNotifier.from_environ({"NOTIFY_SOCKET": "notify"}, pid=1)
    assert not service.enabled


def test_from_environ_reads_socket_and_watchdog() -> None:
    service = ServiceNotifier.from_environ(
        {"NOTIFY_SOCKET": "@nija-test", "WATCHDOG_USEC": "4000000"}, pid=7)
    try:
        assert service.enabled and service.sock.address == b"\0nija-test"
        assert service.watchdog_interval_s == 2.0
    finally:
        service.sock.close()


def test_ready_waits_until_every_actor_said_hello_and_carries_the_status() -> None:
    service, sock = notifier()
    service.update(0.0, STARTING, "paper")
    service.update(0.5, [("starting", True), ("starting", False)], "paper")
    assert not any("READY" in m for m in sock.sent)
    service.update(0.6, HELLO, "paper")
    assert sock.sent[-1] == {"READY": "1", "STATUS": "2 actors: 2 starting; paper mode"}
    service.update(5.0, HELLO, "paper")
    service.update(9.0, [("running", True)] * 2, "paper")
    assert sum("READY" in m for m in sock.sent) == 1


def test_actors_in_a_terminal_state_do_not_hold_readiness() -> None:
    service, sock = notifier()
    service.update(0.0, [("running", True), ("credentials_invalid", False),
                         ("failed", False), ("config_invalid", False)], "live")
    assert sock.sent[0]["READY"] == "1"
    assert fleet_ready([("stopped", False)])
    assert not fleet_ready([("backoff", False)])
    assert not fleet_ready([("error", False), ("running", True)])


def test_an_actor_that_never_says_hello_delays_ready_only_until_the_cap() -> None:
    service, sock = notifier(watchdog_s=None, ready_after_s=30.0)
    service.update(100.0, STARTING, "live")
    assert service.deadline() == 130.0
    service.update(129.9, STARTING, "live")
    assert not service.ready
    service.update(130.0, STARTING, "live")
    assert service.ready and sock.sent[-1]["READY"] == "1"


def test_status_changes_are_sent_at_most_once_per_second() -> None:
    service, sock = notifier(watchdog_s=None)
    service.update(0.0, HELLO, "paper")  # READY + STATUS
    service.update(0.3, [("running", True), ("starting", True)], "paper")
    assert len(sock.sent) == 1
    assert service.deadline() == 1.0  # the loop wakes to send the pending change
    service.update(0.6, [("running", True)] * 2, "paper")
    service.update(1.0, [("running", True)] * 2, "paper")
    assert sock.sent[-1] == {"STATUS": "2 actors: 2 running; paper mode"}
    service.update(5.0, [("running", True)] * 2, "paper")  # unchanged: nothing
    assert len(sock.sent) == 2
    assert service.deadline() == math.inf


def test_watchdog_pings_every_interval_from_the_first_update() -> None:
    service, sock = notifier(watchdog_s=1.0)
    service.update(10.0, STARTING, "paper")
    assert sock.sent[0]["WATCHDOG"] == "1"
    assert service.deadline() == 11.0
    service.update(10.9, STARTING, "paper")
    assert len(sock.sent) == 1
    service.update(11.0, STARTING, "paper")
    assert sock.sent[-1] == {"WATCHDOG": "1"}
    service.update(15.0, STARTING, "paper")  # a late loop pings once, then every second
    assert service.deadline() == 16.0


def test_stopping_is_announced_with_a_status() -> None:
    service, sock = notifier()
    service.update(0.0, HELLO, "paper")
    service.stopping(2.0, "4 actor(s)\ndeadline 10s")
    assert sock.sent[-1] == {"STOPPING": "1", "STATUS": "stopping: 4 actor(s) deadline 10s"}
    service.update(2.5, [("stopping", True)] * 2, "paper")  # within a second of the last
    assert "STATUS" not in sock.sent[-1]


def test_status_line_counts_states_in_a_fixed_order() -> None:
    assert status_line(["backoff", "running", "zombie", "running", "failed"], "live") == (
        "5 actors: 2 running, 1 backoff, 1 failed, 1 zombie; live mode")
    assert status_line(["running"], "paper") == "1 actor: 1 running; paper mode"
    assert status_line([], "paper") == "0 actors: none; paper mode"
