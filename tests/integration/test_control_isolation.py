"""Only the supervisor's own user may use its control socket: the ipc socket lives in a
0700 runtime directory, so another local user cannot even connect (the kernel refuses it,
before ZeroMQ or nija see anything); and a tcp control endpoint without CURVE keys is a
configuration error, so it is never served in plain text."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import zmq

from protocol.codec import encode
from protocol.messages import StatusRequest
from tests.supervisor_harness import ROOT, RunningSupervisor, clean_env, short_tempdir

NOBODY = 65534


def _as_nobody(path: str) -> int:
    """In a forked child that dropped to uid/gid nobody: 1 if the kernel refuses the
    connect, 2 if a ZeroMQ StatusRequest over ipc gets no answer either, 3 for both.
    A fork keeps this interpreter's modules, so nothing has to be readable by nobody."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
                try:
                    raw.connect(path)
                except PermissionError:
                    code |= 1
            ctx = zmq.Context()
            dealer = ctx.socket(zmq.DEALER)
            dealer.setsockopt(zmq.LINGER, 0)
            dealer.connect(f"ipc://{path}")
            dealer.send(encode(StatusRequest(request_id=1)))
            if not dealer.poll(2000):
                code |= 2
            dealer.close()
            ctx.term()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.fixture(scope="module")
def fleet():
    with RunningSupervisor(["master"]) as sup:
        yield sup


def test_the_runtime_directory_is_private_to_the_supervisors_user(fleet):
    mode = stat.S_IMODE(os.stat(fleet.runtime_dir).st_mode)
    assert mode == 0o700, oct(mode)
    assert os.stat(fleet.runtime_dir).st_uid == os.getuid()
    assert (fleet.runtime_dir / "control.sock").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="acting as another user needs root")
def test_another_local_user_cannot_connect_to_the_control_socket(fleet):
    path = str(fleet.runtime_dir / "control.sock")
    assert _as_nobody(path) == 3  # refused by the kernel, and no answer over ZeroMQ
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as own:  # its owner still can
        own.connect(path)
    assert fleet.ctl("status").returncode == 0  # and the supervisor served on


def test_a_tcp_control_endpoint_without_curve_is_refused_at_start():
    root = short_tempdir()
    done = subprocess.run(
        [sys.executable, str(ROOT / "run_supervisor.py"), "--state-dir", str(root / "s"),
         "--runtime-dir", str(root / "r"), "--control", "tcp://127.0.0.1:0",
         "--metrics-addr", "127.0.0.1:0"], capture_output=True, text=True, timeout=60,
        cwd=root, env=clean_env(), check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "tcp control endpoints require CURVE" in done.stderr
    assert "Traceback" not in done.stderr
    assert not Path(root / "r" / "control.sock").exists() and not (root / "s").exists()
