"""Venue capacity: sustained signed private requests per second from several processes.

Each client process keeps one HTTP/1.1 connection, signs every request exactly as Kraken
requires, and runs a Balance / AddOrder / CancelOrder mix (resting limit orders far from
the market, cancelled at once). Rate limits are switched off on the venue for this run:
the question is what the venue itself sustains. The baseline, in the same run, is the
public Time endpoint with the same clients (HTTP and framework cost, no signing, no
engine), so the ratio says how much the private path costs on top.
"""

from __future__ import annotations

import base64
import http.client
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

import psutil

from bench.table import Row, fmt, goal, ratio, row
from simulator import SimulatorProcess, new_key, write_keys_file
from simulator.auth import api_sign

GOAL_RPS = 1500.0
BALANCES = {"ZUSD": "100000000", "XXBT": "1000"}


def _client(url: str, key: str, secret: str, mode: str, seconds: float,
            start_at: float, out: Any) -> None:
    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=10)
    secret_raw = base64.b64decode(secret)
    last_nonce = 0

    def private(method: str, fields: dict[str, str]) -> bytes:
        nonlocal last_nonce
        last_nonce = max(time.time_ns(), last_nonce + 1)
        body = urllib.parse.urlencode({"nonce": str(last_nonce), **fields}).encode()
        path = f"/0/private/{method}"
        sign = base64.b64encode(api_sign(path, str(last_nonce), body, secret_raw))
        conn.request("POST", path, body, {"API-Key": key, "API-Sign": sign.decode(),
                                          "Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        data = response.read()
        if response.status != 200 or b'"error":[]' not in data:
            raise RuntimeError(f"{method} failed: {response.status} {data[:200]!r}")
        return data

    order = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "volume": "0.001",
             "price": "1000.0"}
    while time.time() < start_at:
        time.sleep(0.001)
    done, latencies, deadline = 0, [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        if mode == "public":
            conn.request("GET", "/0/public/Time")
            conn.getresponse().read()
            n = 1
        else:
            private("Balance", {})
            placed = private("AddOrder", order)
            txid = placed.split(b'"txid":["')[1].split(b'"')[0].decode()
            private("CancelOrder", {"txid": txid})
            n = 3
        latencies.append((time.perf_counter() - started) / n)
        done += n
    out.put((done, statistics.median(latencies)))


def _phase(url: str, keys: list[Any], mode: str, seconds: float) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    start_at = time.time() + 1.5  # let every client process finish importing first
    procs = [ctx.Process(target=_client, args=(url, k.key, k.secret, mode, seconds,
                                               start_at, queue)) for k in keys]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=seconds + 60) for _ in procs]
    for proc in procs:
        proc.join()
    total = sum(r[0] for r in results)
    return {"requests": total, "rps": round(total / seconds, 1),
            "median_latency_ms": round(1000 * statistics.median(r[1] for r in results), 3)}


def _table(private: dict[str, float], public: dict[str, float], server_cpu: float) -> list[Row]:
    """The report's rows: the headline against its goal and the public baseline."""
    return [
        row("signed private mix (req/s)", private["rps"],
            goal(f"≥ {fmt(GOAL_RPS)}", private["rps"] >= GOAL_RPS),
            f"{fmt(public['rps'])}: public Time, same clients",
            ratio(private["rps"], public["rps"])),
        row("median latency per private request (ms)", private["median_latency_ms"], None,
            f"{fmt(public['median_latency_ms'])}: public Time",
            ratio(private["median_latency_ms"], public["median_latency_ms"])),
        row("venue CPU during the private mix (% of one core)", server_cpu),
    ]


def run(quick: bool = False) -> dict[str, Any]:
    clients = 3
    seconds = 2.0 if quick else 8.0
    with tempfile.TemporaryDirectory() as tmp:
        keys = [new_key(f"bench-{i}", balances=BALANCES) for i in range(clients)]
        keys_file = write_keys_file(Path(tmp) / "keys.toml", keys)
        settings = Path(tmp) / "settings.toml"
        settings.write_text("enforce_rate_limits = false\n")
        with SimulatorProcess(keys_file, settings_file=settings) as venue:
            assert venue.proc is not None
            server = psutil.Process(venue.proc.pid)
            public = _phase(venue.url, keys, "public", seconds)
            server.cpu_percent()
            private = _phase(venue.url, keys, "private", seconds)
            server_cpu = server.cpu_percent()
    ratio = private["rps"] / public["rps"]
    return {
        "benchmark": "simulator",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "client_processes": clients,
        "seconds_per_phase": seconds,
        "public_time_baseline": public,
        "private_signed_mix": private,
        "venue_cpu_percent_during_private": server_cpu,
        "goal_private_rps": GOAL_RPS,
        "goal_met": private["rps"] >= GOAL_RPS,
        "table": _table(private, public, server_cpu),
        "headline": {"private_rps": private["rps"],
                     "ratio_to_public_time_baseline": round(ratio, 3)},
    }
