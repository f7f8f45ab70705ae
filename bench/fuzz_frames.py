"""Frames for `python -m bench fuzz`: hypothesis strategies for hostile input.

Valid messages of every type and direction (built from the msgspec field types, so a new
message or field is fuzzed without editing this file), byte-level and structure-level
mutations of them, random bytes, multipart messages, frames around the size limits, and
the routing ids of strangers and impostors. What the supervisor must do with each frame is
bench/fuzz_oracle.py's to say.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st

from bench.fuzz_oracle import KNOWN_QUERIES, SAFE_QUERIES, World
from protocol.codec import MAX_FRAME_BYTES, encode
from protocol.messages import (
    PROTOCOL_VERSION,
    ActorMessage,
    ControlMessage,
    ControlReply,
    Message,
    StatusRequest,
    SupervisorMessage,
)
from protocol.sockets import MAX_SOCKET_MESSAGE

Parts = list[bytes]  # the frames of one DEALER message
MESSAGE_TYPES: tuple[type[Message], ...] = tuple(dict.fromkeys(
    t for union in (ActorMessage, SupervisorMessage, ControlMessage, ControlReply)
    for t in typing.get_args(union)))
# Depths clearly below or above the supervisor's recursion limit, never near it: see
# SUPERVISOR_RECURSION_LIMIT in bench/fuzz_oracle.py.
DEEP_DEPTHS = st.one_of(st.integers(1, 300), st.integers(1500, 20_000))
EXTREME_INTS = (0, -1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63))
INTS = st.one_of(st.integers(-3, 300), st.integers(-(2**63), 2**64 - 1),
                 st.sampled_from(EXTREME_INTS))
TEXT = st.one_of(st.text(max_size=12), st.sampled_from(["", "kraken:master", "\x00", "é" * 9]))
ANY = st.recursive(st.one_of(st.none(), st.booleans(), INTS, st.floats(), TEXT,
                             st.binary(max_size=8)),
                   lambda inner: st.lists(inner, max_size=3)
                   | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


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
