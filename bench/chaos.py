"""`python -m bench chaos`: kill -9 the running system for a fixed count of events, with
and without exchange faults, and prove nothing was lost.

Ten accounts (four running `trend` on fast settings, six following two of them) trade on
an independent simulator at 60x market speed through the real supervisor in live mode
(bench/chaos_fleet.py says why). The attack (bench/chaos_attack.py) SIGKILLs random
running account actors, the market data actor and, a few times, the supervisor itself,
which is then started again on the same directories as systemd would. The `faults`
phase repeats it with the venue injecting 5xx pages, `EService:Unavailable`/`Busy`,
deadline errors, rate-limit refusals, temporary lockouts, latency spikes and
apply-then-fail (the order is placed, the answer lost).

Invariants, judged afterwards from the venue's records and nija's journals
(bench/chaos_checks.py): zero duplicate orders, zero orders unknown to nija, zero
forgotten journal entries, zero invalid nonces at the venue, positions equal to the
venue's balances, every actor back to `running` after every kill, no process of any
supervisor incarnation left behind, and no canary key or secret in any log line,
nijactl output, error reply, metrics scrape, state file, or any process's cmdline or
environ. The kill-to-running times are the figures; the baseline for them is the
supervisor's own restart of a crashed actor with no exchange faults (the plain phase).
"""

from __future__ import annotations

import argparse
import random
import shutil
import time
from typing import Any

from bench.chaos_attack import Attack, Plan
from bench.chaos_finish import stop_and_audit, wait_all_running
from bench.chaos_fleet import ChaosSystem, _harness
from bench.supervisor import summary
from bench.table import Row, goal, ratio, row

QUICK = Plan(kills=30, supervisor_kills=1)
FULL = Plan(kills=200, supervisor_kills=3)
SPEED = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--phase", choices=("plain", "faults", "both"), default="both")
    parser.add_argument("--kills", type=int, help="actor kills per phase (default 200, "
                        "quick 30)")
    parser.add_argument("--supervisor-kills", type=int, help="default 3, quick 1")
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true",
                        help="keep each phase's directory (logs, state) and print its path")


def run(quick: bool = False, phase: str = "both", kills: int | None = None,
        supervisor_kills: int | None = None, accounts: int = 10, seed: int = 7,
        keep: bool = False) -> dict[str, Any]:
    base = QUICK if quick else FULL
    plan = Plan(kills=kills if kills is not None else base.kills,
                supervisor_kills=(supervisor_kills if supervisor_kills is not None
                                  else base.supervisor_kills))
    started = time.monotonic()
    phases = ("plain", "faults") if phase == "both" else (phase,)
    results = {name: run_phase(plan, accounts, faults=name == "faults", seed=seed, keep=keep)
               for name in phases}
    ok = all(r["invariants_hold"] for r in results.values())
    return {"benchmark": "chaos", "quick": quick, "accounts": accounts,
            "plan": plan.__dict__, "phases": results,
            "seconds_total": round(time.monotonic() - started, 1),
            "exit_code": 0 if ok else 1,
            "table": table(results),
            "headline": headline(results, ok)}


def run_phase(plan: Plan, accounts: int, *, faults: bool, seed: int, keep: bool = False
              ) -> dict[str, Any]:
    root = _harness.short_tempdir("nija-chaos-")
    system = ChaosSystem(root, accounts, faults=faults, speed=SPEED, seed=seed)
    started = time.monotonic()
    try:
        system.start_venue()
        system.start_supervisor()
        warm = warm_up(system)
        attack = Attack(system, plan, random.Random(seed))
        log = attack.run()
        left_down = wait_all_running(attack.client, system.names, 120.0)
        attack.read_processes()
        end = stop_and_audit(system, attack.client, log.texts, log.killed_at)
    finally:
        system.close()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    result = {
        "faults": faults, "seconds": round(time.monotonic() - started, 1),
        "kept": str(root) if keep else None,
        "orders_before_attack": warm,
        "kills": {**log.kills, "total": log.total_kills},
        "kill_to_running_ms": {role: summary([s * 1000 for s in values], digits=1)
                               for role, values in log.recoveries.items()},
        "not_recovered": log.not_recovered, "not_running_at_end": left_down,
        "orphans_after_supervisor_kills": log.orphans, **end,
    }
    result["invariants_hold"] = invariants_hold(result)
    return result


def warm_up(system: ChaosSystem, timeout_s: float = 120.0) -> int:
    """Wait until orders flow (every independent account has placed some), so kills land
    while orders are in flight rather than before the first crossover."""
    from bench.chaos_finish import admin

    leaders = [a.name for a in system.accounts if not a.leader]
    deadline = time.monotonic() + timeout_s
    while True:
        orders = admin(system.venue.url, "orders")["keys"]
        if all(orders.get(n) for n in leaders) or time.monotonic() >= deadline:
            return sum(len(v) for v in orders.values())
        time.sleep(0.5)


def invariants_hold(result: dict[str, Any]) -> bool:
    audit = result["audit"]
    venue = result["venue"]
    return bool(audit["ok"] and venue["nonce_errors_seen_by_nija"] == 0
                and not venue["nonce_refusals_unexplained"]
                and not result["not_recovered"] and not result["not_running_at_end"]
                and not result["orphans_after_supervisor_kills"]
                and not result["orphans_after_stop"] and not result["secrets"]["found"]
                and not result["open_at_venue_after_pause"]
                and result["graceful_exit_code"] == 0 and audit["venue_orders"] > 0)


def table(results: dict[str, dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    plain = results.get("plain", {}).get("kill_to_running_ms", {}).get("account", {})
    for name, r in results.items():
        audit, venue, kills = r["audit"], r["venue"], r["kills"]
        account = r["kill_to_running_ms"]["account"]
        rows += [
            row(f"{name}: invariants hold", r["invariants_hold"], goal=goal("yes",
                r["invariants_hold"])),
            row(f"{name}: kills (account / market / supervisor)",
                f"{kills['account']} / {kills['market']} / {kills['supervisor']}"),
            row(f"{name}: venue orders (filled)",
                f"{audit['venue_orders']} ({audit['filled_orders']})"),
            row(f"{name}: duplicate / unknown / forgotten orders",
                f"{audit['duplicates']} / {audit['unknown']} / {audit['forgotten']}",
                goal=goal("0 / 0 / 0", not (audit['duplicates'] or audit['unknown']
                                            or audit['forgotten']))),
            row(f"{name}: invalid-nonce answers to nija", venue["nonce_errors_seen_by_nija"],
                goal=goal("0", venue["nonce_errors_seen_by_nija"] == 0)),
            row(f"{name}: venue nonce refusals not explained by a kill",
                len(venue["nonce_refusals_unexplained"]),
                goal=goal("0", not venue["nonce_refusals_unexplained"]),
                baseline=f"{venue['nonce_refusals']} refusals in all"),
            row(f"{name}: positions differing from the venue", audit["positions"],
                goal=goal("0", audit["positions"] == 0)),
            row(f"{name}: account kill-to-running p50 / p99 (ms)",
                f"{account.get('p50')} / {account.get('p99')}",
                baseline=None if name == "plain" else f"plain p50 {plain.get('p50')} ms",
                ratio=None if name == "plain" else ratio(account.get("p50"),
                                                         plain.get("p50"))),
            row(f"{name}: supervisor kill-to-all-running p50 (ms)",
                r["kill_to_running_ms"]["supervisor"].get("p50")),
            row(f"{name}: orphan processes", len(r["orphans_after_supervisor_kills"])
                + len(r["orphans_after_stop"]), goal=goal("0", not (
                    r["orphans_after_supervisor_kills"] or r["orphans_after_stop"]))),
            row(f"{name}: secrets found in {r['secrets']['sources_searched']} sources",
                len(r["secrets"]["found"]), goal=goal("0", not r["secrets"]["found"])),
        ]
        if r["faults"]:
            survived = sum(venue["faults_injected"].values())
            rows.append(row("faults: injected faults survived", survived,
                            baseline=", ".join(f"{k} {v}" for k, v in
                                               sorted(venue["faults_injected"].items()))))
    return rows


def headline(results: dict[str, dict[str, Any]], ok: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"invariants_hold": ok}
    for name, r in results.items():
        out[f"{name}_kills"] = r["kills"]["total"]
        out[f"{name}_duplicates"] = r["audit"]["duplicates"]
        out[f"{name}_unknown"] = r["audit"]["unknown"]
        out[f"{name}_invalid_nonces_seen"] = r["venue"]["nonce_errors_seen_by_nija"]
        out[f"{name}_nonce_refusals_unexplained"] = len(r["venue"]["nonce_refusals_unexplained"])
        out[f"{name}_kill_to_running_p50_ms"] = r["kill_to_running_ms"]["account"].get("p50")
        out[f"{name}_kill_to_running_p99_ms"] = r["kill_to_running_ms"]["account"].get("p99")
        if r["faults"]:
            out["faults_survived"] = sum(r["venue"]["faults_injected"].values())
    return out
