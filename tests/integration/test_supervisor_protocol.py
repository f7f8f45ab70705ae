"""The live sockets under abuse: a raw DEALER sends garbage, wrong-direction, oversized and
wrong-version frames to the control socket, and strangers talk to the actor socket. Every
bad frame gets an Error naming the problem and the supervisor keeps serving."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import msgspec
import pytest
import zmq

from protocol.codec import encode
from protocol.messages import (
    PROTOCOL_VERSION,
    Heartbeat,
    Hello,
    Ping,
    StatusReply,
    StatusRequest,
)
from tests.supervisor_harness import RunningSupervisor

pytestmark = pytest.mark.slow
ANY_REPLY = msgspec.msgpack.Decoder(dict)


@pytest.fixture(scope="module")
def fleet() -> Iterator[RunningSupervisor]:
    with RunningSupervisor() as sup:
        yield sup


@pytest.fixture
def raw() -> Iterator[Callable]:
    """raw(endpoint, identity=None) -> a connected DEALER; all closed after the test."""
    ctx = zmq.Context()
    socks: list[zmq.Socket[bytes]] = []

    def connect(endpoint: str, identity: bytes | None = None) -> zmq.Socket[bytes]:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        if identity is not None:
            sock.setsockopt(zmq.ROUTING_ID, identity)
        sock.connect(endpoint)
        socks.append(sock)
        return sock

    yield connect
    for sock in socks:
        sock.close()
    ctx.term()


def _exchange(sock: zmq.Socket[bytes], frame: bytes, timeout_s: float = 5.0) -> dict:
    sock.send(frame)
    assert sock.poll(int(timeout_s * 1000)), "no reply to the frame"
    reply = ANY_REPLY.decode(sock.recv())
    assert isinstance(reply, dict)
    return reply


def _still_serving(fleet: RunningSupervisor, pids: dict[str, int | None]) -> None:
    assert fleet.pids() == pids
    assert {a["state"] for a in fleet.status()} == {"running"}


BAD_CONTROL_FRAMES = {
    "not_msgpack": (b"\xc1\xc1 this is not msgpack", "malformed", None),
    "trailing_garbage": (b"hello world", "malformed", None),
    "not_a_map": (msgspec.msgpack.encode([1, 2, 3]), "malformed", None),
    "no_type": (msgspec.msgpack.encode({"request_id": 7}), "unknown_type", 7),
    "unknown_type": (msgspec.msgpack.encode({"type": "FormatDisk", "request_id": 8}),
                     "unknown_type", 8),
    "actor_message": (encode(Hello(actor_id="kraken:master", pid=1,
                                   protocol_version=PROTOCOL_VERSION, started_at=0.0)),
                      "unknown_type", None),
    "reply_direction": (encode(StatusReply(request_id=9, mode="paper", actors=())),
                        "unknown_type", 9),
    "supervisor_direction": (encode(Ping(seq=1, sent_at=0.0)), "unknown_type", None),
    "bad_field": (msgspec.msgpack.encode({"type": "PauseRequest", "request_id": 10,
                                          "account": 42}), "malformed", 10),
    "missing_field": (msgspec.msgpack.encode({"type": "RestartRequest", "request_id": 11}),
                      "malformed", 11),
    "oversized": (b"\x00" * (300 * 1024), "oversized", None),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(BAD_CONTROL_FRAMES))
def test_bad_control_frame_gets_an_error_naming_the_problem(fleet, raw, case):
    pids = fleet.pids()
    frame, code, request_id = BAD_CONTROL_FRAMES[case]

    reply = _exchange(raw(fleet.control), frame)

    assert reply["type"] == "Error", reply
    assert reply["code"] == code, reply
    assert reply["request_id"] == request_id, reply
    assert reply["message"], reply
    _still_serving(fleet, pids)


@pytest.mark.timeout(60)
def test_control_request_of_another_protocol_version_is_refused(fleet, raw):
    frame = encode(StatusRequest(request_id=12, protocol_version=999))

    reply = _exchange(raw(fleet.control), frame)

    assert (reply["type"], reply["code"], reply["request_id"]) == ("Error", "version_mismatch", 12)
    assert str(PROTOCOL_VERSION) in reply["message"]


@pytest.mark.timeout(60)
def test_good_request_on_a_raw_socket_after_bad_ones_is_answered(fleet, raw):
    sock = raw(fleet.control)
    for frame, _, _ in BAD_CONTROL_FRAMES.values():
        sock.send(frame)
    errors = 0
    while sock.poll(2000):
        reply = ANY_REPLY.decode(sock.recv())
        assert reply["type"] == "Error"
        errors += 1
        if errors == len(BAD_CONTROL_FRAMES):
            break
    assert errors == len(BAD_CONTROL_FRAMES)

    reply = _exchange(sock, encode(StatusRequest(request_id=13)))

    assert reply["type"] == "StatusReply" and reply["request_id"] == 13
    assert sorted(a["account"] for a in reply["actors"] if a["role"] == "account") == [
        "daivon", "master", "tania"]


@pytest.mark.timeout(60)
def test_frame_over_the_socket_limit_drops_only_that_client(fleet, raw):
    pids = fleet.pids()
    sock = raw(fleet.control)
    sock.send(b"\x00" * (2 * 1024 * 1024))  # over MAXMSGSIZE: libzmq drops the connection

    assert not sock.poll(1000), "expected no answer to a frame over the socket limit"
    _still_serving(fleet, pids)


@pytest.mark.timeout(60)
def test_actor_socket_refuses_an_unknown_identity(fleet, raw):
    pids = fleet.pids()
    sock = raw(f"ipc://{fleet.runtime_dir}/actors.sock", identity=b"kraken:mallory")
    hello = Hello(actor_id="kraken:mallory", pid=4242, protocol_version=PROTOCOL_VERSION,
                  started_at=time.time())

    reply = _exchange(sock, encode(hello))

    assert (reply["type"], reply["code"]) == ("Error", "refused"), reply
    assert "mallory" in reply["message"]
    assert "mallory" not in {a["account"] for a in fleet.status()}
    _still_serving(fleet, pids)


@pytest.mark.timeout(60)
def test_actor_socket_answers_garbage_and_ignores_heartbeats_from_strangers(fleet, raw):
    pids = fleet.pids()
    sock = raw(f"ipc://{fleet.runtime_dir}/actors.sock", identity=b"stranger")

    reply = _exchange(sock, b"\xc1 garbage")
    assert (reply["type"], reply["code"]) == ("Error", "malformed"), reply
    reply = _exchange(sock, encode(Heartbeat(seq=1, state="running", sent_at=time.time())))
    assert (reply["type"], reply["code"]) == ("Error", "refused"), reply
    _still_serving(fleet, pids)


def _hello(pid: int) -> bytes:
    return encode(Hello(actor_id="kraken:master", pid=pid, protocol_version=PROTOCOL_VERSION,
                        started_at=time.time()))


@pytest.mark.timeout(60)
def test_peers_posing_as_a_configured_actor_are_refused_and_harm_nothing(raw):
    # Dedicated supervisor: with ROUTER_HANDOVER on, this used to get the real actor killed
    # as hung and then abort the supervisor inside libzmq (stream_engine_base.cpp:310).
    with RunningSupervisor() as sup:
        pids = sup.pids()
        master = pids["master"]
        assert master is not None
        endpoint = f"ipc://{sup.runtime_dir}/actors.sock"

        for identity, pid in ((b"kraken:master/4242", 4242), (b"kraken:master/4243", master)):
            reply = _exchange(raw(endpoint, identity=identity), _hello(pid))
            assert (reply["type"], reply["code"]) == ("Error", "refused"), (identity, reply)
        twin = raw(endpoint, identity=f"kraken:master/{master}".encode())
        twin.send(_hello(master))
        twin.send(encode(Heartbeat(seq=1, state="running", sent_at=time.time())))
        time.sleep(0.5)
        twin.close()
        time.sleep(4.0)  # past the hung-actor threshold (3 s) and a ZMTP heartbeat interval

        assert sup.proc is not None and sup.proc.poll() is None, sup.stderr()[-500:]
        assert sup.pids() == pids, "the real actor was replaced because of an impostor"
        assert (sup.actor("master")["heartbeat_age_s"] or 99) < 2
