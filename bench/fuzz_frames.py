"""Frames for `bench/fuzz.py` and the oracle that says what the supervisor must do with each.

The strategies are hypothesis's: valid messages of every type and direction (built from
the msgspec field types, so a new message or field is fuzzed without editing this file),
byte-level and structure-level mutations of them, random bytes, multipart messages and
frames around the size limits. The oracle classifies a frame with the supervisor's own
decoders (`protocol.codec`) and the rules of docs/protocol.md ("Bad frames, in one place"):
an Error with a code and a request id, a normal reply, a silent drop, or "skip" for a frame
that would legitimately act on the fleet (stop, restart, pause, an order): never sent.
"""

from __future__ import annotations

import functools
import sys
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st

from actors.kraken.broker import KrakenBroker
from protocol.codec import MAX_FRAME_BYTES, ProtocolError, actor_codec, control_codec, encode
from protocol.messages import (
    PROTOCOL_VERSION,
    AccountQuery,
    ActorMessage,
    ControlMessage,
    ControlReply,
    Hello,
    Message,
    PauseRequest,
    ResumeRequest,
    StatusRequest,
    SupervisorMessage,
)
from protocol.sockets import MAX_SOCKET_MESSAGE

Parts = list[bytes]
MESSAGE_TYPES: tuple[type[Message], ...] = tuple(dict.fromkeys(
    t for union in (ActorMessage, SupervisorMessage, ControlMessage, ControlReply)
    for t in typing.get_args(union)))
# Queries an actor answers without acting: the runtime's `status`, cheap reads. Every other
# query the Kraken broker knows (orders, cancels, the permission probe) is never sent.
SAFE_QUERIES = frozenset({"status", "balance", "open_orders", "signal_latency", "prices",
                          "candles"})
KNOWN_QUERIES = frozenset({n[3:] for n in dir(KrakenBroker) if n.startswith("_q_")}
                          | {"status", "prices", "candles"})
# Nesting deeper than msgspec's recursion limit (~1000 minus the caller's stack) is
# undecodable; depths near the limit depend on the stack depth of the decoding process,
# so the oracle (another process) only gets depths clearly on one side of it.
SUPERVISOR_RECURSION_LIMIT = 1000
DEEP_DEPTHS = st.one_of(st.integers(1, 300), st.integers(1500, 20_000))
EXTREME_INTS = (0, -1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63))
INTS = st.one_of(st.integers(-3, 300), st.integers(-(2**63), 2**64 - 1),
                 st.sampled_from(EXTREME_INTS))
TEXT = st.one_of(st.text(max_size=12), st.sampled_from(["", "kraken:master", "\x00", "é" * 9]))
ANY = st.recursive(st.one_of(st.none(), st.booleans(), INTS, st.floats(), TEXT,
                             st.binary(max_size=8)),
                   lambda inner: st.lists(inner, max_size=3)
                   | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


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


# -- raw msgpack -------------------------------------------------------------------------

def raw_map(pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
    """A msgpack map of already encoded keys and values (duplicates and bad keys allowed)."""
    items = list(pairs)
    n = len(items)
    head = bytes([0x80 | n]) if n < 16 else b"\xde" + n.to_bytes(2, "big")
    return head + b"".join(k + v for k, v in items)


def raw_str(data: bytes) -> bytes:
    """A msgpack str header followed by `data`, valid UTF-8 or not."""
    n = len(data)
    if n < 32:
        return bytes([0xA0 | n]) + data
    if n < 256:
        return b"\xd9" + bytes([n]) + data
    return (b"\xda" + n.to_bytes(2, "big") if n < 65536 else b"\xdb" + n.to_bytes(4, "big")) + data


def deep(depth: int, maps: bool) -> bytes:
    return (b"\x81\xa1k" if maps else b"\x91") * depth + b"\xc0"


def pairs_of(message: Message) -> list[tuple[bytes, bytes]]:
    return [(msgspec.msgpack.encode(k), msgspec.msgpack.encode(v))
            for k, v in msgspec.to_builtins(message).items()]


def padded(message: Message, size: int) -> bytes:
    """`message` plus an unknown `pad` field, exactly `size` bytes (size >= 70 KiB)."""
    pairs = pairs_of(message)
    base = len(raw_map([*pairs, (b"\xa3pad", raw_str(b"x" * 65536))]))
    return raw_map([*pairs, (b"\xa3pad", raw_str(b"x" * (65536 + size - base)))])


# -- messages ----------------------------------------------------------------------------

def _for_type(t: Any) -> st.SearchStrategy[Any]:
    """Values of a msgspec type (as msgspec.inspect describes it)."""
    simple: dict[type, st.SearchStrategy[Any]] = {
        mi.IntType: INTS, mi.FloatType: st.floats(), mi.StrType: TEXT,
        mi.BoolType: st.booleans(), mi.NoneType: st.none()}
    if type(t) in simple:
        return simple[type(t)]
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(t.values)
    if isinstance(t, mi.UnionType):
        return st.one_of([_for_type(x) for x in t.types])
    if isinstance(t, mi.DictType):
        return st.dictionaries(_for_type(t.key_type), _for_type(t.value_type), max_size=3)
    if isinstance(t, mi.VarTupleType):
        return st.lists(_for_type(t.item_type), max_size=3).map(tuple)
    if isinstance(t, mi.TupleType):
        return st.tuples(*(_for_type(x) for x in t.item_types))
    if isinstance(t, mi.StructType):
        return _instances(t.cls, {})
    return ANY


def _overrides(world: World) -> dict[str, st.SearchStrategy[Any]]:
    """Fields whose value decides the outcome get the interesting values more often."""
    names = sorted({*world.accounts, *world.accounts.values()})
    near_misses = ["", "nobody", "MASTER", "kraken:", ":master", "kraken:master ", "market "]
    return {
        "protocol_version": st.one_of(st.just(PROTOCOL_VERSION), INTS),
        "account": st.one_of(st.sampled_from(names), TEXT, st.sampled_from(near_misses)),
        "what": st.one_of(st.sampled_from(sorted(SAFE_QUERIES)), TEXT,
                          st.sampled_from(sorted(KNOWN_QUERIES))),
        "actor_id": st.one_of(st.sampled_from(sorted(world.accounts)), TEXT),
    }


def _instances(cls: type[Any], overrides: Mapping[str, st.SearchStrategy[Any]]
               ) -> st.SearchStrategy[Any]:
    fields = mi.type_info(cls).fields  # type: ignore[attr-defined]
    values = {f.name: overrides.get(f.name, _for_type(f.type)) for f in fields}
    required = {f.name: values[f.name] for f in fields if f.required}
    optional = {f.name: values[f.name] for f in fields if not f.required}
    return st.fixed_dictionaries(required, optional=optional).map(lambda kw: cls(**kw))


@functools.cache
def messages(world: World) -> st.SearchStrategy[Message]:
    """A valid message of any type of any direction."""
    overrides = _overrides(world)
    return st.one_of([_instances(cls, overrides) for cls in MESSAGE_TYPES])



# -- mutations -------------------------------------------------------------------------

BAD_UTF8 = (b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82", b"ok\xfe", b"\xf4\x90\x80\x80")
TAGS = ("", "statusrequest", "Status Request", "FormatDisk", *(t.__name__ for t in MESSAGE_TYPES))


@st.composite
def byte_mutation(draw: st.DrawFn, world: World) -> tuple[str, bytes]:
    """An encoded message with bits flipped, cut, spliced, or bytes inserted/deleted."""
    base = bytearray(encode(draw(messages(world))))
    kind = draw(st.sampled_from(["bitflip", "truncate", "splice", "insert", "delete",
                                 "duplicate"]))
    at = draw(st.integers(0, len(base) - 1))
    if kind == "bitflip":
        for pos in [at, *draw(st.lists(st.integers(0, len(base) - 1), max_size=3))]:
            base[pos] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate":
        del base[at:]
    elif kind == "splice":
        other = encode(draw(messages(world)))
        base[at:] = other[draw(st.integers(0, len(other))):]
    elif kind == "insert":
        base[at:at] = draw(st.binary(min_size=1, max_size=16))
    elif kind == "delete":
        del base[at:at + draw(st.integers(1, 8))]
    else:
        base[at:at] = base[at:at + draw(st.integers(1, 16))]
    return kind, bytes(base)


@st.composite
def structural(draw: st.DrawFn, world: World) -> tuple[str, bytes]:
    """A message map with one field made wrong: another type, an extreme int, deep
    nesting, invalid UTF-8, a bin key, a duplicate, unknown or missing fields, another
    protocol_version or `type`."""
    pairs = pairs_of(draw(messages(world)))
    kind = draw(st.sampled_from(["swap_type", "unknown_field", "extreme_int", "deep_nesting",
                                 "invalid_utf8", "bin_key", "dup_key", "drop_field",
                                 "bad_version", "tag"]))
    i = draw(st.integers(0, len(pairs) - 1))
    key, value = pairs[i]
    enc = msgspec.msgpack.encode
    if kind == "swap_type":
        pairs[i] = (key, enc(draw(ANY)))
    elif kind == "unknown_field":
        pairs.insert(i, (enc(draw(TEXT)), enc(draw(ANY))))
    elif kind == "extreme_int":
        pairs[i] = (key, enc(draw(st.sampled_from(EXTREME_INTS))))
    elif kind == "deep_nesting":
        nested = deep(draw(DEEP_DEPTHS), draw(st.booleans()))
        pairs[i:i + 1] = [(enc(draw(TEXT)), nested), pairs[i]] if draw(st.booleans()) else [
            (key, nested)]
    elif kind == "invalid_utf8":
        bad = raw_str(draw(st.sampled_from(BAD_UTF8)))
        pairs[i] = (bad, value) if draw(st.booleans()) else (key, bad)
    elif kind == "bin_key":
        pairs[i] = (enc(msgspec.msgpack.decode(key, type=str).encode()), value)
    elif kind == "dup_key":
        pairs.insert(draw(st.integers(0, len(pairs))), (key, enc(draw(ANY))))
    elif kind == "drop_field":
        del pairs[i]
    elif kind == "bad_version":
        pairs.append((enc("protocol_version"), enc(draw(st.one_of(INTS, ANY)))))
    else:
        tag = draw(st.one_of(st.sampled_from(TAGS), ANY))
        pairs = [(enc("type"), enc(tag)), *(p for p in pairs if p[0] != enc("type"))]
    return kind, raw_map(pairs)


@st.composite
def sized(draw: st.DrawFn, world: World, low: int, high: int) -> bytes:
    message = draw(messages(world))
    return padded(message, draw(st.integers(low, high)))


def _single(strategy: st.SearchStrategy[tuple[str, bytes]]) -> st.SearchStrategy[tuple[str, Parts]]:
    return strategy.map(lambda kb: (kb[0], [kb[1]]))


def frames(world: World, junk_parts: bool) -> st.SearchStrategy[tuple[str, Parts]]:
    """(class, the parts one DEALER message carries: 1 to 4; a DEALER cannot send 0, so
    the ROUTER's "fewer than 2 frames" case is unreachable from one). `junk_parts`: the
    control socket, where the last part is the payload; the harmless StatusRequests among
    the parts before it would show if the supervisor read the wrong one."""
    one = st.one_of(st.binary(max_size=300).map(lambda b: ("random_bytes", b)),
                    byte_mutation(world), structural(world))
    junk = st.one_of(st.binary(max_size=40), INTS.map(
        lambda rid: encode(StatusRequest(request_id=rid))))
    multi = st.tuples(st.lists(junk, min_size=1, max_size=3), one).map(
        lambda jp: (f"multipart_{len(jp[0]) + 1}", [*jp[0], jp[1][1]]))
    # hypothesis leans to the first entries (its "simplest"), so the richest come first
    weights = {"struct": 80, "byte": 50, "valid": 30, "multi": 20, "random": 16,
               "oversized": 1, "oversized_large": 1, "at_limit": 2}
    table: dict[str, st.SearchStrategy[tuple[str, Parts]]] = {
        "random": _single(st.binary(max_size=300).map(lambda b: ("random_bytes", b))),
        "valid": _single(messages(world).map(lambda m: (f"valid:{type(m).__name__}",
                                                        encode(m)))),
        "byte": _single(byte_mutation(world)), "struct": _single(structural(world)),
        "multi": multi,
        "oversized": _single(sized(world, MAX_FRAME_BYTES + 1, MAX_FRAME_BYTES + 4096).map(
            lambda b: ("oversized", b))),
        "oversized_large": _single(sized(world, MAX_FRAME_BYTES + 1, MAX_SOCKET_MESSAGE).map(
            lambda b: ("oversized", b))),
        "at_limit": _single(sized(world, MAX_FRAME_BYTES - 1, MAX_FRAME_BYTES).map(
            lambda b: ("at_limit", b)))}
    chosen = st.sampled_from([k for k, n in weights.items() for _ in range(n)]).flatmap(
        table.__getitem__)
    return chosen if junk_parts else chosen.map(
        lambda cp: (cp[0].replace("multipart", "actor_multipart"), cp[1]))


def giant(world: World) -> st.SearchStrategy[bytes]:
    """Over MAXMSGSIZE: libzmq drops the connection before the supervisor sees it."""
    return sized(world, MAX_SOCKET_MESSAGE + 1, MAX_SOCKET_MESSAGE + 256 * 1024)


def identities(world: World) -> st.SearchStrategy[bytes]:
    """Routing ids of strangers, and of impostors shaped like configured incarnations.
    Never a live incarnation's own id (the runner makes ids unique): libzmq would not route
    it while the actor is connected (tests/integration/test_supervisor_protocol.py covers
    that), and it could take the id over if the actor's connection dropped meanwhile."""
    posing = st.tuples(st.sampled_from(sorted(world.accounts)), st.one_of(
        st.integers(1, 4_194_304).map(str), TEXT)).map(lambda a: f"{a[0]}/{a[1]}".encode())
    shapes = st.sampled_from([b"kraken:mallory", b"kraken:master", b"kraken:master/",
                              b"kraken:master//1", b"/", b"\xff/1"])
    strangers = st.binary(min_size=1, max_size=40)
    return st.one_of(posing, shapes, strangers).map(
        lambda b: (b"x" + b[1:] if b[:1] == b"\x00" else b)[:200])
