"""The logging-path decision rests on this measurement: under forkserver,
multiprocessing-logging delivers nothing from children; records over ZeroMQ all arrive."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.timeout(120)
def test_logging_bench_shows_why_logs_travel_over_zeromq():
    done = subprocess.run([sys.executable, "-m", "bench", "logging", "--quick"],
                          capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, done.stderr
    *body, last = done.stdout.strip().splitlines()
    report = json.loads("\n".join(body))
    assert json.loads(last)["headline"]["zmq_delivered_ratio"] == 1.0
    assert report["multiprocessing_logging"]["delivered"] == 0
    assert report["zeromq_log_records"]["delivered"] == report["zeromq_log_records"]["expected"]
