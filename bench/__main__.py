"""`python -m bench NAME [--quick]`: run one benchmark, print its JSON, headline last."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

BENCHMARKS = {
    "simulator": "bench.simulator",
    "supervisor": "bench.supervisor",
    "kraken": "bench.kraken",
    "logging": "bench.logging_paths",
    "trading": "bench.trading",
}


def emit(report: dict[str, Any]) -> None:
    """All figures as one JSON object, then the headline alone on the last line."""
    headline = report.pop("headline")
    print(json.dumps(report, indent=2, sort_keys=True))
    print(json.dumps({"headline": headline}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("name", choices=sorted(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="short run, for smoke tests")
    args = parser.parse_args(argv)
    module = importlib.import_module(BENCHMARKS[args.name])
    emit(module.run(quick=args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
