"""Pure reports and tables for the verification commands (see supervisor/verify.py)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from supervisor.config import AccountConfig, Config
from supervisor.dotenv import credential_variables
from supervisor.main import SECRET_VARIABLE

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
Report = dict[str, Any]


# -- pure: reports and tables ----------------------------------------------------------

def table(rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart; no trailing blanks."""
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in
                               zip(row, widths, strict=True)).rstrip() for row in rows)


def credential_report(name: str, variables: Mapping[str, str], origin: Mapping[str, str],
                      ) -> list[Report]:
    """Each credential variable of account `name`: set (non-empty) or not, and the source
    it came from. Names and sources only: values never leave this function."""
    found = {var: bool(variables.get(var, "").strip()) for var in credential_variables(name)}
    return [{"variable": var, "present": ok, "origin": origin.get(var) if ok else None}
            for var, ok in found.items()]


def config_problems(config: Config) -> list[str]:
    """What makes a loadable live config unusable: an enabled account without credentials
    (the supervisor would not start it) and a follower whose leader has none (the leader
    would not start, so nothing would be mirrored). Paper mode needs no credentials."""
    if config.paper_mode:
        return []
    by_name = {a.name: a for a in config.accounts}
    problems = []
    for account in config.accounts:
        if account.enabled and account.credentials is None:
            problems.append(f"{account.actor_id}: enabled but credentials are missing: set "
                            + " and ".join(credential_variables(account.name)))
        leader = by_name.get(account.leader)
        if account.enabled and leader is not None and leader.credentials is None:
            problems.append(f"{account.actor_id}: follows {leader.name}, which has no "
                            f"credentials ({' / '.join(credential_variables(leader.name))}); "
                            "the leader would not start, so nothing would be mirrored")
    return problems


def account_report(config: Config, account: AccountConfig, variables: Mapping[str, str],
                   origin: Mapping[str, str]) -> Report:
    """One resolved account as check-config reports it."""
    status = ("not used (paper mode)" if config.paper_mode
              else "present" if account.credentials is not None else "missing")
    return {"account": account.name, "actor": account.actor_id, "broker": account.broker,
            "tier": account.tier, "enabled": account.enabled, "mode": account.mode,
            "strategy": account.strategy, "leader": account.leader or None,
            "pairs": list(account.pairs or ()),
            "allow_withdraw_permission": account.allow_withdraw_permission,
            "credentials": status,
            "variables": credential_report(account.name, variables, origin)}


def format_config(report: Mapping[str, Any]) -> str:
    """check-config's human output (for a loaded config)."""
    sup = report["supervisor"]
    venue = ("paper (simulated exchange; credentials are not used)" if report["mode"] == "paper"
             else f"live (real Kraken API at {sup['kraken_url']})")
    accounts = [("ACCOUNT", "BROKER", "TIER", "ENABLED", "MODE", "STRATEGY/LEADER", "PAIRS",
                 "CREDENTIALS")]
    variables = [("VARIABLE", "ACCOUNT", "SET", "FROM")]
    for a in report["accounts"]:
        role = f"leader {a['leader']}" if a["mode"] == "follow" else a["strategy"]
        accounts.append((a["account"], a["broker"], a["tier"], "yes" if a["enabled"] else "no",
                         a["mode"], role, ",".join(a["pairs"]), a["credentials"]))
        variables += [(v["variable"], a["account"], "yes" if v["present"] else "no",
                       v["origin"] or "-") for v in a["variables"]]
    lines = [f"source: {report['source']}", f"mode: {venue}",
             *(f"{key}: {sup[key]}" for key in ("state_dir", "runtime_dir", "control",
                                               "metrics_addr")),
             "", table(accounts), "", table(variables), "",
             *(f"note: {note}" for note in report["notes"])]
    if report["problems"]:
        lines += [f"NOT USABLE ({len(report['problems'])} problem(s)):",
                  *(f"  - {p}" for p in report["problems"])]
    else:
        lines.append("OK: the configuration is usable")
    return "\n".join(lines)


def connection_result(account: str, state: str) -> Report:
    """test-connection's record for one account before anything succeeded."""
    return {"account": account, "state": state, "reachable": False, "balance_ok": False,
            "latency_s": None, "balances": {}, "permissions": None, "missing": {},
            "withdraw": None, "withdraw_allowed": None, "error": "", "ok": False}


def apply_permissions(result: Report, granted: Mapping[str, bool], allowed: bool | None,
                      ) -> Report:
    """Record the probe: every trading permission missing (with what it blocks), and a key
    that can withdraw, which fails unless the account's config allows it."""
    from actors.kraken.broker import BLOCKS

    missing = {p: what for p, what in BLOCKS.items() if not granted.get(p, False)}
    withdraw = bool(granted.get("withdraw"))
    ok = result["balance_ok"] and not missing and not (withdraw and not allowed)
    result.update(permissions=dict(granted), missing=missing, withdraw=withdraw,
                  withdraw_allowed=allowed, ok=ok)
    return result


def format_connections(report: Mapping[str, Any]) -> str:
    """test-connection's human output: one row per account, then what each gap blocks."""
    rows = [("ACCOUNT", "STATE", "REACHABLE", "BALANCE", "LATENCY", "PERMISSIONS", "WITHDRAW",
             "RESULT")]
    details = []
    for a in report["accounts"]:
        perms = ("-" if a["permissions"] is None else
                 "MISSING " + ",".join(a["missing"]) if a["missing"] else "all granted")
        withdraw = ("-" if a["withdraw"] is None else "no" if not a["withdraw"] else
                    "CAN WITHDRAW" + (" (allowed)" if a["withdraw_allowed"] else ""))
        rows.append((a["account"], a["state"], "yes" if a["reachable"] else "no",
                     "ok" if a["balance_ok"] else "FAILED",
                     "-" if a["latency_s"] is None else f"{a['latency_s']:.3f}s", perms,
                     withdraw, "ok" if a["ok"] else "FAILED"))
        details += [f"{a['account']}: lacks {p}: blocks {what}" for p, what in a["missing"].items()]
        details += [f"{a['account']}: {a['error']}"] if a["error"] else []
    via = (f"through the running supervisor ({report['mode']} mode)" if report["via"] ==
           "supervisor" else "standalone (the supervisor is not running)")
    venue = f", venue {report['venue']}" if report["venue"] else ""
    return "\n".join([f"tested {via}{venue}", table(rows), *details])


def credential_names_in_environ(raw: bytes) -> list[str]:
    """The credential variable names (KRAKEN_*_API_KEY/SECRET, the supervisor's scrub rule)
    in a NUL-separated environment block such as /proc/PID/environ. Never the values."""
    names = (entry.partition(b"=")[0].decode(errors="replace") for entry in raw.split(b"\0"))
    return sorted(name for name in names if SECRET_VARIABLE.match(name))


def roles(modes: Iterable[tuple[str, str]]) -> dict[str, str]:
    """(account, mode) pairs, mode "independent", "follow <leader>" or "" (the actor has
    not reported it yet), to "follower of X", "leader of Y, Z", "independent" or "unknown"."""
    modes = list(modes)
    followers: dict[str, list[str]] = {}
    for account, mode in modes:
        if mode.startswith("follow "):
            followers.setdefault(mode.removeprefix("follow "), []).append(account)
    return {account: (f"follower of {mode.removeprefix('follow ')}" if mode.startswith("follow ")
                      else f"leader of {', '.join(sorted(followers[account]))}"
                      if account in followers else "independent" if mode else "unknown")
            for account, mode in modes}


def format_users(report: Mapping[str, Any]) -> str:
    """users' human output: an actor holding credential variables shows them as HELD."""
    rows = [("ACCOUNT", "STATE", "PID", "UID", "STATE DIR", "ENV CREDENTIALS", "NONCE FILE",
             "ROLE")]
    for u in report["accounts"]:
        env = ("-" if u["pid"] is None else "none (isolated)" if u["isolated"] else
               "HELD: " + ",".join(u["env_credentials"]) if u["env_credentials"] else
               f"unknown ({u['env_error']})")
        nonce = ("absent" if not u["nonce_file"] else f"owner {u['nonce_owner']}"
                 + (", locked by actor" if u["nonce_lock_held"] else ""))
        rows.append((u["account"], u["state"], str(u["pid"] or "-"),
                     "-" if u["uid"] is None else str(u["uid"]), u["state_dir"] or "-", env,
                     nonce, u["role"]))
    head = (f"mode: {report['mode']}" if report["running"]
            else "the supervisor is not running; configured accounts:")
    return head + "\n" + table(rows)


def emit(args: argparse.Namespace, report: Report, human: Callable[[Report], str]) -> None:
    print(json.dumps(report, indent=2) if args.json else human(report))


def refuse(args: argparse.Namespace, problem: str, code: int = EXIT_USAGE) -> int:
    """Nothing to report but a problem: still one JSON document with --json."""
    if args.json:
        print(json.dumps({"ok": False, "problems": [problem]}, indent=2))
    else:
        print(f"nijactl {args.command}: {problem}", file=sys.stderr)
    return code


