"""The Prometheus scrape of a real supervisor: per-actor families with account and broker
labels, a restart counter that follows kill -9, and actor-reported counters that never go
down when the actor that reported them is replaced."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.supervisor_harness import (
    PAPER_ACCOUNTS,
    RunningSupervisor,
    kill,
    metric_samples,
    metric_value,
)

pytestmark = pytest.mark.slow
PER_ACTOR = ("nija_actor_up", "nija_actor_state", "nija_actor_restarts_total",
             "nija_actor_heartbeat_age_seconds", "nija_actor_resident_memory_bytes")


@pytest.fixture(scope="module")
def fleet() -> Iterator[RunningSupervisor]:
    with RunningSupervisor() as sup:
        yield sup


def _scrape_when(fleet: RunningSupervisor, ok, what: str, timeout: float = 15.0) -> str:
    def attempt() -> str | None:
        text = fleet.scrape()
        return text if ok(text) else None

    return fleet.wait_for(attempt, timeout, what, interval=0.25)


@pytest.mark.timeout(60)
def test_every_actor_has_each_family_with_account_and_broker_labels(fleet):
    # Memory is sampled every few seconds; wait for the first sample of every actor.
    text = _scrape_when(fleet, lambda t: all(
        metric_value(t, "nija_actor_resident_memory_bytes", account=a) for a in PAPER_ACCOUNTS),
        "a memory sample for every actor")

    for account in PAPER_ACCOUNTS:
        for family in PER_ACTOR:
            assert metric_samples(text, family, account=account, broker="kraken"), (
                f"{family} has no sample for account={account} broker=kraken")
        labels = {"account": account, "broker": "kraken"}
        assert metric_value(text, "nija_actor_up", **labels) == 1.0
        assert metric_value(text, "nija_actor_state", state="running", **labels) == 1.0
        assert sum(metric_samples(text, "nija_actor_state", **labels)) == 1.0
        assert 0 <= (metric_value(text, "nija_actor_heartbeat_age_seconds", **labels) or -1) < 3
        assert (metric_value(text, "nija_actor_resident_memory_bytes", **labels) or 0) > 1e6
    assert metric_value(text, "nija_build_info", mode="paper") == 1.0


@pytest.mark.timeout(60)
def test_restart_counter_follows_a_kill_of_that_actor_only(fleet):
    before = fleet.scrape()
    counts = {a: metric_value(before, "nija_actor_restarts_total", account=a)
              for a in PAPER_ACCOUNTS}
    victim = fleet.pid_of("tania")

    kill(victim)
    fleet.wait_state("tania", ("starting", "running"), timeout=15, not_pid=victim)

    after = _scrape_when(fleet, lambda t: metric_value(
        t, "nija_actor_restarts_total", account="tania") == (counts["tania"] or 0) + 1,
        "nija_actor_restarts_total{account=tania} to increment")
    for other in ("master", "daivon"):
        assert metric_value(after, "nija_actor_restarts_total", account=other) == counts[other]


def _requests(text: str, account: str) -> float:
    return sum(metric_samples(text, "nija_exchange_requests_total", account=account))


@pytest.mark.timeout(90)
def test_reported_exchange_requests_survive_an_actor_restart(fleet):
    for _ in range(2):
        done = fleet.ctl("query", "daivon", "balance")
        assert done.returncode == 0, done.stderr
    text = _scrape_when(fleet, lambda t: _requests(t, "daivon") >= 3,
                        "daivon's exchange requests to be reported")
    reported = _requests(text, "daivon")
    victim = fleet.pid_of("daivon")

    kill(victim)
    seen = []
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        seen.append(_requests(fleet.scrape(), "daivon"))
        assert seen[-1] >= reported, f"counter went down across the restart: {seen}"
        if seen[-1] > reported:
            break
        time.sleep(0.5)
    assert seen[-1] > reported, (
        f"the new incarnation's requests never showed up: {seen}\n{fleet.describe()}")
    assert fleet.pid_of("daivon") != victim
