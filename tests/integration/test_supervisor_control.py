"""Operator control through `nijactl`: durable pause/resume, the kill switch, account names,
and the single-instance lock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import pytest

from tests.supervisor_harness import (
    PAPER_ACCOUNTS,
    RunningSupervisor,
    kill,
    metric_value,
    wait_until,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fleet() -> Iterator[RunningSupervisor]:
    with RunningSupervisor() as sup:
        yield sup


def _states(sup: RunningSupervisor) -> dict[str, tuple[str, bool]]:
    return {a["account"]: (a["state"], a["paused"]) for a in sup.status()}


@pytest.mark.timeout(90)
def test_pause_survives_actor_kill_and_supervisor_restart():
    with RunningSupervisor() as first:
        done = first.ctl("pause", "master")
        assert done.returncode == 0, done.stderr
        assert "paused" in done.stdout and "kraken:master" in done.stdout
        paused = first.wait_state("master", "paused", timeout=10)
        assert paused["paused"] is True
        assert first.actor("daivon")["state"] == "running"

        kill(paused["pid"])
        back = first.wait_state("master", "paused", timeout=15, not_pid=paused["pid"])
        assert back["paused"] is True and back["restarts"] == 1

        stop = first.ctl("stop")
        assert stop.returncode == 0, stop.stderr
        assert first.wait_exit(timeout=15) == 0

        second = RunningSupervisor(root=first.root, ready=("running", "paused"))
        with second:
            assert _states(second) == {"master": ("paused", True), "daivon": ("running", False),
                                       "tania": ("running", False)}
            done = second.ctl("resume", "master")
            assert done.returncode == 0, done.stderr
            resumed = second.wait_state("master", "running", timeout=10)
            assert resumed["paused"] is False
            assert json.loads((second.state_dir / "paused.json").read_text()) == {}


@pytest.mark.timeout(60)
def test_pause_all_is_a_kill_switch_and_resume_all_undoes_it(fleet: RunningSupervisor):
    try:
        done = fleet.ctl("pause", "--all")
        assert done.returncode == 0, done.stderr
        for name in PAPER_ACCOUNTS:
            assert f"kraken:{name}" in done.stdout
            fleet.wait_state(name, "paused", timeout=10)
        assert all(paused for _, paused in _states(fleet).values())
    finally:
        undo = fleet.ctl("resume", "--all")
    assert undo.returncode == 0, undo.stderr
    for name in PAPER_ACCOUNTS:
        fleet.wait_state(name, "running", timeout=10)


@pytest.mark.timeout(60)
def test_pause_accepts_the_broker_qualified_name(fleet: RunningSupervisor):
    try:
        done = fleet.ctl("pause", "kraken:master")
        assert done.returncode == 0, done.stderr
        assert fleet.wait_state("master", "paused", timeout=10)["paused"] is True
        assert fleet.actor("tania")["state"] == "running"
    finally:
        undo = fleet.ctl("resume", "kraken:master")
    assert undo.returncode == 0, undo.stderr
    fleet.wait_state("master", "running", timeout=10)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", ["pause", "resume", "restart", "query"])
def test_unknown_account_is_a_usage_error_naming_it(fleet: RunningSupervisor, command: str):
    before = fleet.pids()
    args = [command, "nosuchaccount"] + (["balance"] if command == "query" else [])

    done = fleet.ctl(*args)

    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "nosuchaccount" in done.stderr
    assert "Traceback" not in done.stderr
    assert fleet.pids() == before


@pytest.mark.timeout(60)
def test_pause_needs_an_account_or_all(fleet: RunningSupervisor):
    done = fleet.ctl("pause")
    assert done.returncode == 2
    assert "ACCOUNT or --all" in done.stderr


@pytest.mark.timeout(60)
def test_query_balance_is_answered_by_the_actor(fleet: RunningSupervisor):
    done = fleet.ctl("query", "daivon", "balance")
    assert done.returncode == 0, done.stderr
    balances = json.loads(done.stdout)["balances"]
    assert Decimal(balances["ZUSD"]) > 0 and "XXBT" in balances  # the paper account's funds


@pytest.mark.timeout(60)
def test_query_the_actor_does_not_know_is_refused_by_the_actor(fleet: RunningSupervisor):
    done = fleet.ctl("query", "master", "launch_codes")

    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "launch_codes" in done.stderr
    assert fleet.actor("master")["state"] == "running"


@pytest.mark.timeout(60)
def test_operator_restart_replaces_a_running_actor_and_counts_it(fleet: RunningSupervisor):
    before = fleet.actor("master")
    others = {n: fleet.pid_of(n) for n in ("daivon", "tania")}

    done = fleet.ctl("restart", "master")

    assert done.returncode == 0, done.stderr
    assert "kraken:master restarting" in done.stdout
    after = fleet.wait_state("master", "running", timeout=30, not_pid=before["pid"])
    assert after["restarts"] == before["restarts"] + 1
    scraped = metric_value(fleet.scrape(), "nija_actor_restarts_total", account="master")
    assert scraped == after["restarts"], "status and metrics disagree on restarts"
    assert fleet.log_lines("info", contains="kraken:master stopped") or fleet.log_lines(
        "info", contains="kraken:master restarting on request")
    assert {n: fleet.pid_of(n) for n in others} == others


@pytest.mark.timeout(60)
def test_second_supervisor_on_the_same_runtime_dir_refuses_to_start(fleet: RunningSupervisor):
    before = fleet.pids()
    intruder = RunningSupervisor(root=fleet.root).launch()
    try:
        code = intruder.wait_exit(timeout=20)
    finally:
        intruder.close()

    assert code == 2, intruder.stderr()[-2000:]
    assert "another supervisor is running" in intruder.stderr()
    assert "Traceback" not in intruder.stderr()
    assert fleet.pids() == before
    assert {a["state"] for a in fleet.status()} == {"running"}
    done = fleet.ctl("query", "master", "balance")
    assert done.returncode == 0, done.stderr


@pytest.mark.timeout(60)
def test_second_supervisor_on_the_same_state_dir_refuses_to_start():
    with RunningSupervisor() as first:
        keys = first.keys()
        intruder = RunningSupervisor(root=first.root, runtime_dir=first.root / "r2").launch()
        try:
            outcome = wait_until(lambda: _exited_or_settled(intruder), 30,
                                 "the second supervisor to exit or settle")
        finally:
            intruder.close()
        unchanged = first.keys() == keys  # not compared by assert: no key material in reports
        assert unchanged, "the second supervisor replaced the running paper keys"
        assert outcome == "exited" and intruder.wait_exit(1) == 2, (
            f"a second supervisor ran on the same state dir: {outcome}")
        assert "another supervisor is running with state directory" in intruder.stderr()
        assert {a["state"] for a in first.status()} == {"running"}


def _exited_or_settled(sup: RunningSupervisor) -> str | None:
    assert sup.proc is not None
    if sup.proc.poll() is not None:
        return "exited"
    actors = sup.try_status(timeout=1.0)
    settled = ("running", "failed", "credentials_invalid")
    if actors and all(a["state"] in settled for a in actors):
        return f"running with {[(a['account'], a['state']) for a in actors]}"
    return None


@pytest.mark.timeout(60)
def test_second_supervisor_on_the_same_control_endpoint_refuses_to_start():
    with RunningSupervisor(["master"], config='[paper]\naccounts = ["master"]\n') as first:
        second = RunningSupervisor(["daivon"], config='[paper]\naccounts = ["daivon"]\n',
                                   args=("--control", first.control)).launch()

        def settled() -> str | None:
            assert second.proc is not None
            if second.proc.poll() is not None:
                return "exited"
            seen = {a["account"] for a in first.try_status(timeout=1.0) or []}
            return "the second supervisor answers on the first one's socket" if (
                "daivon" in seen) else None

        try:
            outcome = wait_until(settled, 20, "the second supervisor to exit or take over")
        finally:
            second.close()
        assert outcome == "exited", outcome
        assert [a["account"] for a in first.status()] == ["master"]
