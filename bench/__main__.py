"""`python -m bench NAME [--quick]`: run one benchmark, print its JSON, headline last.

A report's `"exit_code"` (default 0) becomes the process's: a benchmark whose invariants
failed, or a report with a failed benchmark, exits 1 after printing everything.
A benchmark's report may carry `"table"`: rows of {"figure", "value", "goal", "baseline",
"ratio"} (strings or numbers, `None` where a column does not apply). `python -m bench
report` runs every benchmark and turns those rows into the tables of docs/performance.md.
"""

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
    "chaos": "bench.chaos",
    "fuzz": "bench.fuzz",
    "soak": "bench.soak",
    "report": "bench.report",
}


def emit(report: dict[str, Any]) -> None:
    """All figures as one JSON object, then the headline alone on the last line."""
    headline = report.pop("headline")
    print(json.dumps(report, indent=2, sort_keys=True))
    print(json.dumps({"headline": headline}))


def main(argv: list[str] | None = None) -> int:
    """A benchmark module may define `add_arguments(parser)` for options of its own; they
    reach its `run(quick=..., **options)` as keyword arguments."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("name", choices=sorted(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="short run, for smoke tests")
    first = argparse.ArgumentParser(add_help=False)  # only to learn the name, so that
    first.add_argument("name", nargs="?")  # --help lists its options too
    known, _ = first.parse_known_args(argv)
    if known.name in BENCHMARKS:
        add_arguments = getattr(importlib.import_module(BENCHMARKS[known.name]),
                                "add_arguments", None)
        if add_arguments is not None:
            add_arguments(parser)
    args = vars(parser.parse_args(argv))
    module = importlib.import_module(BENCHMARKS[args["name"]])
    del args["name"]
    report = module.run(**args)
    code = int(report.get("exit_code", 0))
    emit(report)
    return code


if __name__ == "__main__":
    sys.exit(main())
