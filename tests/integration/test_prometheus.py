"""The monitoring shipped in deploy/prometheus against the real tools: promtool checks the
config and the rules and runs the rules' unit tests; `promtool check metrics` finds nothing
to say about a live scrape; and a real Prometheus scraping a running paper-mode nija loads
every rule, evaluates every expression, sees the key series for each paper account, stays
quiet while the fleet is healthy, sees a killed actor's restart, and fires the daily loss
alert when a paper account really loses."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.prometheus_harness import RunningPrometheus, host_port
from tests.supervisor_harness import (
    PAPER_ACCOUNTS,
    ROOT,
    RunningSupervisor,
    kill,
    metric_value,
    wait_until,
)
from tests.tools import require_tool
from tests.venue_client import Admin, Client

pytestmark = pytest.mark.slow
DEPLOY = ROOT / "deploy" / "prometheus"
RULES = DEPLOY / "nija.rules.yml"
# One account holding about 4500 USD of XBT with a 50 USD daily loss limit: fees and spread
# stay well below it, a 5 % drop in the price is far above it.
SMALL_LOSS_LIMIT = """
[paper]
balances = { ZUSD = "10000", XXBT = "0.05" }

[market]
pairs = ["XBTUSD"]

[[account]]
name = "master"
strategy = "trend"

[account.risk]
max_daily_loss_usd = "50"
"""
# Series the issue requires, each with data for every paper account once the fleet traded.
PER_ACCOUNT = (
    "nija_actor_up", "nija_actor_state", "nija_actor_restarts_total",
    "nija_actor_heartbeat_age_seconds", "nija_exchange_requests_total",
    "nija_exchange_request_duration_seconds_bucket", "nija_nonce_errors_total",
    "nija_rate_limit_wait_seconds_total", "nija_rate_limit_errors_total", "nija_orders_total",
    "nija_open_orders", "nija_account_equity_usd", 'nija_account_pnl_usd{kind="realised"}',
    'nija_account_pnl_usd{kind="unrealised"}', "nija_account_paused",
    "nija_account_daily_loss_limit_reached", "nija_actor_resident_memory_bytes",
    "nija_actor_cpu_seconds_total",
)


# A healthy paper venue refuses nothing, so the error-rate recording has no series.
EMPTY_RECORDINGS_WHEN_HEALTHY = {"account_outcome:nija_exchange_errors:rate5m"}


def _promtool(*args: str, stdin: str | None = None, cwd: Path = DEPLOY,
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_tool("promtool"), *args], input=stdin, capture_output=True,
                          text=True, timeout=60, cwd=cwd, check=False)


def _alert_names(text: str) -> set[str]:
    return set(re.findall(r"^\s*- alert: (\w+)\s*$", text, flags=re.MULTILINE))


# -- promtool on the shipped files ----------------------------------------------------

@pytest.mark.parametrize("args", [
    ("check", "config", "prometheus.yml"),
    ("check", "rules", "nija.rules.yml"),
    ("test", "rules", "nija.rules.test.yml"),
], ids=" ".join)
def test_promtool_accepts_the_shipped_prometheus_files(args):
    done = _promtool(*args)
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


def test_rule_unit_tests_cover_every_alert_and_catch_a_changed_threshold(tmp_path):
    rules = RULES.read_text()
    tests = (DEPLOY / "nija.rules.test.yml").read_text()
    tested = set(re.findall(r"alertname: (\w+)", tests))
    assert _alert_names(rules) and _alert_names(rules) == tested
    # The same tests against a crash-loop rule that needs one more restart must fail.
    weaker = rules.replace("increase(nija_actor_restarts_total[15m]) >= 3",
                           "increase(nija_actor_restarts_total[15m]) >= 4")
    assert weaker != rules
    (tmp_path / "nija.rules.yml").write_text(weaker)
    shutil.copy(DEPLOY / "nija.rules.test.yml", tmp_path)
    done = _promtool("test", "rules", "nija.rules.test.yml", cwd=tmp_path)
    assert done.returncode != 0 and "NijaActorCrashLooping" in done.stdout + done.stderr


# -- a running paper fleet, scraped ---------------------------------------------------

def _traded(sup: RunningSupervisor) -> str | None:
    """A scrape once every paper account reported equity and at least one order."""
    text = sup.scrape()
    done = all(metric_value(text, name, account=a) is not None for a in PAPER_ACCOUNTS
               for name in ("nija_account_equity_usd", "nija_orders_total"))
    return text if done else None


@pytest.fixture(scope="module")
def fleet() -> Iterator[RunningSupervisor]:
    with RunningSupervisor() as sup:
        sup.wait_for(lambda: _traded(sup), 45, "every paper account to report an order")
        yield sup


@pytest.fixture(scope="module")
def prom(fleet: RunningSupervisor) -> Iterator[RunningPrometheus]:
    with RunningPrometheus([host_port(fleet.metrics_url)], [RULES]) as server:
        server.wait_scraped()
        yield server


@pytest.mark.timeout(90)
def test_promtool_check_metrics_has_nothing_to_say_about_a_live_scrape(fleet):
    text = fleet.wait_for(lambda: _traded(fleet), 30, "a scrape with trading series")
    assert "nija_exchange_request_duration_seconds_bucket" in text
    done = _promtool("check", "metrics", stdin=text)
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), (
        f"promtool check metrics:\n{done.stdout}{done.stderr}")


@pytest.mark.timeout(90)
def test_every_exported_family_is_in_the_operations_guide(fleet):
    text = fleet.wait_for(lambda: _traded(fleet), 30, "a scrape with trading series")
    families = set(re.findall(r"^# TYPE (nija_\w+) ", text, flags=re.MULTILINE))
    guide = (ROOT / "docs" / "operations.md").read_text()
    monitoring = guide[guide.index("## Monitoring"):]
    assert len(families) > 20
    assert not {f for f in families if f"`{f}`" not in monitoring}


@pytest.mark.timeout(90)
def test_prometheus_loads_every_rule_and_every_expression_evaluates(prom):
    loaded = prom.rules()
    assert {r["name"] for r in loaded if r["type"] == "alerting"} == _alert_names(
        RULES.read_text())
    for rule in loaded:
        prom.query(rule["query"])  # raises PromQLError if Prometheus cannot evaluate it
    # Recording rules have data once two scrapes are in their window.
    recorded = [r for r in loaded if r["type"] == "recording"]
    assert recorded
    for rule in recorded:
        if rule["name"] in EMPTY_RECORDINGS_WHEN_HEALTHY:
            continue
        prom.wait_query(rule["query"], f"recording rule {rule['name']} to have data")


@pytest.mark.timeout(90)
def test_every_alert_is_quiet_while_the_paper_fleet_is_healthy(fleet, prom):
    fleet.wait_ready()
    alerts = [r for r in prom.rules() if r["type"] == "alerting"]

    def noisy() -> dict[str, object]:
        found: dict[str, object] = {r["name"]: prom.query(r["query"]) for r in alerts}
        found["pending or firing"] = prom.api("alerts")["alerts"]
        return {name: result for name, result in found.items() if result}

    wait_until(lambda: all(r["health"] == "ok" for r in prom.rules()), 20,
               "every rule to be evaluated without error", details=lambda: str(prom.rules()))
    wait_until(lambda: not noisy(), 30, "every alert to be quiet", interval=1.0,
               details=lambda: f"not quiet: {noisy()}")


@pytest.mark.timeout(90)
def test_key_series_have_data_for_every_paper_account(prom):
    for series in PER_ACCOUNT:
        prom.wait_query(f"count by (account) ({series})", f"{series} for every paper account",
                        lambda r: set(PAPER_ACCOUNTS) <= {s["metric"]["account"] for s in r})
    info = prom.query('nija_build_info{job="nija"}')
    assert [s["metric"]["mode"] for s in info] == ["paper"]
    assert prom.values('up{job="nija"}', by="job") == {"nija": 1.0}
    equity = prom.values("nija_account_equity_usd")
    assert all(equity[a] > 0 for a in PAPER_ACCOUNTS), equity


@pytest.mark.timeout(90)
def test_a_killed_actor_shows_up_in_prometheus_as_a_restart(fleet, prom):
    restarts = 'nija_actor_restarts_total{job="nija"}'
    before = prom.wait_query(restarts, "restart counters", lambda r: len(r) >= 3)
    counts = {s["metric"]["account"]: float(s["value"][1]) for s in before}
    victim = fleet.pid_of("master")

    kill(victim)
    fleet.wait_state("master", ("starting", "running"), timeout=20, not_pid=victim)
    prom.wait_query(f'nija_actor_restarts_total{{job="nija",account="master"}} > '
                    f'{counts["master"]}', "Prometheus to see master's restart")
    after = prom.values(restarts)
    assert after["master"] == counts["master"] + 1
    assert {a: after[a] for a in ("daivon", "tania")} == {
        a: counts[a] for a in ("daivon", "tania")}
    increase = prom.values('increase(nija_actor_restarts_total{account="master"}[1m])')
    assert increase["master"] > 0


def _loss_alerts(server: RunningPrometheus) -> list[dict[str, Any]]:
    return [a for a in server.api("alerts")["alerts"]
            if a["labels"]["alertname"] == "NijaDailyLossLimitHit"]


@pytest.mark.timeout(90)
def test_a_real_loss_fires_the_daily_loss_alert_in_prometheus():
    with RunningSupervisor(["master"], config=SMALL_LOSS_LIMIT) as sup, RunningPrometheus(
            [host_port(sup.metrics_url)], [RULES]) as server:
        server.wait_scraped()
        server.wait_query("nija_account_daily_loss_limit_reached == 0", "the gauge at 0")
        assert not _loss_alerts(server)
        venue = sup.venue_url()
        last = Decimal(Client(venue).public("Ticker", pair="XBTUSD")["XXBTZUSD"]["c"][0])
        Admin(venue).set_price("XBTUSD", str((last * Decimal("0.95")).quantize(Decimal("0.1"))))

        alert = wait_until(lambda: _loss_alerts(server), 45, "NijaDailyLossLimitHit to fire",
                           details=lambda: str(server.api("alerts")))[0]
        assert alert["state"] == "firing"  # no `for:`: it fires at the first evaluation
        assert alert["labels"]["account"] == "master"
        assert "master" in alert["annotations"]["summary"]
