"""Table rows of a benchmark report, and their markdown: one helper for every benchmark.

`python -m bench report` turns each benchmark's `"table"` into a section of
docs/performance.md. A row is a plain dict (it travels as JSON from the benchmark's
process to the report's), so the raw numbers stay numbers and the report formats them:

    from bench.table import Row, fmt, goal, ratio, row

    rows = [
        row("private signed mix (req/s)", 3012.4,
            goal=goal(">= 1,500", met=True),
            baseline=f"{fmt(4930.0)} req/s: public Time, same clients",
            ratio=ratio(3012.4, 4930.0)),
        row("median latency (ms)", 0.63),
    ]
    return {..., "table": rows, "headline": {...}}

API:
- `row(figure, value, goal=None, baseline=None, ratio=None) -> Row`: one row. `figure`
  names what was measured, unit included ("restart p50 (ms)"); `value` is the number (or
  a short text); `goal` the target and whether this run met it (use `goal()`); `baseline`
  the naive or bare comparison measured in the same run, as a number or a text that says
  what it is; `ratio` value / baseline (use `ratio()`), or a text such as "0 vs 10".
  `None` where a column does not apply (a `value` of `None`, not measured in this run,
  prints as a dash). Put the headline and goal figures first.
- `goal(target, met)`: "<target>: met", "<target>: MISSED", or the target alone when the
  run does not judge it (`met=None`).
- `ratio(value, baseline, digits=3)`: value / baseline rounded, `None` when either is
  missing or the baseline is 0 (a ratio that does not exist is not a number).
- `fmt(cell)`: a cell as the report prints it: 3 significant digits, thousands
  separators, trailing zeros dropped (3012.4 -> "3,012", 0.6123 -> "0.612", 49.50 ->
  "49.5"), booleans as yes/no, `None` as an em dash; text unchanged.
- `normalise(obj) -> list[Row]`: a `"table"` read back from JSON, checked (ValueError
  naming the bad row) and with missing columns set to `None` (a missing value: a dash).
- `markdown(rows) -> str`: the GitHub-flavoured table figure | value | goal | baseline |
  ratio, cells formatted by `fmt` and escaped by `escape` (`|`, newlines).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, TypedDict

Cell = str | int | float | None
COLUMNS = ("figure", "value", "goal", "baseline", "ratio")
NONE_CELL = "—"


class Row(TypedDict):
    figure: str
    value: str | int | float
    goal: str | None
    baseline: str | int | float | None
    ratio: str | int | float | None


def row(figure: str, value: str | int | float | None, goal: str | None = None,
        baseline: Cell = None, ratio: Cell = None) -> Row:
    """A figure that was not measured in this run (a skipped part) may pass `None` as its
    value: it is printed as a dash rather than silently dropped from the table."""
    return {"figure": figure, "value": NONE_CELL if value is None else value, "goal": goal,
            "baseline": baseline, "ratio": ratio}


def goal(target: str, met: bool | None) -> str:
    """The verdict sits next to the target so a reader sees both in one cell."""
    if met is None:
        return target
    return f"{target}: {'met' if met else 'MISSED'}"


def ratio(value: float | None, baseline: float | None, digits: int = 3) -> float | None:
    if value is None or baseline is None or baseline == 0:
        return None
    return round(value / baseline, digits)


def fmt(cell: Cell | bool) -> str:
    """Numbers for people: the raw value stays in the JSON for anyone checking."""
    if cell is None:
        return NONE_CELL
    if isinstance(cell, bool):
        return "yes" if cell else "no"
    if isinstance(cell, int):
        return f"{cell:,}"
    if isinstance(cell, float):
        return _fmt_float(cell)
    return str(cell)


def _fmt_float(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0:
        return "0"
    if abs(value) >= 999.5:  # (999.7 rounds to "1,000", not "1000")
        return f"{value:,.0f}"
    decimals = max(0, 2 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def escape(text: str) -> str:
    """A `|` would end the cell and a newline the row: both are escaped or folded."""
    return " ".join(text.replace("\\", "\\\\").replace("|", "\\|").splitlines())


def normalise(obj: object) -> list[Row]:
    """Rows come from another process (and other authors): check them before rendering
    so a malformed table is reported as such instead of breaking the whole report."""
    if not isinstance(obj, list):
        raise ValueError(f"table is not a list: {type(obj).__name__}")
    return [_checked(i, item) for i, item in enumerate(obj)]


def _checked(index: int, item: Any) -> Row:
    if not isinstance(item, dict) or not isinstance(item.get("figure"), str):
        raise ValueError(f"table row {index} has no figure: {item!r:.200}")
    unknown = set(item) - set(COLUMNS)
    if unknown:
        raise ValueError(f"table row {index} has unknown columns {sorted(unknown)}")
    for column in COLUMNS[1:]:
        cell = item.get(column)
        if cell is not None and not isinstance(cell, str | int | float):
            raise ValueError(f"table row {index} column {column} is {type(cell).__name__}")
    goal_cell, value = item.get("goal"), item.get("value")
    return {"figure": item["figure"], "value": NONE_CELL if value is None else value,
            "goal": None if goal_cell is None else str(goal_cell),
            "baseline": item.get("baseline"), "ratio": item.get("ratio")}


def markdown(rows: Iterable[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for item in rows:
        cells = [item["figure"], fmt(item["value"]), fmt(item["goal"]), fmt(item["baseline"]),
                 fmt(item["ratio"])]
        lines.append("| " + " | ".join(escape(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"
