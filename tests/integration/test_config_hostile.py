"""Hostile configuration and environment (issue 7): the supervisor refuses each with exit
code 2 and one line naming the key or variable, never a traceback, and never echoes a
secret value."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.supervisor_harness import ROOT, clean_env, short_tempdir

CANARY = "c2VjcmV0LWNhbmFyeS12YWx1ZS0xMjM0NTY3ODkw"  # base64: must never be printed

CASES = [
    ('[[account]]\nname = "x"\ntier = 5\n', {}, "account[0].tier"),
    ('[[account]]\nname = "a"\n[[account]]\nname = "a"\n', {}, "account[1].name"),
    ('[[account]]\nname = "a"\nbroker = "binance"\n', {}, "account[0].broker"),
    ("garbage = [\n", {}, "invalid TOML"),
    ('[[account]]\nname = "d"\nmode = "follow"\nleader = "nobody"\n', {}, "account[0].leader"),
    ('[[account]]\nname = "m"\nstrategy = "moon"\n', {}, "account[0].strategy"),
    ('[[account]]\nname = "m"\n[account.risk]\nmax_order_usd = 1.5\n', {},
     "account[0].risk.max_order_usd"),
    ("[market]\nwindow = 1\n", {}, "market.window"),
    ("", {"KRAKEN_MASTER_API_KEY": "key", "KRAKEN_MASTER_API_SECRET": "not base64!!"},
     "KRAKEN_MASTER_API_SECRET"),
    ("", {"KRAKEN_MASTER_API_KEY": CANARY}, "KRAKEN_MASTER_API_SECRET"),
    ('[[account]]\nname = "Bad Name"\n', {}, "account[0].name"),
    ('[[account]]\nname = "market"\n', {}, "account[0].name"),
]


@pytest.mark.parametrize(("config", "env", "named"), CASES)
def test_bad_configuration_exits_2_naming_the_key(config: str, env: dict[str, str],
                                                  named: str) -> None:
    root = short_tempdir()
    try:
        _refused(root, config, env, named)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _refused(root: Path, config: str, env: dict[str, str], named: str) -> None:
    (root / "nija.toml").write_text(config + f'\n# {CANARY}\n')
    done = subprocess.run(
        [sys.executable, str(ROOT / "run_supervisor.py"), "--config", str(root / "nija.toml"),
         "--state-dir", str(root / "s"), "--runtime-dir", str(root / "r")],
        capture_output=True, text=True, timeout=30, cwd=root, env=clean_env(env), check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert named in output, output
    assert "Traceback" not in output
    assert CANARY not in output
    assert not (root / "s").exists(), "a refused configuration must create nothing"
