"""A canary key and secret, run through the live path (pointed at the simulator), never
appear in logs, nijactl output, metrics, state files, error replies, or any other
process's argv or environment."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from simulator import KeySpec, SimulatorProcess, write_keys_file
from simulator.keys import TRADING_PERMISSIONS

ROOT = Path(__file__).parents[2]
CANARY_KEY = base64.b64encode(b"CANARYKEY-" + b"k" * 32).decode()
CANARY_SECRET = base64.b64encode(b"CANARYSECRET-" + b"s" * 51).decode()
OTHER_SECRET = base64.b64encode(b"OTHERSECRET-" + b"o" * 52).decode()


def _ctl(runtime: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "supervisor.ctl", "--control",
                           f"ipc://{runtime}/control.sock", *args],
                          capture_output=True, text=True, timeout=30)


def _wait_running(runtime: Path, accounts: set[str]) -> list[dict[str, object]]:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        done = _ctl(runtime, "status", "--json")
        if done.returncode == 0:
            status = json.loads(done.stdout)
            if {a["account"] for a in status if a["state"] == "running"} >= accounts:
                return list(status)
        time.sleep(0.3)
    raise AssertionError("actors did not reach running")


@pytest.mark.timeout(120)
def test_canary_secrets_appear_nowhere(tmp_path):
    balances = {"ZUSD": "100000", "XXBT": "1"}
    keys = [KeySpec("master", CANARY_KEY, CANARY_SECRET, "pro", TRADING_PERMISSIONS, balances),
            KeySpec("daivon", base64.b64encode(b"OTHERKEY-" + b"d" * 33).decode(), OTHER_SECRET,
                    "pro", TRADING_PERMISSIONS, balances)]
    venue = SimulatorProcess(write_keys_file(tmp_path / "keys.toml", keys))
    venue.start()
    root = Path(tempfile.mkdtemp(prefix="nija-k-", dir="/tmp"))
    state, runtime = root / "s", root / "r"
    env = {**os.environ, "NIJA_KRAKEN_URL": venue.url,
           "KRAKEN_MASTER_API_KEY": CANARY_KEY, "KRAKEN_MASTER_API_SECRET": CANARY_SECRET,
           "KRAKEN_USER_DAIVON_API_KEY": keys[1].key,
           "KRAKEN_USER_DAIVON_API_SECRET": OTHER_SECRET}
    log_path = root / "supervisor.log"
    with open(log_path, "w") as log:
        sup = subprocess.Popen([sys.executable, "run_supervisor.py", "--state-dir", str(state),
                                "--runtime-dir", str(runtime), "--metrics-addr",
                                "127.0.0.1:0", "--log-level", "DEBUG"],
                               cwd=ROOT, env=env, stderr=log)
    outputs: list[str] = []
    try:
        status = _wait_running(runtime, {"master", "daivon"})
        for args in (("status",), ("query", "master", "balance"),
                     ("query", "master", "place_order", "-p", "pair=XBTUSD", "-p", "side=buy",
                      "-p", "volume=0.001"),
                     ("query", "master", "place_order", "-p", "pair=XBTUSD", "-p", "side=buy",
                      "-p", "volume=0.0000001"),  # an error reply
                     ("query", "master", "nonsense"), ("pause", "master"),
                     ("resume", "master")):
            done = _ctl(runtime, *args)
            outputs += [done.stdout, done.stderr]
        master_pid = next(int(a["pid"]) for a in status if a["account"] == "master")
        for proc in [psutil.Process(sup.pid), *psutil.Process(sup.pid).children(recursive=True)]:
            cmdline = " ".join(proc.cmdline())
            assert CANARY_SECRET not in cmdline and CANARY_KEY not in cmdline, proc
            if proc.pid != sup.pid:  # the operator gave the supervisor its environment
                environ = Path(f"/proc/{proc.pid}/environ").read_bytes().decode(errors="replace")
                assert CANARY_SECRET not in environ and OTHER_SECRET not in environ, proc
        master_memory_env = Path(f"/proc/{master_pid}/environ").read_text(errors="replace")
        assert OTHER_SECRET not in master_memory_env
        metrics_line = next(line for line in log_path.read_text().splitlines()
                            if "metrics on http" in line)
        url = json.loads(metrics_line)["msg"].split()[-1]
        with urllib.request.urlopen(url, timeout=10) as response:
            outputs.append(response.read().decode())
        os.kill(master_pid, signal.SIGKILL)  # a crash: its traceback-free exit is logged too
        _wait_running(runtime, {"master"})
    finally:
        sup.send_signal(signal.SIGTERM)
        sup.wait(timeout=30)
        venue.stop()
    outputs.append(log_path.read_text())
    outputs += [p.read_text(errors="replace") for p in state.rglob("*") if p.is_file()]
    blob = "\n".join(outputs)
    assert "nija_exchange_requests_total" in blob and "placed" not in CANARY_KEY
    for secret in (CANARY_KEY, CANARY_SECRET, OTHER_SECRET):
        assert secret not in blob
        assert secret[:24] not in blob  # not even a recognisable prefix
