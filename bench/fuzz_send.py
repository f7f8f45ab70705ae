"""Sending fuzz frames to a live supervisor and matching its replies, for `python -m bench
fuzz` (bench/fuzz.py). Each frame's documented outcome comes from bench/fuzz_oracle.py.

Frames go out in batches, each followed by a sentinel (a frame whose `malformed` Error
carries a request id of its own): the replies to one connection keep their order, so what
comes before the sentinel's Error answers the batch, and a dropped frame is one with no
reply there. A batch that does not match is replayed frame by frame to name the culprits.
Forwarded account queries are answered later, so they go on a connection of their own and
are matched by request id. Frames over MAXMSGSIZE each get a fresh DEALER, which must see
its connection dropped and be answered again on the same socket.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from typing import Any

import msgspec
import psutil
import zmq
from zmq.utils.monitor import recv_monitor_message

from bench.fuzz_frames import Parts, raw_map
from bench.fuzz_oracle import Expect, World, expect_actor, expect_control, matches
from protocol.codec import ProtocolError, control_reply_codec, encode, supervisor_codec
from protocol.messages import Error, StatusReply, StatusRequest
from supervisor.control import FORWARD_TIMEOUT_S

REPLY_TIMEOUT_S = 10.0
CONTROL_REPLIES = control_reply_codec()
ACTOR_REPLIES = supervisor_codec()
Item = tuple[str, Parts, Expect]


def sentinel(rid: int, actor: bool) -> bytes:
    """A frame any identity gets `Error malformed` with request id `rid` for."""
    enc = msgspec.msgpack.encode
    kind, field = ("Reply", "result") if actor else ("StatusRequest", "protocol_version")
    return raw_map([(enc("type"), enc(kind)), (enc("request_id"), enc(rid)),
                    (enc(field), enc("sentinel"))])


class Fuzzer:
    """Sends frames on raw DEALERs, checks every reply against the oracle, and counts."""

    def __init__(self, sup: Any, world: World) -> None:
        self.sup, self.world = sup, world
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.actor_endpoint = f"ipc://{sup.runtime_dir}/actors.sock"
        self.ordered = self._dealer(sup.control)
        self.queries = self._dealer(sup.control)  # forwarded queries, answered out of order
        self.sent: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.classes = {"control": Counter[str](), "actor": Counter[str]()}
        self.expected = {"control": Counter[str](), "actor": Counter[str]()}
        self.mismatches: list[dict[str, Any]] = []
        self.unreproduced = 0  # batches that failed but whose frames all passed one by one
        self.giants: dict[bool, list[tuple[bool, float]]] = {False: [], True: []}
        self.memory: list[tuple[int, int, int]] = []  # (frames sent, RSS, USS)
        self.dead = False  # the supervisor exited: stop, and report it
        self._rids = itertools.count(2**62)
        self._used: set[bytes] = set(world.live)

    @property
    def total(self) -> int:
        return self.sent["control"] + self.sent["actor"]

    def alive(self) -> bool:
        return self.sup.proc is not None and self.sup.proc.poll() is None

    def _dealer(self, endpoint: str, identity: bytes | None = None) -> zmq.Socket[bytes]:
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        if identity is not None:
            sock.setsockopt(zmq.ROUTING_ID, identity)
        sock.connect(endpoint)
        return sock

    def close(self) -> None:
        self.ordered.close()
        self.queries.close()
        self.ctx.term()

    def _count(self, where: str, cls: str, expect: Expect) -> bool:
        """Tally one frame; False if it is not to be sent (skipped)."""
        self.classes[where][cls] += 1
        self.expected[where][expect.label] += 1
        if expect.outcome in ("skip", "disconnect"):  # giants only come from `giant`
            self.skipped[expect.why or expect.outcome] += 1
            return False
        self.sent[where] += 1
        return True

    def _read(self, sock: zmq.Socket[bytes], actor: bool) -> Any:
        parts = sock.recv_multipart()
        if len(parts) != 1:
            return f"a reply of {len(parts)} frames"
        try:
            return (ACTOR_REPLIES if actor else CONTROL_REPLIES).decode(parts[0])
        except ProtocolError as exc:
            return f"undecodable reply: {exc.message}"

    def _roundtrip(self, sock: zmq.Socket[bytes], batch: list[Parts], actor: bool
                   ) -> list[Any] | None:
        """Send `batch` and a sentinel; the replies before the sentinel's, or None if the
        sentinel was not answered in time."""
        rid = next(self._rids)
        for parts in batch:
            sock.send_multipart(parts)
        sock.send(sentinel(rid, actor))
        got: list[Any] = []
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while sock.poll(max(1, int((deadline - time.monotonic()) * 1000))):
            reply = self._read(sock, actor)
            if isinstance(reply, Error) and reply.request_id == rid:
                return got
            got.append(reply)
        return None

    def _agree(self, items: list[Item], got: list[Any] | None) -> bool:
        wanted = [e for _, _, e in items if e.outcome != "drop"]
        return got is not None and len(got) == len(wanted) and all(
            matches(e, r, self.world) for e, r in zip(wanted, got, strict=True))

    def _check(self, sock: zmq.Socket[bytes], items: list[Item], actor: bool) -> None:
        where = "actor" if actor else "control"
        if self._agree(items, self._roundtrip(sock, [p for _, p, _ in items], actor)):
            return
        if not self.alive():  # nothing left to replay against: the batch is the evidence
            self.dead = True
            self.mismatches.append({"socket": where, "supervisor_died_during_batch": [
                (cls, parts[-1][:64].hex()) for cls, parts, _ in items]})
            return
        found = 0
        for item in items:  # the same frames one at a time name the culprits
            got = self._roundtrip(sock, [item[1]], actor)
            if not self._agree([item], got):
                found += 1
                self._mismatch(where, item, got)
        self.unreproduced += not found

    def _mismatch(self, where: str, item: Item, got: list[Any] | None) -> None:
        cls, parts, expect = item
        shown = None if got is None else [
            r if isinstance(r, str) else msgspec.to_builtins(r) for r in got]
        self.mismatches.append({"socket": where, "class": cls, "expected": expect.label,
                                "request_id": expect.request_id, "got": str(shown)[:300],
                                "frame_hex": parts[-1][:96].hex(), "frame_len": len(parts[-1])})
        self.dead = self.dead or not self.alive()

    def control_batch(self, batch: list[tuple[str, Parts]]) -> None:
        ordered: list[Item] = []
        pending: dict[int | None, Item] = {}
        for cls, parts in batch:
            expect = expect_control(parts, self.world)
            if expect.outcome == "query" and expect.request_id in pending:
                expect = Expect("skip", why="query id already in flight")
            if not self._count("control", cls, expect):
                continue
            if expect.outcome == "query":
                pending[expect.request_id] = (cls, parts, expect)
                self.queries.send_multipart(parts)
            else:
                ordered.append((cls, parts, expect))
        self._check(self.ordered, ordered, actor=False)
        self._collect(pending)

    def _collect(self, pending: dict[int | None, Item]) -> None:
        """Forwarded queries: every one answered by its actor (or a relayed Error)."""
        deadline = time.monotonic() + FORWARD_TIMEOUT_S + 3
        while pending and self.queries.poll(max(1, int((deadline - time.monotonic()) * 1000))):
            reply = self._read(self.queries, False)
            item = pending.pop(getattr(reply, "request_id", None), None)
            if item is None or not matches(item[2], reply, self.world):
                self._mismatch("control", item or ("unexpected", [b""], Expect("drop")), [reply])
        for item in pending.values():
            self._mismatch("control", item, [])

    def _unique(self, identity: bytes) -> bytes:
        """Never two connections with one routing id (the second would not be routed),
        never a live incarnation's; the suffix has no "/", so the id keeps its class."""
        while identity in self._used:
            identity = identity[:200] + f"~{len(self._used)}".encode()
        self._used.add(identity)
        return identity

    def actor_batch(self, identity: bytes, batch: list[tuple[str, Parts]]) -> None:
        identity = self._unique(identity)
        items = [(cls, parts, expect_actor(identity, parts, self.world)) for cls, parts in batch]
        sock = self._dealer(self.actor_endpoint, identity)
        try:
            self._check(sock, [i for i in items if self._count("actor", i[0], i[2])], actor=True)
        finally:
            sock.close()

    def giant(self, frame: bytes, actor: bool) -> None:
        """Over MAXMSGSIZE: no reply, libzmq drops the connection, and the same DEALER
        (reconnected by itself) is answered again."""
        where = "actor" if actor else "control"
        self._count(where, "giant", Expect("drop", why="connection dropped"))
        sock = self._dealer(self.actor_endpoint if actor else self.sup.control,
                            self._unique(b"fuzz-giant") if actor else None)
        monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        started, rids, got = time.monotonic(), set[int](), list[Any]()
        try:
            sock.send(frame)
            while time.monotonic() - started < REPLY_TIMEOUT_S:
                rids.add(next(self._rids))
                sock.send(sentinel(max(rids), actor))
                if sock.poll(300):
                    reply = self._read(sock, actor)
                    if getattr(reply, "request_id", None) in rids:
                        break
                    got.append(reply)
            else:
                got.append("not answered again after the drop")
            dropped = bool(monitor.poll(1000)) and recv_monitor_message(monitor)["event"] == (
                zmq.EVENT_DISCONNECTED)
        finally:
            sock.disable_monitor()
            monitor.close()
            sock.close()
        self.giants[actor].append((dropped, time.monotonic() - started))
        if got or not dropped:
            self._mismatch(where, ("giant", [frame], Expect("disconnect")),
                           got or ["the connection was not dropped"])

    def giants_done(self, actor: bool, wanted: int) -> bool:
        return self.dead or len(self.giants[actor]) >= wanted

    def sample_memory(self, every: int) -> None:
        if self.dead or (self.memory and self.total - self.memory[-1][0] < every):
            return
        info = psutil.Process(self.sup.pid).memory_full_info()
        self.memory.append((self.total, info.rss, info.uss))

    def status_answered(self) -> bool:
        """A StatusRequest after everything: every actor listed, running, same pid."""
        sock = self._dealer(self.sup.control)
        try:
            sock.send(encode(StatusRequest(request_id=4242)))
            reply = self._read(sock, False) if sock.poll(5000) else None
        finally:
            sock.close()
        return isinstance(reply, StatusReply) and {
            a.name: (a.pid, a.state) for a in reply.actors} == {
            name: (pid, "running") for name, pid in self.world.pids.items()}

    def summary(self) -> dict[str, Any]:
        giants = [g for both in self.giants.values() for g in both]
        return {"frames": {"sent": self.total, **self.sent, "skipped": dict(self.skipped)},
                "classes": {k: dict(v.most_common()) for k, v in self.classes.items()},
                "expected": {k: dict(v.most_common()) for k, v in self.expected.items()},
                "mismatches": len(self.mismatches), "mismatch_examples": self.mismatches[:8],
                "batches_not_reproduced_one_by_one": self.unreproduced,
                "giants": {"sent": len(giants), "connection_dropped": sum(d for d, _ in giants),
                           "answered_again_after_s_max": round(max(
                               (s for _, s in giants), default=0.0), 2)}}
