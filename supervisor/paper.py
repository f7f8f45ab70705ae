"""Paper mode: the simulator as a supervised child, with fresh paper keys per account.

Paper and live differ only in the base URL and the keys each actor receives.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import msgspec

from simulator import KeySpec, SimulatorProcess, new_key, write_keys_file
from supervisor.config import AccountConfig, Config
from supervisor.restart_policy import ExitKind, RestartPolicy, RestartType

log = logging.getLogger("nija.paper")


class PaperVenue:
    """Owns the simulator process. Its port is fixed after the first start so restarted
    venues come back at the URL the actors already have."""

    def __init__(self, config: Config, state_dir: Path) -> None:
        self.config = config
        self.dir = state_dir / "paper"
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.keys: dict[str, KeySpec] = {}
        self.proc: SimulatorProcess | None = None
        self.port = 0
        self.policy = RestartPolicy(RestartType.PERMANENT, intensity=5, period_s=60.0)
        self.restart_at: float | None = None
        self.failed = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def provision(self, accounts: Sequence[AccountConfig]) -> dict[str, KeySpec]:
        """Fresh keys for every paper account (the venue starts empty on each start), at
        the tier the account is configured with, so the client's rate model matches."""
        paper = self.config.paper
        added = [new_key(a.name, tier=a.tier, balances=paper.balances_for(a.name))
                 for a in accounts if a.name not in self.keys]
        for spec in added:
            self.keys[spec.name] = spec
        write_keys_file(self.dir / "keys.toml", list(self.keys.values()))
        if self.proc is not None and self.proc.url:
            for spec in added:  # a running venue learns new accounts (SIGHUP) at run time
                self._register(spec)
        return self.keys

    def _register(self, spec: KeySpec) -> None:
        request = urllib.request.Request(f"{self.url}/admin/keys",
                                         data=msgspec.json.encode(spec), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def start(self) -> str:
        paper = self.config.paper
        self.proc = SimulatorProcess(self.dir / "keys.toml", seed=paper.seed, speed=paper.speed,
                                     port=self.port, log_file=self.dir / "simulator.log",
                                     watch_parent=True)
        url = self.proc.start()
        self.port = int(url.rsplit(":", 1)[1])
        log.warning("PAPER MODE: simulated Kraken at %s (speed %gx); no real exchange is "
                    "contacted", url, paper.speed)
        return url

    @property
    def pid(self) -> int | None:
        if self.proc is None or self.proc.proc is None:
            return None
        return self.proc.proc.pid

    def check(self, now: float) -> None:
        """Restart the venue with backoff if it died; give up loudly past its budget."""
        if self.failed or self.proc is None or self.proc.proc is None:
            return
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.restart_at = None
                try:
                    self.start()
                except RuntimeError as exc:
                    log.error("paper venue failed to restart: %s", exc)
                    self._exited(now, ExitKind.ABNORMAL)
            return
        code = self.proc.proc.poll()
        if code is not None:
            log.error("paper venue exited with code %s", code)
            self._exited(now, ExitKind.ABNORMAL)

    def _exited(self, now: float, kind: ExitKind) -> None:
        decision = self.policy.on_exit(kind, now)
        if decision.action == "restart":
            self.restart_at = now + decision.delay_s
        else:
            self.failed = True
            log.error("paper venue FAILED: %s", decision.reason)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
