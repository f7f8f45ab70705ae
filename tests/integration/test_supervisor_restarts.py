"""Restarts through real processes: a killed actor comes back alone, a crash loop parks
only that account as `failed`, a hung (SIGSTOPped) actor is detected by missing heartbeats."""

from __future__ import annotations

import contextlib
import re
import signal
import time

import psutil
import pytest

from tests.supervisor_harness import RunningSupervisor, cmdline_of, is_gone, kill

pytestmark = pytest.mark.slow


@pytest.mark.timeout(60)
def test_killed_actor_is_restarted_with_a_new_pid_and_the_others_are_untouched():
    with RunningSupervisor() as sup:
        before = {a["account"]: a for a in sup.status()}
        old = before["master"]["pid"]

        kill(old)
        back = sup.wait_state("master", "running", timeout=15, not_pid=old)

        assert back["pid"] != old
        assert back["restarts"] == before["master"]["restarts"] + 1
        after = {a["account"]: a for a in sup.status()}
        for other in ("daivon", "tania"):
            assert after[other]["pid"] == before[other]["pid"]
            assert after[other]["state"] == "running"
            assert after[other]["restarts"] == 0
        assert any("kraken:master" in e.get("msg", "") and "killed by SIGKILL" in e["msg"]
                   for e in sup.log_lines("warning")), "the restart is not logged with its cause"


def _forked_actors(sup: RunningSupervisor) -> list[psutil.Process]:
    """The actor processes: children of the fork server (not the fork server itself)."""
    return [p for p in sup.tracker.alive() if p.ppid() != sup.pid
            and "forkserver" in cmdline_of(p)] if sup.tracker is not None else []


def _check_others(sup: RunningSupervisor, others: dict[str, int]) -> dict[str, dict]:
    actors = {a["account"]: a for a in sup.status()}
    for name, pid in others.items():
        assert actors[name]["state"] == "running", f"{name} disturbed: {actors[name]}"
        assert actors[name]["pid"] == pid, f"{name} was restarted: {actors[name]}"
    return actors


def _kill_until_failed(sup: RunningSupervisor, account: str, others: dict[str, int],
                       limit: int = 10) -> list[int]:
    """Kill every new incarnation of `account` the moment its process appears (if it got
    to `running` first, each start would spend ~8 REST calls of the key's budget on the
    venue), checking after every kill that the other accounts keep running with the same
    pids; returns the pids killed."""
    killed: list[int] = []
    last_check = 0.0
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        fresh = [p for p in _forked_actors(sup) if p.pid not in (*others.values(), *killed)]
        for proc in fresh:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
            killed.append(proc.pid)
        assert len(killed) <= limit, f"{account} is still restarted after {limit} kills"
        if fresh or time.monotonic() - last_check > 0.5:
            last_check = time.monotonic()
            if _check_others(sup, others)[account]["state"] == "failed":
                return killed
        time.sleep(0.01)
    raise AssertionError(f"{account} never became failed; killed {killed}\n{sup.describe()}")


@pytest.mark.timeout(120)
def test_crash_loop_parks_only_that_account_and_operator_restart_revives_it():
    with RunningSupervisor() as sup:
        sup.with_market = True  # the market data actor must not notice either
        others = {name: sup.pid_of(name) for name in ("market", "master", "tania")}

        killed = _kill_until_failed(sup, "daivon", others)

        # Default budget: 5 restarts within 60 s, so the 6th abnormal exit is terminal.
        assert len(killed) == 6, f"killed {len(killed)} incarnations before `failed`"
        failed = sup.actor("daivon")
        assert failed["pid"] is None and failed["restarts"] == 5
        assert "exceeds intensity 5" in failed["detail"]
        time.sleep(1.0)  # parked means parked: no further restart shows up
        assert sup.actor("daivon")["state"] == "failed"
        errors = sup.log_lines("error", contains="kraken:daivon")
        assert any("FAILED" in e["msg"] for e in errors), "no ERROR line says daivon failed"
        assert all(e.get("account") != "master" for e in sup.log_lines("error"))

        done = sup.ctl("restart", "daivon")
        assert done.returncode == 0, done.stderr
        assert "daivon" in done.stdout
        # Each killed incarnation already spent part of the key's REST budget on the venue,
        # so the revived actor's start may wait out the rate limit (~20 s on "starter").
        revived = sup.wait_state("daivon", "running", timeout=45)
        assert revived["pid"] not in killed
        assert {n: sup.pid_of(n) for n in others} == others


@pytest.mark.timeout(60)
def test_hung_actor_is_killed_and_restarted_after_missing_heartbeats():
    with RunningSupervisor() as sup:
        sup.with_market = True  # the market data actor must not notice either
        others = {name: sup.pid_of(name) for name in ("market", "master", "daivon")}
        victim = sup.pid_of("tania")
        hung = psutil.Process(victim)

        kill(victim, signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            back = sup.wait_state("tania", "running", timeout=12, not_pid=victim)
        finally:
            if not is_gone(hung):
                hung.send_signal(signal.SIGCONT)
        elapsed = time.monotonic() - stopped_at

        # Interval 1 s x 3 misses: detection after ~3 s, a restart within 10 s in total.
        assert elapsed < 10, f"hung actor replaced only after {elapsed:.1f}s"
        assert back["restarts"] == 1
        assert is_gone(hung), "the hung incarnation was left running"
        assert sup.log_lines("error", contains="kraken:tania hung"), "hang not logged as ERROR"
        assert {n: sup.pid_of(n) for n in others} == others


@pytest.mark.timeout(60)
def test_every_log_line_about_an_actor_names_its_account_and_broker():
    with RunningSupervisor(["master"], config='[paper]\naccounts = ["master"]\n') as sup:
        old = sup.pid_of("master")
        kill(old)
        sup.wait_state("master", "running", timeout=20, not_pid=old)
        assert sup.ctl("pause", "master").returncode == 0
        assert sup.ctl("resume", "master").returncode == 0

        about = [e for e in sup.logs() if re.match(
            r"(ACTOR FAILED: |CREDENTIALS INVALID: )?kraken:master\b", str(e.get("msg", "")))]
        assert len(about) >= 4
        missing = [e["msg"] for e in about
                   if (e.get("account"), e.get("broker")) != ("master", "kraken")]
        assert not missing, f"lines without account/broker: {missing}"
