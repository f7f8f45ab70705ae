"""`nijactl check-config`, `test-connection` and `users`: the operator's checks before and
while trading, replacing the bot's separate check/verify scripts.

Promises: configuration is loaded exactly as the supervisor loads it (`load_config`, the
process environment, `.env`, the credentials directory); credentials are reported by
variable name and origin, never by value; `test-connection` makes live calls (a status that
says "connected" without one is worthless) through the running actor, or standalone on the
account's own nonce store, which it refuses to share with a running actor. Every command
prints aligned tables, or one JSON document with `--json`.

Exit codes: 0 all good; 1 an account or the supervisor failed (or did not answer); 2 the
configuration or the request is unusable.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actors.launch import ActorLaunch
from protocol.messages import (
    AccountQuery,
    ActorStatus,
    Error,
    QueryReply,
    StatusReply,
    StatusRequest,
)
from supervisor.config import AccountConfig, Config, ConfigError, load_config
from supervisor.dotenv import SourceError, credential_variables, gather_variables
from supervisor.main import SECRET_VARIABLE

# The Kraken client is imported where it is used: `nijactl status` must not pay for it.
if TYPE_CHECKING:
    from actors.kraken.broker import KrakenBroker
    from supervisor.ctl import ControlClient

    Connect = Callable[[str, float], ControlClient]

COMMANDS = ("check-config", "test-connection", "users")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
STATUS_PROBE_S = 3.0  # a running supervisor answers status in milliseconds
UNREACHABLE = frozenset({"not_running", "timeout", "unknown_account"})
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


# -- command line ----------------------------------------------------------------------

def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The three commands; each loads the config with the supervisor's own options."""
    parsers = [
        commands.add_parser("check-config", help="load the configuration as the supervisor "
                            "would; report accounts, credentials (by name), directories"),
        commands.add_parser("test-connection", help="a live balance call and the permission "
                            "probe per account, through the supervisor or standalone"),
        commands.add_parser("users", help="the accounts and their isolation status")]
    parsers[1].add_argument("account", nargs="?", help="only this account")
    for parser in parsers:
        parser.add_argument("--config", help="TOML config file, as given to the supervisor")
        parser.add_argument("--env-file", help="the .env file (default: ./.env if it exists)")
        parser.add_argument("--paper", action="store_true", help="as the supervisor's --paper")
        parser.add_argument("--state-dir", help="as the supervisor's --state-dir")
        parser.add_argument("--runtime-dir", help="as the supervisor's --runtime-dir")
        parser.add_argument("--metrics-addr", help="as the supervisor's --metrics-addr")
        parser.add_argument("--json", action="store_true", help="one JSON document")


def run(args: argparse.Namespace, connect: Connect) -> int:
    if args.command == "check-config":
        return check_config(args)
    if args.command == "test-connection":
        return test_connection(args, connect)
    return users(args, connect)


def _load(args: argparse.Namespace) -> tuple[Config, dict[str, str], dict[str, str]]:
    """The Config exactly as `run_supervisor.py` with the same options would build it, and
    the merged variables with their origins (for reporting names and sources)."""
    overrides = {"state_dir": args.state_dir, "runtime_dir": args.runtime_dir,
                 "metrics_addr": args.metrics_addr, "control": args.control}
    config = load_config(args.config, os.environ, dotenv_path=args.env_file,
                         force_paper=args.paper,
                         overrides={k: v for k, v in overrides.items() if v is not None})
    try:
        variables, origin, _ = gather_variables(os.environ, args.env_file)
    except SourceError as err:
        raise ConfigError(str(err)) from None
    return config, variables, origin


def _emit(args: argparse.Namespace, report: Report, human: Callable[[Report], str]) -> None:
    print(json.dumps(report, indent=2) if args.json else human(report))


def _refuse(args: argparse.Namespace, problem: str, code: int = EXIT_USAGE) -> int:
    """Nothing to report but a problem: still one JSON document with --json."""
    if args.json:
        print(json.dumps({"ok": False, "problems": [problem]}, indent=2))
    else:
        print(f"nijactl {args.command}: {problem}", file=sys.stderr)
    return code


def _fail_config(args: argparse.Namespace, exc: ConfigError) -> int:
    return _refuse(args, f"configuration error: {exc}")


# -- check-config ------------------------------------------------------------------------

def _directories(config: Config) -> tuple[list[str], list[str]]:
    """(problems, notes) about state_dir and runtime_dir, checked without creating them:
    the supervisor refuses a path that is not a directory or is owned by another user."""
    problems, notes = [], []
    for field in ("state_dir", "runtime_dir"):
        path = Path(getattr(config.supervisor, field))
        try:
            problem = _foreign(path)
        except OSError as exc:
            problem = f"{path}: {exc.strerror or type(exc).__name__}"
        if problem is not None:
            problems.append(f"supervisor.{field}: {problem}")
        elif not path.exists():
            notes.append(f"{field} {path} does not exist yet; the supervisor creates it (0700)")
    return problems, notes


def _foreign(path: Path) -> str | None:
    """Why the supervisor (running as this user) could not use `path`, if it could not."""
    if not path.exists():
        return None
    if not path.is_dir():
        return f"{path} is not a directory"
    if (owner := path.stat().st_uid) != os.getuid():
        return (f"{path} is owned by uid {owner}, not by this user (uid {os.getuid()}); "
                "run this as the user the supervisor runs as")
    return None


def _notes(config: Config, args: argparse.Namespace, variables: Mapping[str, str]) -> list[str]:
    notes = [f"{a.actor_id} accepts a key that can WITHDRAW (allow_withdraw_permission)"
             for a in config.accounts if a.allow_withdraw_permission]
    if config.paper_mode:
        set_vars = sorted(v for v in variables if SECRET_VARIABLE.match(v) and variables[v])
        why = "--paper" if args.paper else "no enabled account has credentials"
        notes.append(f"paper mode because {why}" + (
            f"; these credential variables are ignored: {', '.join(set_vars)}"
            if set_vars else ""))
    return notes


def check_config(args: argparse.Namespace) -> int:
    """Report the resolved configuration; 0 when the supervisor could run it, 2 if not."""
    try:
        config, variables, origin = _load(args)
    except ConfigError as exc:
        return _fail_config(args, exc)
    problems, notes = _directories(config)
    problems = config_problems(config) + problems
    sup = config.supervisor
    report = {"ok": not problems, "mode": "paper" if config.paper_mode else "live",
              "source": config.source,
              "supervisor": {"state_dir": sup.state_dir, "runtime_dir": sup.runtime_dir,
                             "control": sup.control, "metrics_addr": sup.metrics_addr,
                             "kraken_url": sup.kraken_url, "log_level": sup.log_level},
              "accounts": [account_report(config, a, variables, origin)
                           for a in config.accounts],
              "problems": problems, "notes": _notes(config, args, variables) + notes}
    _emit(args, report, format_config)
    return EXIT_OK if not problems else EXIT_USAGE


# -- the running supervisor --------------------------------------------------------------

def _try_load(args: argparse.Namespace) -> tuple[Config | None, ConfigError | None]:
    try:
        return _load(args)[0], None
    except ConfigError as exc:
        return None, exc


def _endpoint(args: argparse.Namespace, config: Config | None) -> str:
    from supervisor.ctl import default_endpoint

    if args.control:
        return str(args.control)
    if config is not None and config.supervisor.control:
        return config.supervisor.control
    return default_endpoint()


def _running(client: ControlClient, endpoint: str, timeout_s: float) -> StatusReply | None:
    """The supervisor's status if it answers within `timeout_s`, else None (not running)."""
    if endpoint.startswith("ipc://") and not os.path.exists(endpoint.removeprefix("ipc://")):
        return None
    saved, client.timeout_s = client.timeout_s, min(client.timeout_s, timeout_s)
    try:
        reply = client.request(lambda rid: StatusRequest(request_id=rid))
    except TimeoutError:
        return None
    finally:
        client.timeout_s = saved
    return reply if isinstance(reply, StatusReply) else None


def _ask(client: ControlClient, account: str, what: str) -> QueryReply | Error:
    try:
        reply = client.request(lambda rid: AccountQuery(request_id=rid, account=account,
                                                        what=what))
    except TimeoutError as exc:
        return Error(request_id=None, code="timeout", message=str(exc))
    if isinstance(reply, QueryReply | Error):
        return reply
    return Error(request_id=None, code="internal", message=f"unexpected reply to {what}")


def _test_actor(client: ControlClient, actor: ActorStatus, allowed: bool | None) -> Report:
    """A live balance query, timed end to end, then the permission probe, both run by the
    account's own actor (on its own key, nonces and rate limits)."""
    result = connection_result(actor.account, actor.state)
    started = time.perf_counter()
    balance = _ask(client, actor.account, "balance")
    if isinstance(balance, Error):
        detail = f" ({actor.detail})" if actor.detail else ""
        result.update(reachable=balance.code not in UNREACHABLE,
                      error=f"balance: {balance.message}{detail}")
        return result
    result.update(reachable=True, balance_ok=True,
                      latency_s=round(time.perf_counter() - started, 6),
                  balances=dict(balance.result.get("balances", {})))
    probe = _ask(client, actor.account, "permissions")
    if isinstance(probe, Error):
        result["error"] = f"permissions: {probe.message}"
        return result
    return apply_permissions(result, probe.result.get("permissions", {}), allowed)


def _connections(args: argparse.Namespace, client: ControlClient, status: StatusReply,
                 config: Config | None) -> int:
    actors = [a for a in status.actors if a.role != "market"
              and args.account in (None, a.account, a.name)]
    if not actors:
        return _refuse(args, f"the supervisor runs no account {args.account!r}")
    allowed = {a.name: a.allow_withdraw_permission for a in config.accounts} if config else {}
    results = [_test_actor(client, a, allowed.get(a.account)) for a in actors]
    report = {"via": "supervisor", "mode": status.mode, "venue": status.venue,
              "ok": all(r["ok"] for r in results), "accounts": results}
    _emit(args, report, format_connections)
    return EXIT_OK if report["ok"] else EXIT_FAILED


def test_connection(args: argparse.Namespace, connect: Connect) -> int:
    """Through the running supervisor if it answers, else standalone (live mode only)."""
    config, error = _try_load(args)
    endpoint = _endpoint(args, config)
    try:
        client = connect(endpoint, args.timeout)
    except (ValueError, OSError) as exc:  # e.g. tcp:// without CURVE keys
        return _refuse(args, str(exc))
    try:
        if (status := _running(client, endpoint, STATUS_PROBE_S)) is not None:
            return _connections(args, client, status, config)
    finally:
        client.close()
    if config is None:
        assert error is not None
        return _fail_config(args, error)
    return _standalone(args, config, endpoint)


# -- standalone ----------------------------------------------------------------------------

def account_state_dir(config: Config, account: AccountConfig) -> Path:
    """The account actor's own directory, as the supervisor names it: the nonce store, the
    rate-limit state and any lockout live here, so a standalone test continues them."""
    assert config.supervisor.state_dir is not None
    return Path(config.supervisor.state_dir) / "accounts" / account.actor_id.replace(":", "-")


def _standalone(args: argparse.Namespace, config: Config, endpoint: str) -> int:
    if config.paper_mode:
        return _refuse(args, f"paper mode, and the supervisor is not running (no answer on "
                       f"{endpoint}): the paper venue lives with the supervisor, so there is "
                       "no venue to test. Start the supervisor, or configure live credentials.")
    accounts = [a for a in config.accounts if args.account in (None, a.name, a.actor_id)
                and (a.credentials is not None or a.enabled or args.account)]
    if not accounts:
        return _refuse(args, f"no account {args.account!r} is configured")
    results = [_test_standalone(config, a, endpoint) for a in accounts]
    report = {"via": "standalone", "mode": "live", "venue": config.supervisor.kraken_url,
              "ok": all(r["ok"] for r in results), "accounts": results}
    _emit(args, report, format_connections)
    return EXIT_OK if report["ok"] else EXIT_FAILED


def _test_standalone(config: Config, account: AccountConfig, endpoint: str) -> Report:
    """Balance, read calls and validate-only probes (nothing is placed) on the account's own
    broker, state directory, nonce store and rate-limit state."""
    result = connection_result(account.name, "standalone")
    if account.credentials is None:
        result["error"] = "no credentials: set " + " and ".join(credential_variables(account.name))
        return result
    broker = _open_broker(config, account, endpoint)
    if isinstance(broker, str):
        result["error"] = broker
        return result
    try:
        return _probe(broker, result, account.allow_withdraw_permission)
    finally:
        broker.close(deadline_s=5.0)


def _open_broker(config: Config, account: AccountConfig, endpoint: str) -> KrakenBroker | str:
    """The actor's own KrakenBroker on the actor's own state directory, or why not. Its
    nonce store is flock-exclusive: with the actor running this refuses instead of
    colliding. Files created in another user's state would lock the actor out of them."""
    from actors.kraken.broker import KrakenBroker
    from actors.kraken.nonce import NonceStoreError, NonceStoreLocked

    state = account_state_dir(config, account)
    assert account.credentials is not None
    launch = ActorLaunch(
        actor_id=account.actor_id, broker=account.broker, account=account.name, endpoint="",
        state_dir=str(state), venue_url=config.supervisor.kraken_url, tier=account.tier,
        allow_withdraw=account.allow_withdraw_permission,
        buying_power_assets=tuple(account.buying_power_assets),
        api_key=account.credentials.key.reveal(), api_secret=account.credentials.secret.reveal())
    try:
        if problem := next(filter(None, map(_foreign, (state.parents[1], state))), None):
            return f"refused: {problem}"
        state.parents[1].mkdir(mode=0o700, parents=True, exist_ok=True)
        state.mkdir(mode=0o700, parents=True, exist_ok=True)
        return KrakenBroker(launch, threading.Event())
    except NonceStoreLocked as exc:
        return (f"refused: {exc}. The account's actor (or another nijactl) is using this "
                f"key; the supervisor did not answer on {endpoint}")
    except (NonceStoreError, OSError) as exc:
        return f"cannot open the account's state in {state}: {exc}"


def _lockout_left(path: Path) -> float:
    """Seconds left of a Kraken lockout the actor persisted (calling now would extend it)."""
    try:
        return float(json.loads(path.read_text())["until"]) - time.time()
    except FileNotFoundError:
        return 0.0
    except (ValueError, KeyError, TypeError, OSError):
        return 0.0  # unreadable: the actor ignores it too (and removes it at start)


def _probe(broker: KrakenBroker, result: Report, allowed: bool) -> Report:
    from actors.broker import BrokerError
    from actors.kraken.errors import TemporaryLockout, TransportError

    if (left := _lockout_left(broker.lockout_file)) > 0:
        result["error"] = f"Kraken locked this key out for another {left:.0f}s; not calling"
        return result
    started = time.perf_counter()
    try:
        broker.refresh_balances()
        result.update(reachable=True, balance_ok=True,
                      latency_s=round(time.perf_counter() - started, 6),
                      balances={asset: str(v) for asset, v in broker.balances.items()})
        granted = broker.probe_permissions()
    except TemporaryLockout as exc:
        broker._persist_lockout(exc.lockout_s)  # the actor must respect it too
        result.update(reachable=True, error=f"{type(exc).__name__}: {exc}")
        return result
    except BrokerError as exc:
        result.update(reachable=not isinstance(exc, TransportError),
                      error=f"{type(exc).__name__}: {exc}")
        return result
    return apply_permissions(result, granted, allowed)


# -- users ---------------------------------------------------------------------------------

def _owner(path: Path) -> str | None:
    try:
        uid = path.stat().st_uid
    except FileNotFoundError:
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _nonce_lock_of(pid: int) -> Path | None:
    """The nonce lock file the process holds open (so: its account state directory)."""
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = Path(os.readlink(fd))
        except OSError:
            continue  # closed meanwhile
        if target.name == "nonce.json.lock":
            return target
    return None


def _process_facts(pid: int, row: Report) -> None:
    """uid, credential variables in the environment, and the nonce lock, from /proc."""
    try:
        row["uid"] = os.stat(f"/proc/{pid}").st_uid
        names = credential_names_in_environ(Path(f"/proc/{pid}/environ").read_bytes())
        row.update(env_credentials=names, isolated=not names)
    except OSError as exc:
        row["env_error"] = exc.strerror or type(exc).__name__
    try:
        lock = _nonce_lock_of(pid)
    except OSError as exc:
        row["env_error"] = row["env_error"] or exc.strerror or type(exc).__name__
        return
    row["nonce_lock_held"] = lock is not None
    if lock is not None:
        row["state_dir"] = str(lock.parent)


def _user_row(account: str, state: str, pid: int | None, role: str,
              state_dir: Path | None) -> Report:
    row: Report = {"account": account, "state": state, "pid": pid, "uid": None,
                   "state_dir": str(state_dir) if state_dir else None, "env_credentials": [],
                   "isolated": None, "env_error": None, "nonce_lock_held": None, "role": role}
    if pid is not None:
        _process_facts(pid, row)
    owner = _owner(Path(row["state_dir"]) / "nonce.json") if row["state_dir"] else None
    row.update(nonce_file=owner is not None, nonce_owner=owner)
    return row


def users(args: argparse.Namespace, connect: Connect) -> int:
    """0 when every running account actor is verified to hold no credential variable;
    1 if one does, cannot be read, or the supervisor is not running."""
    config, error = _try_load(args)
    endpoint = _endpoint(args, config)
    try:
        client = connect(endpoint, args.timeout)
    except (ValueError, OSError) as exc:
        return _refuse(args, str(exc))
    try:
        status = _running(client, endpoint, STATUS_PROBE_S)
    finally:
        client.close()
    if status is None and config is None:
        assert error is not None
        return _fail_config(args, error)
    if status is None:
        assert config is not None
        _emit(args, {"running": False, "ok": False, "accounts": _configured_users(config)},
              format_users)
        return EXIT_FAILED
    by_name = {a.name: a for a in config.accounts} if config else {}
    actors = [a for a in status.actors if a.role != "market"]
    named = roles((a.account, a.summary.get("mode", "")) for a in actors)
    rows = [_user_row(a.account, a.state, a.pid, named[a.account],
                      account_state_dir(config, by_name[a.account])
                      if config and a.account in by_name else None) for a in actors]
    ok = all(r["isolated"] for r in rows if r["pid"] is not None)
    _emit(args, {"running": True, "mode": status.mode, "ok": ok, "accounts": rows},
          format_users)
    return EXIT_OK if ok else EXIT_FAILED


def _configured_users(config: Config) -> list[Report]:
    """The configured accounts when no supervisor runs: roles from the config."""
    modes = [(a.name, "independent" if a.mode == "independent" else f"follow {a.leader}")
             for a in config.accounts]
    named = roles(modes)
    return [_user_row(a.name, "not running", None, named[a.name],
                      account_state_dir(config, a)) for a in config.accounts]
