"""Secrets stay where they belong: no API key or secret in any process's argv or
environment, in any log line, nijactl output or the metrics scrape; and each actor's memory
holds only its own account's secret. Paper mode takes its canaries from STATE/paper/keys.toml;
live mode runs against a private simulator through `NIJA_KRAKEN_URL`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import pytest

from simulator import SimulatorProcess, new_key, write_keys_file
from tests.supervisor_harness import (
    PAPER_ACCOUNTS,
    RunningSupervisor,
    cmdline_of,
    memory_contains,
    proc_text,
    short_tempdir,
)

pytestmark = pytest.mark.slow
BALANCES = {"ZUSD": "10000", "XXBT": "0.5"}


def _canaries(keys: dict[str, tuple[str, str]]) -> dict[str, list[str]]:
    return {name: [key, secret] for name, (key, secret) in keys.items()}


def _leaks(text: str | bytes, canaries: dict[str, list[str]]) -> list[str]:
    """'account:key' / 'account:secret' for each canary found in `text`."""
    data = text.encode() if isinstance(text, str) else text
    return [f"{name}:{('key', 'secret')[i]}" for name, values in canaries.items()
            for i, value in enumerate(values) if value.encode() in data]


def _in_memory(pid: int, needles: list[bytes]) -> set[bytes]:
    try:
        return memory_contains(pid, needles)
    except PermissionError:
        pytest.skip("no ptrace access to /proc/PID/mem here")


def _outputs(sup: RunningSupervisor, accounts: tuple[str, ...]) -> dict[str, str]:
    """Everything an operator sees: nijactl output, the scrape, the logs."""
    shown = {"status": sup.ctl("status"), "status --json": sup.ctl("status", "--json")}
    for name in accounts:
        shown[f"query {name} balance"] = sup.ctl("query", name, "balance")
        shown[f"query {name} status"] = sup.ctl("query", name, "status")
    texts = {label: done.stdout + done.stderr for label, done in shown.items()}
    for label, done in shown.items():
        assert done.returncode == 0, (label, done.stderr)
    texts["metrics"] = sup.scrape()
    texts["logs"] = sup.stderr()
    return texts


# -- paper mode ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def paper() -> Iterator[RunningSupervisor]:
    with RunningSupervisor() as sup:
        yield sup


@pytest.mark.timeout(60)
def test_no_process_carries_a_paper_secret_in_argv_or_environment(paper):
    canaries = _canaries(paper.keys())
    assert sorted(canaries) == sorted(PAPER_ACCOUNTS)
    assert paper.tracker is not None
    processes = {paper.pid: "supervisor"} | {
        p.pid: cmdline_of(p)[:60] for p in paper.tracker.alive()}
    assert len(processes) >= 7  # supervisor, simulator, forkserver, tracker, 3 actors

    for pid, what in processes.items():
        for part in ("cmdline", "environ"):
            assert not _leaks(proc_text(pid, part), canaries), f"{what} ({pid}) {part}"


@pytest.mark.timeout(60)
def test_each_paper_actor_holds_only_its_own_secret_in_memory(paper):
    keys = paper.keys()
    for name in PAPER_ACCOUNTS:
        needles = {k.encode(): f"{owner}:{kind}" for owner, pair in keys.items()
                   for kind, k in zip(("key", "secret"), pair, strict=True)}
        found = {needles[n] for n in _in_memory(paper.pid_of(name), list(needles))}
        assert f"{name}:secret" in found, "the memory scan cannot even see the actor's own secret"
        assert {f.split(":")[0] for f in found} == {name}, f"{name}'s actor holds {found}"


@pytest.mark.timeout(60)
def test_fork_server_memory_holds_no_secret(paper):
    assert paper.tracker is not None
    servers = [p for p in paper.tracker.alive()
               if "forkserver" in cmdline_of(p) and p.ppid() == paper.pid]
    assert len(servers) == 1
    needles = [v.encode() for pair in paper.keys().values() for v in pair]
    assert not _in_memory(servers[0].pid, needles)


@pytest.mark.timeout(60)
def test_no_paper_secret_in_logs_nijactl_output_or_metrics(paper):
    canaries = _canaries(paper.keys())
    for label, text in _outputs(paper, PAPER_ACCOUNTS).items():
        assert not _leaks(text, canaries), f"{label} shows {_leaks(text, canaries)}"
    unparsed = [e["unparsed"] for e in paper.logs() if "unparsed" in e]
    assert not unparsed, f"stderr lines that are not JSON: {unparsed[:3]}"


# -- live mode against a private venue ------------------------------------------------

class LiveFleet:
    def __init__(self, sup: RunningSupervisor, canaries: dict[str, list[str]]) -> None:
        self.sup = sup
        self.canaries = canaries


@pytest.fixture(scope="module")
def live() -> Iterator[LiveFleet]:
    """master and daivon with keys the venue knows; tania with a key it has never seen."""
    root = short_tempdir()
    known = [new_key(name, balances=BALANCES) for name in ("master", "daivon")]
    unknown = new_key("tania", balances=BALANCES)
    write_keys_file(root / "keys.toml", known)
    env = {"NIJA_KRAKEN_URL": ""}
    for spec in [*known, unknown]:
        prefix = "KRAKEN_MASTER" if spec.name == "master" else f"KRAKEN_USER_{spec.name.upper()}"
        env[f"{prefix}_API_KEY"], env[f"{prefix}_API_SECRET"] = spec.key, spec.secret
    with SimulatorProcess(root / "keys.toml", log_file=root / "venue.log") as venue:
        env["NIJA_KRAKEN_URL"] = venue.url
        with RunningSupervisor(("master", "daivon"), env=env) as sup:
            yield LiveFleet(sup, {s.name: [s.key, s.secret] for s in [*known, unknown]})
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.timeout(60)
def test_live_mode_is_reported_and_uses_the_configured_venue(live):
    status = live.sup.ctl("status")
    assert status.returncode == 0 and "mode: live" in status.stdout
    assert live.sup.log_lines("info", contains="LIVE (real Kraken API)")


@pytest.mark.timeout(60)
def test_live_unknown_key_is_credentials_invalid_and_never_restarted(live):
    sup = live.sup
    tania = sup.wait_state("tania", "credentials_invalid", timeout=15)
    assert tania["pid"] is None and tania["restarts"] == 0
    assert "Invalid key" in tania["detail"]
    errors = sup.log_lines("error", contains="kraken:tania")
    assert errors and all(e.get("account", "tania") == "tania" for e in errors)

    done = sup.ctl("restart", "tania")
    assert done.returncode == 0, done.stderr
    again = sup.wait_state("tania", "credentials_invalid", timeout=15)
    assert again["pid"] is None
    states = {a["account"]: a["state"] for a in sup.status()}
    assert states == {"master": "running", "daivon": "running", "tania": "credentials_invalid"}


@pytest.mark.timeout(60)
def test_no_live_secret_in_logs_nijactl_output_or_metrics(live):
    for label, text in _outputs(live.sup, ("master", "daivon")).items():
        assert not _leaks(text, live.canaries), f"{label} shows {_leaks(text, live.canaries)}"
    described = "\n".join(e.get("msg", "") for e in live.sup.log_lines("info", "configuration"))
    assert "KRAKEN_USER_DAIVON_API_SECRET present" in described


@pytest.mark.timeout(60)
def test_live_descendants_carry_no_credentials_in_argv_or_environment(live):
    sup = live.sup
    assert sup.tracker is not None
    descendants = {p.pid: cmdline_of(p)[:60] for p in sup.tracker.alive()}
    assert len(descendants) >= 4  # forkserver, resource tracker, master, daivon

    for pid, what in descendants.items():
        for part in ("cmdline", "environ"):
            leaked = _leaks(proc_text(pid, part), live.canaries)
            assert not leaked, f"{what} ({pid}) {part} holds {leaked}"


@pytest.mark.timeout(60)
def test_live_actor_memory_holds_only_its_own_secret(live):
    for name, other in (("master", "daivon"), ("daivon", "master")):
        needles = {live.canaries[name][1].encode(): "own", live.canaries[other][1].encode():
                   "other", live.canaries["tania"][1].encode(): "tania"}
        found = {needles[n] for n in _in_memory(live.sup.pid_of(name), list(needles))}
        assert found == {"own"}, f"{name}'s actor memory holds secrets: {found}"


def test_leak_helper_names_what_it_finds():
    canaries = {"a": ["KEY-A", "SECRET-A"]}
    assert _leaks(json.dumps({"x": "...SECRET-A..."}), canaries) == ["a:secret"]
    assert _leaks(b"nothing", canaries) == []
