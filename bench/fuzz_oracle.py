"""The oracle of `python -m bench fuzz`: what the supervisor must do with each frame.

It classifies a frame with the supervisor's own decoders (`protocol.codec`) and the rules of
docs/protocol.md ("Bad frames, in one place"): an Error with a code and a request id, a
normal reply, a silent drop, or "skip" for a frame that would legitimately act on the fleet
(stop, restart, pause, an order): never sent. `matches` then judges a reply against that
outcome. Both run in the fuzzer's own process: the supervisor is never asked.
"""

from __future__ import annotations

import functools
import sys
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from actors.kraken.broker import KrakenBroker
from protocol.codec import ProtocolError, actor_codec, control_codec
from protocol.messages import (
    PROTOCOL_VERSION,
    AccountQuery,
    ControlMessage,
    Error,
    Hello,
    Message,
    PauseRequest,
    QueryReply,
    ResumeRequest,
    StatusReply,
    StatusRequest,
)
from protocol.sockets import MAX_SOCKET_MESSAGE

# Queries an actor answers without acting: the runtime's `status`, cheap reads. Every other
# query the Kraken broker knows (orders, cancels, the permission probe) is never sent.
SAFE_QUERIES = frozenset({"status", "balance", "open_orders", "signal_latency", "prices",
                          "candles"})
KNOWN_QUERIES = frozenset({n[3:] for n in dir(KrakenBroker) if n.startswith("_q_")}
                          | {"status", "prices", "candles"})
# Nesting deeper than msgspec's recursion limit (~1000 minus the caller's stack) is
# undecodable; depths near the limit depend on the stack depth of the decoding process,
# so the oracle (another process) only gets depths clearly on one side of it
# (`DEEP_DEPTHS` in bench/fuzz_frames.py).
SUPERVISOR_RECURSION_LIMIT = 1000


@dataclass(frozen=True, eq=False)  # hashed by identity: strategies are cached per world
class World:
    """What the oracle must know of the running fleet: actor ids, their account names and
    roles, and the live incarnations' pids (whose routing ids are never posed as)."""

    accounts: Mapping[str, str]  # actor id -> account name
    roles: Mapping[str, str]  # actor id -> "account" | "market"
    pids: Mapping[str, int]  # actor id -> pid of the running incarnation

    @functools.cached_property
    def live(self) -> frozenset[bytes]:
        return frozenset(f"{a}/{p}".encode() for a, p in self.pids.items())

    def resolve(self, account: str) -> str | None:
        """The supervisor's rule (docs/protocol.md): an actor id, or a bare account name
        that exactly one actor has."""
        if account in self.accounts:
            return account
        matches = [a for a, name in self.accounts.items() if name == account]
        return matches[0] if len(matches) == 1 else None


@dataclass(frozen=True)
class Expect:
    """The documented outcome of one frame. `query`: forwarded to `actor`, answered later
    with a QueryReply (if `reply_ok`) or an Error with one of `codes`."""

    outcome: str  # error | status | query | drop | skip | disconnect
    code: str | None = None
    request_id: int | None = None
    actor: str | None = None
    codes: tuple[str, ...] = ()
    reply_ok: bool = True
    why: str = ""

    @property
    def label(self) -> str:
        detail = self.code or self.why
        return f"{self.outcome}:{detail}" if detail else self.outcome


_CONTROL = control_codec()
_ACTOR = actor_codec()


def _decode(codec: Any, frame: bytes) -> Message | Expect:
    """Decode as the supervisor does, under its recursion limit (Python's default, which
    hypothesis raises while it runs a test): how deep a frame may nest depends on it."""
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(SUPERVISOR_RECURSION_LIMIT)
    try:
        message: Message = codec.decode(frame)
    except ProtocolError as exc:
        return Expect("error", exc.code, exc.request_id)
    except RecursionError:  # documented outcome of any undecodable frame: malformed
        return Expect("error", "malformed")
    finally:
        sys.setrecursionlimit(saved)
    return message


def expect_control(parts: Sequence[bytes], world: World) -> Expect:
    """Control ROUTER: identity first, payload last, anything between ignored."""
    if any(len(p) > MAX_SOCKET_MESSAGE for p in parts):
        return Expect("disconnect")
    decoded = _decode(_CONTROL, parts[-1])
    if isinstance(decoded, Expect):
        return decoded
    request = typing.cast(ControlMessage, decoded)
    if request.protocol_version != PROTOCOL_VERSION:
        return Expect("error", "version_mismatch", request.request_id)
    return _request(request, world)


def _request(request: ControlMessage, world: World) -> Expect:
    rid, kind = request.request_id, type(request).__name__
    if isinstance(request, StatusRequest):
        return Expect("status", request_id=rid)
    if isinstance(request, PauseRequest | ResumeRequest) and request.all_accounts:
        return Expect("skip", why=f"{kind}(all_accounts)")
    account = getattr(request, "account", None)
    if account is None:
        return Expect("skip", why=kind)  # StopRequest
    target = world.resolve(account)
    if target is None:
        return Expect("error", "unknown_account", rid)
    if isinstance(request, AccountQuery):
        return _query(request, target)
    if isinstance(request, PauseRequest | ResumeRequest) and world.roles[target] == "market":
        return Expect("error", "refused", rid)
    return Expect("skip", why=kind)


def _query(request: AccountQuery, target: str) -> Expect:
    what, rid = request.what, request.request_id
    if what in KNOWN_QUERIES and what not in SAFE_QUERIES:
        return Expect("skip", why=f"AccountQuery({what})")
    if what == "status":
        return Expect("query", request_id=rid, actor=target)
    if what in SAFE_QUERIES:  # the broker answers, or refuses bad params / another role's query
        return Expect("query", request_id=rid, actor=target, codes=("refused", "internal"))
    return Expect("query", request_id=rid, actor=target, codes=("refused",), reply_ok=False)


def expect_actor(identity: bytes, parts: Sequence[bytes], world: World) -> Expect:
    """Actor ROUTER: exactly one payload frame; strangers refused, impostors ignored."""
    if identity in world.live:
        return Expect("skip", why="live identity")
    if any(len(p) > MAX_SOCKET_MESSAGE for p in parts):
        return Expect("disconnect")
    if len(parts) != 1:
        return Expect("drop", why="multipart")
    decoded = _decode(_ACTOR, parts[0])
    if isinstance(decoded, Expect):
        return decoded
    configured = identity.decode(errors="replace").rpartition("/")[0] in world.accounts
    if not configured or isinstance(decoded, Hello):  # a Hello from an impostor is refused
        return Expect("error", "refused")
    return Expect("drop", why="impostor")


def matches(expect: Expect, reply: Any, world: World) -> bool:
    """Whether `reply` (a decoded message, or a string saying what was wrong) is `expect`."""
    if expect.outcome == "error":
        return isinstance(reply, Error) and (reply.code, reply.request_id) == (
            expect.code, expect.request_id)
    if expect.outcome == "status":
        return isinstance(reply, StatusReply) and reply.request_id == expect.request_id and {
            a.name for a in reply.actors} == set(world.accounts)
    if isinstance(reply, Error):  # a forwarded query, refused by the actor
        return reply.request_id == expect.request_id and reply.code in expect.codes
    return (isinstance(reply, QueryReply) and expect.reply_ok and reply.actor == expect.actor
            and reply.request_id == expect.request_id
            and reply.result.get("pid", world.pids[reply.actor]) == world.pids[reply.actor])
