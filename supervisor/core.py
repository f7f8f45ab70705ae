"""The supervisor process: one loop over the actor socket, the control socket, child exit
sentinels and signals. Each actor has its own restart budget, so one account's crash loop
ends with that account `failed` while every other account keeps running."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import zmq

from actors.launch import ActorLaunch
from protocol.bus import fills_endpoint, market_endpoint
from protocol.codec import ProtocolError, actor_codec, encode
from protocol.messages import (
    PROTOCOL_VERSION,
    Error,
    Heartbeat,
    Hello,
    LogRecord,
    Message,
    MetricsSample,
    Ping,
    Reply,
    Shutdown,
    StateChanged,
    Welcome,
)
from protocol.redaction import Redactor
from protocol.sockets import router
from supervisor.config import AccountConfig, Config, ConfigError
from supervisor.config import Broker as BrokerName
from supervisor.control import ControlPlane
from supervisor.logsink import emit_actor_record
from supervisor.metrics import MetricsState, serve_metrics
from supervisor.paper import PaperVenue
from supervisor.pause_store import ALL, PauseStore
from supervisor.restart_policy import classify_exit
from supervisor.sdnotify import NotifySocket, ServiceNotifier
from supervisor.slots import STABLE_AFTER_S, ActorSlot, new_slot
from supervisor.spawner import Spawner
from supervisor.trading_config import MARKET_ACTOR, market_settings, trading_settings

log = logging.getLogger("nija.supervisor")
STARTUP_TIMEOUT_S = 30.0
UNFIXABLE_STATES = frozenset({"credentials_invalid", "config_invalid"})
RESOURCE_SAMPLE_S = 5.0
MAX_POLL_MS = 1000


class SupervisorError(RuntimeError):
    """The supervisor cannot start (another instance running, directory unusable)."""


class Supervisor:
    def __init__(self, config: Config, reload: Callable[[], Config] | None = None,
                 redactor: Redactor | None = None,
                 notifier: ServiceNotifier | None = None) -> None:
        self.config = config
        self.notify = notifier or ServiceNotifier(NotifySocket(None))  # systemd, if any
        self.reload_config = reload
        self.redactor = redactor or Redactor()
        settings = config.supervisor
        assert settings.state_dir and settings.runtime_dir and settings.control
        self.state_dir = Path(settings.state_dir)
        self.runtime_dir = Path(settings.runtime_dir)
        self.actor_endpoint = f"ipc://{self.runtime_dir}/actors.sock"
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.actors_sock = router(self.ctx)
        self.codec = actor_codec()
        self.metrics = MetricsState()
        self.metrics.mode = "paper" if config.paper_mode else "live"
        self.pauses = PauseStore(self.state_dir)
        self.spawner = Spawner(settings.start_method)
        self.slots: dict[str, ActorSlot] = {}
        self.poller = zmq.Poller()
        self.by_sentinel: dict[int, ActorSlot] = {}
        self.paper: PaperVenue | None = None
        self.control = ControlPlane(self, self.ctx, settings.control, config)
        self.stopping = False
        self.stop_deadline: float | None = None
        self.metrics_addr: tuple[str, int] | None = None
        self._signal_r, self._signal_w = socket.socketpair()
        self._pending_signals: list[int] = []
        self._ping_seq = 0
        self._lock_files: list[int] = []
        self.paused_all = False

    # -- start ---------------------------------------------------------------------

    def _take_lock(self) -> None:
        """A second supervisor would steal the ipc endpoints (same runtime directory) or run
        a second actor on every key (same state directory): both are locked."""
        locks = [(self.runtime_dir / "supervisor.lock", f"runtime directory {self.runtime_dir}"),
                 (self.state_dir / "supervisor.lock", f"state directory {self.state_dir}")]
        control = self.config.supervisor.control or ""
        if control.startswith("ipc://"):  # an explicit endpoint may live outside runtime_dir
            locks.append((Path(control.removeprefix("ipc://") + ".lock"),
                          f"control endpoint {control}"))
        for path, what in locks:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise SupervisorError(f"another supervisor is running with {what}") from None
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._lock_files.append(fd)

    def _launch_for(self, config: Config, account: AccountConfig, venue_url: str, key: str,
                    secret: str) -> ActorLaunch:
        account_dir = self.state_dir / "accounts" / account.actor_id.replace(":", "-")
        account_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        runtime = str(self.runtime_dir)
        followed = any(a.enabled and a.mode == "follow" and a.leader == account.name
                       and a.broker == account.broker for a in config.accounts)
        return ActorLaunch(
            actor_id=account.actor_id, broker=account.broker, account=account.name,
            endpoint=self.actor_endpoint, state_dir=str(account_dir), venue_url=venue_url,
            tier=account.tier, allow_withdraw=account.allow_withdraw_permission,
            lockout_s=account.lockout_s, buying_power_assets=tuple(account.buying_power_assets),
            log_level=logging.getLogger().getEffectiveLevel(),
            heartbeat_interval_s=config.supervisor.heartbeat_interval_s,
            market_endpoint=market_endpoint(runtime, account.broker),
            fills_endpoint=fills_endpoint(runtime, account.broker, account.name)
            if followed else "",
            leader_endpoint=fills_endpoint(runtime, account.broker, account.leader)
            if account.mode == "follow" and account.leader else "",
            trading=trading_settings(account),
            api_key=key, api_secret=secret,
        )

    def _market_slot(self, config: Config, broker: BrokerName, venue_url: str) -> ActorSlot:
        """The broker's market data actor: public calls only, no key, never paused."""
        account = AccountConfig(name=MARKET_ACTOR, broker=broker, restart=config.restart)
        state = self.state_dir / "market" / broker
        state.mkdir(mode=0o700, parents=True, exist_ok=True)
        launch = ActorLaunch(
            actor_id=account.actor_id, broker=broker, account=MARKET_ACTOR,
            endpoint=self.actor_endpoint, state_dir=str(state), venue_url=venue_url,
            log_level=logging.getLogger().getEffectiveLevel(),
            heartbeat_interval_s=config.supervisor.heartbeat_interval_s, role="market",
            market_endpoint=market_endpoint(str(self.runtime_dir), broker),
            market=market_settings(config))
        return new_slot(account, launch, config.supervisor.heartbeat_interval_s,
                        config.supervisor.heartbeat_misses, paused=False)

    def _slots_for(self, config: Config) -> dict[str, ActorSlot]:
        paused = self.pauses.load()
        accounts = [a for a in config.accounts if a.enabled]
        if config.paper_mode:
            assert self.paper is not None
            keys = self.paper.provision(accounts)
            creds = {a.name: (keys[a.name].key, keys[a.name].secret) for a in accounts}
            url = self.paper.url
        else:
            creds = {a.name: (a.credentials.key.reveal(), a.credentials.secret.reveal())
                     for a in accounts if a.credentials is not None}
            url = config.supervisor.kraken_url
        slots = {}
        for broker in sorted({a.broker for a in accounts if a.name in creds}):
            market = self._market_slot(config, broker, url)
            slots[market.actor_id] = market
        for account in accounts:
            if account.name not in creds:
                log.error("account %s has no credentials; not started", account.actor_id,
                          extra={"account": account.name, "broker": account.broker})
                continue
            key, secret = creds[account.name]
            self.redactor.add(key)
            self.redactor.add(secret)
            launch = self._launch_for(config, account, url, key, secret)
            slots[account.actor_id] = new_slot(
                account, launch, config.supervisor.heartbeat_interval_s,
                config.supervisor.heartbeat_misses, account.actor_id in paused or ALL in paused)
        return slots

    def start(self) -> None:
        self._take_lock()
        self.actors_sock.bind(self.actor_endpoint)
        try:
            self.control.bind()
        except (ValueError, OSError, zmq.ZMQError) as exc:
            raise SupervisorError(f"cannot open the control endpoint: {exc}") from None
        self.metrics_addr = serve_metrics(self.metrics, self.config.supervisor.metrics_addr)
        log.info("metrics on http://%s:%d/metrics", *self.metrics_addr)
        if self.config.paper_mode:
            self.paper = PaperVenue(self.config, self.state_dir)
            self.paper.provision([a for a in self.config.accounts if a.enabled])
            self.paper.start()
        self.paused_all = ALL in self.pauses.load()
        self.slots = self._slots_for(self.config)
        for slot in self.slots.values():
            self.metrics.actors[slot.actor_id] = slot.series
            self._spawn(slot)
        log.info("supervising %d actor(s) in %s mode: %s", len(self.slots), self.metrics.mode,
                 ", ".join(self.slots))

    @property
    def venue_url(self) -> str:
        if self.paper is not None:
            return self.paper.url
        return self.config.supervisor.kraken_url

    def _spawn(self, slot: ActorSlot) -> None:
        now = time.monotonic()
        slot.process = self.spawner.spawn(slot.launch)
        self.poller.register(slot.process.sentinel, zmq.POLLIN)
        self.by_sentinel[slot.process.sentinel] = slot
        slot.started_at = now
        slot.connected = slot.requested_stop = slot.unfixable = slot.stable = False
        slot.exit_handled = False
        slot.terminal_state = None
        slot.restart_at = slot.kill_at = None
        slot.monitor.start(now)
        slot.series.new_incarnation()
        slot.set_state("starting")

    # -- signals -------------------------------------------------------------------

    def _install_signals(self) -> None:
        self._signal_w.setblocking(False)
        signal.set_wakeup_fd(self._signal_w.fileno(), warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda signum, _frame: self._pending_signals.append(signum))

    def _handle_signals(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self._signal_r.recv(4096)
        while self._pending_signals:
            signum = self._pending_signals.pop(0)
            if signum == signal.SIGHUP:
                self.reload()
            else:
                log.info("received %s: stopping", signal.Signals(signum).name)
                self.begin_stop()

    # -- loop ----------------------------------------------------------------------

    def run(self) -> int:
        self._install_signals()
        self.poller.register(self.actors_sock, zmq.POLLIN)
        self.poller.register(self.control.sock, zmq.POLLIN)
        self.poller.register(self._signal_r.fileno(), zmq.POLLIN)
        self.start()
        next_ping = next_resources = 0.0
        interval = self.config.supervisor.heartbeat_interval_s
        last_turn = time.monotonic()
        while True:
            now = time.monotonic()
            if now - last_turn > interval:
                # This loop itself was stalled (SIGSTOP, swap, a slow disk): read the
                # heartbeats queued meanwhile before judging any actor hung.
                self._drain_actors()
            last_turn = now
            if now >= next_ping:
                self._ping_all()
                next_ping = now + interval
            if now >= next_resources:
                self._sample_resources()
                next_resources = now + RESOURCE_SAMPLE_S
            self._timers(now)
            if self.notify.enabled:  # READY, STATUS, WATCHDOG: only a turning loop pings
                self.notify.update(now, [(s.state, s.connected) for s in self.slots.values()],
                                   self.metrics.mode)
            if self.stopping and not any(s.alive for s in self.slots.values()):
                break
            wake = min(next_ping, next_resources, self._next_timer(), self.notify.deadline())
            timeout_ms = max(0, int((wake - time.monotonic()) * 1000) + 1)
            ready = dict(self.poller.poll(min(timeout_ms, MAX_POLL_MS)))
            if self.actors_sock in ready:
                self._drain_actors()
            if self.control.sock in ready:
                self.control.drain()
            if self._signal_r.fileno() in ready:
                self._handle_signals()
            for fd in ready:
                slot = self.by_sentinel.get(fd) if isinstance(fd, int) else None
                if slot is not None:
                    self._reap(slot)
        self._shutdown_rest()
        return 0

    def _next_timer(self) -> float:
        """The earliest restart, kill or stop deadline: the loop must wake for it, not
        wait for unrelated traffic."""
        times = [t for s in self.slots.values() for t in (s.restart_at, s.kill_at)
                 if t is not None]
        if self.stop_deadline is not None:
            times.append(self.stop_deadline)
        return min(times, default=float("inf"))

    def _timers(self, now: float) -> None:
        if self.paper is not None and not self.stopping:
            self.paper.check(now)
        self.control.expire(now)
        for slot in list(self.slots.values()):
            if slot.alive:
                self._check_liveness(slot, now)
            elif slot.restart_at is not None and now >= slot.restart_at and not self.stopping:
                self._spawn(slot)
        if self.stop_deadline is not None and now >= self.stop_deadline:
            for slot in self.slots.values():
                if slot.alive and slot.process is not None and slot.process.pid:
                    slot.log.warning("%s did not stop within the deadline; killing", slot.actor_id)
                    self._kill(slot)

    def _check_liveness(self, slot: ActorSlot, now: float) -> None:
        if slot.kill_at is not None and now >= slot.kill_at:
            self._kill(slot)
            return
        if slot.requested_stop:
            return
        if not slot.connected and now - (slot.started_at or now) > STARTUP_TIMEOUT_S:
            slot.detail = f"no Hello within {STARTUP_TIMEOUT_S:.0f}s"
            slot.log.error("%s: %s; killing", slot.actor_id, slot.detail)
            self._kill(slot)
        elif slot.connected and slot.monitor.is_hung(now):
            slot.detail = f"hung: no heartbeat for {slot.monitor.age(now):.1f}s"
            slot.log.error("%s %s; killing and restarting", slot.actor_id, slot.detail)
            self._kill(slot)
        elif slot.connected and not slot.stable and slot.state in ("running", "paused") and (
                now - (slot.started_at or now) >= STABLE_AFTER_S):
            slot.stable = True
            slot.policy.on_stable(now)
        if slot.connected:
            slot.series.heartbeat_age_s = slot.monitor.age(now)

    def _kill(self, slot: ActorSlot) -> None:
        if slot.process is not None and slot.process.pid and slot.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(slot.process.pid, signal.SIGKILL)

    def _ping_all(self) -> None:
        self._ping_seq += 1
        ping = encode(Ping(seq=self._ping_seq, sent_at=time.time()))
        for slot in self.slots.values():
            if slot.connected and slot.alive:
                self.send_to_actor(slot, ping)

    def send_to_actor(self, slot: ActorSlot, frame: bytes | Message) -> bool:
        data = frame if isinstance(frame, bytes) else encode(frame)
        try:
            self.actors_sock.send_multipart([slot.identity, data], zmq.NOBLOCK)
        except (zmq.Again, zmq.ZMQError) as exc:
            log.debug("cannot reach %s: %s", slot.actor_id, exc)
            return False
        return True

    # -- actor messages --------------------------------------------------------------

    def _drain_actors(self) -> None:
        while self.actors_sock.poll(0):
            frames = self.actors_sock.recv_multipart()
            if len(frames) != 2:
                continue  # a DEALER always sends exactly one frame; anything else is noise
            identity, frame = frames
            actor_id = identity.decode(errors="replace").rpartition("/")[0]
            slot = self.slots.get(actor_id)
            try:
                message = self.codec.decode(frame)
            except ProtocolError as exc:
                with contextlib.suppress(zmq.ZMQError):
                    self.actors_sock.send_multipart([identity, encode(exc.to_error())],
                                                    zmq.NOBLOCK)
                continue
            if slot is None:
                with contextlib.suppress(zmq.ZMQError):
                    self.actors_sock.send_multipart([identity, encode(Error(
                        request_id=None, code="refused",
                        message=f"no actor {identity.decode(errors='replace')!r} is configured",
                    ))], zmq.NOBLOCK)
                continue
            self._on_actor_message(slot, identity, message)

    def _on_actor_message(self, slot: ActorSlot, identity: bytes, message: Message) -> None:
        now = time.monotonic()
        if isinstance(message, Hello):
            self._on_hello(slot, identity, message, now)
            return
        if not slot.connected or identity != slot.identity:
            return  # an old incarnation, or a peer that is not the process we started
        if isinstance(message, Heartbeat):
            slot.monitor.beat(now)
            slot.summary = message.summary
            if slot.state not in ("stopping",) and message.state in ("running", "paused"):
                slot.set_state(message.state)
        elif isinstance(message, StateChanged):
            self._on_state_changed(slot, message)
        elif isinstance(message, (Reply, Error)):
            self.control.on_actor_reply(slot, message)
        elif isinstance(message, MetricsSample):
            with self.metrics.lock:
                slot.series.ingest(message)
        elif isinstance(message, LogRecord):
            emit_actor_record(message, slot.actor_id, slot.pid)

    def _on_hello(self, slot: ActorSlot, identity: bytes, hello: Hello, now: float) -> None:
        """Bind the routing id of the process we spawned: the id names this incarnation
        (`kraken:master/<pid>`), the Hello's pid and actor id must agree with it and with the
        process, so neither a stale incarnation nor another local peer can pose as it."""
        expected = f"{slot.actor_id}/{slot.pid}".encode()
        if identity != expected or hello.pid != slot.pid or hello.actor_id != slot.actor_id:
            with contextlib.suppress(zmq.ZMQError):
                self.actors_sock.send_multipart([identity, encode(Error(
                    request_id=None, code="refused",
                    message="not the process the supervisor started for this actor"))],
                    zmq.NOBLOCK)
            return
        slot.identity = identity
        if hello.protocol_version != PROTOCOL_VERSION:
            self.send_to_actor(slot, Error(request_id=None, code="version_mismatch", message=(
                f"supervisor speaks protocol {PROTOCOL_VERSION}, actor {hello.protocol_version}")))
            return
        slot.connected = True
        slot.monitor.start(now)
        self.send_to_actor(slot, Welcome(
            protocol_version=PROTOCOL_VERSION, paused=slot.paused,
            heartbeat_interval_s=self.config.supervisor.heartbeat_interval_s,
            heartbeat_misses=self.config.supervisor.heartbeat_misses))
        slot.set_state("starting")

    def _on_state_changed(self, slot: ActorSlot, message: StateChanged) -> None:
        if message.state in UNFIXABLE_STATES:
            slot.unfixable = True
            slot.terminal_state = message.state
        if message.reason:
            slot.detail = message.reason
        level = logging.ERROR if message.state in (*UNFIXABLE_STATES, "error") else logging.INFO
        slot.log.log(level, "%s is %s%s", slot.actor_id, message.state,
                     f": {message.reason}" if message.reason else "")
        if slot.state != "stopping" or message.state in (*UNFIXABLE_STATES, "error"):
            slot.set_state(message.state)

    # -- exits ---------------------------------------------------------------------

    def _reap(self, slot: ActorSlot) -> None:
        """The slot's exit sentinel fired: collect the exit status once and decide."""
        process = slot.process
        if process is None or slot.exit_handled:
            return
        process.join(0)
        if process.exitcode is None:
            return  # not really gone (the sentinel should not fire before exit)
        slot.exit_handled = True
        self.poller.unregister(process.sentinel)
        self.by_sentinel.pop(process.sentinel, None)
        self._on_exit(slot, process.exitcode, time.monotonic())

    def _on_exit(self, slot: ActorSlot, exitcode: int, now: float) -> None:
        slot.connected = False
        slot.series.up = False
        slot.series.heartbeat_age_s = None
        detail = (f"killed by {signal.Signals(-exitcode).name}" if exitcode < 0
                  else f"exited with code {exitcode}")
        if slot.removing or self.stopping:
            slot.set_state("stopped")
            slot.log.info("%s stopped (%s)", slot.actor_id, detail)
            if slot.removing:
                self._forget(slot)
            return
        if slot.restart_now:
            slot.restart_now = False
            slot.policy.reset()
            slot.log.info("%s restarting on request", slot.actor_id)
            slot.series.restarts += 1
            self._spawn(slot)
            return
        kind = classify_exit(exitcode, requested_stop=slot.requested_stop,
                             unfixable=slot.unfixable)
        decision = slot.policy.on_exit(kind, now, detail=detail)
        if decision.action == "restart":
            slot.restart_at = now + decision.delay_s
            slot.detail = decision.reason
            slot.series.restarts += 1
            slot.set_state("backoff")
            slot.log.warning("%s %s; restarting in %.2fs", slot.actor_id, decision.reason,
                             decision.delay_s)
        elif decision.action == "fail":
            slot.detail = decision.reason
            slot.set_state("failed")
            slot.log.error("ACTOR FAILED: %s: %s; it will not be restarted (nijactl restart "
                           "%s); other accounts keep running", slot.actor_id, decision.reason,
                           slot.account.name)
        elif decision.action == "credentials_invalid":
            state = slot.terminal_state or "credentials_invalid"
            slot.set_state(state)
            fix = "the key" if state == "credentials_invalid" else "the configuration"
            slot.log.error("%s: %s: %s; fix %s, then nijactl restart %s",
                           state.upper().replace("_", " "), slot.actor_id, slot.detail, fix,
                           slot.account.name)
        else:
            slot.set_state("stopped")

    def _forget(self, slot: ActorSlot) -> None:
        self.slots.pop(slot.actor_id, None)
        with self.metrics.lock:
            self.metrics.actors.pop(slot.actor_id, None)

    # -- operations used by the control plane -------------------------------------------

    def request_stop(self, slot: ActorSlot, deadline_s: float) -> None:
        """Graceful: Shutdown with a deadline, then SIGKILL if it is still there."""
        if not slot.alive:
            return
        slot.requested_stop = True
        slot.set_state("stopping")
        slot.kill_at = time.monotonic() + deadline_s
        if not slot.connected or not self.send_to_actor(
                slot, Shutdown(request_id=0, deadline_s=max(0.1, deadline_s - 0.5))):
            self._kill(slot)

    def restart(self, slot: ActorSlot) -> None:
        """Operator restart: clean budget; start again right away once the old one exits."""
        slot.policy.reset()
        slot.detail = ""
        if slot.alive:
            slot.restart_now = True
            self.request_stop(slot, self.config.supervisor.shutdown_deadline_s)
        else:
            slot.restart_at = None
            slot.series.restarts += 1
            self._spawn(slot)

    def set_paused(self, slots: list[ActorSlot], paused: bool, everything: bool = False) -> None:
        """`everything` is the kill switch: it also covers accounts added later."""
        if everything:
            self.paused_all = paused
        elif not paused:
            self.paused_all = False  # resuming one account ends the blanket switch
        for slot in slots:
            slot.paused = paused
            slot.series.paused = paused
        flags = {s.actor_id for s in self.slots.values() if s.paused}
        self.pauses.save(flags | ({ALL} if self.paused_all else set()))

    def begin_stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        deadline = self.config.supervisor.shutdown_deadline_s
        self.stop_deadline = time.monotonic() + deadline
        alive = sum(s.alive for s in self.slots.values())
        self.notify.stopping(time.monotonic(), f"{alive} actor(s), deadline {deadline:g}s")
        for slot in self.slots.values():
            slot.restart_at = None
            self.request_stop(slot, deadline)

    def reload(self) -> None:
        """SIGHUP: added accounts start, removed ones stop, changed ones restart."""
        if self.reload_config is None or self.stopping:
            return
        try:
            config = self.reload_config()
        except (ConfigError, OSError, RuntimeError) as exc:  # a bad edit must not take it down
            log.error("config reload failed, keeping the running configuration: %s", exc)
            return
        if config.paper_mode != self.config.paper_mode:
            log.error("config reload would switch between paper and live mode; restart the "
                      "supervisor to do that. Keeping the running configuration.")
            return
        try:
            wanted = self._slots_for(config)
        except RuntimeError as exc:  # unreadable pause state: keep what runs
            log.error("config reload failed, keeping the running configuration: %s", exc)
            return
        self.config = config
        for actor_id, slot in list(self.slots.items()):
            new = wanted.get(actor_id)
            if new is None:
                slot.log.info("%s removed from the configuration; stopping it", actor_id)
                slot.removing = True
                if slot.alive:
                    self.request_stop(slot, config.supervisor.shutdown_deadline_s)
                else:
                    self._forget(slot)
            elif new.account != slot.account or new.launch != slot.launch:
                slot.log.info("%s changed; restarting it", actor_id)
                slot.account, slot.launch = new.account, new.launch
                slot.policy, slot.monitor = new.policy, new.monitor
                self.restart(slot)
        for actor_id, new in wanted.items():
            if actor_id not in self.slots:
                new.log.info("%s added to the configuration; starting it", actor_id)
                self.slots[actor_id] = new
                self.metrics.actors[actor_id] = new.series
                self._spawn(new)

    def _sample_resources(self) -> None:
        for slot in self.slots.values():
            pid = slot.pid
            if pid is None:
                continue
            try:
                proc = psutil.Process(pid)
                with proc.oneshot():
                    info = proc.memory_full_info()
                    cpu = proc.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            with self.metrics.lock:
                slot.series.rss_bytes = float(info.rss)
                slot.series.uss_bytes = float(info.uss)
                slot.series.cpu_seconds = cpu.user + cpu.system

    def _shutdown_rest(self) -> None:
        if self.paper is not None:
            self.paper.stop()
        self.control.close()
        self.actors_sock.close()
        self.ctx.term()
        self.notify.sock.close()
        log.info("supervisor stopped")
