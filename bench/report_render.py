"""The markdown of `python -m bench report`, from its JSON document alone.

Pure functions (no I/O, no clock): the report's run writes the JSON, these turn it into
docs/performance.md, so the page can be unit tested and re-rendered from a saved JSON:

    from bench.report_render import render
    text = render(json.loads(Path("docs/performance.json").read_text()))

The document (see `bench/report.py`) has `command`, `quick`, `started_utc`,
`finished_utc`, `seconds_total`, `complete`, `planned`, `machine` (facts, see `MACHINE`)
and `benchmarks`: per run `name`, `command`, `status` ("ok" or "failed"), `seconds`,
`error`, `stderr_tail`, `headline` and `report` (the benchmark's JSON, with its `table`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from bench import table

MACHINE = (("cpu_model", "CPU"), ("cpus", "cores"), ("cpus_usable", "cores usable"),
           ("ram_gib", "RAM (GiB)"), ("kernel", "kernel"), ("distro", "distribution"),
           ("python", "Python"), ("libzmq", "libzmq"), ("pyzmq", "pyzmq"),
           ("msgspec", "msgspec"), ("git_commit", "git commit"), ("git_dirty", "uncommitted"),
           ("loadavg_before", "load average before (1, 5, 15 min)"),
           ("loadavg_after", "load average after"))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return table.NONE_CELL
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def code(text: str) -> str:
    """Inline code that survives backticks inside: fenced by a longer run of them."""
    ticks = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence(text: str) -> str:
    ticks = "`" * max(3, max(map(len, re.findall("`+", text)), default=0) + 1)
    return f"{ticks}text\n{text}\n{ticks}\n"


def _machine_cell(key: str, machine: dict[str, Any]) -> str:
    value = machine.get(key)
    if key == "git_dirty" and value is not None:
        return f"yes, {machine.get('git_changed_paths')} paths changed" if value else "no"
    if isinstance(value, list):
        return ", ".join(table.fmt(v) for v in value)
    return table.fmt(value)


def machine_markdown(doc: dict[str, Any]) -> str:
    """The machine's facts, and when and how long it ran: what the figures depend on."""
    machine = doc.get("machine", {})
    rows = [(label, _machine_cell(key, machine)) for key, label in MACHINE]
    rows += [("date", f"{doc.get('started_utc')} to {doc.get('finished_utc') or 'not finished'}"),
             ("duration", duration(doc.get("seconds_total"))),
             ("mode", "quick (`--quick`: short runs, smoke figures)" if doc.get("quick")
              else "full")]
    lines = ["| fact | value |", "|---|---|"]
    lines += [f"| {table.escape(label)} | {table.escape(value)} |" for label, value in rows]
    return "\n".join(lines) + "\n"


def section(result: dict[str, Any]) -> str:
    """One benchmark: how it was run, its table and headline, or why it failed."""
    out = [f"## {result['name']}\n",
           f"{code(result['command'])}: **{result['status']}** in {duration(result.get('seconds'))}"
           + (f" ({table.escape(str(result['error']))})" if result.get("error") else "") + "\n"]
    if result["status"] == "ok":
        report = result.get("report") or {}
        try:
            rows = table.normalise(report["table"])
            out.append(table.markdown(rows) if rows else "No table rows.\n")
        except KeyError:
            out.append("This benchmark reports no table; its figures are in the JSON.\n")
        except ValueError as exc:
            out.append(f"Its table is malformed ({table.escape(str(exc))}); see the JSON.\n")
        out.append("Headline: " + code(json.dumps(result.get("headline"))) + "\n")
    else:
        out.append("Last lines of its stderr:\n\n" + fence(result.get("stderr_tail") or "(empty)"))
    return "\n".join(out)


def summary_markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| benchmark | status | duration | headline |", "|---|---|---|---|"]
    for r in results:
        headline = (json.dumps(r.get("headline")) if r.get("status") == "ok"
                    else str(r.get("error") or "failed"))
        lines.append(f"| [{r['name']}](#{r['name']}) | {r.get('status')} | "
                     f"{duration(r.get('seconds'))} | {table.escape(headline)} |")
    return "\n".join(lines) + "\n"


def reproduce_markdown(doc: dict[str, Any]) -> str:
    commit = (doc.get("machine") or {}).get("git_commit") or "HEAD"
    return (f"```sh\ngit checkout {commit}\npython3 -m venv .venv && . .venv/bin/activate "
            f"&& pip install -e '.[test]'\n{doc.get('command', 'python -m bench report')}\n```"
            "\n\nOne benchmark alone prints its whole JSON, headline last: the command at the "
            "top of its section. `--quick` runs are short smoke runs; their figures are not "
            "what the goals are measured on.\n")


def render(doc: dict[str, Any], json_link: str = "performance.json") -> str:
    results = doc.get("benchmarks", [])
    failed = sum(1 for r in results if r.get("status") != "ok")
    progress = ("" if doc.get("complete")
                else f" **Partial**: {len(results)} of {len(doc.get('planned', []))} run so far.")
    parts = [
        "# Performance\n",
        f"Written by {code(doc.get('command', 'python -m bench report'))}: {len(results)} "
        f"benchmarks, {failed} failed.{progress} Raw figures: [{json_link}]({json_link}).\n",
        summary_markdown(results),
        "## How to reproduce\n", reproduce_markdown(doc),
        "## Machine\n", machine_markdown(doc),
        *(section(r) for r in results),
    ]
    return "\n".join(parts)
