"""Drive the real supervisor the way an operator does: `run_supervisor.py` as a child
process, `nijactl` for control, signals, the `/metrics` scrape and the JSON log lines it
writes on stderr. Nothing here imports the supervisor; every check goes through a process,
a socket or /proc.

`RunningSupervisor` is a context manager: it always stops what it started, including
descendants that were re-parented after the supervisor died (tracked by pid + create time).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import psutil

ROOT = Path(__file__).resolve().parents[1]
NIJACTL = str(Path(sys.executable).with_name("nijactl"))
PAPER_ACCOUNTS = ("master", "daivon", "tania")
READY_TIMEOUT_S = 30.0
T = TypeVar("T")


def short_tempdir(prefix: str = "nija-") -> Path:
    """A directory short enough for ipc:// socket paths (sun_path is 108 bytes)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without anything that changes the supervisor's config
    (credentials, NIJA_* settings, systemd/XDG directories), plus `extra`."""
    drop = ("KRAKEN_", "NIJA_", "CREDENTIALS_DIRECTORY", "STATE_DIRECTORY",
            "RUNTIME_DIRECTORY", "XDG_STATE_HOME", "XDG_RUNTIME_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra or {})
    return env


def wait_until(predicate: Callable[[], T], timeout: float, what: str,
               interval: float = 0.1, details: Callable[[], str] | None = None) -> T:
    """Poll until `predicate()` is truthy and return its value; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f"\n{details()}" if details is not None else ""
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}{extra}")
        time.sleep(interval)


def is_gone(proc: psutil.Process) -> bool:
    """Exited (a zombie waiting for an init that may never reap it counts as exited)."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def cmdline_of(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return ""


class ProcessTracker:
    """Every descendant of one process ever seen, so they can still be found (and killed)
    after the root died and they were re-parented."""

    def __init__(self, root_pid: int, marker: str | None) -> None:
        self.root_pid = root_pid
        self.marker = marker  # a path that appears in the command line of some descendants
        self.seen: dict[int, psutil.Process] = {}

    def refresh(self) -> None:
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(self.root_pid).children(recursive=True):
                self.seen.setdefault(child.pid, child)

    def alive(self) -> list[psutil.Process]:
        """Descendants seen so far that are still running (refreshes first)."""
        self.refresh()
        return [p for p in self.seen.values() if not is_gone(p)]

    def by_marker(self) -> list[psutil.Process]:
        if self.marker is None:
            return []
        return [p for p in psutil.process_iter() if p.pid != os.getpid()
                and self.marker in cmdline_of(p) and not is_gone(p)]

    def survivors(self) -> list[psutil.Process]:
        alive = {p.pid: p for p in self.seen.values() if not is_gone(p)}
        alive.update({p.pid: p for p in self.by_marker() if p.pid != self.root_pid})
        return list(alive.values())

    def kill_all(self) -> None:
        for proc in self.survivors():
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGCONT)  # a SIGSTOPped test victim
                proc.kill()


class RunningSupervisor:
    """`python run_supervisor.py` in paper mode (unless `env` carries credentials) with
    its own state and runtime directories under a short temporary root."""

    def __init__(self, accounts: Iterable[str] = PAPER_ACCOUNTS, *, root: Path | None = None,
                 config: str | None = None, env: Mapping[str, str] | None = None,
                 args: Iterable[str] = (), ready: Iterable[str] = ("running",),
                 runtime_dir: Path | None = None) -> None:
        self.accounts = tuple(accounts)
        self.owns_root = root is None
        self.root = root if root is not None else short_tempdir()
        self.state_dir = self.root / "s"
        self.runtime_dir = runtime_dir if runtime_dir is not None else self.root / "r"
        self.control = f"ipc://{self.runtime_dir}/control.sock"
        self.config_path = self.root / "nija.toml" if config is not None else None
        if config is not None and self.config_path is not None:
            self.config_path.write_text(config)
        self.env = clean_env(env)
        self.args = tuple(args)
        self.ready = tuple(ready)
        self.stderr_path = self.root / f"stderr-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.tracker: ProcessTracker | None = None
        self.with_market = False  # status() lists account actors unless this is set

    # -- lifecycle -----------------------------------------------------------------

    def command(self) -> list[str]:
        cmd = [sys.executable, str(ROOT / "run_supervisor.py"), "--state-dir",
               str(self.state_dir), "--runtime-dir", str(self.runtime_dir),
               "--metrics-addr", "127.0.0.1:0"]
        if self.config_path is not None:
            cmd += ["--config", str(self.config_path)]
        return cmd + list(self.args)

    def launch(self) -> RunningSupervisor:
        """Start the process without waiting for the fleet (cwd is the temporary root, so
        no stray `.env` file is picked up)."""
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=stderr,
                                         cwd=self.root, env=self.env, start_new_session=True)
        # Only the owner of the root may kill by command line: a second supervisor sharing
        # the root must not take the first one's simulator down when it is closed.
        self.tracker = ProcessTracker(self.proc.pid, str(self.root) if self.owns_root else None)
        return self

    def start(self, timeout: float = READY_TIMEOUT_S) -> RunningSupervisor:
        self.launch()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> list[dict[str, Any]]:
        def ready() -> list[dict[str, Any]] | None:
            self._assert_alive()
            actors = self.try_status()
            if actors is None:
                return None
            states = {a["account"]: a["state"] for a in actors}
            ok = all(states.get(name) in self.ready for name in self.accounts)
            return actors if ok else None

        return self.wait_for(ready, timeout, f"{self.accounts} to be {self.ready}")

    def _assert_alive(self) -> None:
        assert self.proc is not None, "not launched"
        code = self.proc.poll()
        if code is not None:
            raise AssertionError(f"supervisor exited with {code}:\n{self.stderr()[-4000:]}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def send_signal(self, sig: int) -> None:
        assert self.proc is not None and self.tracker is not None
        self.tracker.refresh()
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        """SIGTERM, then SIGKILL; then kill any descendant that is still around."""
        if self.proc is not None and self.tracker is not None:
            if self.proc.poll() is None:
                self.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            self.tracker.kill_all()
        if self.owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RunningSupervisor:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- control -------------------------------------------------------------------

    def ctl(self, *args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
        """`nijactl --control <this supervisor> ARGS...`."""
        return subprocess.run([NIJACTL, "--control", self.control, *args], capture_output=True,
                              text=True, timeout=timeout, env=clean_env(), check=False)

    def try_status(self, timeout: float = 3.0) -> list[dict[str, Any]] | None:
        done = self.ctl("--timeout", str(timeout), "status", "--json", timeout=timeout + 10)
        if done.returncode != 0:
            return None
        if self.tracker is not None:
            self.tracker.refresh()
        actors: list[dict[str, Any]] = json.loads(done.stdout)
        return actors if self.with_market else [a for a in actors if a.get("role") != "market"]

    def status(self) -> list[dict[str, Any]]:
        actors = self.try_status(timeout=10.0)
        assert actors is not None, f"nijactl status failed\n{self.stderr()[-3000:]}"
        return actors

    def actor(self, account: str) -> dict[str, Any]:
        found = [a for a in self.status() if a["account"] == account]
        assert found, f"{account} is not in the status"
        return found[0]

    def pid_of(self, account: str) -> int:
        pid = self.actor(account)["pid"]
        assert isinstance(pid, int), f"{account} has no pid"
        return pid

    def pids(self) -> dict[str, int | None]:
        return {a["account"]: a["pid"] for a in self.status()}

    def wait_for(self, predicate: Callable[[], T], timeout: float, what: str = "condition",
                 interval: float = 0.1) -> T:
        return wait_until(predicate, timeout, what, interval, details=self.describe)

    def wait_state(self, account: str, states: str | Iterable[str], timeout: float = 15.0,
                   *, not_pid: int | None = None) -> dict[str, Any]:
        """Wait until `account` is in one of `states` (and, if given, with a pid other than
        `not_pid`); returns its status entry."""
        wanted = (states,) if isinstance(states, str) else tuple(states)

        def match() -> dict[str, Any] | None:
            entry = {a["account"]: a for a in self.try_status() or []}.get(account)
            if entry is None or entry["state"] not in wanted:
                return None
            return entry if not_pid is None or entry["pid"] != not_pid else None

        return self.wait_for(match, timeout, f"{account} to be {wanted}")

    def describe(self) -> str:
        actors = self.try_status(timeout=1.0)
        tail = "\n".join(self.stderr().splitlines()[-15:])
        return f"status: {actors}\nstderr tail:\n{tail}"

    # -- observation -----------------------------------------------------------------

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def logs(self) -> list[dict[str, Any]]:
        """The JSON log lines so far; a line that is not JSON comes back as {"unparsed": line}."""
        entries = []
        for line in self.stderr().splitlines():
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                entry = {"unparsed": line}
            entries.append(entry if isinstance(entry, dict) else {"unparsed": line})
        return entries

    def log_lines(self, level: str | None = None, contains: str = "") -> list[dict[str, Any]]:
        return [e for e in self.logs() if (level is None or e.get("level") == level)
                and contains in str(e.get("msg", ""))]

    @property
    def metrics_url(self) -> str:
        def find() -> str | None:
            for entry in self.logs():
                found = re.search(r"metrics on (http://\S+/metrics)", str(entry.get("msg", "")))
                if found:
                    return found[1]
            return None

        return self.wait_for(find, 10, "the metrics address in the logs")

    def scrape(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            return str(response.read().decode())

    def venue_url(self) -> str:
        """The exchange base URL the supervisor reports (the simulator's in paper mode)."""
        done = self.ctl("status")
        found = re.search(r"\(venue (http://\S+)\)", done.stdout)
        assert found, f"no venue in nijactl status:\n{done.stdout}\n{done.stderr}"
        return found[1]

    def summary(self, account: str) -> dict[str, str]:
        """The trading figures the account's actor last reported (equity, P&L, orders)."""
        return dict(self.actor(account).get("summary") or {})

    def keys(self) -> dict[str, tuple[str, str]]:
        """Paper mode: account -> (API key, API secret) as provisioned for this start."""
        text = (self.state_dir / "paper" / "keys.toml").read_text()
        blocks = re.findall(r'name = "([^"]+)"\nkey = "([^"]+)"\nsecret = "([^"]+)"', text)
        return {name: (key, secret) for name, key, secret in blocks}


def metric_samples(scrape: str, name: str, **labels: str) -> list[float]:
    """Values of every sample of `name` whose labels include `labels`."""
    values = []
    for line in scrape.splitlines():
        found = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if not found or found[1] != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', found[2] or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            values.append(float(found[3]))
    return values


def metric_value(scrape: str, name: str, **labels: str) -> float | None:
    """The value of the first sample of `name` whose labels include `labels`."""
    values = metric_samples(scrape, name, **labels)
    return values[0] if values else None


def kill(pid: int, sig: int = signal.SIGKILL) -> None:
    os.kill(pid, sig)


def proc_text(pid: int, what: str) -> bytes:
    """/proc/PID/cmdline or /proc/PID/environ, raw."""
    return Path(f"/proc/{pid}/{what}").read_bytes()


def memory_contains(pid: int, needles: Iterable[bytes], cap_bytes: int = 512 << 20) -> set[bytes]:
    """Which of `needles` occur in the readable, writable private memory of `pid` (heap,
    anonymous mappings, stacks); reads at most `cap_bytes` in total. Needs ptrace rights
    over `pid` (root, or the same user with ptrace_scope 0)."""
    wanted = list(needles)
    found: set[bytes] = set()
    budget = cap_bytes
    overlap = max((len(n) for n in wanted), default=1)
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if not fields[1].startswith("rw") or budget <= 0:
                continue
            size = min(end - start, budget)
            budget -= size
            for offset in range(0, size, 8 << 20):
                with contextlib.suppress(OSError, ValueError, OverflowError):
                    mem.seek(start + offset)
                    chunk = mem.read(min(8 << 20, size - offset) + overlap)
                    found.update(n for n in wanted if n in chunk)
    return found
