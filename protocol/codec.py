"""One encoder/decoder pair per socket role, built once; bad frames become ProtocolError."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from protocol.messages import (
    ActorMessage,
    ControlMessage,
    ControlReply,
    Error,
    ErrorCode,
    Message,
    SupervisorMessage,
)

MAX_FRAME_BYTES = 256 * 1024  # larger frames are answered with an "oversized" Error
T = TypeVar("T")


class ProtocolError(Exception):
    """A frame that is not a valid message of the expected direction."""

    def __init__(self, code: ErrorCode, message: str, request_id: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id

    def to_error(self) -> Error:
        return Error(request_id=self.request_id, code=self.code, message=self.message)


_ENCODER = msgspec.msgpack.Encoder()
_PEEK = msgspec.msgpack.Decoder(dict[str, Any])


def encode(message: Message) -> bytes:
    return _ENCODER.encode(message)


class Codec(Generic[T]):
    """Decodes frames of one direction (a Union of messages) and encodes anything."""

    def __init__(self, union: Any, max_frame: int = MAX_FRAME_BYTES) -> None:
        self._decoder: msgspec.msgpack.Decoder[T] = msgspec.msgpack.Decoder(union)
        self.max_frame = max_frame

    encode = staticmethod(encode)

    def decode(self, frame: bytes) -> T:
        if len(frame) > self.max_frame:
            raise ProtocolError("oversized",
                                f"frame of {len(frame)} bytes exceeds {self.max_frame}")
        try:
            return self._decoder.decode(frame)
        except msgspec.ValidationError as exc:
            raise self._explain(frame, exc) from None
        except (msgspec.DecodeError, ValueError) as exc:  # ValueError: invalid UTF-8 in a str
            raise ProtocolError("malformed", f"not a msgpack message: {exc}") from None
        except RecursionError:  # nested past Python's recursion limit: must not end a loop
            raise ProtocolError("malformed", "not a msgpack message: nested too deeply") from None

    @staticmethod
    def _explain(frame: bytes, exc: msgspec.ValidationError) -> ProtocolError:
        """Tell an unknown message type apart from a known type with bad fields, and keep
        the request id when there is one so the sender can correlate the error."""
        try:
            raw = _PEEK.decode(frame)
        except (msgspec.DecodeError, ValueError):
            return ProtocolError("malformed", f"not a message map: {exc}")
        except RecursionError:
            return ProtocolError("malformed", "not a msgpack message: nested too deeply")
        request_id = raw.get("request_id")
        rid = request_id if isinstance(request_id, int) and not isinstance(
            request_id, bool) else None
        kind = raw.get("type")
        if "`$.type`" in str(exc) or kind is None:
            return ProtocolError("unknown_type", f"unknown message type {kind!r}", rid)
        return ProtocolError("malformed", f"bad {kind}: {exc}", rid)


def actor_codec() -> Codec[ActorMessage]:
    """What the supervisor reads from actors."""
    return Codec(ActorMessage)


def supervisor_codec() -> Codec[SupervisorMessage]:
    """What an actor reads from the supervisor."""
    return Codec(SupervisorMessage)


def control_codec() -> Codec[ControlMessage]:
    """What the supervisor reads from control clients."""
    return Codec(ControlMessage)


def control_reply_codec() -> Codec[ControlReply]:
    """What a control client reads from the supervisor."""
    return Codec(ControlReply)
