"""The `python -m simulator` process: readiness line, signals, clear startup errors."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from simulator import SimulatorProcess, new_key, write_keys_file


@pytest.fixture
def keys_file(tmp_path):
    return write_keys_file(tmp_path / "keys.toml", [new_key("master")])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_prints_its_url_on_a_free_port_and_stops_cleanly_on_signal(keys_file, sig):
    venue = SimulatorProcess(keys_file, port=0)
    url = venue.start()
    assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
    assert requests.get(f"{url}/0/public/Time", timeout=5).json()["error"] == []
    assert venue.proc is not None
    started = time.monotonic()
    venue.proc.send_signal(sig)
    assert venue.proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 5


def _run(*args):
    return subprocess.run([sys.executable, "-m", "simulator", *args], capture_output=True,
                          text=True, timeout=30)


def test_duplicate_key_names_exit_2_naming_the_key(tmp_path):
    path = tmp_path / "keys.toml"
    spec = new_key("master")
    path.write_text("".join(
        f'[[key]]\nname = "master"\nkey = "{k}"\nsecret = "{spec.secret}"\n\n' for k in "ab"))
    result = _run("--keys", str(path), "--port", "0")
    assert result.returncode == 2 and result.stdout == ""
    assert "duplicate key name 'master'" in result.stderr
    assert "Traceback" not in result.stderr
    assert spec.secret not in result.stderr


def test_bad_faults_file_exits_2_naming_the_field(tmp_path, keys_file):
    faults = tmp_path / "faults.toml"
    faults.write_text("[endpoint.AddOrder]\napply_then_fail = 1.5\n")
    result = _run("--keys", str(keys_file), "--faults", str(faults), "--port", "0")
    assert result.returncode == 2 and "endpoint.AddOrder.apply_then_fail" in result.stderr


def test_port_in_use_exits_2(keys_file):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run("--keys", str(keys_file), "--port", str(port))
    assert result.returncode == 2 and "cannot listen" in result.stderr


def test_missing_keys_file_exits_2(tmp_path):
    result = _run("--keys", str(tmp_path / "nope.toml"), "--port", "0")
    assert result.returncode == 2 and "nope.toml" in result.stderr


def test_state_starts_empty_on_restart(tmp_path):
    """Documented: the venue keeps state in memory only; the keys file recreates accounts."""
    from simulator import load_keys
    from tests.venue_client import Admin, Client

    spec = new_key("master", balances={"ZUSD": "1000"})
    keys_file = write_keys_file(tmp_path / "keys.toml", [spec])
    with SimulatorProcess(keys_file) as venue:
        Client(venue.url, spec.key, spec.secret).ok(
            "AddOrder", pair="XBTUSD", type="buy", ordertype="market", volume="0.001")
        assert len(Admin(venue.url).orders("master")) == 1
    with SimulatorProcess(keys_file) as venue:
        assert Admin(venue.url).orders("master") == []
        assert Client(venue.url, spec.key, spec.secret).ok("Balance") == {"ZUSD": "1000.0000"}
    assert load_keys(keys_file) == [spec]


def test_bench_simulator_quick_prints_json_with_the_headline_last():
    result = subprocess.run([sys.executable, "-m", "bench", "simulator", "--quick"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    *body, last = result.stdout.strip().splitlines()
    report = json.loads("\n".join(body))
    headline = json.loads(last)["headline"]
    assert headline["private_rps"] == report["private_signed_mix"]["rps"] > 0
    assert report["public_time_baseline"]["rps"] > 0
