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
import os
import pwd
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from protocol.messages import (
    AccountQuery,
    ActorStatus,
    Error,
    QueryReply,
    StatusReply,
    StatusRequest,
)
from supervisor.config import Config, ConfigError, load_config
from supervisor.dotenv import SourceError, gather_variables
from supervisor.main import SECRET_VARIABLE

# The Kraken client is imported where it is used: `nijactl status` must not pay for it.
if TYPE_CHECKING:
    from supervisor.ctl import ControlClient

    Connect = Callable[[str, float], ControlClient]

from supervisor.verify_report import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Report,
    account_report,
    apply_permissions,
    config_problems,
    connection_result,
    credential_names_in_environ,
    emit,
    format_config,
    format_connections,
    format_users,
    refuse,
    roles,
)
from supervisor.verify_standalone import account_state_dir, foreign_owner, run_standalone

COMMANDS = ("check-config", "test-connection", "users")
STATUS_PROBE_S = 3.0  # a running supervisor answers status in milliseconds
UNREACHABLE = frozenset({"not_running", "timeout", "unknown_account"})


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






def _fail_config(args: argparse.Namespace, exc: ConfigError) -> int:
    return refuse(args, f"configuration error: {exc}")


# -- check-config ------------------------------------------------------------------------

def _directories(config: Config) -> tuple[list[str], list[str]]:
    """(problems, notes) about state_dir and runtime_dir, checked without creating them:
    the supervisor refuses a path that is not a directory or is owned by another user."""
    problems, notes = [], []
    for field in ("state_dir", "runtime_dir"):
        path = Path(getattr(config.supervisor, field))
        try:
            problem = foreign_owner(path)
        except OSError as exc:
            problem = f"{path}: {exc.strerror or type(exc).__name__}"
        if problem is not None:
            problems.append(f"supervisor.{field}: {problem}")
        elif not path.exists():
            notes.append(f"{field} {path} does not exist yet; the supervisor creates it (0700)")
    return problems, notes




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
    emit(args, report, format_config)
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
        return refuse(args, f"the supervisor runs no account {args.account!r}")
    allowed = {a.name: a.allow_withdraw_permission for a in config.accounts} if config else {}
    results = [_test_actor(client, a, allowed.get(a.account)) for a in actors]
    report = {"via": "supervisor", "mode": status.mode, "venue": status.venue,
              "ok": all(r["ok"] for r in results), "accounts": results}
    emit(args, report, format_connections)
    return EXIT_OK if report["ok"] else EXIT_FAILED


def test_connection(args: argparse.Namespace, connect: Connect) -> int:
    """Through the running supervisor if it answers, else standalone (live mode only)."""
    config, error = _try_load(args)
    endpoint = _endpoint(args, config)
    try:
        client = connect(endpoint, args.timeout)
    except (ValueError, OSError) as exc:  # e.g. tcp:// without CURVE keys
        return refuse(args, str(exc))
    try:
        if (status := _running(client, endpoint, STATUS_PROBE_S)) is not None:
            return _connections(args, client, status, config)
    finally:
        client.close()
    if config is None:
        assert error is not None
        return _fail_config(args, error)
    return run_standalone(args, config, endpoint)


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
        return refuse(args, str(exc))
    try:
        status = _running(client, endpoint, STATUS_PROBE_S)
    finally:
        client.close()
    if status is None and config is None:
        assert error is not None
        return _fail_config(args, error)
    if status is None:
        assert config is not None
        emit(args, {"running": False, "ok": False, "accounts": _configured_users(config)},
              format_users)
        return EXIT_FAILED
    by_name = {a.name: a for a in config.accounts} if config else {}
    actors = [a for a in status.actors if a.role != "market"]
    named = roles((a.account, a.summary.get("mode", "")) for a in actors)
    rows = [_user_row(a.account, a.state, a.pid, named[a.account],
                      account_state_dir(config, by_name[a.account])
                      if config and a.account in by_name else None) for a in actors]
    ok = all(r["isolated"] for r in rows if r["pid"] is not None)
    emit(args, {"running": True, "mode": status.mode, "ok": ok, "accounts": rows},
          format_users)
    return EXIT_OK if ok else EXIT_FAILED


def _configured_users(config: Config) -> list[Report]:
    """The configured accounts when no supervisor runs: roles from the config."""
    modes = [(a.name, "independent" if a.mode == "independent" else f"follow {a.leader}")
             for a in config.accounts]
    named = roles(modes)
    return [_user_row(a.name, "not running", None, named[a.name],
                      account_state_dir(config, a)) for a in config.accounts]
