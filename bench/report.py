"""`python -m bench report`: every benchmark, one markdown report and its raw JSON.

    python -m bench report [--quick] [--only NAME[,NAME...]] [--output PATH] [--json PATH]
                           [--soak-minutes M] [--timeout-minutes T]

Each benchmark runs as its own subprocess (`python -m bench NAME [--quick]`), one after the
other, so one that crashes, hangs or leaks memory cannot take the others (or the report)
with it, and every figure comes from the same command anyone can run alone. A benchmark
that is missing, exits non-zero, prints something other than the runner's JSON, or is
still running after `--timeout-minutes` (its whole process group is then stopped) is
recorded as failed with the tail of its stderr; the headline counts the failures and the
exit code is 1 if there was any. `--only` names are not checked here: the runner is the one
authority on what exists, and an unknown name fails like a missing module, in the report.

The markdown (default docs/performance.md) says how to reproduce it and which machine it
ran on, then gives each benchmark's table (`bench/table.py`) and headline; the JSON (by
default next to it, .json) keeps every benchmark's whole report. Both are rewritten after
each benchmark, so a long run that is interrupted still leaves what it measured. The
markdown is rendered from that JSON alone by `bench/report_render.py` (pure: unit tested
without running anything, and able to re-render a saved performance.json).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report_render import render

REPO = Path(__file__).resolve().parents[1]
ORDER = ("simulator", "supervisor", "kraken", "trading", "logging", "chaos", "fuzz", "soak")
DEFAULT_OUTPUT = REPO / "docs" / "performance.md"
SOAK_MINUTES_OPTION = "--minutes"  # how bench/soak.py is told its length
STDERR_TAIL_LINES = 40
STDERR_TAIL_CHARS = 4000


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected NAME[,NAME...]")
    if "report" in names:
        raise argparse.ArgumentTypeError("the report cannot run itself")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", type=_names, default=None, metavar="NAME[,NAME...]",
                        help=f"these benchmarks, in this order (default: {','.join(ORDER)})")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, metavar="PATH",
                        help="the markdown report (default: docs/performance.md)")
    parser.add_argument("--json", dest="json_path", type=Path, default=None, metavar="PATH",
                        help="the raw JSON (default: the output path with .json)")
    parser.add_argument("--soak-minutes", type=float, default=None, metavar="M",
                        help=f"passed to the soak benchmark as {SOAK_MINUTES_OPTION} M")
    parser.add_argument("--timeout-minutes", type=float, default=120.0, metavar="T",
                        help="stop a benchmark still running after T minutes (soak: T + M)")


# -- running one benchmark ----------------------------------------------------------------

def bench_command(name: str, quick: bool, soak_minutes: float | None) -> list[str]:
    command = [sys.executable, "-m", "bench", name]
    if quick:
        command.append("--quick")
    if name == "soak" and soak_minutes is not None:
        command += [SOAK_MINUTES_OPTION, f"{soak_minutes:g}"]
    return command


def parse_output(stdout: str) -> tuple[dict[str, Any], Any]:
    """The runner's output: a JSON object, then `{"headline": ...}` alone on the last line.
    ValueError (saying what was wrong) for anything else."""
    lines = stdout.strip().splitlines()
    if len(lines) < 2:
        raise ValueError(f"expected a JSON body and a headline line, got {len(lines)} line(s)")
    last = json.loads(lines[-1])
    if not isinstance(last, dict) or set(last) != {"headline"}:
        raise ValueError(f"last line is not {{\"headline\": ...}}: {lines[-1][:200]}")
    body = json.loads("\n".join(lines[:-1]))
    if not isinstance(body, dict):
        raise ValueError(f"body is a JSON {type(body).__name__}, not an object")
    return body, last["headline"]


def tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-STDERR_TAIL_LINES:])[-STDERR_TAIL_CHARS:]


def _signal_group(pgid: int, sig: int) -> bool:
    """False once no process of the group is left to signal."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _stop_group(proc: subprocess.Popen[bytes]) -> bool:
    """The benchmark leads its own process group: stop whatever of it is still there (the
    benchmark itself after a timeout or Ctrl-C, or processes it left behind, which would
    skew the next benchmark). True if anything was."""
    left = _signal_group(proc.pid, 0)
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 10.0)):
        if not _signal_group(proc.pid, sig):
            return left
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader, or the group never looks empty
            if not _signal_group(proc.pid, 0):
                return left
            time.sleep(0.1)
    return left


def run_one(name: str, command: list[str], timeout_s: float) -> dict[str, Any]:
    """One benchmark as a subprocess of its own (`command`; tests pass a stand-in), its
    outcome as the report's JSON records it. Never raises for the benchmark's failure.
    Output goes to files, not pipes: a process it leaves behind holding them open cannot
    keep the report waiting."""
    result: dict[str, Any] = {"name": name, "command": _shown(command), "status": "failed",
                              "returncode": None, "headline": None, "report": None,
                              "error": None, "stderr_tail": "", "left_processes": False}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nija-report-") as tmp:
        out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            proc = subprocess.Popen(command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=err, start_new_session=True)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            result["error"] = f"still running after {timeout_s:g} s: stopped"
        finally:  # also on Ctrl-C: leave nothing behind
            result["left_processes"] = _stop_group(proc) and result["error"] is None
        stdout, stderr = (p.read_text(errors="replace") for p in (out_path, err_path))
    result.update(seconds=round(time.monotonic() - started, 1), returncode=proc.returncode,
                  stderr_tail=tail(stderr))
    if result["error"] is None and proc.returncode != 0:
        result["error"] = f"exited with code {proc.returncode}"
    if result["error"] is None:
        try:
            result["report"], result["headline"] = parse_output(stdout)
            result["status"] = "ok"
        except ValueError as exc:
            result["error"] = f"output is not the runner's JSON: {exc}"
            result["stderr_tail"] = tail(f"{stderr}\n--- stdout ---\n{tail(stdout)}")
    return result


def _shown(command: list[str]) -> str:
    """As a reader would type it: `python`, not this venv's interpreter path."""
    return " ".join(["python", *command[1:]] if command[0] == sys.executable else command)


# -- the machine ----------------------------------------------------------------------------

def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def cpu_model(cpuinfo: str) -> str | None:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware") and value.strip():
            return value.strip()
    return None


def mem_total_gib(meminfo: str) -> float | None:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024**2, 1)  # kB
    return None


def os_release(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip().strip('"')
    return None


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "--no-optional-locks", *args], cwd=REPO,
                              capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def machine_facts() -> dict[str, Any]:
    """Read once, before the first benchmark: what the figures depend on."""
    import msgspec
    import zmq

    changed = _git("status", "--porcelain")
    return {
        "cpu_model": cpu_model(_read("/proc/cpuinfo")) or platform.processor() or None,
        "cpus": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
        "ram_gib": mem_total_gib(_read("/proc/meminfo")),
        "kernel": f"{platform.system()} {platform.release()} {platform.machine()}",
        "distro": os_release(_read("/etc/os-release")),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "libzmq": zmq.zmq_version(), "pyzmq": zmq.__version__, "msgspec": msgspec.__version__,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if changed is None else bool(changed),
        "git_changed_paths": None if changed is None else len(changed.splitlines()),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "loadavg_after": None,
    }


# -- the report -----------------------------------------------------------------------------

def _utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _report_command(quick: bool, only: list[str] | None, soak_minutes: float | None,
                    output: Path, json_path: Path | None) -> str:
    parts = ["python -m bench report"] + (["--quick"] if quick else [])
    parts += [f"--only {','.join(only)}"] if only else []
    parts += [f"--soak-minutes {soak_minutes:g}"] if soak_minutes is not None else []
    if output.resolve() != DEFAULT_OUTPUT:
        parts.append(f"--output {output}")
    if json_path is not None:
        parts.append(f"--json {json_path}")
    return " ".join(parts)


def _write(doc: dict[str, Any], output: Path, json_path: Path) -> None:
    for path, text in ((json_path, json.dumps(doc, indent=2, sort_keys=True) + "\n"),
                       (output, render(doc, json_link=_link(output, json_path)))):
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text)
        partial.replace(path)  # a reader never sees half a file


def _link(output: Path, json_path: Path) -> str:
    return os.path.relpath(json_path.resolve(), output.resolve().parent)


def run(quick: bool = False, only: list[str] | None = None, output: Path = DEFAULT_OUTPUT,
        json_path: Path | None = None, soak_minutes: float | None = None,
        timeout_minutes: float = 120.0) -> dict[str, Any]:
    names = list(only or ORDER)
    started = time.monotonic()
    doc: dict[str, Any] = {
        "command": _report_command(quick, only, soak_minutes, output, json_path),
        "quick": quick,
        "started_utc": _utc_now(), "finished_utc": None, "seconds_total": None,
        "complete": False, "planned": names, "machine": machine_facts(), "benchmarks": []}
    json_path = json_path or output.with_suffix(".json")
    for i, name in enumerate(names, 1):
        print(f"report: {name} ({i}/{len(names)}) ...", file=sys.stderr, flush=True)
        soak = soak_minutes if name == "soak" and soak_minutes else 0.0
        timeout_s = 60 * (timeout_minutes + soak)
        result = run_one(name, bench_command(name, quick, soak_minutes), timeout_s)
        print(f"report: {name} {result['status']} in {result['seconds']} s"
              + (f": {result['error']}" if result["error"] else ""), file=sys.stderr, flush=True)
        doc["benchmarks"].append(result)
        doc["seconds_total"] = round(time.monotonic() - started, 1)
        _write(doc, output, json_path)
    doc["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    doc.update(complete=True, finished_utc=_utc_now(),
               seconds_total=round(time.monotonic() - started, 1))
    _write(doc, output, json_path)
    return _summary(doc, output, json_path)


def _summary(doc: dict[str, Any], output: Path, json_path: Path) -> dict[str, Any]:
    results = doc["benchmarks"]
    failed = [r["name"] for r in results if r["status"] != "ok"]
    return {
        "benchmark": "report", "quick": doc["quick"], "output": str(output),
        "json": str(json_path), "seconds_total": doc["seconds_total"],
        "exit_code": 1 if failed else 0,
        "benchmarks": {r["name"]: {"status": r["status"], "seconds": r["seconds"],
                                   **({"error": r["error"]} if r["error"] else {})}
                       for r in results},
        "headline": {"benchmarks": len(results), "ok": len(results) - len(failed),
                     "failed": len(failed), "failed_names": failed, "output": str(output)},
    }


