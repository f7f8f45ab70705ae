"""TCP control is opt-in and CURVE-authenticated: whitelisted client keys only."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import zmq
import zmq.auth

from protocol.codec import encode
from protocol.messages import StatusRequest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nijactl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "supervisor.ctl", *args], capture_output=True,
                          text=True, timeout=30)


@pytest.mark.timeout(90)
def test_curve_control_answers_whitelisted_clients_only():
    root = Path(tempfile.mkdtemp(prefix="nija-c-", dir="/tmp"))
    keys, allowed, other = root / "keys", root / "allowed", root / "other"
    for d in (keys, allowed, other):
        d.mkdir()
    server_public, server_secret = zmq.auth.create_certificates(keys, "server")
    client_public, client_secret = zmq.auth.create_certificates(keys, "client")
    _, stranger_secret = zmq.auth.create_certificates(other, "stranger")
    (allowed / "client.key").write_bytes(Path(client_public).read_bytes())
    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    config = root / "nija.toml"
    config.write_text(
        f'[supervisor]\ncontrol = "{endpoint}"\n'
        f'control_curve_server_secret_file = "{server_secret}"\n'
        f'control_curve_authorized_dir = "{allowed}"\n[paper]\naccounts = ["master"]\n')
    proc = subprocess.Popen(
        [sys.executable, "run_supervisor.py", "--config", str(config), "--state-dir",
         str(root / "s"), "--runtime-dir", str(root / "r"), "--metrics-addr", "127.0.0.1:0"],
        stderr=open(root / "supervisor.log", "wb"), cwd=Path(__file__).parents[2])  # noqa: SIM115
    try:
        args = ["--control", endpoint, "--curve-server-key", str(server_public)]
        deadline = time.monotonic() + 30
        while True:
            done = _nijactl(*args, "--curve-client-key", str(client_secret), "--timeout", "3",
                            "status", "--json")
            if done.returncode == 0 and json.loads(done.stdout)[0]["state"] == "running":
                break
            assert time.monotonic() < deadline, done.stderr
            time.sleep(0.3)
        refused = _nijactl(*args, "--curve-client-key", str(stranger_secret), "--timeout", "2",
                           "status")
        assert refused.returncode == 1 and "no answer" in refused.stderr
        no_keys = _nijactl("--control", endpoint, "status")
        assert no_keys.returncode == 2 and "curve" in no_keys.stderr.lower()
        ctx = zmq.Context()
        plain = ctx.socket(zmq.DEALER)
        plain.setsockopt(zmq.LINGER, 0)
        plain.connect(endpoint)
        plain.send(encode(StatusRequest(request_id=1)))
        assert not plain.poll(1500), "a NULL-security client must get nothing"
        plain.close()
        ctx.term()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            tail = (root / "supervisor.log").read_text()[-3000:]
            raise AssertionError(f"supervisor did not stop within 60 s:\n{tail}") from None
        shutil.rmtree(root, ignore_errors=True)
