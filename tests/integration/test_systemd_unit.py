"""deploy/systemd/nija.service: `systemd-analyze verify` accepts it, the settings the
supervisor's design depends on are there, and the hardening it claims holds up (the
paper system runs with writable+executable memory refused, as MemoryDenyWriteExecute=
enforces).

`systemd-analyze verify` checks that ExecStart's program is executable on *this* host; the
unit points at /opt/nija, which exists only where nija is deployed, so the test verifies a
copy with those two paths rewritten to this checkout (nothing else changes). It does not
check User=, WorkingDirectory= or LoadCredential= paths. Unknown directives and unparsable
values are only warnings to it (exit code 0), so any line it prints about the unit counts
as a failure; `test_verify_rejects_*` proves that this check catches them.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from supervisor.config import SupervisorSettings
from supervisor.core import STARTUP_TIMEOUT_S
from tests.supervisor_harness import ROOT, RunningSupervisor
from tests.tools import require_tool

UNIT = ROOT / "deploy" / "systemd" / "nija.service"
DEPLOYED_PYTHON = "/opt/nija/.venv/bin/python"
DEPLOYED_ENTRY = "/opt/nija/run_supervisor.py"
PAPER_VENUE_STOP_S = 10.0  # supervisor/paper.py: SIGTERM, SIGKILL after 10 s
# systemd-analyze security: exposure 1.6 of 10 at the time of writing; dropping
# NoNewPrivileges, ProtectSystem, ProtectHome, CapabilityBoundingSet, SystemCallFilter and
# PrivateDevices makes it 5.8. --threshold counts in tenths.
MAX_EXPOSURE_TENTHS = 25


def local_copy(text: str, directory: Path) -> Path:
    """The unit with ExecStart pointing at this interpreter and checkout."""
    assert DEPLOYED_PYTHON in text and DEPLOYED_ENTRY in text, "ExecStart changed; update me"
    path = directory / "nija.service"
    path.write_text(text.replace(DEPLOYED_PYTHON, sys.executable)
                    .replace(DEPLOYED_ENTRY, str(ROOT / "run_supervisor.py")))
    return path


def verify_problems(text: str, directory: Path) -> list[str]:
    """Everything `systemd-analyze verify` objects to (empty when the unit is clean)."""
    analyze = require_tool("systemd-analyze")
    path = local_copy(text, directory)
    done = subprocess.run([analyze, "verify", "--recursive-errors=no", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    if done.returncode != 0:
        lines.append(f"exit code {done.returncode}")
    return lines


def settings(text: str) -> dict[str, dict[str, list[str]]]:
    """section -> key -> values, in order (a key may repeat)."""
    result: dict[str, dict[str, list[str]]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            result.setdefault(section, {})
            continue
        key, _, value = line.partition("=")
        result[section].setdefault(key.strip(), []).append(value.strip())
    return result


def seconds(span: str) -> float:
    units = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]*)", span)
    assert found and found[2] in (*units, ""), f"unsupported time span {span!r}"
    return float(found[1]) * units.get(found[2], 1)


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    assert verify_problems(UNIT.read_text(), tmp_path) == []


@pytest.mark.parametrize(("old", "new"), [
    ("NoNewPrivileges=yes", "NoNewPrivilege=yes"),  # unknown directive
    ("KillMode=mixed", "KillMode=mixd"),  # unparsable value
    ("[Service]", "[Servce]"),  # unknown section
    ("Type=notify", "Type notify"),  # not KEY=VALUE
])
def test_verify_rejects_unknown_directives_and_syntax_errors(
        tmp_path: Path, old: str, new: str) -> None:
    text = UNIT.read_text()
    assert old in text
    assert verify_problems(text.replace(old, new, 1), tmp_path) != []


def test_hardening_exposure_stays_low(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    path = local_copy(UNIT.read_text(), tmp_path)
    command = [analyze, "security", "--offline=yes", f"--threshold={MAX_EXPOSURE_TENTHS}",
               "--no-pager", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr


def test_unit_carries_what_the_supervisor_relies_on() -> None:
    unit = settings(UNIT.read_text())
    service, head = unit["Service"], unit["Unit"]
    one = {key: values[-1] for key, values in service.items()}
    assert one["Type"] == "notify" and one["NotifyAccess"] == "main"
    # SIGTERM to the supervisor alone: it stops the actors gracefully (docs/architecture.md).
    assert one["KillMode"] == "mixed"
    deadline = SupervisorSettings().shutdown_deadline_s
    assert seconds(one["TimeoutStopSec"]) > deadline + PAPER_VENUE_STOP_S
    # READY comes at the latest STARTUP_TIMEOUT_S after the loop starts.
    assert seconds(one["TimeoutStartSec"]) > STARTUP_TIMEOUT_S + 10
    assert seconds(one["WatchdogSec"]) >= 10  # pings every half; the loop wakes every 1 s
    assert one["Restart"] == "on-failure" and "StartLimitBurst" in head
    assert "StartLimitIntervalSec" in head
    assert one["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert one["StateDirectory"] == one["RuntimeDirectory"] == "nija"
    assert one["StateDirectoryMode"] == one["RuntimeDirectoryMode"] == "0700"
    env = " ".join(service["Environment"])
    assert "NIJA_STATE_DIR=%S/nija" in env and "NIJA_RUNTIME_DIR=%t/nija" in env
    assert any(v.startswith("KRAKEN:") for v in service["LoadCredential"])
    assert one["EnvironmentFile"].startswith("-")
    assert one["CapabilityBoundingSet"] == "" and one["AmbientCapabilities"] == ""
    assert one["UMask"] == "0077"


MDWE_EXEC = """
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit(f"PR_SET_MDWE: {os.strerror(ctypes.get_errno())}")
def refused():
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except PermissionError:
        return True
    return False
if not refused():
    sys.exit("PR_SET_MDWE set but a writable+executable mapping was allowed")
if len(sys.argv) > 1:
    os.execv(sys.argv[1], sys.argv[1:])
"""


class WriteXorExecSupervisor(RunningSupervisor):
    """The supervisor exec'd with PR_SET_MDWE (Linux 6.3+), which every child inherits
    across fork and exec: the kernel's form of MemoryDenyWriteExecute=."""

    def command(self) -> list[str]:
        return [sys.executable, "-c", MDWE_EXEC, *super().command()]


def test_paper_system_runs_with_writable_executable_memory_refused() -> None:
    probe = subprocess.run([sys.executable, "-c", MDWE_EXEC], capture_output=True, text=True,
                           timeout=30, check=False)
    if probe.returncode != 0:
        pytest.skip(f"this kernel cannot refuse W+X memory: {probe.stderr.strip()}")
    with WriteXorExecSupervisor() as sup:
        sup.with_market = True
        time.sleep(3)  # some heartbeats, market data polls and strategy ticks
        actors = sup.status()
        assert {a["state"] for a in actors} == {"running"}, actors
        assert all(a["restarts"] == 0 for a in actors), actors
        assert sup.log_lines(level="error") == []
