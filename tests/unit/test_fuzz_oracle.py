"""The fuzzer's oracle (bench/fuzz_oracle.py) against the documented outcomes: it must
agree with the hand-picked cases the live supervisor is tested on, skip every request that
would act on the fleet, and the codec it shares with the supervisor must turn every
generated frame into a message or a ProtocolError (never another exception)."""

from __future__ import annotations

import time
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.fuzz_frames import deep, frames, identities, padded
from bench.fuzz_oracle import (
    KNOWN_QUERIES,
    SAFE_QUERIES,
    Expect,
    World,
    expect_actor,
    expect_control,
    matches,
)
from bench.fuzz_send import sentinel
from protocol.codec import (
    MAX_FRAME_BYTES,
    ProtocolError,
    actor_codec,
    control_codec,
    encode,
    supervisor_codec,
)
from protocol.messages import (
    PROTOCOL_VERSION,
    AccountQuery,
    ActorStatus,
    Error,
    ErrorCode,
    Heartbeat,
    Hello,
    PauseRequest,
    QueryReply,
    RestartRequest,
    ResumeRequest,
    StatusReply,
    StatusRequest,
    StopRequest,
)
from tests.integration.test_supervisor_protocol import BAD_CONTROL_FRAMES

WORLD = World(
    accounts={"kraken:market": "market", "kraken:master": "master", "kraken:daivon": "daivon"},
    roles={"kraken:market": "market", "kraken:master": "account", "kraken:daivon": "account"},
    pids={"kraken:market": 100, "kraken:master": 101, "kraken:daivon": 102})


@pytest.mark.parametrize("case", sorted(BAD_CONTROL_FRAMES))
def test_oracle_agrees_with_the_hand_picked_control_cases(case):
    frame, code, request_id = BAD_CONTROL_FRAMES[case]

    expect = expect_control([frame], WORLD)

    assert (expect.outcome, expect.code, expect.request_id) == ("error", code, request_id)


def test_control_multipart_uses_the_last_part_and_version_is_checked_first():
    status = encode(StatusRequest(request_id=5))
    stop_v2 = encode(StopRequest(request_id=6, protocol_version=2))

    assert expect_control([b"", b"junk", status], WORLD).outcome == "status"
    assert expect_control([status, b"\xc1"], WORLD).code == "malformed"
    assert (expect_control([stop_v2], WORLD).code, expect_control([stop_v2], WORLD)
            .request_id) == ("version_mismatch", 6)


@pytest.mark.parametrize(("request_", "outcome", "code"), [
    (StopRequest(request_id=1), "skip", None),
    (RestartRequest(request_id=1, account="master"), "skip", None),
    (RestartRequest(request_id=1, account="kraken:market"), "skip", None),
    (PauseRequest(request_id=1, all_accounts=True, account="nobody"), "skip", None),
    (PauseRequest(request_id=1, account="kraken:daivon"), "skip", None),
    (ResumeRequest(request_id=1, account="master"), "skip", None),
    (RestartRequest(request_id=1, account="nobody"), "error", "unknown_account"),
    (PauseRequest(request_id=1, account=""), "error", "unknown_account"),
    (PauseRequest(request_id=1, account="market"), "error", "refused"),
    (AccountQuery(request_id=1, account="master", what="place_order"), "skip", None),
    (AccountQuery(request_id=1, account="master", what="cancel_all"), "skip", None),
    (AccountQuery(request_id=1, account="nobody", what="place_order"), "error",
     "unknown_account"),
    (StatusRequest(request_id=1), "status", None),
])
def test_requests_that_act_are_skipped_and_harmless_ones_expected(request_, outcome, code):
    expect = expect_control([encode(request_)], WORLD)

    assert (expect.outcome, expect.code) == (outcome, code)
    assert expect.request_id == (None if outcome == "skip" else 1)


def test_forwarded_queries_expect_the_named_actor():
    status = expect_control([encode(AccountQuery(request_id=7, account="master",
                                                 what="status"))], WORLD)
    unknown = expect_control([encode(AccountQuery(request_id=8, account="kraken:market",
                                                  what="no such query"))], WORLD)

    assert (status.outcome, status.actor, status.reply_ok, status.codes) == (
        "query", "kraken:master", True, ())
    assert (unknown.outcome, unknown.actor, unknown.reply_ok, unknown.codes) == (
        "query", "kraken:market", False, ("refused",))


def test_every_broker_query_with_effects_is_skipped():
    assert {"place_order", "cancel", "cancel_all", "permissions"} <= KNOWN_QUERIES - SAFE_QUERIES
    for what in KNOWN_QUERIES - SAFE_QUERIES:
        query = AccountQuery(request_id=1, account="kraken:master", what=what)
        assert expect_control([encode(query)], WORLD).outcome == "skip", what


def _hello(pid: int) -> bytes:
    return encode(Hello(actor_id="kraken:master", pid=pid, protocol_version=PROTOCOL_VERSION,
                        started_at=time.time()))


@pytest.mark.parametrize(("identity", "parts", "label"), [
    (b"kraken:mallory", [_hello(4242)], "error:refused"),
    (b"stranger", [b"\xc1 garbage"], "error:malformed"),
    (b"stranger", [encode(Heartbeat(seq=1, state="running", sent_at=0.0))], "error:refused"),
    (b"kraken:master/4242", [_hello(4242)], "error:refused"),
    (b"kraken:master/4243", [_hello(101)], "error:refused"),
    (b"kraken:master/4242", [encode(Heartbeat(seq=1, state="running", sent_at=0.0))],
     "drop:impostor"),
    (b"stranger", [_hello(1), _hello(1)], "drop:multipart"),
    (b"kraken:master/101", [_hello(101)], "skip:live identity"),
    (b"stranger", [encode(StatusRequest(request_id=3))], "error:unknown_type"),
])
def test_actor_socket_outcomes(identity, parts, label):
    assert expect_actor(identity, parts, WORLD).label == label


@pytest.mark.parametrize("codec", [control_codec(), actor_codec(), supervisor_codec()])
@pytest.mark.parametrize("frame", [
    b"\x91" * 5000 + b"\x01",
    b"\x83\xa4type\xadStatusRequest\xaarequest_id\x01\xa4junk" + deep(3000, maps=False),
    b"\x83\xa4type\xa5Reply\xaarequest_id\x01\xa6result" + deep(3000, maps=True),
    b"\x83\xa4type\xa5Error\xaarequest_id\xa1x\xa4junk" + deep(3000, maps=False),
], ids=["array", "unknown_field", "reply_result", "peek_after_bad_field"])
def test_deep_nesting_is_malformed_not_a_recursion_error(codec, frame):
    # A 1,000-level nest used to raise RecursionError out of the codec and end the
    # supervisor's loop: one ~1 KB frame on either socket killed the whole fleet.
    with pytest.raises(ProtocolError) as raised:
        codec.decode(frame)

    assert raised.value.code == "malformed"


def test_sizes_around_the_codec_limit():
    at_limit = padded(StatusRequest(request_id=9), MAX_FRAME_BYTES)
    over = padded(StatusRequest(request_id=9), MAX_FRAME_BYTES + 1)

    assert len(at_limit) == MAX_FRAME_BYTES and len(over) == MAX_FRAME_BYTES + 1
    assert expect_control([at_limit], WORLD).label == "status"
    assert expect_control([over], WORLD).label == "error:oversized"


@pytest.mark.parametrize("actor", [False, True])
def test_sentinel_is_malformed_with_its_own_request_id(actor):
    codec = actor_codec() if actor else control_codec()
    with pytest.raises(ProtocolError) as raised:
        codec.decode(sentinel(-(2**62), actor))

    assert (raised.value.code, raised.value.request_id) == ("malformed", -(2**62))


def _actor(name: str, pid: int) -> ActorStatus:
    return ActorStatus(name=name, broker="kraken", account=name.split(":")[1], state="running",
                       pid=pid, restarts=0, uptime_s=1.0, heartbeat_age_s=0.5, paused=False)


def test_matches_checks_code_request_id_actor_and_pid():
    error = Expect("error", "malformed", 3)
    status = Expect("status", request_id=3)
    query = Expect("query", request_id=4, actor="kraken:master")
    everyone = tuple(_actor(name, pid) for name, pid in WORLD.pids.items())

    assert matches(error, Error(request_id=3, code="malformed", message="x"), WORLD)
    assert not matches(error, Error(request_id=None, code="malformed", message="x"), WORLD)
    assert not matches(error, Error(request_id=3, code="unknown_type", message="x"), WORLD)
    assert matches(status, StatusReply(request_id=3, mode="paper", actors=everyone), WORLD)
    assert not matches(status, StatusReply(request_id=3, mode="paper", actors=()), WORLD)
    assert matches(query, QueryReply(request_id=4, actor="kraken:master",
                                     result={"pid": 101}), WORLD)
    assert not matches(query, QueryReply(request_id=4, actor="kraken:master",
                                         result={"pid": 999}), WORLD)
    assert not matches(query, QueryReply(request_id=4, actor="kraken:daivon", result={}),
                       WORLD)
    assert not matches(query, Error(request_id=4, code="timeout", message="x"), WORLD)


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(frames(WORLD, True), max_size=8), identities(WORLD),
       st.lists(frames(WORLD, False), max_size=8))
def test_every_generated_frame_has_a_documented_outcome(control, identity, actor):
    for _, parts in control:
        assert expect_control(parts, WORLD).outcome in ("error", "status", "query", "skip")
        for codec in (control_codec(), actor_codec()):
            try:  # a message or a ProtocolError; anything else would end the loop
                codec.decode(parts[-1])
            except ProtocolError as exc:
                assert exc.code in typing.get_args(ErrorCode)
    for _, parts in actor:
        expected = {"error", "drop"} | ({"skip"} if identity in WORLD.live else set())
        assert expect_actor(identity, parts, WORLD).outcome in expected
