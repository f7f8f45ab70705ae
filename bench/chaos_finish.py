"""After the attack: bring the fleet to rest, stop it, and judge it.

Rest means every actor `running`, then `pause --all --cancel-open` and no order open at
the venue, then nija's positions caught up with the venue's balances (a fill the poll saw
last is read into the ledger within seconds). Then the operator's view is taken (nijactl
commands, error replies, a scrape) for the leak search, the supervisor is stopped
gracefully, every process of every incarnation must be gone, and the audit runs on the
venue's records and the journals nija left behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

from actors.kraken.journal import OrderJournal
from bench.chaos_checks import (
    AccountAudit,
    JournalView,
    audit_account,
    base_volumes,
    secret_findings,
    summarise,
    unexplained_nonce_refusals,
)
from bench.chaos_fleet import BASE_OF, ChaosSystem, state_files, statuses, wait_gone
from protocol.messages import AccountQuery, PauseRequest, QueryReply
from supervisor.ctl import ControlClient

SETTLE_S = 90.0  # a ledger not told of a fill reads the trade history every 60 s
OPEN_STATUSES = ("open", "pending")


def admin(url: str, path: str, **query: str) -> Any:
    suffix = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
    with urllib.request.urlopen(f"{url}/admin/{path}{suffix}", timeout=10) as response:
        return json.loads(response.read())


def wait_all_running(client: ControlClient, names: list[str], timeout_s: float) -> list[str]:
    """Accounts (and `market`) not `running` when `timeout_s` ran out; [] is success."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = statuses(client)
        waiting = [n for n in [*names, "market"] if n not in seen or seen[n].state != "running"]
        if not waiting or time.monotonic() >= deadline:
            return waiting
        time.sleep(0.1)


def quiesce(system: ChaosSystem, client: ControlClient, timeout_s: float = 60.0) -> list[str]:
    """Pause every account with --cancel-open; returns the accounts with orders still
    open at the venue when `timeout_s` ran out."""
    client.request(lambda rid: PauseRequest(request_id=rid, all_accounts=True,
                                            cancel_open=True))
    deadline = time.monotonic() + timeout_s
    while True:
        orders = admin(system.venue.url, "orders")["keys"]
        busy = [n for n in system.names
                if any(o["status"] in OPEN_STATUSES for o in orders.get(n, []))]
        if not busy or time.monotonic() >= deadline:
            return busy
        time.sleep(0.25)


def nija_volumes(client: ControlClient, account: str) -> dict[str, Decimal] | None:
    reply = client.request(lambda rid: AccountQuery(request_id=rid, account=account,
                                                    what="ledger"))
    if not isinstance(reply, QueryReply):
        return None
    return base_volumes(reply.result["positions"]["pairs"], BASE_OF)


def settled_positions(system: ChaosSystem, client: ControlClient
                      ) -> tuple[dict[str, dict[str, Decimal]], float]:
    """nija's base volumes per account once they equal the venue's balances (or at the
    deadline, whatever they are then), and the seconds that took."""
    started = time.monotonic()
    while True:
        balances = admin(system.venue.url, "balances")["keys"]
        volumes = {n: nija_volumes(client, n) or {} for n in system.names}
        agree = all(Decimal(balances[n]["balances"].get(base, "0")) == volumes[n].get(
            base, Decimal(0)) for n in system.names for base in BASE_OF.values())
        if agree or time.monotonic() - started > SETTLE_S:
            return volumes, round(time.monotonic() - started, 2)
        time.sleep(1.0)


def operator_outputs(sup: Any) -> dict[str, str]:
    """What an operator would see: every nijactl view, error replies included."""
    commands = [("status",), ("status", "--json"), ("positions", "master"),
                ("query", "master", "ledger"), ("orders", "master"), ("query", "master", "balance"),
                ("query", "master", "place_order", "-p", "pair=XBTUSD", "-p", "side=buy",
                 "-p", "volume=0.0000001"), ("query", "master", "nonsense"),
                ("pause", "nobody"), ("users",), ("test-connection", "master")]
    outputs = {}
    for args in commands:
        done = sup.ctl(*args, timeout=60.0)
        outputs[f"nijactl {' '.join(args)}"] = done.stdout + done.stderr
    outputs["metrics scrape"] = sup.scrape()
    return outputs


def check_config_output(system: ChaosSystem, sup: Any) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "supervisor.ctl", "check-config", "--config",
         str(sup.config_path)], capture_output=True, text=True, timeout=60, cwd=system.root,
        env={**sup.env, "CREDENTIALS_DIRECTORY": str(system.credentials)}, check=False)
    return done.stdout + done.stderr


def journal_views(state_dir: Path) -> list[JournalView]:
    journal = OrderJournal(state_dir)
    try:
        return [JournalView(e.cl_ord_id, e.status, e.txid, e.cause)
                for e in journal.entries.values()]
    finally:
        journal.close()


def audit(system: ChaosSystem, volumes: dict[str, dict[str, Decimal]]) -> list[AccountAudit]:
    url = system.venue.url
    orders, balances = admin(url, "orders")["keys"], admin(url, "balances")["keys"]
    return [audit_account(name, orders.get(name, []),
                          journal_views(system.root / "s" / "accounts" / f"kraken-{name}"),
                          balances[name]["balances"], volumes.get(name, {}),
                          BASE_OF.values())
            for name in system.names]


LATE_S = 2.5  # the longest injected latency (1.5 s) plus a margin for a loaded machine


def venue_counts(system: ChaosSystem, killed_at: dict[str, list[float]]) -> dict[str, Any]:
    stats = admin(system.venue.url, "stats")
    keys = {n: stats["keys"][n] for n in system.names}
    return {"nonce_refusals": sum(k["nonce_rejections"] for k in keys.values()),
            "nonce_refusals_unexplained": unexplained_nonce_refusals(
                stats["nonce_refusals"], killed_at, LATE_S),
            "rate_limited": sum(k["rest_rate_limited"] + k["trade_rate_limited"]
                                for k in keys.values()),
            "faults_injected": dict(stats["faults_injected"])}


def nonce_errors_seen(logs: list[str]) -> int:
    """Invalid-nonce answers a live actor got (each is logged as it happens)."""
    return sum(log.count("EAPI:Invalid nonce") for log in logs)


def stop_and_audit(system: ChaosSystem, client: ControlClient, texts: dict[str, str],
                   killed_at: dict[str, list[float]]) -> dict[str, Any]:
    """The whole end phase; `texts` (process reads so far) gets everything else added."""
    sup = system.current
    busy = quiesce(system, client)
    volumes, settle_s = settled_positions(system, client)
    texts.update(operator_outputs(sup))
    texts["nijactl check-config"] = check_config_output(system, sup)
    client.sock.close(linger=0)
    client.ctx.term()
    sup.send_signal(15)
    exit_code = sup.wait_exit(60)
    orphans = wait_gone(system, 15.0)
    for i, incarnation in enumerate(system.incarnations):
        texts[f"supervisor log {i}"] = incarnation.stderr()
    texts.update(state_files(system.root))
    audits = audit(system, volumes)
    venue = venue_counts(system, killed_at)
    venue["nonce_errors_seen_by_nija"] = nonce_errors_seen(
        [i.stderr() for i in system.incarnations])
    return {"audit": summarise(audits), "venue": venue,
            "open_at_venue_after_pause": busy, "positions_settled_s": settle_s,
            "graceful_exit_code": exit_code, "orphans_after_stop": orphans,
            "secrets": {"sources_searched": len(texts),
                        "bytes_searched": sum(len(t) for t in texts.values()),
                        "found": secret_findings(system.secrets, texts)},
            "per_account": {a.account: {"venue_orders": a.venue_orders,
                                        "filled": a.filled_orders} for a in audits}}
