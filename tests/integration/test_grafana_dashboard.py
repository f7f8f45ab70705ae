"""The Grafana dashboard in deploy/grafana: it is JSON Grafana can import (a Prometheus
data source input, the `datasource` and `account` variables, every panel with a unique id,
a place on the grid, the `${datasource}` data source and PromQL targets), and every one of
its expressions, with Grafana's variables substituted as Grafana would, parses and returns
data in a real Prometheus scraping a running paper-mode nija, with the labels its legends
name. Only the expressions listed in EMPTY_WHEN_HEALTHY may come back empty."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest

from tests.prometheus_harness import RunningPrometheus, host_port
from tests.supervisor_harness import (
    PAPER_ACCOUNTS,
    ROOT,
    RunningSupervisor,
    metric_value,
    wait_until,
)

DASHBOARD = ROOT / "deploy" / "grafana" / "nija-dashboard.json"
RULES = ROOT / "deploy" / "prometheus" / "nija.rules.yml"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_COLUMNS = 24
# What Grafana puts in place of each variable it finds in an expression: the account
# variable's "All" (its allValue), and a rate interval of a few scrapes at test speed.
SUBSTITUTIONS = {"$__rate_interval": "1m", "$account": ".*"}
# Panels that show nothing while the fleet is healthy, by title, with the reason.
EMPTY_WHEN_HEALTHY = {
    "Firing alerts": "no nija alert fires while the paper fleet is healthy",
    "Errors by type": "a healthy paper venue refuses nothing (the permission probe's "
                      "deliberate refusals are counted as expected_refusal)",
}
# Panels whose expressions are not per account, so they ignore the account variable.
FLEET_WIDE = {"Supervisor", "Firing alerts", "Public calls", "Last candle age",
              "Market publications"}
# What the issue asks the dashboard to show, by the metric behind it.
REQUIRED_METRICS = (
    "nija_actor_state", "nija_actor_up", "nija_actor_restarts_total",
    "nija_actor_heartbeat_age_seconds", "nija_account_paused", "nija_account_equity_usd",
    "nija_account_pnl_usd", "nija_account_exposure_usd", "nija_open_orders",
    "nija_orders_total", "nija_strategy_signals_total", "nija_signal_to_order_seconds_bucket",
    "nija_account_daily_loss_limit_reached", "nija_exchange_requests_total",
    "nija_exchange_request_duration_seconds_bucket", "nija_rate_limit_wait_seconds_total",
    "nija_rate_limit_errors_total", "nija_nonce_errors_total",
    "nija_market_last_candle_age_seconds", "nija_actor_resident_memory_bytes",
    "nija_actor_cpu_seconds_total",
)
ROWS = ("Fleet overview", "Per-account trading", "Exchange health", "Market data",
        "Process resources")
# A trend fast enough to cross within seconds of paper time, so the strategy-signal panel
# has data; the followers copy the leader's fills as in the default paper fleet.
FAST_SIGNALS = """
[[account]]
name = "master"
strategy = "trend"

[account.strategy_params]
fast = 2
slow = 4
atr_period = 3

[[account]]
name = "daivon"
mode = "follow"
leader = "master"

[[account]]
name = "tania"
mode = "follow"
leader = "master"
"""


@cache
def dashboard() -> dict[str, Any]:
    loaded = json.loads(DASHBOARD.read_text())
    assert isinstance(loaded, dict)
    return loaded


def all_panels() -> list[dict[str, Any]]:
    """Every panel, including those folded inside collapsed rows."""
    found = []
    for panel in dashboard()["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def query_panels() -> list[dict[str, Any]]:
    return [p for p in all_panels() if p["type"] != "row"]


def targets() -> list[tuple[str, dict[str, Any]]]:
    """(panel title, target) for every query of every panel."""
    return [(p["title"], t) for p in query_panels() for t in p["targets"]]


def promql(expr: str) -> str:
    """`expr` as Grafana would send it to Prometheus."""
    for variable, value in SUBSTITUTIONS.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a Grafana variable the test does not substitute: {expr}"
    return expr


def variable(name: str) -> dict[str, Any]:
    found = [v for v in dashboard()["templating"]["list"] if v["name"] == name]
    assert len(found) == 1, f"variable {name}: {found}"
    return dict(found[0])


# -- the JSON itself ----------------------------------------------------------------------

def test_dashboard_imports_with_a_prometheus_data_source_input() -> None:
    dash = dashboard()
    assert 36 <= dash["schemaVersion"] <= 41
    assert dash["id"] is None and dash["uid"] and dash["title"]
    assert dash["__inputs"] == [{
        "name": "DS_PROMETHEUS", "label": "Prometheus", "description": dash["__inputs"][0][
            "description"], "type": "datasource", "pluginId": "prometheus",
        "pluginName": "Prometheus"}]
    # The importer replaces ${DS_PROMETHEUS} wherever it occurs: the data source chosen at
    # import becomes the datasource variable's default.
    assert variable("datasource")["current"]["value"] == "${DS_PROMETHEUS}"
    required = {(r["type"], r["id"]) for r in dash["__requires"]}
    assert {("datasource", "prometheus")} | {("panel", p["type"]) for p in query_panels()} \
        <= required


def test_variables_pick_the_prometheus_and_any_set_of_accounts() -> None:
    source = variable("datasource")
    assert (source["type"], source["query"], source["multi"]) == ("datasource", "prometheus",
                                                                  False)
    account = variable("account")
    assert account["type"] == "query" and account["datasource"] == DATASOURCE
    assert account["definition"] == "label_values(nija_actor_up, account)"
    assert account["query"]["query"] == account["definition"]
    assert account["multi"] is True and account["includeAll"] is True
    assert account["allValue"] == SUBSTITUTIONS["$account"]


def test_every_panel_has_a_unique_id_a_free_place_and_prometheus_targets() -> None:
    panels = all_panels()
    ids = [p["id"] for p in panels]
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids), ids
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["w"] > 0 and pos["h"] > 0 and pos["x"] >= 0 and pos["y"] >= 0, panel["title"]
        assert pos["x"] + pos["w"] <= GRID_COLUMNS, panel["title"]
        cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                 for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
    for panel in query_panels():
        assert panel["datasource"] == DATASOURCE, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(set(refs)) == len(refs), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert isinstance(target["expr"], str) and target["expr"].strip(), panel["title"]
            # A stat shows the present: over a range it would also show past states.
            assert target["instant"] is (panel["type"] == "stat"), panel["title"]
    titles = [p["title"] for p in query_panels()]
    assert len(set(titles)) == len(titles), titles


def test_the_rows_and_metrics_the_issue_asks_for_are_all_shown() -> None:
    assert tuple(p["title"] for p in all_panels() if p["type"] == "row") == ROWS
    exprs = " ".join(t["expr"] for _, t in targets())
    missing = [m for m in REQUIRED_METRICS if not re.search(rf"\b{m}\b", exprs)]
    assert not missing, f"no panel shows {missing}"
    assert set(EMPTY_WHEN_HEALTHY) | FLEET_WIDE <= {p["title"] for p in query_panels()}


def test_the_firing_alerts_panel_matches_every_shipped_alert() -> None:
    (target,) = [t for title, t in targets() if title == "Firing alerts"]
    pattern = re.search(r'alertname=~"([^"]+)"', target["expr"])
    assert pattern and 'alertstate="firing"' in target["expr"]
    alerts = re.findall(r"^\s*- alert: (\w+)\s*$", RULES.read_text(), flags=re.MULTILINE)
    assert alerts and all(re.fullmatch(pattern[1], name) for name in alerts), alerts


def test_every_per_account_expression_follows_the_account_variable() -> None:
    for title, target in targets():
        used = set(re.findall(r"\$\{?\w+", target["expr"]))
        assert used <= set(SUBSTITUTIONS), f"{title}: unknown variables {used}"
        follows = 'account=~"$account"' in target["expr"]
        assert follows != (title in FLEET_WIDE), f"{title}: {target['expr']}"


# -- against a real Prometheus scraping a paper fleet --------------------------------------

def _signalled(sup: RunningSupervisor) -> str | None:
    """A scrape once every paper account reported equity and the leader a signal."""
    text = sup.scrape()
    done = all(metric_value(text, "nija_account_equity_usd", account=a) is not None
               for a in PAPER_ACCOUNTS) and metric_value(
        text, "nija_strategy_signals_total", account="master") is not None
    return text if done else None


@pytest.fixture(scope="module")
def fleet() -> Iterator[RunningSupervisor]:
    with RunningSupervisor(config=FAST_SIGNALS) as sup:
        sup.wait_for(lambda: _signalled(sup), 40, "equity everywhere and a strategy signal")
        yield sup


@pytest.fixture(scope="module")
def prom(fleet: RunningSupervisor) -> Iterator[RunningPrometheus]:
    with RunningPrometheus([host_port(fleet.metrics_url)], [RULES]) as server:
        server.wait_scraped()
        yield server


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_every_metric_the_dashboard_names_is_in_a_live_scrape(fleet: RunningSupervisor) -> None:
    text = fleet.scrape()
    exported = set(re.findall(r"^(nija_\w+)", text, flags=re.MULTILINE))
    named = {m for _, t in targets() for m in re.findall(r"\bnija_\w+", t["expr"])}
    assert named and not named - exported, f"not exported: {sorted(named - exported)}"


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_the_account_variable_lists_every_actor(prom: RunningPrometheus) -> None:
    # What Grafana's label_values(nija_actor_up, account) asks Prometheus for.
    def accounts() -> list[str]:
        found = prom.api("label/account/values", **{"match[]": "nija_actor_up"})
        return list(found) if isinstance(found, list) else []

    listed = wait_until(accounts, 20, "account label values")
    assert set(listed) == {*PAPER_ACCOUNTS, "market"}


def _legend_labels(target: dict[str, Any]) -> set[str]:
    return set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_every_expression_parses_and_returns_data_in_real_prometheus(
        prom: RunningPrometheus) -> None:
    queries = [(title, t, promql(t["expr"])) for title, t in targets()]
    for _, _, expr in queries:
        prom.query(expr)  # raises PromQLError with Prometheus's message if it does not parse
    wanted = [(title, t, expr) for title, t, expr in queries if title not in EMPTY_WHEN_HEALTHY]

    def empty() -> list[str]:
        return [f"{title} {t['refId']}: {expr}" for title, t, expr in wanted
                if not prom.query(expr)]

    wait_until(lambda: not empty(), 30, "every dashboard expression to return data",
               interval=1.0, details=lambda: "\n".join(empty()))
    for title, target, expr in wanted:
        for series in prom.query(expr):
            missing = _legend_labels(target) - set(series["metric"])
            assert not missing, f"{title}: legend names {missing}, absent from {series}"
