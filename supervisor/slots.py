"""One supervised actor: its config, restart budget, liveness and current process."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess

from actors.launch import ActorLaunch
from protocol.messages import ActorStatus
from supervisor.config import AccountConfig
from supervisor.metrics import ActorSeries
from supervisor.restart_policy import HeartbeatMonitor, RestartPolicy, RestartType

_log = logging.getLogger("nija.supervisor")
STABLE_AFTER_S = 10.0  # running this long resets the backoff exponent


@dataclass
class ActorSlot:
    account: AccountConfig
    launch: ActorLaunch
    policy: RestartPolicy
    monitor: HeartbeatMonitor
    series: ActorSeries
    paused: bool = False  # the durable, operator-set intent
    state: str = "starting"
    process: BaseProcess | None = None
    started_at: float | None = None  # monotonic
    connected: bool = False
    requested_stop: bool = False
    unfixable: bool = False
    restart_at: float | None = None
    kill_at: float | None = None
    detail: str = ""
    stable: bool = False
    removing: bool = False  # dropped from the config: do not restart, forget on exit
    restart_now: bool = False  # operator restart: start again as soon as it exits
    exit_handled: bool = True  # the current process's exit has been dealt with
    terminal_state: str | None = None  # an unfixable state the actor reported before exiting
    identity: bytes = b""  # the routing id of the current incarnation, bound at its Hello
    summary: dict[str, str] = field(default_factory=dict)  # from the latest heartbeat

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        """Every line about this actor names its account and broker."""
        return logging.LoggerAdapter(_log, {"account": self.account.name,
                                            "broker": self.account.broker})

    @property
    def is_account(self) -> bool:
        """False for the market data actor (it has no key, positions or pause)."""
        return self.launch.role == "account"

    @property
    def actor_id(self) -> str:
        return self.launch.actor_id

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.alive else None

    @property
    def alive(self) -> bool:
        """Cheap: flipped when the process's exit sentinel fires (Process.exitcode costs a
        selector per call under forkserver; the loop asks this many times per wake-up)."""
        return self.process is not None and not self.exit_handled

    def status(self, now: float) -> ActorStatus:
        age = self.monitor.age(now) if self.connected and self.alive else None
        return ActorStatus(
            name=self.actor_id, broker=self.account.broker, account=self.account.name,
            state=self.state, pid=self.pid, restarts=self.series.restarts,
            uptime_s=round(now - self.started_at, 3) if self.started_at and self.alive else None,
            heartbeat_age_s=round(age, 3) if age is not None else None,
            paused=self.paused, detail=self.detail, role=self.launch.role,
            summary=self.summary,
        )

    def set_state(self, state: str, now: float | None = None) -> None:
        self.state = state
        self.series.state = state
        self.series.up = state in ("running", "paused") and self.connected
        self.series.paused = self.paused


def new_slot(account: AccountConfig, launch: ActorLaunch, heartbeat_interval_s: float,
             heartbeat_misses: int, paused: bool) -> ActorSlot:
    restart = account.restart
    policy = RestartPolicy(
        RestartType(restart.type), restart.intensity, restart.period_s,
        restart.backoff_initial_s, restart.backoff_max_s, restart.backoff_multiplier,
        restart.jitter, random.Random(),
    )
    series = ActorSeries(account=account.name, broker=account.broker, paused=paused,
                         is_account=launch.role == "account")
    slot = ActorSlot(account, launch, policy, HeartbeatMonitor(heartbeat_interval_s,
                                                               heartbeat_misses), series, paused)
    slot.monitor.start(time.monotonic())
    return slot
