from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from simulator import SimulatorProcess, new_key, write_keys_file
from simulator.keys import TRADING_PERMISSIONS
from tests.venue_client import Admin, Client, unique_name

RICH = {"ZUSD": "1000000", "XXBT": "10", "XETH": "100", "SOL": "1000", "XLTC": "1000",
        "USDT": "100000"}


class Venue:
    """A running simulator plus helpers to provision fresh, isolated keys on it."""

    def __init__(self, proc: SimulatorProcess) -> None:
        self.proc = proc
        self.url = proc.url
        self.admin = Admin(proc.url)

    def account(self, prefix: str = "acct", **spec: Any) -> tuple[Client, str]:
        spec.setdefault("balances", RICH)
        key = new_key(unique_name(prefix), **spec)
        self.admin.post("keys", msgspec.to_builtins(key))
        return Client(self.url, key.key, key.secret), key.name


def _start(tmp: Path, settings: str | None = None, faults: str | None = None,
           **kwargs: Any) -> SimulatorProcess:
    tmp.mkdir(parents=True, exist_ok=True)
    keys = write_keys_file(tmp / "keys.toml", [new_key("seed-account", balances=RICH)])
    settings_file = faults_file = None
    if settings is not None:
        settings_file = tmp / "settings.toml"
        settings_file.write_text(settings)
    if faults is not None:
        faults_file = tmp / "faults.toml"
        faults_file.write_text(faults)
    proc = SimulatorProcess(keys, settings_file=settings_file, faults_file=faults_file,
                            log_file=tmp / "simulator.log", **kwargs)
    proc.start()
    return proc


@pytest.fixture(scope="session")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    """One shared venue per test process; tests isolate themselves with fresh keys."""
    proc = _start(tmp_path_factory.mktemp("venue"))
    yield Venue(proc)
    proc.stop()


@pytest.fixture
def own_venue(tmp_path: Path) -> Iterator[Callable[..., Venue]]:
    """A private venue for tests that move the clock, set prices or inject faults."""
    started: list[SimulatorProcess] = []

    def start(**kwargs: Any) -> Venue:
        proc = _start(tmp_path / f"v{len(started)}", **kwargs)
        started.append(proc)
        return Venue(proc)

    yield start
    for proc in started:
        proc.stop()


__all__ = ["TRADING_PERMISSIONS", "Venue"]
