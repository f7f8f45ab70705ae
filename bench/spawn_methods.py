"""spawn vs forkserver (with the actor modules preloaded): K actors started each way.

Per start method, one paper supervisor with K accounts (`[supervisor] start_method`):
- cold start: from the supervisor's first spawn (its "PAPER MODE" log line, written just
  before the actors are spawned) to each actor's "is running", and the last of them;
- memory: USS of every actor once all run (plus the fork server's, under forkserver);
- restart all: SIGKILL every actor at once (restart backoff 1 ms) and time until every
  new incarnation is running again: spawning on a warm supervisor.
Progress is read from `status` every 10 ms (which also wakes the supervisor's loop, so a
pending restart is not left waiting for its next wake-up) and the supervisor's log.
"""

from __future__ import annotations

import os
import signal
import statistics
import time
from typing import Any

from bench.supervisor import FAST_RESTART, LogTail, SupervisorProcess, summary, uss_mib
from supervisor.spawner import PRELOAD

HELLO_RETRY_S = 0.9  # the actor re-sends an unanswered Hello after 1 s


def _running_times(sup: SupervisorProcess, tail: LogTail, old_pids: dict[str, int | None],
                   timeout: float = 120.0) -> tuple[dict[str, float], int]:
    """Unix time at which each account first ran with a pid not in `old_pids` (status
    polled every 10 ms, refined by the supervisor's "is running" log lines), and how many
    new incarnations had their Hello accepted only >= 0.9 s after their pid appeared: under
    forkserver (a fork is instant) that is the actor's 1 s Hello retry; under spawn it
    also counts a slow interpreter start-up."""
    pid_seen: dict[str, float] = {}
    hello: dict[str, float] = {}
    seen: dict[str, float] = {}
    logged: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(sup.accounts):
        if time.monotonic() > deadline:
            raise TimeoutError(f"running: {sorted(seen)} of {len(sup.accounts)}")
        try:
            actors = sup.status()
        except TimeoutError:  # still starting (requests wait for its loop): ask again
            continue
        now = time.time()
        for name, actor in actors.items():
            if actor.pid is None or actor.pid == old_pids.get(name):
                continue
            pid_seen.setdefault(name, now)
            if actor.heartbeat_age_s is not None:
                hello.setdefault(name, now)
            if actor.state == "running":
                seen.setdefault(name, now)
        for ts, msg in tail.read():
            name = msg.removeprefix("kraken:").removesuffix(" is running")
            if msg.endswith(" is running") and name in sup.accounts:
                logged.setdefault(name, ts)
        time.sleep(0.01)
    retried = sum(1 for name in seen if hello.get(name, seen[name]) - pid_seen[name]
                  >= HELLO_RETRY_S)
    return {name: logged.get(name, at) for name, at in seen.items()}, retried


def one_method(method: str, k: int, settle: float) -> dict[str, Any]:
    accounts = [f"m{i:02d}" for i in range(k)]
    with SupervisorProcess(accounts, start_method=method, restart=FAST_RESTART) as sup:
        tail = LogTail(sup.log_path)
        try:
            running, cold_retried = _running_times(sup, tail, {})
            whole = LogTail(sup.log_path)
            lines = whole.read()
            whole.close()
            # the venue is up and the first actor is about to be spawned
            first_spawn = next((ts for ts, msg in lines if msg.startswith("PAPER MODE")),
                               sup.started_wall)
            cold = [running[a] - first_spawn for a in accounts]
            time.sleep(settle)
            pids = {a: s.pid for a, s in sup.wait_running().items()}
            uss = [u for u in (uss_mib(pid) for pid in pids.values() if pid) if u is not None]
            forkserver = [uss_mib(pid) for pid in sup.children()["forkserver"]]
            tail.read()
            killed_wall = time.time()
            for pid in pids.values():
                if pid:
                    os.kill(pid, signal.SIGKILL)
            again, again_retried = _running_times(sup, tail, pids)
        finally:
            tail.close()
    restart_all = [again[a] - killed_wall for a in accounts]
    return {
        "cold_start_from_first_spawn_s": {
            "all_running": round(max(cold), 3),
            "per_actor": summary(cold, 3),
            "hello_accepted_0.9s_or_more_after_pid": cold_retried,
            "supervisor_process_to_all_running": round(
                max(running.values()) - sup.started_wall, 3),
        },
        "uss_mib_per_actor": {"mean": round(statistics.fmean(uss), 2), "max": round(max(uss), 2)},
        "forkserver_uss_mib": [round(u, 2) for u in forkserver if u is not None],
        "restart_all_at_once_s": {"all_running": round(max(restart_all), 3),
                                  "per_actor": summary(restart_all, 3),
                                  "hello_accepted_0.9s_or_more_after_pid": again_retried},
    }


def _ratio(a: dict[str, Any], b: dict[str, Any], group: str, key: str) -> float:
    return round(float(a[group][key]) / max(float(b[group][key]), 1e-9), 2)


def compare(quick: bool) -> dict[str, Any]:
    k, settle = (8, 1.0) if quick else (20, 2.0)
    results = {method: one_method(method, k, settle) for method in ("forkserver", "spawn")}
    fs, sp = results["forkserver"], results["spawn"]
    return {
        "actors": k, "forkserver_preload": PRELOAD, "restart_setting": FAST_RESTART,
        **results,
        "spawn_over_forkserver": {
            "cold_all_running": _ratio(sp, fs, "cold_start_from_first_spawn_s", "all_running"),
            "restart_all_running": _ratio(sp, fs, "restart_all_at_once_s", "all_running"),
            "uss_per_actor": _ratio(sp, fs, "uss_mib_per_actor", "mean"),
        },
    }
