"""Start nija. Today: paper mode only, i.e. the simulator with fresh paper keys for the
default accounts. The supervisor and per-account actors replace this (issue 3)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from pathlib import Path

from simulator import SimulatorProcess, new_key, write_keys_file

PAPER_ACCOUNTS = ("master", "daivon", "tania")
PAPER_BALANCES = {"ZUSD": "10000", "XXBT": "0.05", "USDT": "500"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--speed", type=float, default=60.0,
                        help="simulated market seconds per real second")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    state = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local/state")) / "nija"
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=state) as tmp:
        keys = write_keys_file(Path(tmp) / "paper-keys.toml",
                               [new_key(n, balances=PAPER_BALANCES) for n in PAPER_ACCOUNTS])
        venue = SimulatorProcess(keys, seed=args.seed, speed=args.speed)
        url = venue.start()
        print(f"nija: PAPER MODE — simulated Kraken at {url} for "
              f"{', '.join(PAPER_ACCOUNTS)} (no real exchange is contacted)", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            assert venue.proc is not None
            return venue.proc.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            venue.stop()


if __name__ == "__main__":
    sys.exit(main())
