"""Hostile input on the live sockets (issue 7): `python -m bench fuzz [--quick] [--frames N]
[--seed S]`.

A real paper supervisor (`run_supervisor.py`: three paper accounts and the market data
actor) gets frames that hypothesis generates (`bench/fuzz_frames.py`) from raw pyzmq
DEALERs, on its control ROUTER and on its actor ROUTER (as strangers and as impostors of
configured actors). The oracle (`bench/fuzz_oracle.py`) computes each frame's documented
outcome locally with the supervisor's own codec; frames that would act on the fleet are
skipped, never sent. `bench/fuzz_send.py` sends them in batches and matches the replies.

Checked at the end: the supervisor and every actor still have their pids and run,
`nija_actor_restarts_total` is unchanged, a StatusRequest is answered, and the supervisor's
RSS/USS (sampled throughout; judged after a 10% warm-up) and open fds are flat.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import psutil
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from bench.fuzz_frames import Parts, frames, giant, identities
from bench.fuzz_oracle import World
from bench.fuzz_send import Fuzzer
from bench.table import Row, goal, row

_harness = importlib.import_module("tests.supervisor_harness")  # not checked as bench code
MIB = 1024 * 1024
# Measured (3 full runs): +0.16 to +0.43 MiB RSS over the 90,000 frames after the warm-up;
# 300,000 frames level off at ~45.4 MiB (+0.25 MiB after 30,000). 2 MiB allows two pymalloc
# arenas (1 MiB each) of allocator noise and still catches a leak of one 24-byte object per
# frame (a leaked Error, bytes or dict entry is larger).
GOALS = {"rss_growth_mib_max": 2.0, "judge_memory_from_frames": 50_000}


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
