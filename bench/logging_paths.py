"""How actor logs reach one place under forkserver: multiprocessing-logging vs ZeroMQ.

Each of K forkserver children logs N records. With multiprocessing-logging the parent
installs its handler (`install_mp_handler`), which children only get by inheriting it
through fork; nija's path sends each record as a msgspec LogRecord over a DEALER to the
parent's ROUTER, as the actors do. Reported: records delivered out of K*N, and throughput.
The baseline is the same children formatting records to /dev/null (nothing crosses).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import tempfile
import time
from typing import Any

import multiprocessing_logging
import zmq

from bench.table import Row, fmt, goal, ratio, row
from protocol.codec import actor_codec, encode
from protocol.messages import LogRecord
from protocol.sockets import router as protocol_router


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _child_stdlib(n: int, to_devnull: bool) -> None:
    """Logs at INFO: with no handler installed (the forkserver case) nothing is printed."""
    log = logging.getLogger("bench.child")
    log.setLevel(logging.INFO)
    if to_devnull:
        log.addHandler(logging.StreamHandler(open(os.devnull, "w")))  # noqa: SIM115
    for i in range(n):
        log.info("record %d from %d", i, os.getpid())


def _child_zmq(endpoint: str, n: int) -> None:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, -1)  # deliver everything before exiting
    sock.connect(endpoint)
    for i in range(n):
        sock.send(encode(LogRecord(level=30, logger="bench.child",
                                   message=f"record {i} from {os.getpid()}",
                                   created=time.time())))
    sock.close()
    ctx.term()


def _run_children(ctx: Any, target: Any, args: tuple[Any, ...], k: int) -> float:
    started = time.perf_counter()
    procs = [ctx.Process(target=target, args=args) for _ in range(k)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    return time.perf_counter() - started


def _mp_logging(ctx: Any, k: int, n: int) -> dict[str, Any]:
    root = logging.getLogger()
    counter = _Counter()
    root.handlers[:] = [counter]
    multiprocessing_logging.install_mp_handler()
    seconds = _run_children(ctx, _child_stdlib, (n, False), k)
    time.sleep(0.5)  # let the receiver thread drain
    delivered = counter.count
    multiprocessing_logging.uninstall_mp_handler()
    root.handlers[:] = []
    return {"delivered": delivered, "expected": k * n, "seconds": round(seconds, 3)}


def _zmq(ctx: Any, k: int, n: int, rcvhwm: int | None = None) -> dict[str, Any]:
    """`rcvhwm=None` uses the supervisor's own socket options; a number overrides the
    ROUTER's receive HWM (1000 is libzmq's default) to show what it protects against."""
    zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    router = protocol_router(zctx)
    if rcvhwm is not None:
        router.setsockopt(zmq.RCVHWM, rcvhwm)
    path = tempfile.mkdtemp(prefix="nija-log-", dir="/tmp")
    endpoint = f"ipc://{path}/log.sock"
    router.bind(endpoint)
    codec = actor_codec()
    started = time.perf_counter()
    procs = [ctx.Process(target=_child_zmq, args=(endpoint, n)) for _ in range(k)]
    for proc in procs:
        proc.start()
    delivered = 0
    while delivered < k * n and router.poll(3000):
        _, frame = router.recv_multipart()
        if isinstance(codec.decode(frame), LogRecord):
            delivered += 1
    seconds = time.perf_counter() - started
    for proc in procs:
        proc.join()
    router.close()
    zctx.term()
    return {"delivered": delivered, "expected": k * n, "seconds": round(seconds, 3),
            "records_per_s": round(delivered / seconds)}


def _local_baseline(ctx: Any, k: int, n: int) -> dict[str, Any]:
    return {"seconds": round(_run_children(ctx, _child_stdlib, (n, True), k), 3)}


def _table(mp_result: dict[str, Any], zmq_result: dict[str, Any], default_hwm: dict[str, Any],
           baseline: dict[str, Any]) -> list[Row]:
    """The report's rows: what each path delivered, and the ZeroMQ path's cost against
    children that format their records locally."""
    expected = zmq_result["expected"]
    share = ratio(zmq_result["delivered"], expected)
    return [
        row(f"records delivered of {expected:,}, ZeroMQ LogRecords", zmq_result["delivered"],
            goal("all", zmq_result["delivered"] == expected),
            f"{mp_result['delivered']:,}: multiprocessing-logging under forkserver",
            ratio(zmq_result["delivered"], mp_result["delivered"])),
        row("time for every record, ZeroMQ (s)", zmq_result["seconds"], None,
            f"{fmt(baseline['seconds'])}: children formatting to /dev/null",
            ratio(zmq_result["seconds"], max(baseline["seconds"], 1e-9), 2)),
        row("throughput, ZeroMQ (records/s)", zmq_result["records_per_s"]),
        row("share delivered with libzmq's default RCVHWM 1000",
            ratio(default_hwm["delivered"], expected), None,
            f"{fmt(share)}: the supervisor's socket options"),
    ]


def run(quick: bool = False) -> dict[str, Any]:
    k, n = (4, 2000) if quick else (8, 20000)
    ctx = mp.get_context("forkserver")
    mp_result = _mp_logging(ctx, k, n)
    zmq_result = _zmq(ctx, k, n)
    default_hwm = _zmq(ctx, k, n, rcvhwm=1000)
    baseline = _local_baseline(ctx, k, n)
    return {
        "benchmark": "logging",
        "children": k, "records_per_child": n, "start_method": "forkserver",
        "multiprocessing_logging": mp_result,
        "zeromq_log_records": zmq_result,
        "zeromq_with_libzmq_default_rcvhwm_1000": default_hwm,
        "children_formatting_locally": baseline,
        "table": _table(mp_result, zmq_result, default_hwm, baseline),
        "headline": {
            "mp_logging_delivered_ratio": round(mp_result["delivered"] / (k * n), 3),
            "zmq_delivered_ratio": round(zmq_result["delivered"] / (k * n), 3),
            "zmq_seconds_ratio_to_local_baseline": round(
                zmq_result["seconds"] / max(baseline["seconds"], 1e-9), 2),
        },
    }
