"""The report's pure parts: table rows, number formatting, markdown escaping, the machine
section and a failed benchmark's section, and reading the runner's output."""

from __future__ import annotations

import argparse
import json
import math

import pytest

from bench import logging_paths, simulator
from bench.report import _names, bench_command, cpu_model, mem_total_gib, os_release, parse_output
from bench.report_render import code, duration, fence, machine_markdown, render, section
from bench.table import escape, fmt, goal, markdown, normalise, ratio, row

HEADER = "| figure | value | goal | baseline | ratio |"


@pytest.mark.parametrize(("cell", "text"), [
    (3012.4, "3,012"), (999.7, "1,000"), (0.6123, "0.612"), (49.50, "49.5"), (150.0, "150"),
    (2.0, "2"), (0.0004, "0.0004"), (-0.5, "-0.5"), (0.0, "0"), (12345, "12,345"), (7, "7"),
    (True, "yes"), (False, "no"), (None, "—"), (math.nan, "n/a"), (math.inf, "∞"),
    ("10, 10 of 10", "10, 10 of 10"),
])
def test_fmt_gives_three_significant_digits_and_separators(cell, text):
    assert fmt(cell) == text


def test_ratio_and_goal():
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 3.0, digits=2) == 0.33
    assert ratio(1.0, 0) is None and ratio(None, 2.0) is None and ratio(1.0, None) is None
    assert goal("≥ 1,500", True) == "≥ 1,500: met"
    assert goal("0", False) == "0: MISSED"
    assert goal("all", None) == "all"


def test_row_keeps_raw_numbers_and_shows_a_missing_value_as_a_dash():
    assert row("rps", 3012.4, baseline=4930.0, ratio=0.611) == {
        "figure": "rps", "value": 3012.4, "goal": None, "baseline": 4930.0, "ratio": 0.611}
    assert row("p99 (ms)", None)["value"] == "—"


def test_escape_pipes_backslashes_and_newlines():
    assert escape("a|b") == "a\\|b"
    assert escape("a\\|b") == "a\\\\\\|b"
    assert escape("one\ntwo\r\nthree") == "one two three"


def test_markdown_table_escapes_cells_and_prints_none_as_a_dash():
    text = markdown([row("calls | min", 12.345, goal("≤ 1.05", True), "a|b", None)])
    header, rule, line = text.splitlines()
    assert header == HEADER and rule == "|---|---|---|---|---|"
    assert line == "| calls \\| min | 12.3 | ≤ 1.05: met | a\\|b | — |"
    unescaped = line.replace("\\|", "")
    assert unescaped.count("|") == 6, "one cell per column"


def test_normalise_fills_missing_columns_and_rejects_bad_rows():
    assert normalise([{"figure": "x", "value": 1}, {"figure": "y", "goal": 0}]) == [
        {"figure": "x", "value": 1, "goal": None, "baseline": None, "ratio": None},
        {"figure": "y", "value": "—", "goal": "0", "baseline": None, "ratio": None}]
    for bad, message in [({"value": 1}, "no figure"),
                         ({"figure": "x", "value": 1, "unit": "s"}, "unknown columns"),
                         ({"figure": "x", "value": [1, 2]}, "column value is list"),
                         ("x", "no figure")]:
        with pytest.raises(ValueError, match=message):
            normalise([bad])
    with pytest.raises(ValueError, match="not a list"):
        normalise({"figure": "x"})


def test_code_and_fence_survive_backticks():
    assert code("python -m bench") == "`python -m bench`"
    assert code("a `b` c") == "``a `b` c``"
    assert code("`x") == "`` `x ``"
    assert fence("plain") == "```text\nplain\n```\n"
    assert fence("has ``` inside").startswith("````text\n")


def test_duration():
    assert duration(7.84) == "7.8 s"
    assert duration(192) == "3 min 12 s"
    assert duration(3900) == "1 h 05 min"
    assert duration(None) == "—"


def test_parse_output_reads_body_then_headline_line():
    out = json.dumps({"benchmark": "x", "table": []}, indent=2) + "\n" + json.dumps(
        {"headline": {"rps": 1}}) + "\n"
    assert parse_output(out) == ({"benchmark": "x", "table": []}, {"rps": 1})
    for bad in ["", '{"headline": 1}', '{"a": 1}\n{"b": 2}', '[1]\n{"headline": 1}',
                'Traceback\n{"headline": 1}']:
        with pytest.raises(ValueError):
            parse_output(bad)


def test_machine_parsers():
    assert cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n") == "AMD EPYC 7B13"
    assert cpu_model("processor : 0\n") is None
    assert mem_total_gib("MemTotal:       24683784 kB\nMemFree: 1 kB\n") == 23.5
    assert os_release('NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n') == (
        "Debian GNU/Linux 12 (bookworm)")


def test_names_and_commands():
    assert _names("simulator, kraken,") == ["simulator", "kraken"]
    for bad in ["", "simulator,report"]:
        with pytest.raises(argparse.ArgumentTypeError):
            _names(bad)
    assert bench_command("soak", True, 5.0)[2:] == ["bench", "soak", "--quick", "--minutes", "5"]
    assert bench_command("kraken", False, 5.0)[2:] == ["bench", "kraken"]


MACHINE = {"cpu_model": "AMD EPYC", "cpus": 2, "cpus_usable": 2, "ram_gib": 23.5,
           "kernel": "Linux 6.1 x86_64", "distro": "Debian GNU/Linux 12 (bookworm)",
           "python": "CPython 3.11.7", "libzmq": "4.3.5", "pyzmq": "27.3.0",
           "msgspec": "0.23.0", "git_commit": "3a10b46", "git_dirty": True,
           "git_changed_paths": 3, "loadavg_before": [0.25, 0.5, 0.3], "loadavg_after": None}


def _doc(*benchmarks: dict[str, object], complete: bool = True) -> dict[str, object]:
    return {"command": "python -m bench report --quick", "quick": True,
            "started_utc": "2026-12-04 20:00:00 UTC",
            "finished_utc": "2026-12-04 20:01:05 UTC" if complete else None,
            "seconds_total": 65.0, "complete": complete, "planned": ["simulator", "chaos"],
            "machine": MACHINE, "benchmarks": list(benchmarks)}


def test_machine_section_lists_the_facts_the_figures_depend_on():
    text = machine_markdown(_doc(complete=False))
    for line in ["| CPU | AMD EPYC |", "| cores | 2 |", "| RAM (GiB) | 23.5 |",
                 "| distribution | Debian GNU/Linux 12 (bookworm) |", "| libzmq | 4.3.5 |",
                 "| uncommitted | yes, 3 paths changed |",
                 "| load average before (1, 5, 15 min) | 0.25, 0.5, 0.3 |",
                 "| load average after | — |", "| duration | 1 min 05 s |",
                 "| date | 2026-12-04 20:00:00 UTC to not finished |"]:
        assert line in text.splitlines(), line
    assert "quick" in text


OK = {"name": "simulator", "command": "python -m bench simulator --quick", "status": "ok",
      "seconds": 7.8, "error": None, "stderr_tail": "", "headline": {"private_rps": 4555.5},
      "report": {"table": [row("signed private mix (req/s)", 4555.5, goal("≥ 1,500", True),
                               "6,806: public Time", 0.669)]}}
FAILED = {"name": "chaos", "command": "python -m bench chaos --quick", "status": "failed",
          "seconds": 0.4, "error": "exited with code 1", "headline": None, "report": None,
          "stderr_tail": "Traceback ...\nModuleNotFoundError: No module named 'bench.chaos'"}


def test_failed_benchmark_section_shows_why_and_its_stderr_tail():
    text = section(FAILED)
    assert text.startswith("## chaos\n")
    assert "`python -m bench chaos --quick`: **failed** in 0.4 s (exited with code 1)" in text
    assert "```text\nTraceback ...\nModuleNotFoundError: No module named 'bench.chaos'\n```" in text
    assert HEADER not in text


def test_ok_section_has_its_table_and_headline():
    text = section(OK)
    assert "**ok** in 7.8 s" in text
    assert HEADER in text
    line = "| signed private mix (req/s) | 4,556 | ≥ 1,500: met | 6,806: public Time | 0.669 |"
    assert line in text
    assert 'Headline: `{"private_rps": 4555.5}`' in text
    assert "reports no table" in section({**OK, "report": {}})
    assert "malformed (table row 0 has no figure" in section({**OK, "report": {"table": [{}]}})


def test_render_counts_failures_and_links_the_json():
    text = render(_doc(OK, FAILED), json_link="perf.json")
    assert text.startswith("# Performance\n")
    assert "2 benchmarks, 1 failed." in text and "[perf.json](perf.json)" in text
    assert "| [chaos](#chaos) | failed | 0.4 s | exited with code 1 |" in text
    assert "git checkout 3a10b46" in text and "python -m bench report --quick\n```" in text
    assert text.index("## Machine") < text.index("## simulator") < text.index("## chaos")
    assert "Partial" in render(_doc(OK, complete=False))


def test_bench_tables_use_the_helper():
    rows = simulator._table({"rps": 3000.0, "median_latency_ms": 0.6},
                            {"rps": 5000.0, "median_latency_ms": 0.4}, 40.0)
    assert normalise(rows) == rows
    assert rows[0]["goal"] == "≥ 1,500: met" and rows[0]["ratio"] == 0.6
    result = {"delivered": 0, "expected": 8000, "seconds": 0.1}
    rows = logging_paths._table(result, {**result, "delivered": 8000, "records_per_s": 1},
                                {**result, "delivered": 7000}, {"seconds": 0.2})
    assert rows[0]["value"] == 8000 and rows[0]["goal"] == "all: met"
    assert rows[0]["ratio"] is None, "nothing delivered by the baseline: no ratio"
