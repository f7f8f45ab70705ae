"""The supervisor's own costs: control round trip, restart time, memory and idle CPU.

Every figure comes from real supervisors (`run_supervisor.py --paper`, one subprocess per
phase, each in its own session and /tmp runtime directory) on this machine, in one run:

1. Control round trip: `AccountQuery(what="status")` through `ControlClient`, i.e. client ->
   supervisor -> actor -> supervisor -> client, which the actor answers itself. The baseline,
   measured in the same run and interleaved block by block with it, is the same two-hop shape
   in plain processes: the same `ControlClient`, a bare ROUTER server process and a bare
   DEALER "actor" process, with the same msgspec codecs and messages.
2. Kill-to-running restart time: SIGKILL an actor, then watch the supervisor's log (JSON
   lines with millisecond timestamps) for the new incarnation's "is running", sending the
   supervisor nothing meanwhile; the new pid is then confirmed through `status`. Backoff
   is configured down to 1 ms for the mechanism figure; the first restart with the default
   backoff is reported too, and a breakdown (new pid, Hello accepted) from kills during
   which `status` is polled every ~4 ms.
3. USS per actor with 50 paper accounts (and the fork server's and the supervisor's).
4. The supervisor's CPU while idle with 50 accounts (and the actors').
5. spawn vs forkserver (bench/spawn_methods.py): start-up and memory of K actors each way.
"""

from __future__ import annotations

import calendar
import contextlib
import json
import multiprocessing as mp
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import msgspec
import psutil
import zmq

from bench.table import Row, fmt, goal, ratio, row
from protocol.codec import actor_codec, control_codec, encode, supervisor_codec
from protocol.messages import (
    PROTOCOL_VERSION,
    AccountQuery,
    Ack,
    ActorStatus,
    Hello,
    Query,
    QueryReply,
    Reply,
    Shutdown,
    StatusReply,
    StatusRequest,
    StopRequest,
)
from supervisor.config import RestartSettings
from supervisor.ctl import ControlClient

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
GOALS = {"control_rtt_ratio_max": 1.5, "restart_p50_ms_max": 150.0,
         "uss_mib_per_actor_max": 12.0, "idle_cpu_percent_max": 3.0}
# The supervisor gets SIGTERM (a graceful stop) if this benchmark dies without cleaning up.
_LAUNCH = ("import ctypes, os, signal, sys; ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0);"
           " os.execv(sys.executable, [sys.executable, *sys.argv[1:]])")
# Mechanism, not policy: restart after 1 ms, no jitter, no growth, a budget that never runs out.
FAST_RESTART: dict[str, object] = {"backoff_initial_s": 0.001, "backoff_multiplier": 1.0,
                                   "jitter": 0.0, "intensity": 1000, "period_s": 60.0}


# -- small helpers ---------------------------------------------------------------------

def summary(values: list[float], digits: int = 3) -> dict[str, Any]:
    """n, p50, p99, mean, min, max of `values` (already in the unit wanted)."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    p99 = (statistics.quantiles(ordered, n=100, method="inclusive")[98] if len(ordered) > 1
           else ordered[0])
    return {"n": len(ordered), "p50": round(statistics.median(ordered), digits),
            "p99": round(p99, digits), "mean": round(statistics.fmean(ordered), digits),
            "min": round(ordered[0], digits), "max": round(ordered[-1], digits)}


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def toml_table(values: Mapping[str, object]) -> str:
    return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in values.items()) + "}"


def _parse_ts(ts: str) -> float:
    """`2026-01-02T03:04:05.678Z` (the supervisor's log format) as unix seconds."""
    return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) + int(ts[20:23]) / 1000


class LogTail:
    """New JSON log lines of a supervisor, as (unix time, message) pairs."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        self._partial = b""

    def read(self) -> list[tuple[float, str]]:
        data = self._partial + self._file.read()
        *lines, self._partial = data.split(b"\n")
        out = []
        for line in lines:
            try:
                entry = json.loads(line)
                out.append((_parse_ts(entry["ts"]), str(entry["msg"])))
            except (ValueError, KeyError, TypeError):
                continue  # not one of the supervisor's JSON lines (a traceback, say)
        return out

    def close(self) -> None:
        self._file.close()


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def uss_mib(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).memory_full_info().uss) / MIB
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


# -- one supervisor under test -----------------------------------------------------------

class SupervisorProcess:
    """`run_supervisor.py --paper` in its own session, runtime dir under /tmp (ipc paths
    are limited to 107 bytes), metrics on a free port, stderr (JSON logs) to a file."""

    def __init__(self, accounts: list[str], *, start_method: str = "forkserver",
                 restart: Mapping[str, object] | None = None,
                 account_restart: Mapping[str, Mapping[str, object]] | None = None) -> None:
        self.accounts = accounts
        lines = ["[supervisor]", f"start_method = {toml_value(start_method)}", ""]
        if restart:
            lines += ["[restart]", *(f"{k} = {toml_value(v)}" for k, v in restart.items()), ""]
        if account_restart:
            # [[account]] tables replace [paper].accounts; per-account restart overrides.
            for name in accounts:
                lines.append("[[account]]")
                lines.append(f"name = {toml_value(name)}")
                if name in account_restart:
                    lines.append(f"restart = {toml_table(account_restart[name])}")
                lines.append("")
        else:
            lines += ["[paper]", f"accounts = {toml_value(accounts)}", ""]
        self.config_text = "\n".join(lines)
        self.dir = Path(tempfile.mkdtemp(prefix="nb-", dir="/tmp"))
        self.log_path = self.dir / "supervisor.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: ControlClient | None = None
        self.started_wall = self.started = 0.0

    def __enter__(self) -> SupervisorProcess:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        config = self.dir / "nija.toml"
        config.write_text(self.config_text)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("KRAKEN_", "NIJA_")) and k != "CREDENTIALS_DIRECTORY"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        args = [sys.executable, "-c", _LAUNCH, str(REPO / "run_supervisor.py"), "--paper",
                "--config", str(config), "--state-dir", str(self.dir / "s"),
                "--runtime-dir", str(self.dir / "r"), "--metrics-addr", "127.0.0.1:0",
                "--log-level", "INFO"]
        with self.log_path.open("wb") as log:
            self.started_wall, self.started = time.time(), time.monotonic()
            # cwd: an empty directory, so no ./.env is read; the environment has no KRAKEN_*.
            self.proc = subprocess.Popen(args, cwd=self.dir, env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=log,
                                         start_new_session=True)
        self.client = ControlClient(f"ipc://{self.dir}/r/control.sock", timeout_s=10.0)

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL to whatever is left of its process group."""
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=20)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # actors, fork server, venue
            if self.proc.poll() is None:
                self.proc.wait(timeout=10)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def _check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"supervisor exited with code {self.proc.returncode}:\n{tail}")

    def status(self) -> dict[str, ActorStatus]:
        assert self.client is not None
        reply = self.client.request(lambda rid: StatusRequest(request_id=rid))
        if not isinstance(reply, StatusReply):
            raise RuntimeError(f"status failed: {reply}")
        # The account actors only: the broker's market data actor is not under measurement.
        return {a.account: a for a in reply.actors if a.account in self.accounts}

    def wait_running(self, old_pids: dict[str, int | None] | None = None,
                     timeout: float = 90.0, interval: float = 0.02) -> dict[str, ActorStatus]:
        """Until every account is `running` (with a pid other than `old_pids[account]`)."""
        old = old_pids or {}
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            with contextlib.suppress(TimeoutError):
                actors = self.status()
                if len(actors) == len(self.accounts) and all(
                        a.state == "running" and a.pid is not None and a.pid != old.get(name)
                        for name, a in actors.items()):
                    return actors
            if time.monotonic() > deadline:
                raise TimeoutError(f"not all running within {timeout}s: {self.status()}")
            time.sleep(interval)

    def children(self) -> dict[str, list[int]]:
        """The supervisor's own children by role: fork server, paper venue, others."""
        roles: dict[str, list[int]] = {"forkserver": [], "venue": [], "other": []}
        for child in psutil.Process(self.pid).children():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                cmdline = " ".join(child.cmdline())
                role = ("forkserver" if "forkserver" in cmdline else
                        "venue" if "simulator" in cmdline else "other")
                roles[role].append(child.pid)
        return roles


# -- 1. control round trip ----------------------------------------------------------------

def _bare_actor(endpoint: str, identity: bytes) -> None:
    """A plain DEALER answering Query("status") as the real actor does, in one process."""
    started = time.monotonic()
    codec = supervisor_codec()
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.ROUTING_ID, identity)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    sock.send(encode(Hello(actor_id=identity.decode(), pid=os.getpid(),
                           protocol_version=PROTOCOL_VERSION, started_at=time.time())))
    while True:
        message = codec.decode(sock.recv())
        if isinstance(message, Shutdown):
            break
        if isinstance(message, Query):
            sock.send(encode(Reply(request_id=message.request_id, result={
                "state": "running", "pid": os.getpid(), "paused": False,
                "uptime_s": time.monotonic() - started, "assets": 3})))
    sock.close()
    ctx.term()


def _bare_server(control_endpoint: str, actor_endpoint: str) -> None:
    """A plain ROUTER relaying AccountQuery -> Query -> Reply -> QueryReply, like the
    supervisor's control path, and nothing else."""
    requests, replies = control_codec(), actor_codec()
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    actors, control = ctx.socket(zmq.ROUTER), ctx.socket(zmq.ROUTER)
    for sock in (actors, control):
        sock.setsockopt(zmq.LINGER, 0)
    actors.bind(actor_endpoint)
    identity, _hello = actors.recv_multipart()  # the actor is connected: serve clients
    control.bind(control_endpoint)
    poller = zmq.Poller()
    poller.register(actors, zmq.POLLIN)
    poller.register(control, zmq.POLLIN)
    pending: dict[int, tuple[bytes, int]] = {}
    next_id = 0
    while True:
        ready = dict(poller.poll())
        if control in ready:
            client, frame = control.recv_multipart()
            request = requests.decode(frame)
            if isinstance(request, StopRequest):
                actors.send_multipart([identity, encode(Shutdown(request_id=0, deadline_s=1))])
                control.send_multipart([client, encode(Ack(request_id=request.request_id,
                                                           message="stopping"))])
                break
            if isinstance(request, AccountQuery):
                next_id += 1
                pending[next_id] = (client, request.request_id)
                actors.send_multipart([identity, encode(Query(
                    request_id=next_id, what=request.what, params=dict(request.params)))])
        if actors in ready:
            sender, frame = actors.recv_multipart()
            message = replies.decode(frame)
            if isinstance(message, Reply) and message.request_id in pending:
                client, request_id = pending.pop(message.request_id)
                control.send_multipart([client, encode(QueryReply(
                    request_id=request_id, actor=sender.decode(), result=message.result))])
    time.sleep(0.1)  # let the Shutdown out
    actors.close()
    control.close()
    ctx.term()


def _query_for(account: str) -> Callable[[int], AccountQuery]:
    return lambda rid: AccountQuery(request_id=rid, account=account, what="status")


def _timed_queries(client: ControlClient, accounts: list[str], n: int) -> list[float]:
    """n sequential AccountQuery(status) round trips in seconds, rotating over accounts."""
    builders = [_query_for(account) for account in accounts]
    out = []
    for i in range(n):
        started = time.perf_counter()
        reply = client.request(builders[i % len(builders)])
        out.append(time.perf_counter() - started)
        if not isinstance(reply, QueryReply):
            raise RuntimeError(f"query {accounts[i % len(accounts)]} failed: {reply}")
    return out


def control_round_trip(quick: bool) -> dict[str, Any]:
    n, warmup, blocks = (600, 200, 6) if quick else (2000, 300, 10)
    accounts = [f"rtt{i}" for i in range(4)]
    bare_dir = Path(tempfile.mkdtemp(prefix="nb-", dir="/tmp"))
    ctx = mp.get_context("spawn")
    bare_ctl = f"ipc://{bare_dir}/control.sock"
    procs = [ctx.Process(target=_bare_server, args=(bare_ctl, f"ipc://{bare_dir}/actors.sock")),
             ctx.Process(target=_bare_actor, args=(f"ipc://{bare_dir}/actors.sock",
                                                   b"kraken:rtt0"))]
    bare_client: ControlClient | None = None
    bare: list[float] = []
    full: list[float] = []
    try:
        for proc in procs:
            proc.start()
        with SupervisorProcess(accounts) as sup:
            sup.wait_running()
            time.sleep(1.0)  # past the actors' first ticks
            assert sup.client is not None
            bare_client = ControlClient(bare_ctl, timeout_s=10.0)
            phases = [(bare_client, ["rtt0"], bare), (sup.client, accounts, full)]
            for client, names, _ in phases:
                _timed_queries(client, names, warmup)
            for block in range(blocks):  # interleaved, so drift hits both alike
                for client, names, out in (phases if block % 2 == 0 else phases[::-1]):
                    out += _timed_queries(client, names, n // blocks)
            bare_client.request(lambda rid: StopRequest(request_id=rid))
            restarts = sum(a.restarts for a in sup.status().values())
    finally:
        if bare_client is not None:
            bare_client.close()
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        shutil.rmtree(bare_dir, ignore_errors=True)
    bare_ms = summary([1000 * x for x in bare])
    full_ms = summary([1000 * x for x in full])
    return {
        "what": "AccountQuery(what='status') via ControlClient: client -> supervisor -> actor "
                "-> supervisor -> client, sequential",
        "accounts": len(accounts), "requests": len(full), "warmup": warmup,
        "interleaved_blocks": blocks, "actor_restarts_during_run": restarts,
        "supervisor_ms": full_ms,
        "bare_zmq_msgspec_baseline_ms": bare_ms,
        "bare_baseline": "same ControlClient; plain ROUTER server process + plain DEALER actor "
                         "process over ipc, same msgspec codecs and messages",
        "p50_ratio": round(full_ms["p50"] / bare_ms["p50"], 3),
        "p99_ratio": round(full_ms["p99"] / bare_ms["p99"], 3),
        "mean_ratio": round(full_ms["mean"] / bare_ms["mean"], 3),
    }


# -- 2. kill-to-running restart time ------------------------------------------------------

def kill_and_wait(sup: SupervisorProcess, tail: LogTail, account: str, *,
                  breakdown: bool = False, timeout: float = 20.0) -> dict[str, float]:
    """SIGKILL `account`'s actor and time (ms after the kill) its way back to running.

    The supervisor's log (JSON lines, ms timestamps, read every ~2 ms: no load on the
    supervisor) gives when it saw the exit and when the new incarnation reported running:
    `restart_ms`; then `status` confirms a new pid, running. Nothing is sent to the
    supervisor before that (status is polled only if the log stays silent for 3 s), unless
    `breakdown`: then status is polled every ~4 ms to see when the new pid appears and when
    its Hello was accepted (a heartbeat age is shown only for a connected actor). Those
    polls wake the supervisor's loop, which starts a pending restart sooner, so
    `breakdown` kills are reported apart. Without the log lines the status time is used."""
    actor_id = f"kraken:{account}"
    old = sup.status()[account]
    assert old.state == "running" and old.pid is not None, old
    tail.read()  # skip what is already there
    interval = 0.004 if breakdown else 0.25
    killed_wall, killed = time.time(), time.perf_counter()
    os.kill(old.pid, signal.SIGKILL)
    detected = logged = new_pid = connected = running = None
    next_poll = killed + (interval if breakdown else 3.0)
    while True:
        for ts, msg in tail.read():
            if msg.startswith(f"{actor_id} killed by"):
                detected = ts
            elif msg == f"{actor_id} is running" and detected is not None:
                logged = ts
        at = time.perf_counter()
        if at >= next_poll or (logged is not None and running is None):
            next_poll = at + interval
            now = sup.status()[account]
            if now.pid not in (None, old.pid):
                new_pid = new_pid or at
                if now.heartbeat_age_s is not None:
                    connected = connected or at
                if now.state == "running":
                    running = running or at
        if running is not None and (logged is not None or at - running > 0.5):
            break
        if at - killed > timeout:
            raise TimeoutError(f"{actor_id} not running again within {timeout}s: {now}")
        time.sleep(0.002)
    restart_ms = 1000 * (logged - killed_wall) if logged is not None else 1000 * (
        running - killed)
    out = {"restart_ms": restart_ms,
           "exit_detected_ms": 1000 * (detected - killed_wall) if detected else float("nan")}
    if breakdown:
        assert new_pid is not None and connected is not None
        out.update({"new_pid_in_status_ms": 1000 * (new_pid - killed),
                    "hello_accepted_ms": 1000 * (connected - killed),
                    "hello_accepted_to_running_ms": max(0.0, restart_ms
                                                        - 1000 * (connected - killed))})
    return out


def _digest(samples: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {key: summary([s[key] for s in samples if s[key] == s[key]], 1)
                           for key in samples[0]}  # (NaN != NaN: a missing log line)
    out["over_500ms"] = [round(s["restart_ms"], 1) for s in samples if s["restart_ms"] > 500]
    if "hello_accepted_ms" in samples[0]:
        out["hello_accepted_1s_late"] = sum(
            1 for s in samples if s["hello_accepted_ms"] - s["new_pid_in_status_ms"] >= 900)
    out["all_restart_ms"] = [round(s["restart_ms"], 1) for s in samples]
    return out


def restart_times(quick: bool) -> dict[str, Any]:
    # One kill per account: every start makes ~6 rate-limited private calls (the paper
    # venue enforces Kraken's starter tier, 15 points decaying 0.33/s), so a third start of
    # one account within seconds waits ~20 s for the venue's rate limit, not for the restart.
    kills, explained, first = (10, 4, 4) if quick else (30, 10, 10)
    fast = [f"f{i:02d}" for i in range(kills)]
    split = [f"b{i:02d}" for i in range(explained)]
    slow = [f"d{i:02d}" for i in range(first)]
    gap = 0.2
    default = msgspec.structs.asdict(RestartSettings())
    fast_table = {k: v for k, v in {**default, **FAST_RESTART}.items() if k != "type"}
    default_table = {k: v for k, v in default.items() if k != "type"}
    per_account = {**dict.fromkeys(fast + split, fast_table),
                   **dict.fromkeys(slow, default_table)}
    runs: dict[str, list[dict[str, float]]] = {"mechanism": [], "breakdown": [], "default": []}
    with SupervisorProcess(fast + split + slow, account_restart=per_account) as sup:
        sup.wait_running()
        time.sleep(1.0)
        tail = LogTail(sup.log_path)
        try:
            for name, accounts in (("mechanism", fast), ("breakdown", split),
                                   ("default", slow)):
                for account in accounts:
                    runs[name].append(kill_and_wait(sup, tail, account,
                                                    breakdown=name == "breakdown"))
                    time.sleep(gap)
        finally:
            tail.close()
        final = sup.status()
    return {
        "method": "SIGKILL an actor (one kill per account, one at a time) and watch the "
                  "supervisor's JSON log (ms timestamps) for 'killed by SIGKILL' and the new "
                  "incarnation's 'is running', sending the supervisor nothing meanwhile; "
                  "then status confirms the new pid is running. The breakdown kills poll "
                  "status every ~4 ms instead, which wakes the supervisor's loop.",
        "accounts": len(per_account), "kills": kills, "gap_between_kills_s": gap,
        "mechanism_restart_setting": fast_table,
        "mechanism": _digest(runs["mechanism"]),
        "breakdown_with_4ms_status_polls": _digest(runs["breakdown"]),
        "default_backoff_setting": default_table,
        "first_restart_default_backoff": _digest(runs["default"]),
        "restarts_total_reported": sum(a.restarts for a in final.values()),
        "all_running_at_end": all(a.state == "running" for a in final.values()),
    }


# -- 3 and 4. memory and idle CPU with 50 accounts ---------------------------------------------

def fifty_accounts(quick: bool) -> dict[str, Any]:
    count, settle, window = 50, (2.0 if quick else 3.0), (10.0 if quick else 20.0)
    accounts = [f"acct{i:02d}" for i in range(count)]
    with SupervisorProcess(accounts) as sup:
        actors = sup.wait_running(timeout=120, interval=0.05)
        all_running_s = time.monotonic() - sup.started
        time.sleep(settle)
        roles = sup.children()
        actor_pids = {name: a.pid for name, a in actors.items() if a.pid is not None}
        procs = {name: psutil.Process(pid) for name, pid in actor_pids.items()}
        supervisor, venue = psutil.Process(sup.pid), [psutil.Process(p) for p in roles["venue"]]
        forkserver = [psutil.Process(p) for p in roles["forkserver"]]
        watched = [supervisor, *venue, *forkserver, *procs.values()]
        before = {p.pid: cpu_seconds(p) for p in watched}
        started = time.monotonic()
        time.sleep(window)  # idle: the bench sends nothing to the supervisor meanwhile
        elapsed = time.monotonic() - started
        cpu = {p.pid: 100 * (cpu_seconds(p) - before[p.pid]) / elapsed for p in watched}
        after = sup.status()
        restarted = [n for n, a in after.items() if a.pid != actor_pids.get(n)]
        actor_uss = [u for u in (uss_mib(pid) for pid in actor_pids.values()) if u is not None]
        actor_full = [psutil.Process(pid).memory_full_info() for pid in actor_pids.values()]
        fs_uss = [uss_mib(p.pid) for p in forkserver]
        sup_info = supervisor.memory_full_info()
        venue_uss = [uss_mib(p.pid) for p in venue]
    actor_cpu = [cpu[p.pid] for p in procs.values()]
    return {
        "accounts": count, "start_method": "forkserver",
        "cold_start_all_running_s": round(all_running_s, 2),
        "uss": {
            "actor_mib": summary(actor_uss, 2),
            "actor_rss_mib_mean": round(statistics.fmean(m.rss for m in actor_full) / MIB, 2),
            "actor_pss_mib_mean": round(statistics.fmean(m.pss for m in actor_full) / MIB, 2),
            "forkserver_mib": [round(u, 2) for u in fs_uss if u is not None],
            "supervisor_mib": round(sup_info.uss / MIB, 2),
            "supervisor_rss_mib": round(sup_info.rss / MIB, 2),
            "paper_venue_mib": [round(u, 2) for u in venue_uss if u is not None],
            "total_mib_actors_forkserver_supervisor": round(
                sum(actor_uss) + sum(u for u in fs_uss if u is not None)
                + sup_info.uss / MIB, 1),
            "unit": "MiB (2**20 bytes), psutil memory_full_info().uss",
        },
        "idle_cpu": {
            "settle_s": settle, "window_s": round(elapsed, 2),
            "supervisor_percent_of_one_core": round(cpu[supervisor.pid], 2),
            "actor_percent_mean": round(statistics.fmean(actor_cpu), 3),
            "actor_percent_max": round(max(actor_cpu), 3),
            "actors_percent_sum": round(sum(actor_cpu), 2),
            "forkserver_percent": [round(cpu[p.pid], 3) for p in forkserver],
            "paper_venue_percent": [round(cpu[p.pid], 2) for p in venue],
            "actors_restarted_during_window": restarted,
        },
    }


# -- the benchmark ---------------------------------------------------------------------------

def _goal(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _spawn_rows(methods: dict[str, Any]) -> list[Row]:
    """forkserver (the default) against spawn, each with the same K actors in this run."""
    k, fs, sp = methods["actors"], methods["forkserver"], methods["spawn"]
    figures = (("all running from cold (s)", "cold_start_from_first_spawn_s", "all_running"),
               ("all restarted at once (s)", "restart_all_at_once_s", "all_running"),
               ("USS per actor (MiB)", "uss_mib_per_actor", "mean"))
    return [row(f"{k} actors, forkserver + preload: {name}", fs[group][key], None,
                f"{fmt(sp[group][key])}: spawn", ratio(fs[group][key], sp[group][key]))
            for name, group, key in figures]


def _table(rtt: dict[str, Any], restart: dict[str, Any], fifty: dict[str, Any],
           methods: dict[str, Any]) -> list[Row]:
    """The report's rows: the four goals first, then the figures behind them."""
    full, bare = rtt["supervisor_ms"], rtt["bare_zmq_msgspec_baseline_ms"]
    mechanism = restart["mechanism"]["restart_ms"]
    uss, idle = fifty["uss"]["actor_mib"]["mean"], fifty["idle_cpu"]
    limit = GOALS["control_rtt_ratio_max"]
    return [
        row("control round trip p50 (ms)", full["p50"],
            goal(f"≤ {limit}× bare", rtt["p50_ratio"] <= limit),
            f"{fmt(bare['p50'])}: bare pyzmq + msgspec, same two hops", rtt["p50_ratio"]),
        row("kill-to-running restart p50, 1 ms backoff (ms)", mechanism["p50"],
            goal(f"≤ {fmt(GOALS['restart_p50_ms_max'])}",
                 mechanism["p50"] <= GOALS["restart_p50_ms_max"])),
        row(f"USS per actor, {fifty['accounts']} accounts (MiB)", uss,
            goal(f"≤ {fmt(GOALS['uss_mib_per_actor_max'])}",
                 uss <= GOALS["uss_mib_per_actor_max"])),
        row(f"supervisor idle CPU, {fifty['accounts']} accounts (% of one core)",
            idle["supervisor_percent_of_one_core"],
            goal(f"< {fmt(GOALS['idle_cpu_percent_max'])}",
                 idle["supervisor_percent_of_one_core"] < GOALS["idle_cpu_percent_max"])),
        row("control round trip p99 (ms)", full["p99"], None, f"{fmt(bare['p99'])}: bare",
            rtt["p99_ratio"]),
        row("kill-to-running restart p99, 1 ms backoff (ms)", mechanism["p99"]),
        row("first restart, default backoff, p50 (ms)",
            restart["first_restart_default_backoff"]["restart_ms"]["p50"]),
        row(f"cold start, {fifty['accounts']} accounts all running (s)",
            fifty["cold_start_all_running_s"]),
        row("actor idle CPU, mean (% of one core)", idle["actor_percent_mean"]),
        *_spawn_rows(methods),
    ]


def run(quick: bool = False) -> dict[str, Any]:
    from bench import spawn_methods  # it uses SupervisorProcess from this module

    started, load_before = time.monotonic(), os.getloadavg()
    rtt = control_round_trip(quick)
    restart = restart_times(quick)
    fifty = fifty_accounts(quick)
    methods = spawn_methods.compare(quick)
    ratio = rtt["p50_ratio"]
    restart_p50 = restart["mechanism"]["restart_ms"]["p50"]
    uss = fifty["uss"]["actor_mib"]["mean"]
    idle = fifty["idle_cpu"]["supervisor_percent_of_one_core"]
    return {
        "benchmark": "supervisor",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "zmq": zmq.zmq_version(), "pyzmq": zmq.__version__,
                    "msgspec": msgspec.__version__,
                    "loadavg_1m_before_after": [round(load_before[0], 2),
                                                round(os.getloadavg()[0], 2)]},
        "quick": quick,
        "control_round_trip": rtt,
        "restart": restart,
        "fifty_accounts": fifty,
        "spawn_vs_forkserver": methods,
        "goals": {
            "control_rtt_p50_ratio<=1.5": _goal(ratio <= GOALS["control_rtt_ratio_max"]),
            "restart_p50_ms<=150": _goal(restart_p50 <= GOALS["restart_p50_ms_max"]),
            "uss_mib_per_actor<=12": _goal(uss <= GOALS["uss_mib_per_actor_max"]),
            "idle_cpu_percent<3": _goal(idle < GOALS["idle_cpu_percent_max"]),
        },
        "table": _table(rtt, restart, fifty, methods),
        "seconds_total": round(time.monotonic() - started, 1),
        "headline": {"control_rtt_p50_ratio_to_bare_zmq": ratio, "restart_p50_ms": restart_p50,
                     "uss_mb_per_actor": uss, "idle_cpu_percent": idle},
    }
