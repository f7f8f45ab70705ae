"""A real Prometheus server for tests: `prometheus` from PATH (Debian's package in CI),
scraping the given targets every second with the given rule files loaded, its TSDB and
log in a temporary directory, its HTTP API on a free loopback port.

`RunningPrometheus` is a context manager and always stops the server and removes its
directory. Queries go through the HTTP API (`/api/v1/...`), as Grafana's would; a PromQL
error raises `PromQLError` with Prometheus's own message.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.supervisor_harness import short_tempdir, wait_until
from tests.tools import require_tool

START_TIMEOUT_S = 30.0
PORT_ATTEMPTS = 3


class PromQLError(AssertionError):
    """Prometheus answered a query with status "error" (bad expression, bad type...)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def host_port(url: str) -> str:
    """"http://127.0.0.1:1234/metrics" -> "127.0.0.1:1234" (a scrape target)."""
    netloc = urllib.parse.urlsplit(url).netloc
    assert netloc, f"no host:port in {url!r}"
    return netloc


def scrape_config(targets: Iterable[str], rule_files: Iterable[Path], job: str,
                  interval: str) -> str:
    """prometheus.yml as JSON (a subset of YAML): one static job, rules evaluated as
    often as targets are scraped so `for:` clauses and rates move at test speed."""
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval,
                   "scrape_timeout": interval},
        "rule_files": [str(Path(f).resolve()) for f in rule_files],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}],
    }
    return json.dumps(config, indent=2)


class RunningPrometheus:
    """`prometheus` scraping `targets` (HOST:PORT, job `job`) with `rule_files` loaded."""

    def __init__(self, targets: Iterable[str], rule_files: Iterable[Path] = (), *,
                 job: str = "nija", scrape_interval: str = "1s") -> None:
        self.binary = require_tool("prometheus")
        self.targets = tuple(targets)
        self.rule_files = tuple(Path(f) for f in rule_files)
        self.job = job
        self.root = short_tempdir("nija-prom-")
        self.config_path = self.root / "prometheus.yml"
        self.config_path.write_text(scrape_config(self.targets, self.rule_files, job,
                                                  scrape_interval))
        self.log_path = self.root / "prometheus.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    # -- lifecycle -------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT_S) -> RunningPrometheus:
        """Start on a free port (another one if that port was taken meanwhile) and wait
        until the server says it is ready."""
        for _attempt in range(PORT_ATTEMPTS):
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            self.proc = self._spawn(port)
            ready = wait_until(self._ready_or_exited, timeout, "prometheus to be ready",
                               details=self.log_tail)
            if ready == "ready":
                return self
            if "address already in use" not in self.log_tail():
                break
        raise AssertionError(f"prometheus did not start:\n{self.log_tail()}")

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        cmd = [self.binary, f"--config.file={self.config_path}",
               f"--storage.tsdb.path={self.root / 'data'}",
               f"--web.listen-address=127.0.0.1:{port}", "--log.level=info"]
        with open(self.log_path, "ab") as log:
            return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    cwd=self.root, start_new_session=True)

    def _ready_or_exited(self) -> str | None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            return "exited"
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return "ready" if response.status == 200 else None
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def close(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its directory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RunningPrometheus:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- HTTP API --------------------------------------------------------------------

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/PATH; the `data` member of a successful answer."""
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:  # 400/422 carry the PromQL error as JSON
            with contextlib.closing(exc):
                body = json.loads(exc.read() or b"{}")
        if body.get("status") != "success":
            raise PromQLError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or [scalar]) `expr` evaluates to now: a list of
        {"metric": {labels}, "value": [time, "text"]}."""
        data = self.api("query", query=expr)
        result = data["result"]
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": result}]
        assert isinstance(result, list)
        return result

    def wait_query(self, expr: str, what: str,
                   ok: Callable[[list[dict[str, Any]]], bool] = bool,
                   timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll `expr` until `ok(result)` (default: not empty) and return that result."""
        def attempt() -> list[dict[str, Any]] | None:
            result = self.query(expr)
            return result if ok(result) else None

        return wait_until(attempt, timeout, what, interval=0.5,
                          details=lambda: f"{expr} -> {self.query(expr)}\n{self.log_tail()}")

    def values(self, expr: str, by: str = "account") -> dict[str, float]:
        """{label `by` of each series: its value} for an instant query."""
        return {r["metric"].get(by, ""): float(r["value"][1]) for r in self.query(expr)}

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule (alerting and recording), with its query, health and error."""
        groups = self.api("rules")["groups"]
        return [rule for group in groups for rule in group["rules"]]

    def active_targets(self) -> list[dict[str, Any]]:
        return list(self.api("targets")["activeTargets"])

    def wait_scraped(self, timeout: float = 20.0) -> None:
        """Until every target has been scraped successfully at least once."""
        def healthy() -> bool:
            found = self.active_targets()
            return len(found) == len(self.targets) and all(
                t["health"] == "up" for t in found)

        wait_until(healthy, timeout, "every target to be scraped", interval=0.25,
                   details=lambda: f"{self.active_targets()}\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
