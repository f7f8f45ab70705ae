"""The supervisor's own life: graceful stop (SIGTERM, `nijactl stop`) within the deadline,
no orphans after SIGKILL, SIGHUP reload, and configuration errors at start."""

from __future__ import annotations

import base64
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.supervisor_harness import (
    ROOT,
    RunningSupervisor,
    clean_env,
    cmdline_of,
    is_gone,
    metric_samples,
    metric_value,
    short_tempdir,
    wait_until,
)

pytestmark = pytest.mark.slow
SHUTDOWN_DEADLINE_S = 10.0  # supervisor.shutdown_deadline_s default


def _descendant_kinds(sup: RunningSupervisor) -> set[str]:
    assert sup.tracker is not None
    sup.tracker.refresh()
    kinds = set()
    for proc in sup.tracker.seen.values():
        line = cmdline_of(proc)
        kinds.update(k for k in ("forkserver", "simulator", "resource_tracker") if k in line)
    return kinds


def _assert_all_gone(sup: RunningSupervisor, within: float) -> None:
    assert sup.tracker is not None
    wait_until(lambda: not sup.tracker.survivors(), within, "every descendant to exit",
               details=lambda: "\n".join(f"{p.pid} {cmdline_of(p)[:120]}"
                                         for p in sup.tracker.survivors()))


@pytest.mark.timeout(60)
def test_sigterm_stops_every_process_within_the_deadline():
    with RunningSupervisor() as sup:
        assert _descendant_kinds(sup) >= {"forkserver", "simulator"}

        started = time.monotonic()
        sup.send_signal(signal.SIGTERM)
        code = sup.wait_exit(timeout=SHUTDOWN_DEADLINE_S + 5)
        _assert_all_gone(sup, within=3)
        elapsed = time.monotonic() - started

        assert code == 0, sup.stderr()[-2000:]
        assert elapsed < SHUTDOWN_DEADLINE_S, f"shutdown took {elapsed:.1f}s"
        stopped = sup.log_lines("info", contains="stopped (exited with code 0)")
        assert sorted(e.get("msg", "").split()[0] for e in stopped) == [
            "kraken:daivon", "kraken:market", "kraken:master", "kraken:tania"], (
            "actors were not stopped cleanly")
        assert sup.log_lines("info", contains="supervisor stopped")


@pytest.mark.timeout(60)
def test_nijactl_stop_stops_every_process_within_the_deadline():
    with RunningSupervisor() as sup:
        started = time.monotonic()
        done = sup.ctl("stop")
        code = sup.wait_exit(timeout=SHUTDOWN_DEADLINE_S + 5)
        _assert_all_gone(sup, within=3)
        elapsed = time.monotonic() - started

        assert done.returncode == 0, done.stderr
        assert "stopping" in done.stdout
        assert code == 0
        assert elapsed < SHUTDOWN_DEADLINE_S, f"shutdown took {elapsed:.1f}s"
        after = sup.ctl("--timeout", "1", "status")
        assert after.returncode == 1 and "no answer" in after.stderr


@pytest.mark.timeout(60)
def test_sigkill_of_the_supervisor_leaves_no_orphans():
    with RunningSupervisor() as sup:
        assert _descendant_kinds(sup) >= {"forkserver", "simulator"}

        sup.send_signal(signal.SIGKILL)
        assert sup.wait_exit(timeout=5) == -signal.SIGKILL

        _assert_all_gone(sup, within=5)


def _paper_config(*accounts: str) -> str:
    return f"[paper]\naccounts = [{', '.join(f'{a!r}' for a in accounts)}]\n".replace("'", '"')


@pytest.mark.timeout(60)
def test_sighup_stops_removed_accounts_starts_added_ones_and_keeps_the_rest():
    with RunningSupervisor(["master", "daivon"], config=_paper_config("master", "daivon")) as sup:
        master, daivon = sup.pid_of("master"), sup.pid_of("daivon")
        assert sup.config_path is not None
        sup.config_path.write_text(_paper_config("master", "tania"))

        sup.send_signal(signal.SIGHUP)

        sup.wait_for(lambda: {a["account"] for a in sup.status()} == {"master", "tania"}, 10,
                     "daivon to leave and tania to join the status")
        # The new paper account gets a fresh key, which the running venue must accept.
        tania = sup.wait_state("tania", "running", timeout=20)
        assert tania["restarts"] == 0 and tania["pid"] not in (master, daivon)
        assert sup.pid_of("master") == master and sup.actor("master")["state"] == "running"
        assert sup.tracker is not None and daivon not in [p.pid for p in sup.tracker.survivors()]
        assert sup.log_lines("info", contains="kraken:daivon removed from the configuration")
        assert sup.log_lines("info", contains="kraken:tania added to the configuration")
        scrape = sup.scrape()
        assert not metric_samples(scrape, "nija_actor_up", account="daivon")
        assert metric_value(scrape, "nija_actor_up", account="tania") == 1.0


def _accounts_config(**tiers: str) -> str:
    return "".join(f'[[account]]\nname = "{name}"\ntier = "{tier}"\n\n'
                   for name, tier in tiers.items())


@pytest.mark.timeout(60)
def test_sighup_restarts_only_the_account_whose_settings_changed():
    config = _accounts_config(master="starter", daivon="starter")
    with RunningSupervisor(["master", "daivon"], config=config) as sup:
        master, daivon = sup.pid_of("master"), sup.pid_of("daivon")
        assert sup.config_path is not None
        sup.config_path.write_text(_accounts_config(master="intermediate", daivon="starter"))

        sup.send_signal(signal.SIGHUP)

        sup.wait_state("master", "running", timeout=20, not_pid=master)
        assert sup.pid_of("daivon") == daivon
        assert sup.log_lines("info", contains="kraken:master changed; restarting it")
        assert not sup.log_lines(contains="kraken:daivon changed")


@pytest.mark.timeout(60)
def test_broken_config_on_sighup_keeps_the_fleet_and_logs_an_error():
    config = _paper_config("master", "daivon")
    with RunningSupervisor(["master", "daivon"], config=config) as sup:
        before = sup.pids()
        assert sup.config_path is not None
        sup.config_path.write_text('[paper\naccounts = ["tania"]\n')

        sup.send_signal(signal.SIGHUP)

        errors = sup.wait_for(lambda: sup.log_lines("error", contains="config reload failed"),
                              10, "the reload error in the logs")
        assert "nija.toml" in errors[0]["msg"]
        time.sleep(1.0)
        assert sup.pids() == before
        assert {a["state"] for a in sup.status()} == {"running"}


def _run_supervisor(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    root = short_tempdir()
    cmd = [sys.executable, str(ROOT / "run_supervisor.py"), "--state-dir", str(root / "s"),
           "--runtime-dir", str(root / "r"), "--metrics-addr", "127.0.0.1:0", *extra]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=root,
                              env=clean_env(env), check=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)


KEY = base64.b64encode(b"k" * 42).decode()
SECRET = base64.b64encode(b"s" * 64).decode()
CONFIG_ERRORS = {
    "key_without_secret": ({"KRAKEN_MASTER_API_KEY": KEY}, "KRAKEN_MASTER_API_SECRET"),
    "secret_without_key": ({"KRAKEN_USER_DAIVON_API_SECRET": SECRET},
                           "KRAKEN_USER_DAIVON_API_KEY"),
    "secret_not_base64": ({"KRAKEN_MASTER_API_KEY": KEY,
                           "KRAKEN_MASTER_API_SECRET": "not base64 " + KEY},
                          "KRAKEN_MASTER_API_SECRET"),
    "bad_account_variable": ({"KRAKEN_USER_bad_API_KEY": KEY,
                              "KRAKEN_USER_bad_API_SECRET": SECRET}, "KRAKEN_USER_bad_API_KEY"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(CONFIG_ERRORS))
def test_credential_error_exits_2_naming_the_variable_without_leaking(case):
    env, variable = CONFIG_ERRORS[case]

    done = _run_supervisor(env)

    assert done.returncode == 2, done.stderr
    assert variable in done.stderr
    assert "Traceback" not in done.stderr
    for value in env.values():
        assert value not in done.stderr and value not in done.stdout


@pytest.mark.timeout(60)
def test_config_file_error_exits_2_naming_the_key():
    root = short_tempdir()
    try:
        config = root / "nija.toml"
        config.write_text('[[account]]\nname = "master"\ntier = "whale"\n')
        done = _run_supervisor({}, "--config", str(config))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    assert done.returncode == 2, done.stderr
    assert "account[0].tier" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(60)
def test_sigterm_kills_an_actor_that_ignores_shutdown_at_the_deadline():
    deadline = 3.0
    config = f"[supervisor]\nshutdown_deadline_s = {deadline}\n"
    with RunningSupervisor(config=config) as sup:
        stuck = psutil.Process(sup.pid_of("tania"))
        stuck.send_signal(signal.SIGSTOP)  # cannot answer Shutdown

        started = time.monotonic()
        sup.send_signal(signal.SIGTERM)
        code = sup.wait_exit(timeout=deadline + 10)
        _assert_all_gone(sup, within=3)
        elapsed = time.monotonic() - started

        assert code == 0
        assert deadline - 0.5 <= elapsed < deadline + 2, f"stopped after {elapsed:.1f}s"
        assert sup.log_lines("warning", contains="kraken:tania did not stop within the deadline")
        assert sup.log_lines("info", contains="kraken:master stopped (exited with code 0)")


@pytest.mark.timeout(60)
def test_killed_paper_venue_comes_back_on_the_same_port_and_actors_keep_running():
    with RunningSupervisor() as sup:
        pids = sup.pids()
        venue = _simulators(sup)[0]
        port = _port(venue)
        assert port is not None

        venue.kill()
        ports = sup.wait_for(lambda: [_port(p) for p in _simulators(sup) if p.pid != venue.pid
                                      and _port(p)], 15, "a new paper venue to listen")

        assert ports == [port]
        assert sup.log_lines("error", contains="paper venue exited")
        done = sup.ctl("query", "master", "balance")
        assert done.returncode == 0, done.stderr
        assert sup.pids() == pids


def _simulators(sup: RunningSupervisor) -> list[psutil.Process]:
    assert sup.tracker is not None
    return [p for p in sup.tracker.alive() if "-m simulator" in cmdline_of(p)]


def _port(venue: psutil.Process) -> int | None:
    try:
        sockets = getattr(venue, "net_connections", None) or venue.connections  # psutil < 6
        listening = [c for c in sockets() if c.status == psutil.CONN_LISTEN]
    except psutil.Error:
        return None
    return listening[0].laddr.port if listening else None


@pytest.mark.timeout(60)
def test_actors_of_a_hung_supervisor_stop_themselves_and_return_when_it_resumes():
    with RunningSupervisor() as sup:
        pids = sup.pids()
        actors = [psutil.Process(pid) for pid in pids.values() if pid]

        sup.send_signal(signal.SIGSTOP)
        try:
            # No Ping for interval x misses x 3 = 9 s: an orphan must not keep trading.
            wait_until(lambda: all(is_gone(p) for p in actors), 15, "the actors to exit")
        finally:
            sup.send_signal(signal.SIGCONT)

        for name, old in pids.items():
            back = sup.wait_state(name, "running", timeout=20, not_pid=old)
            assert back["restarts"] == 1


@pytest.mark.timeout(60)
def test_missing_config_file_exits_2_naming_it():
    done = _run_supervisor({}, "--config", "/nonexistent/nija.toml")

    assert done.returncode == 2, done.stderr
    assert "/nonexistent/nija.toml" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(60)
def test_runtime_dir_too_long_for_the_actor_socket_is_a_config_error():
    root = short_tempdir()
    try:
        long_runtime = root / ("r" * (110 - len(str(root))))
        done = _run_supervisor({}, "--runtime-dir", str(long_runtime), "--control",
                               f"ipc://{root}/c.sock")
    finally:
        shutil.rmtree(root, ignore_errors=True)

    assert done.returncode == 2, done.stderr[-500:]
    assert "runtime_dir" in done.stderr
    assert "Traceback" not in done.stderr
