"""Run the venue as a child process (tests, benchmarks, paper mode) and wait for its URL."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType


class SimulatorStartError(RuntimeError):
    """The venue exited or stayed silent instead of printing its base URL."""


class SimulatorProcess:
    """`python -m simulator` on a free loopback port; `url` is set once it is serving."""

    def __init__(self, keys_file: str | os.PathLike[str], *, seed: int = 42, speed: float = 1.0,
                 faults_file: str | os.PathLike[str] | None = None,
                 settings_file: str | os.PathLike[str] | None = None,
                 host: str = "127.0.0.1", port: int = 0, log_file: Path | None = None,
                 watch_parent: bool = False) -> None:
        self.args = [sys.executable, "-m", "simulator", "--host", host, "--port", str(port),
                     "--keys", os.fspath(keys_file), "--seed", str(seed), "--speed", str(speed)]
        if faults_file is not None:
            self.args += ["--faults", os.fspath(faults_file)]
        if settings_file is not None:
            self.args += ["--settings", os.fspath(settings_file)]
        if watch_parent:
            self.args.append("--watch-parent")
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 20.0) -> str:
        stderr = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=stderr)
        finally:
            if self.log_file:
                stderr.close()  # type: ignore[union-attr]
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                self.stop()
                raise SimulatorStartError(f"no URL from the simulator within {timeout}s")
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("http"):
            code = self.proc.wait(timeout=5)
            raise SimulatorStartError(f"simulator exited with code {code} before serving")
        self.url = line
        return line

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait()

    def __enter__(self) -> SimulatorProcess:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
