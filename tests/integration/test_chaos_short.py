"""The chaos run in its short form (`python -m bench chaos --quick`): 30 kill -9s of
account actors and the market data actor and one of the supervisor, with and without
exchange faults, on ten trading accounts; every invariant is judged from the venue's
records and nija's journals. The long form is `python -m bench chaos` (200 kills a phase)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_nothing_is_lost_duplicated_or_leaked_when_processes_die_under_faults():
    done = subprocess.run([sys.executable, "-m", "bench", "chaos", "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=880)
    *body, last = done.stdout.strip().splitlines()
    report = json.loads("\n".join(body))
    phases = report["phases"]
    problems = {name: {k: v for k, v in p.items() if k not in ("per_account", "table")}
                for name, p in phases.items() if not p["invariants_hold"]}
    assert done.returncode == 0 and not problems, (problems, done.stderr[-3000:])
    assert json.loads(last)["headline"]["invariants_hold"] is True
    for name, phase in phases.items():
        kills = phase["kills"]
        assert kills["account"] >= 25 and kills["market"] >= 2 and kills["supervisor"] == 1
        assert phase["kill_to_running_ms"]["account"]["n"] >= 20, name
        audit = phase["audit"]
        assert audit["venue_orders"] >= 30 and audit["filled_orders"] >= 10, (name, audit)
        assert audit["journaled"] >= audit["venue_orders"], name  # rejected ones stay listed
        searched = phase["secrets"]
        assert searched["sources_searched"] >= 60 and searched["found"] == [], name
    injected = phases["faults"]["venue"]["faults_injected"]
    assert sum(injected.values()) >= 20 and len(injected) >= 5, injected
    assert not phases["plain"]["venue"]["faults_injected"]
