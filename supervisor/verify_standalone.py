"""`nijactl test-connection` without a running supervisor: the account's own broker on
its own state (nonce store, rate model, lockout), refused while an actor holds it."""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from actors.launch import ActorLaunch
from supervisor.config import AccountConfig, Config
from supervisor.dotenv import credential_variables

# The Kraken client is imported where it is used: `nijactl status` must not pay for it.
if TYPE_CHECKING:
    from actors.kraken.broker import KrakenBroker


from supervisor.verify_report import (
    EXIT_FAILED,
    EXIT_OK,
    Report,
    apply_permissions,
    connection_result,
    emit,
    format_connections,
    refuse,
)

# -- standalone ----------------------------------------------------------------------------

def account_state_dir(config: Config, account: AccountConfig) -> Path:
    """The account actor's own directory, as the supervisor names it: the nonce store, the
    rate-limit state and any lockout live here, so a standalone test continues them."""
    assert config.supervisor.state_dir is not None
    return Path(config.supervisor.state_dir) / "accounts" / account.actor_id.replace(":", "-")


def run_standalone(args: argparse.Namespace, config: Config, endpoint: str) -> int:
    if config.paper_mode:
        return refuse(args, f"paper mode, and the supervisor is not running (no answer on "
                       f"{endpoint}): the paper venue lives with the supervisor, so there is "
                       "no venue to test. Start the supervisor, or configure live credentials.")
    accounts = [a for a in config.accounts if args.account in (None, a.name, a.actor_id)
                and (a.credentials is not None or a.enabled or args.account)]
    if not accounts:
        return refuse(args, f"no account {args.account!r} is configured")
    results = [_test_standalone(config, a, endpoint) for a in accounts]
    report = {"via": "standalone", "mode": "live", "venue": config.supervisor.kraken_url,
              "ok": all(r["ok"] for r in results), "accounts": results}
    emit(args, report, format_connections)
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
        allow_withdraw=account.allow_withdraw_permission, lockout_s=account.lockout_s,
        buying_power_assets=tuple(account.buying_power_assets),
        api_key=account.credentials.key.reveal(), api_secret=account.credentials.secret.reveal())
    try:
        if problem := next(filter(None, map(foreign_owner, (state.parents[1], state))), None):
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
    except TemporaryLockout as exc:  # saved by the broker: the actor will respect it too
        result.update(reachable=True, error=f"{type(exc).__name__}: {exc}")
        return result
    except BrokerError as exc:
        result.update(reachable=not isinstance(exc, TransportError),
                      error=f"{type(exc).__name__}: {exc}")
        return result
    return apply_permissions(result, granted, allowed)


def foreign_owner(path: Path) -> str | None:
    """Why the supervisor (running as this user) could not use `path`, if it could not."""
    if not path.exists():
        return None
    if not path.is_dir():
        return f"{path} is not a directory"
    if (owner := path.stat().st_uid) != os.getuid():
        return (f"{path} is owned by uid {owner}, not by this user (uid {os.getuid()}); "
                "run this as the user the supervisor runs as")
    return None


