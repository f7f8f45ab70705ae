"""Helpers of `bench/trading.py`: paper fleet configs, a supervisor that is always stopped,
the simulator's admin API, the actors' latency samples, and the plain-krakenex baseline.

Everything runs against real processes: `run_supervisor.py --paper` through
`tests.supervisor_harness.RunningSupervisor` (which stops every descendant on the way out)
and its own paper simulator over HTTP.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

import krakenex
import msgspec

from bench.supervisor import summary, toml_value
from protocol.messages import AccountQuery, QueryReply
from simulator import new_key
from supervisor.ctl import ControlClient

# The harness lives with the tests, which are not held to mypy's strict mode; importing it
# by name keeps mypy from checking it as part of `bench`. `Fleet` is what the bench uses.
_harness = importlib.import_module("tests.supervisor_harness")

FAST_TREND = {"fast": 3, "slow": 6, "atr_period": 5}
FAR_BID = "1000"  # a limit buy this far below the XBT/USD market rests and never fills
BASELINE_VOLUME = "0.01"
PUBLIC_METHODS = ("Time", "SystemStatus", "Assets", "AssetPairs", "Ticker", "OHLC", "Depth",
                  "Trades", "Spread")
ORDERS_PER_KEY = 100  # under the pro tier's trade counter (180) and open-order cap (225)


class Fleet(Protocol):
    """The part of `tests.supervisor_harness.RunningSupervisor` this benchmark uses."""

    control: str

    def venue_url(self) -> str: ...

    def ctl(self, *args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]: ...

    def status(self) -> list[dict[str, Any]]: ...

    def scrape(self) -> str: ...

    def logs(self) -> list[dict[str, Any]]: ...


def account_table(name: str, params: Mapping[str, object] | None = None,
                  **fields: object) -> str:
    """One `[[account]]` table (pro tier), with its `[account.strategy_params]`."""
    lines = ["[[account]]", f"name = {toml_value(name)}", 'tier = "pro"']
    lines += [f"{key} = {toml_value(value)}" for key, value in fields.items()]
    if params:
        lines.append("[account.strategy_params]")
        lines += [f"{key} = {toml_value(value)}" for key, value in params.items()]
    return "\n".join(lines) + "\n"


def fleet_config(accounts: Sequence[str], *, paper: Mapping[str, str] | None = None,
                 pairs: Sequence[str] | None = None) -> str:
    """`[paper]` (raw TOML values) and `[market]` tables; `accounts` are ready tables."""
    head = ["[paper]", *(f"{key} = {value}" for key, value in (paper or {}).items()), ""]
    if pairs is not None:
        head += ["[market]", f"pairs = {toml_value(list(pairs))}", ""]
    return "\n".join(head) + "\n" + "\n".join(accounts)


@contextlib.contextmanager
def fleet(names: Sequence[str], config: str, ready_timeout_s: float
          ) -> Iterator[Fleet]:
    """A paper supervisor with every account in `names` running; stopped (with every
    descendant) on the way out, also when starting it failed."""
    sup = _harness.RunningSupervisor(names, config=config, args=("--paper",))
    try:
        sup.start(timeout=ready_timeout_s)
        yield sup
    finally:
        sup.close()


def admin_get(url: str, path: str, **query: str) -> Any:
    suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
    with urllib.request.urlopen(f"{url}/admin/{path}{suffix}", timeout=10) as response:
        return json.loads(response.read())


def admin_post(url: str, path: str, body: object) -> Any:
    request = urllib.request.Request(f"{url}/admin/{path}", data=json.dumps(body).encode(),
                                     method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def metric(sup: Fleet, name: str, **labels: str) -> float | None:
    """The first sample of `name` with `labels` in the supervisor's /metrics."""
    value = _harness.metric_value(sup.scrape(), name, **labels)
    return None if value is None else float(value)


def public_calls_by_actor(sup: Fleet) -> dict[str, float]:
    """Public calls as the actors counted them (`nija_exchange_requests_total`, every
    outcome): the market data actor's and all account actors' together. `/metrics` lags
    the actors by up to two heartbeats."""
    scrape = sup.scrape()
    counts = {"market_actor": 0.0, "account_actors": 0.0}
    for method in PUBLIC_METHODS:
        every = _harness.metric_samples(scrape, "nija_exchange_requests_total", method=method)
        market = _harness.metric_samples(scrape, "nija_exchange_requests_total",
                                         method=method, account="market")
        counts["market_actor"] += sum(market)
        counts["account_actors"] += sum(every) - sum(market)
    return counts


_REQUESTS = re.compile(r'nija_exchange_requests_total\{(?=[^}]*account="([^"]+)")'
                       r'(?=[^}]*method="([^"]+)")[^}]*\} (\S+)')


def private_calls(sup: Fleet, account: str) -> dict[str, float]:
    """Private calls `account`'s actor has made so far, per method (every outcome)."""
    counts: dict[str, float] = {}
    for who, method, value in _REQUESTS.findall(sup.scrape()):
        if who == account and method not in PUBLIC_METHODS:
            counts[method] = counts.get(method, 0.0) + float(value)
    return counts


def latency_samples(sup: Fleet, accounts: Sequence[str]) -> dict[str, list[float]]:
    """Every account's `signal_latency` samples (seconds), pooled per source, asked over
    one control connection (a nijactl process per account would take longer than the
    whole follow phase)."""
    pooled: dict[str, list[float]] = {}
    client = ControlClient(sup.control, timeout_s=20.0)
    try:
        for account in accounts:
            reply = client.request(lambda rid, a=account: AccountQuery(
                request_id=rid, account=a, what="signal_latency"))
            if not isinstance(reply, QueryReply):
                raise RuntimeError(f"signal_latency of {account} failed: {reply}")
            for source, values in reply.result["samples"].items():
                pooled.setdefault(str(source), []).extend(float(v) for v in values)
    finally:
        client.close()
    return pooled


def ms_summary(seconds: Sequence[float]) -> dict[str, Any]:
    """n, p50, p99, mean, min, max in milliseconds."""
    return summary([s * 1000 for s in seconds], digits=2)


_last_nonce = [0]


def _nonce() -> int:
    """Strictly increasing microseconds across this process's baseline keys (krakenex's
    own millisecond nonce can repeat between two fast calls)."""
    _last_nonce[0] = max(time.time_ns() // 1000, _last_nonce[0] + 1)
    return _last_nonce[0]


def _fresh_client(url: str, name: str) -> Any:
    """Plain krakenex on a key provisioned on the running venue for this baseline."""
    key = new_key(name, tier="pro", balances={"ZUSD": "1000000"})
    admin_post(url, "keys", msgspec.to_builtins(key))
    api = krakenex.API(key.key, key.secret)
    api.uri = url
    api._nonce = _nonce
    return api


def _timed_add(client: Any, data: dict[str, str]) -> float:
    started = time.perf_counter()
    response = client.query_private("AddOrder", data, timeout=10)
    elapsed = time.perf_counter() - started
    if response["error"]:
        raise RuntimeError(f"baseline AddOrder refused: {response['error']}")
    return elapsed


def krakenex_add_order(url: str, calls: int) -> tuple[dict[str, Any], list[float]]:
    """Plain krakenex AddOrder round trips on the same venue, fresh pro keys, one process:
    a limit buy far below the market (placed and resting, the venue's full order path;
    a new key every ORDERS_PER_KEY orders keeps clear of the trade counter) interleaved
    with `validate=true` (checked, not placed). Returns the report and the placed
    orders' round trips in seconds."""
    order = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": FAR_BID,
             "volume": BASELINE_VOLUME}
    stamp = time.monotonic_ns() % 10**9
    clients = [_fresh_client(url, f"bench-validate-{stamp}")]
    placed: list[float] = []
    validated: list[float] = []
    try:
        for i in range(calls):
            if i % ORDERS_PER_KEY == 0:
                clients.append(_fresh_client(url, f"bench-addorder-{stamp}-{i}"))
            placed.append(_timed_add(clients[-1], order))
            validated.append(_timed_add(clients[0], {**order, "validate": "true"}))
    finally:
        for client in clients:
            client.session.close()
    report = {"placed_limit_ms": ms_summary(placed), "validate_only_ms": ms_summary(validated)}
    return report, placed
