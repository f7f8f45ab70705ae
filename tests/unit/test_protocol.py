"""Protocol round trips; bad frames only ever raise ProtocolError, naming the problem."""

from __future__ import annotations

import contextlib

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import messages as m
from protocol.codec import (
    MAX_FRAME_BYTES,
    ProtocolError,
    actor_codec,
    control_codec,
    control_reply_codec,
    encode,
    supervisor_codec,
)

ACTOR = [
    m.Hello(actor_id="kraken:master", pid=42, protocol_version=m.PROTOCOL_VERSION, started_at=1.5),
    m.Heartbeat(seq=3, state="running", sent_at=2.0, counters={"commands": 1}),
    m.StateChanged(state="credentials_invalid", reason="EAPI:Invalid key"),
    m.Reply(request_id=7, result={"balances": {"ZUSD": "10.0000"}}),
    m.Error(request_id=None, code="malformed", message="bad"),
    m.MetricsSample(
        counters=(m.MetricPoint("nija_x_total", (("method", "Balance"),), 3.0),),
        gauges=(m.MetricPoint("nija_y", (), 1.5),),
        histograms=(m.HistogramPoint("nija_z_seconds", (), (0.1, float("inf")), (1, 2), 0.3, 2),),
    ),
    m.LogRecord(level=20, logger="nija.actor", message="hi", created=3.0),
]
SUPERVISOR = [
    m.Welcome(protocol_version=1, paused=True, heartbeat_interval_s=1.0, heartbeat_misses=3),
    m.Ping(seq=1, sent_at=1.0), m.Pause(request_id=1, cancel_open=True), m.Resume(request_id=2),
    m.Shutdown(request_id=3, deadline_s=5.0), m.Query(request_id=4, what="balance"),
]
CONTROL = [
    m.StatusRequest(request_id=1), m.PauseRequest(request_id=2, account="master"),
    m.PauseRequest(request_id=3, all_accounts=True, flatten=True),
    m.ResumeRequest(request_id=4, account="kraken:tania"),
    m.RestartRequest(request_id=5, account="daivon"), m.StopRequest(request_id=6),
    m.AccountQuery(request_id=7, account="master", what="balance"),
]
REPLIES = [
    m.StatusReply(request_id=1, mode="paper", actors=(m.ActorStatus(
        name="kraken:master", broker="kraken", account="master", state="running", pid=9,
        restarts=0, uptime_s=1.0, heartbeat_age_s=0.2, paused=False),)),
    m.Ack(request_id=2, message="ok", actors=("kraken:master",)),
    m.QueryReply(request_id=3, actor="kraken:master", result={"a": 1}),
]


@pytest.mark.parametrize(("codec", "messages"), [
    (actor_codec(), ACTOR), (supervisor_codec(), SUPERVISOR), (control_codec(), CONTROL),
    (control_reply_codec(), REPLIES)])
def test_every_message_round_trips(codec, messages):
    for message in messages:
        assert codec.decode(encode(message)) == message


def test_the_tag_names_the_type_on_the_wire():
    raw = msgspec.msgpack.decode(encode(m.Pause(request_id=1)))
    assert raw["type"] == "Pause" and raw["request_id"] == 1


def test_a_message_of_the_wrong_direction_is_an_unknown_type_and_keeps_its_request_id():
    with pytest.raises(ProtocolError) as info:
        actor_codec().decode(encode(m.Pause(request_id=11)))
    assert info.value.code == "unknown_type" and info.value.request_id == 11
    assert info.value.to_error().request_id == 11


def test_bad_fields_name_the_field():
    frame = msgspec.msgpack.encode({"type": "Hello", "actor_id": "x", "pid": "nope",
                                    "protocol_version": 1, "started_at": 0.0})
    with pytest.raises(ProtocolError, match=r"\$\.pid") as info:
        actor_codec().decode(frame)
    assert info.value.code == "malformed"


def test_oversized_frames_are_refused_before_decoding():
    frame = encode(m.LogRecord(level=20, logger="x", message="a" * MAX_FRAME_BYTES, created=0))
    with pytest.raises(ProtocolError) as info:
        actor_codec().decode(frame)
    assert info.value.code == "oversized"


@settings(max_examples=3000)
@given(st.binary(max_size=512))
def test_random_bytes_never_raise_anything_but_protocol_error(frame):
    for codec in (actor_codec(), control_codec(), supervisor_codec()):
        try:
            codec.decode(frame)
        except ProtocolError as exc:
            assert exc.code in {"malformed", "unknown_type", "oversized"}
            assert isinstance(exc.to_error(), m.Error)


@settings(max_examples=1000)
@given(st.sampled_from(CONTROL + ACTOR), st.data())
def test_mutated_frames_never_raise_anything_but_protocol_error(message, data):
    frame = bytearray(encode(message))
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(frame) - 1))
        frame[index] = data.draw(st.integers(0, 255))
    for codec in (actor_codec(), control_codec()):
        with contextlib.suppress(ProtocolError):
            codec.decode(bytes(frame))
