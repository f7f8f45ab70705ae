"""The system a chaos run attacks: an independent simulator holding canary keys, and the
real supervisor in live mode pointed at it, restartable the way systemd restarts it.

Live mode rather than paper mode, on purpose: the paper venue is the supervisor's own
child and dies with it, so after a `kill -9` of the supervisor nothing would be left to
check nija against. Here the venue outlives every supervisor incarnation and keeps the
truth (orders, balances, nonce refusals). The keys are canaries, delivered the way
production delivers them (a `$CREDENTIALS_DIRECTORY` of one file per variable), so no
process environment carries them and every one of them can be searched for afterwards.
"""

from __future__ import annotations

import base64
import importlib
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.supervisor import toml_value
from protocol.messages import ActorStatus, StatusReply, StatusRequest
from simulator import KeySpec, SimulatorProcess, write_keys_file
from simulator.keys import TRADING_PERMISSIONS
from supervisor.ctl import ControlClient
from supervisor.dotenv import credential_variables

_harness = importlib.import_module("tests.supervisor_harness")

START_BALANCES = {"ZUSD": "10000"}  # quote only: every base unit held was traded by nija
PAIRS = ("XBTUSD", "ETHUSD")
BASE_OF = {"XXBTZUSD": "XXBT", "XETHZUSD": "XETH"}
CANARY_PREFIX = b"NIJA-CHAOS-CANARY:"
TREND_PARAMS = ({"fast": 3, "slow": 6, "atr_period": 5}, {"fast": 2, "slow": 5, "atr_period": 4},
                {"fast": 4, "slow": 8, "atr_period": 5}, {"fast": 2, "slow": 4, "atr_period": 3})
FAULTS = """seed = 11
[default]
http_5xx = 0.01
service_unavailable = 0.01
service_busy = 0.01
deadline_elapsed = 0.005
rate_limit = 0.005
lockout = 0.0015
latency = 0.03
latency_ms = [100, 1500]
apply_then_fail = 0.04
"""
FAULT_LOCKOUT_S = 5  # the accounts' lockout_s in the faults phase: an injected lockout is short


@dataclass(frozen=True)
class ChaosAccount:
    name: str
    leader: str = ""  # "" runs `trend` with `params`
    params: Mapping[str, int] | None = None


def accounts(count: int) -> list[ChaosAccount]:
    """`count` accounts: four independents (`master` first) and followers spread over the
    first two leaders, so two follow chains are attacked at once."""
    names = ["master", "daivon", "tania", *(f"acct{i:02d}" for i in range(4, count + 1))]
    chosen: list[ChaosAccount] = []
    for i, name in enumerate(names[:count]):
        if i < min(4, count):
            chosen.append(ChaosAccount(name, params=TREND_PARAMS[i]))
        else:
            chosen.append(ChaosAccount(name, leader=names[(i - 4) % 2]))
    return chosen


def canary_key(name: str) -> KeySpec:
    """Kraken-shaped material (56-char key, 64-byte secret) that is recognisably ours."""
    tag = CANARY_PREFIX + name.encode()[:20]
    key = base64.b64encode((tag + secrets.token_bytes(42))[:42]).decode()
    secret = base64.b64encode((tag + secrets.token_bytes(64))[:64]).decode()
    return KeySpec(name, key, secret, "pro", TRADING_PERMISSIONS, dict(START_BALANCES))


def config_text(chosen: Sequence[ChaosAccount], *, lockout_s: float | None) -> str:
    """Restart limits wide enough for hundreds of kills (the budget is not under test
    here; tests/integration/test_supervisor_restarts.py proves it), short backoff."""
    lines = ["[restart]", "intensity = 100000", "period_s = 60.0", "backoff_initial_s = 0.05",
             "backoff_max_s = 1.0", "", "[market]", f"pairs = {toml_value(list(PAIRS))}",
             "poll_s = 1.0", "public_calls_per_s = 20.0", ""]
    for account in chosen:
        lines += ["[[account]]", f"name = {toml_value(account.name)}", 'tier = "pro"',
                  "order_timeout_s = 4.0"]
        if lockout_s is not None:
            lines.append(f"lockout_s = {lockout_s}")
        if account.leader:
            lines += ['mode = "follow"', f"leader = {toml_value(account.leader)}"]
        else:
            lines += ['strategy = "trend"', "[account.strategy_params]"]
            lines += [f"{k} = {v}" for k, v in (account.params or {}).items()]
        lines.append("")
    return "\n".join(lines)


def write_credentials(directory: Path, keys: Sequence[KeySpec]) -> None:
    """One 0600 file per variable, as systemd's LoadCredential= presents them."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for spec in keys:
        for variable, value in zip(credential_variables(spec.name), (spec.key, spec.secret),
                                   strict=True):
            path = directory / variable
            path.write_text(value + "\n")
            path.chmod(0o600)


class ChaosSystem:
    """The venue, the canary keys and every supervisor incarnation (each tracked, so no
    process of any of them can outlive the run unnoticed)."""

    def __init__(self, root: Path, count: int, *, faults: bool, speed: float,
                 seed: int) -> None:
        self.root = root
        self.accounts = accounts(count)
        self.keys = [canary_key(a.name) for a in self.accounts]
        self.faults = faults
        keys_file = write_keys_file(root / "venue-keys.toml", self.keys)
        faults_file = None
        if faults:
            faults_file = root / "faults.toml"
            faults_file.write_text(FAULTS)
        self.venue = SimulatorProcess(keys_file, seed=seed, speed=speed,
                                      faults_file=faults_file, log_file=root / "venue.log",
                                      watch_parent=True)
        self.credentials = root / "credentials"
        write_credentials(self.credentials, self.keys)
        self.config = config_text(self.accounts, lockout_s=FAULT_LOCKOUT_S if faults else None)
        self.incarnations: list[Any] = []

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.accounts]

    @property
    def secrets(self) -> dict[str, str]:
        """label -> canary value, for the leak search (labels never hold the value)."""
        found = {f"{k.name} API key": k.key for k in self.keys}
        found.update({f"{k.name} API secret": k.secret for k in self.keys})
        return found

    def start_venue(self) -> str:
        return self.venue.start()

    def start_supervisor(self, ready_timeout_s: float = 90.0) -> Any:
        sup = _harness.RunningSupervisor(
            self.names, root=self.root, config=self.config,
            env={"CREDENTIALS_DIRECTORY": str(self.credentials),
                 "NIJA_KRAKEN_URL": self.venue.url})
        sup.with_market = True
        self.incarnations.append(sup)
        sup.start(timeout=ready_timeout_s)
        return sup

    @property
    def current(self) -> Any:
        return self.incarnations[-1]

    def survivors(self) -> list[str]:
        """Processes of any incarnation still alive (the simulator is not one of them)."""
        alive = []
        for sup in self.incarnations:
            if sup.tracker is None:
                continue
            for proc in sup.tracker.survivors():
                if proc.pid != self.venue_pid:
                    alive.append(f"{proc.pid} {_harness.cmdline_of(proc)[:120]}")
        return alive

    @property
    def venue_pid(self) -> int | None:
        return self.venue.proc.pid if self.venue.proc is not None else None

    def close(self) -> None:
        for sup in self.incarnations:
            sup.close()
        self.venue.stop()


def statuses(client: ControlClient) -> dict[str, ActorStatus]:
    """account -> its status entry (market data actor included); {} if no answer."""
    reply = client.request(lambda rid: StatusRequest(request_id=rid))
    if not isinstance(reply, StatusReply):
        return {}
    return {a.account: a for a in reply.actors}


def process_texts(pids: Iterator[int] | Sequence[int]) -> dict[str, str]:
    """cmdline and environ of each live pid, labelled by pid and what was read."""
    texts = {}
    for pid in pids:
        for what in ("cmdline", "environ"):
            try:
                raw = Path(f"/proc/{pid}/{what}").read_bytes()
            except OSError:
                continue  # exited meanwhile: nothing left to leak from
            texts[f"/proc/{pid}/{what}"] = raw.replace(b"\0", b" ").decode(errors="replace")
    return texts


def tree_pids(sup: Any) -> list[int]:
    """The supervisor and every live descendant."""
    sup.tracker.refresh()
    return [sup.pid, *(p.pid for p in sup.tracker.alive())]


def state_files(root: Path) -> dict[str, str]:
    """Every file nija wrote under its state directory."""
    return {str(p): p.read_text(errors="replace") for p in (root / "s").rglob("*")
            if p.is_file()}


def wait_gone(system: ChaosSystem, timeout_s: float) -> list[str]:
    """Wait for every process of every incarnation to exit; what is left is an orphan."""
    deadline = time.monotonic() + timeout_s
    while (left := system.survivors()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left

