"""The attack itself: `kill -9` of account actors, of the market data actor and of the
supervisor (then started again, as systemd's `Restart=on-failure` would), at random
moments while orders flow. Each kill is timed until the victim is `running` again.

Victims are picked among actors that are `running`, so the system is never merely
hammered while down; a share of victims is killed a second time while it is starting
again (mid-reconciliation: journal replay, lookups, ledger sync), the window a restart
is most likely to duplicate or lose an order in.
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from bench.chaos_fleet import ChaosSystem, process_texts, statuses, tree_pids, wait_gone
from protocol.messages import ActorStatus
from supervisor.ctl import ControlClient

RECOVERY_TIMEOUT_S = 120.0  # a start under exchange faults retries with backoff
POLL_S = 0.02


@dataclass(frozen=True)
class Plan:
    kills: int  # actor kills, double kills counted twice
    supervisor_kills: int
    market_every: int = 12  # every this many actor kills, the market data actor
    double_kill_share: float = 0.15  # killed again while starting
    gap_s: float = 0.4  # random pause after a recovery, up to this long
    restart_delay_s: float = 1.0  # systemd's RestartSec= stand-in
    texts_every: int = 20  # read every process's cmdline/environ this often


@dataclass
class AttackLog:
    recoveries: dict[str, list[float]] = field(default_factory=lambda: {
        "account": [], "market": [], "supervisor": []})
    kills: dict[str, int] = field(default_factory=lambda: {
        "account": 0, "market": 0, "supervisor": 0, "while_starting": 0})
    not_recovered: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # alive after a supervisor kill
    texts: dict[str, str] = field(default_factory=dict)  # what the leak search reads
    killed_at: dict[str, list[float]] = field(default_factory=dict)  # account -> Unix times

    def killed(self, account: str) -> None:
        self.killed_at.setdefault(account, []).append(time.time())

    @property
    def total_kills(self) -> int:
        return sum(v for k, v in self.kills.items() if k != "while_starting")


class Attack:
    def __init__(self, system: ChaosSystem, plan: Plan, rng: random.Random) -> None:
        self.system = system
        self.plan = plan
        self.rng = rng
        self.log = AttackLog()
        self.client = ControlClient(system.current.control, timeout_s=5.0)

    def run(self) -> AttackLog:
        every = max(1, self.plan.kills // (self.plan.supervisor_kills + 1))
        planned = {every * (i + 1) for i in range(self.plan.supervisor_kills)}
        actor_kills = 0
        while actor_kills < self.plan.kills:
            if planned and actor_kills >= min(planned):
                planned.discard(min(planned))
                self.kill_supervisor()
            made = self.kill_actor(market=actor_kills % self.plan.market_every
                                   == self.plan.market_every // 2)
            if (actor_kills + made) // self.plan.texts_every > actor_kills // self.plan.texts_every:
                self.read_processes()
            actor_kills += made
            time.sleep(self.rng.uniform(0, self.plan.gap_s))
        return self.log

    def close(self) -> None:
        self.client.sock.close(linger=0)
        self.client.ctx.term()

    # -- actors ------------------------------------------------------------------------

    def _victim(self, market: bool) -> ActorStatus | None:
        running = [a for a in statuses(self.client).values() if a.state == "running" and a.pid]
        chosen = [a for a in running if (a.role == "market") == market]
        return self.rng.choice(chosen) if chosen else None

    def kill_actor(self, market: bool = False) -> int:
        """One victim (twice with `double_kill_share`); returns the kills made."""
        victim = self._victim(market)
        if victim is None or victim.pid is None:
            time.sleep(0.2)  # nothing is running: wait for the restarts already under way
            return 0
        role = "market" if victim.role == "market" else "account"
        killed = {victim.pid}
        os.kill(victim.pid, signal.SIGKILL)
        self.log.killed(victim.account)
        killed_at = time.monotonic()
        kills = 1
        if self.rng.random() < self.plan.double_kill_share:
            again = self._next_pid(victim.account, killed)
            if again is not None:
                time.sleep(self.rng.uniform(0, 0.3))
                _kill_quietly(again)
                self.log.killed(victim.account)
                killed.add(again)
                killed_at = time.monotonic()
                kills += 1
                self.log.kills["while_starting"] += 1
        self.log.kills[role] += kills
        seconds = self._until_running(victim.account, killed, killed_at)
        if seconds is None:
            self.log.not_recovered.append(f"{victim.account} after a kill")
        else:
            self.log.recoveries[role].append(seconds)
        return kills

    def _next_pid(self, account: str, old: set[int]) -> int | None:
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            entry = statuses(self.client).get(account)
            if entry is not None and entry.pid and entry.pid not in old:
                return entry.pid
            time.sleep(POLL_S)
        return None

    def _until_running(self, account: str, old: set[int], since: float) -> float | None:
        deadline = since + RECOVERY_TIMEOUT_S
        while time.monotonic() < deadline:
            entry = statuses(self.client).get(account)
            if entry is not None and entry.state == "running" and entry.pid not in old:
                return time.monotonic() - since
            time.sleep(POLL_S)
        return None

    # -- the supervisor ---------------------------------------------------------------

    def kill_supervisor(self) -> None:
        """SIGKILL (no graceful stop at all), check that nothing it started survives it,
        then start a new one on the same directories after `restart_delay_s`."""
        old = self.system.current
        old.tracker.refresh()
        os.kill(old.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        for account in self.system.names:
            self.log.killed(account)
        old.proc.wait(timeout=10)
        self.log.kills["supervisor"] += 1
        self.log.orphans += wait_gone(self.system, 10.0)
        time.sleep(self.plan.restart_delay_s)
        self.close()
        try:
            self.system.start_supervisor(ready_timeout_s=RECOVERY_TIMEOUT_S)
        except AssertionError as exc:
            self.log.not_recovered.append(f"the supervisor after a kill: {exc}"[:400])
            raise
        finally:
            self.client = ControlClient(self.system.current.control, timeout_s=5.0)
        self.log.recoveries["supervisor"].append(time.monotonic() - killed_at)
        self.read_processes()

    def read_processes(self) -> None:
        sup: Any = self.system.current
        self.log.texts.update(process_texts(tree_pids(sup)))


def _kill_quietly(pid: int) -> None:
    """The second kill may find the process already gone (it can crash on its own)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
