"""Hostile input on the live sockets (issue 7): `python -m bench fuzz [--quick] [--frames N]
[--seed S]`.

A real paper supervisor (`run_supervisor.py`: three paper accounts and the market data
actor) gets frames that hypothesis generates (`bench/fuzz_frames.py`) from raw pyzmq
DEALERs, on its control ROUTER and on its actor ROUTER (as strangers and as impostors of
configured actors). The oracle computes each frame's documented outcome locally with the
supervisor's own codec; frames that would act on the fleet are skipped, never sent.

Frames go out in batches, each followed by a sentinel (a frame whose `malformed` Error
carries a request id of its own): the replies to one connection keep their order, so what
comes before the sentinel's Error answers the batch, and a dropped frame is one with no
reply there. A batch that does not match is replayed frame by frame to name the culprits.
Forwarded account queries are answered later, so they go on a connection of their own and
are matched by request id. Frames over MAXMSGSIZE each get a fresh DEALER, which must see
its connection dropped and be answered again on the same socket.

Checked at the end: the supervisor and every actor still have their pids and run,
`nija_actor_restarts_total` is unchanged, a StatusRequest is answered, and the supervisor's
RSS/USS (sampled throughout; judged after a 10% warm-up) and open fds are flat.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import itertools
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import msgspec
import psutil
import zmq
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from zmq.utils.monitor import recv_monitor_message

from bench.fuzz_frames import (
    Expect,
    Parts,
    World,
    expect_actor,
    expect_control,
    frames,
    giant,
    identities,
    raw_map,
)
from bench.table import Row, goal, row
from protocol.codec import ProtocolError, control_reply_codec, encode, supervisor_codec
from protocol.messages import Error, QueryReply, StatusReply, StatusRequest
from supervisor.control import FORWARD_TIMEOUT_S

_harness = importlib.import_module("tests.supervisor_harness")  # not checked as bench code
MIB = 1024 * 1024
# Measured (3 full runs): +0.16 to +0.43 MiB RSS over the 90,000 frames after the warm-up;
# 300,000 frames level off at ~45.4 MiB (+0.25 MiB after 30,000). 2 MiB allows two pymalloc
# arenas (1 MiB each) of allocator noise and still catches a leak of one 24-byte object per
# frame (a leaked Error, bytes or dict entry is larger).
GOALS = {"rss_growth_mib_max": 2.0, "judge_memory_from_frames": 50_000}
REPLY_TIMEOUT_S = 10.0
CONTROL_REPLIES = control_reply_codec()
ACTOR_REPLIES = supervisor_codec()
Item = tuple[str, Parts, Expect]


@dataclass(frozen=True)
class Plan:
    control: int  # frames for the control socket
    actor: int  # frames for the actor socket
    giants: int  # frames over MAXMSGSIZE, per socket


FULL = Plan(control=60_000, actor=40_000, giants=6)
QUICK = Plan(control=3_000, actor=2_000, giants=2)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=None, help=(
        "frames in total, 3/5 control and 2/5 actor (default 100,000; 5,000 with --quick)"))
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed")


def drive(strategy: st.SearchStrategy[Any], handle: Callable[[Any], None],
          done: Callable[[], bool], seed: int) -> None:
    """Feed hypothesis examples to `handle` until `done()`: generation only (a mismatch is
    counted, not raised, so nothing is shrunk or replayed against the live fleet),
    deterministic for a seed, no example database."""
    rounds = 0
    while not done():
        @settings(max_examples=100, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @hypothesis_seed(seed * 10_007 + rounds)
        @given(strategy)
        def examples(example: Any) -> None:
            if not done():
                handle(example)

        examples()
        rounds += 1


def sentinel(rid: int, actor: bool) -> bytes:
    """A frame any identity gets `Error malformed` with request id `rid` for."""
    enc = msgspec.msgpack.encode
    kind, field = ("Reply", "result") if actor else ("StatusRequest", "protocol_version")
    return raw_map([(enc("type"), enc(kind)), (enc("request_id"), enc(rid)),
                    (enc(field), enc("sentinel"))])


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


def fuzz(sup: Any, plan: Plan, seed: int) -> tuple[Fuzzer, float, bool]:
    """Run the plan against a started supervisor: (counts, seconds, status answered)."""
    actors = sup.status()
    world = World(accounts={a["name"]: a["account"] for a in actors},
                  roles={a["name"]: a.get("role", "account") for a in actors},
                  pids={a["name"]: int(a["pid"]) for a in actors})
    fuzzer, started = Fuzzer(sup, world), time.monotonic()
    batches = st.tuples(st.lists(frames(world, True), min_size=15, max_size=45),
                        identities(world), st.lists(frames(world, False), min_size=10,
                                                    max_size=30))

    def handle(example: tuple[list[tuple[str, Parts]], bytes, list[tuple[str, Parts]]]) -> None:
        control, identity, actor = example
        if fuzzer.sent["control"] < plan.control:
            fuzzer.control_batch(control)
        if fuzzer.sent["actor"] < plan.actor and not fuzzer.dead:
            fuzzer.actor_batch(identity, actor)
        fuzzer.sample_memory(every=max(500, (plan.control + plan.actor) // 150))

    try:
        drive(batches, handle, lambda: fuzzer.dead or (
            fuzzer.sent["control"] >= plan.control and fuzzer.sent["actor"] >= plan.actor), seed)
        for actor in (False, True):
            drive(giant(world), functools.partial(fuzzer.giant, actor=actor),
                  functools.partial(fuzzer.giants_done, actor, plan.giants), seed)
        fuzzer.sample_memory(every=0)
        seconds = time.monotonic() - started
        return fuzzer, seconds, fuzzer.alive() and fuzzer.status_answered()
    finally:
        fuzzer.close()



def _fleet(sup: Any, fds_before: int | None = None) -> dict[str, Any]:
    """What must not change: pids, states, restarts, the supervisor's open fds (given a
    moment to close the connections of DEALERs that just went away)."""
    if sup.proc is None or sup.proc.poll() is not None:
        return {"alive": False, "pids": {}, "states": {}, "restarts": {}, "fds": None,
                "stderr_tail": [line for line in sup.stderr().splitlines()
                                if not line.startswith("{")][-12:]}
    deadline = time.monotonic() + 3.0
    while (fds := psutil.Process(sup.pid).num_fds()) > (fds_before or fds) and (
            time.monotonic() < deadline):
        time.sleep(0.1)
    actors, scrape = sup.status(), sup.scrape()
    return {"alive": True, "fds": fds, "pids": {a["name"]: a["pid"] for a in actors},
            "states": {a["name"]: a["state"] for a in actors},
            "restarts": {a["name"]: _harness.metric_value(
                scrape, "nija_actor_restarts_total", account=a["account"]) for a in actors}}


def _slope(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of (frames, bytes), in KiB per 10,000 frames."""
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    cov = sum((x - mx) * (y - my) for x, y in points)
    return cov / var * 10_000 / 1024 if var else 0.0


def memory_report(samples: list[tuple[int, int, int]], total: int) -> dict[str, Any]:
    """RSS and USS: start and end, and slope and growth after the warm-up (the first 10%
    of the frames, while caches and allocator arenas settle)."""
    warm = [s for s in samples if s[0] >= total // 10] or samples[-1:]
    step = max(1, len(samples) // 15)
    report: dict[str, Any] = {"samples": len(samples), "warmup_frames": total // 10,
                              "rss_trace_frames_mib": [[f, round(r / MIB, 2)]
                                                       for f, r, _ in samples[::step]]}
    for name, at in (("rss", 1), ("uss", 2)):
        report[f"{name}_mib_start_end"] = [round(samples[0][at] / MIB, 2),
                                           round(warm[-1][at] / MIB, 2)]
        report[f"{name}_growth_after_warmup_mib"] = round((warm[-1][at] - warm[0][at]) / MIB, 3)
        report[f"{name}_slope_kib_per_10k_frames"] = round(_slope(
            [(s[0], s[at]) for s in warm]), 2)
    return report


def _verdict(before: dict[str, Any], after: dict[str, Any], answered: bool) -> dict[str, Any]:
    died = [name for name, pid in before["pids"].items() if after["pids"].get(name) != pid]
    return {"processes_died": len(died) + (not after["alive"]), "died": died,
            "supervisor_alive": after["alive"], "status_answered_at_end": answered,
            "all_running_at_end": bool(after["states"]) and set(
                after["states"].values()) == {"running"},
            "restarts_unchanged": before["restarts"] == after["restarts"],
            "pids_before": before["pids"], "pids_after": after["pids"],
            "fds_before_after": [before["fds"], after["fds"]],
            "supervisor_stderr_tail": after.get("stderr_tail", [])}


def _table(report: dict[str, Any]) -> list[Row]:
    memory, fleet, met = report["memory"], report["fleet"], report["goals"]
    fds = fleet["fds_before_after"]
    return [
        row("fuzz frames sent (control + actor)", report["frames"]["sent"],
            goal(f">= {report['plan']['control'] + report['plan']['actor']:,}",
                 met["all_frames_sent"])),
        row("frames without their documented outcome", report["mismatches"],
            goal("0", met["no_mismatches"])),
        row("processes died or restarted", fleet["processes_died"],
            goal("0", met["no_process_died"])),
        row("fuzz frames per second", report["frames_per_s"]),
        row("supervisor RSS growth after warm-up (MiB)", memory["rss_growth_after_warmup_mib"],
            goal(f"< {GOALS['rss_growth_mib_max']:g}", met["rss_growth_mib<2"])),
        row("supervisor RSS slope after warm-up (KiB per 10k frames)",
            memory["rss_slope_kib_per_10k_frames"]),
        row("supervisor open fds before -> after", f"{fds[0]} -> {fds[1]}",
            goal("no growth", met["fds_do_not_grow"]))]


def run(quick: bool = False, frames: int | None = None, seed: int = 0) -> dict[str, Any]:
    base = QUICK if quick else FULL
    plan = base if frames is None else Plan(frames * 3 // 5, frames - frames * 3 // 5,
                                             base.giants)
    started, load = time.monotonic(), os.getloadavg()[0]
    sup = _harness.RunningSupervisor()
    sup.with_market = True  # the market data actor is a process that must survive too
    try:
        sup.start()
        before = _fleet(sup)
        fuzzer, seconds, answered = fuzz(sup, plan, seed)
        after = _fleet(sup, before["fds"])
    finally:
        sup.close()
    memory, fleet = memory_report(fuzzer.memory, fuzzer.total), _verdict(before, after, answered)
    report: dict[str, Any] = {
        "benchmark": "fuzz", "quick": quick, "seed": seed, "plan": asdict(plan),
        "machine": {"cpus": os.cpu_count(), "loadavg_1m_before_after": [
            round(load, 2), round(os.getloadavg()[0], 2)]},
        **fuzzer.summary(), "frames_per_s": round(fuzzer.total / seconds, 1),
        "fuzz_seconds": round(seconds, 1), "memory": memory, "fleet": fleet,
        "seconds_total": round(time.monotonic() - started, 1)}
    report["goals"] = {
        "no_mismatches": report["mismatches"] == 0,
        "no_process_died": fleet["processes_died"] == 0 and fleet["restarts_unchanged"]
        and fleet["all_running_at_end"] and answered,
        # judged on full-size runs only: a short run is mostly warm-up (arenas, caches)
        "rss_growth_mib<2": memory["rss_growth_after_warmup_mib"] < GOALS["rss_growth_mib_max"]
        if fuzzer.total >= GOALS["judge_memory_from_frames"] else None,
        "fds_do_not_grow": after["fds"] is not None and after["fds"] <= before["fds"],
        "all_frames_sent": fuzzer.total >= plan.control + plan.actor}
    report["exit_code"] = 0 if all(v for v in report["goals"].values() if v is not None) else 1
    report["table"] = _table(report)
    report["headline"] = {"frames_sent": fuzzer.total, "mismatches": report["mismatches"],
                          "processes_died": fleet["processes_died"],
                          "rss_growth_mib": memory["rss_growth_after_warmup_mib"]}
    return report
