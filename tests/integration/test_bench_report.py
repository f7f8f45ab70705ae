"""`python -m bench report` end to end on the short simulator benchmark, a benchmark name
that does not exist (recorded as failed, not a crash), and the report stopping what a
benchmark leaves running."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bench.report import run_one

ROOT = Path(__file__).resolve().parents[2]


def _report(tmp_path: Path, only: str, code: int = 0
            ) -> tuple[dict[str, object], str, dict[str, object]]:
    out = tmp_path / "perf.md"
    done = subprocess.run([sys.executable, "-m", "bench", "report", "--quick", "--only", only,
                           "--output", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=100)
    assert done.returncode == code, done.stderr[-4000:]  # 1: a benchmark failed
    headline = json.loads(done.stdout.strip().splitlines()[-1])["headline"]
    return headline, out.read_text(), json.loads((tmp_path / "perf.json").read_text())


@pytest.mark.timeout(120)
def test_report_writes_machine_section_and_simulator_table(tmp_path):
    headline, text, doc = _report(tmp_path, "simulator")
    assert headline["benchmarks"] == headline["ok"] == 1 and headline["failed"] == 0
    for heading in ("# Performance", "## How to reproduce", "## Machine", "## simulator"):
        assert f"\n{heading}\n" in f"\n{text}", heading
    assert "| CPU |" in text and "| git commit |" in text and "| mode | quick" in text
    assert "| figure | value | goal | baseline | ratio |" in text
    assert "| signed private mix (req/s) |" in text
    assert "`python -m bench simulator --quick`: **ok**" in text

    assert doc["complete"] is True and doc["machine"]["cpus"] > 0
    (result,) = doc["benchmarks"]
    assert result["status"] == "ok" and result["seconds"] > 0
    assert result["report"]["table"][0]["figure"] == "signed private mix (req/s)"
    assert result["headline"]["private_rps"] == result["report"]["table"][0]["value"]


@pytest.mark.timeout(60)
def test_unknown_benchmark_is_reported_as_failed(tmp_path):
    headline, text, doc = _report(tmp_path, "no-such-bench", code=1)
    assert headline["failed"] == 1 and headline["failed_names"] == ["no-such-bench"]
    (result,) = doc["benchmarks"]
    assert result["status"] == "failed" and result["returncode"] == 2
    assert "invalid choice: 'no-such-bench'" in result["stderr_tail"]
    assert "## no-such-bench" in text and "**failed**" in text and "invalid choice" in text


_LEAVES_A_CHILD = ("import subprocess, sys, time; child = subprocess.Popen([sys.executable, "
                   "'-c', 'import time; time.sleep(60)']); print(child.pid, file=sys.stderr, "
                   "flush=True); print('{}'); print('{\"headline\": 1}'); time.sleep({wait})")


def _child_gone(result: dict[str, object]) -> bool:
    pid = int(str(result["stderr_tail"]).split()[0])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.timeout(60)
def test_hung_benchmark_is_stopped_and_leftovers_are_killed():
    hung = run_one("hung", [sys.executable, "-c", _LEAVES_A_CHILD.replace("{wait}", "60")], 1.0)
    assert hung["status"] == "failed" and "still running after 1 s" in hung["error"]
    assert hung["seconds"] < 20 and _child_gone(hung)

    done = run_one("leaky", [sys.executable, "-c", _LEAVES_A_CHILD.replace("{wait}", "0")], 30)
    assert done["status"] == "ok" and done["headline"] == 1
    assert done["left_processes"] is True and _child_gone(done)
