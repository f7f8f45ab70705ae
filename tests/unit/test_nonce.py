"""The nonce store: strictly increasing per key across calls, threads, restarts and crashes."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import tempfile
import threading
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.kraken import nonce as nonce_module
from actors.kraken.nonce import (
    NonceRejected,
    NonceStore,
    NonceStoreCorrupt,
    NonceStoreLocked,
    call_with_nonce_recovery,
)

T0 = 1_700_000_000_000_000  # a plausible "now" in microseconds


def increasing(values: list[int]) -> bool:
    return all(a < b for a, b in itertools.pairwise(values))


class FakeClock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def test_nonces_strictly_increase_and_never_fall_below_the_clock(tmp_path):
    clock = FakeClock()
    with NonceStore(tmp_path, clock_us=clock) as store:
        seen = [store.next() for _ in range(50)]  # a frozen clock: +1 each
        clock.now += 1_000
        seen.append(store.next())
        assert seen[0] == T0 and seen[-1] == T0 + 1_000
        clock.now -= 500_000  # NTP steps back: still increasing
        seen.append(store.next())
        assert increasing(seen)


def test_many_threads_get_unique_and_per_thread_increasing_nonces(tmp_path):
    store = NonceStore(tmp_path)
    results: list[list[int]] = [[] for _ in range(8)]

    def hammer(out: list[int]) -> None:
        for _ in range(2_000):
            out.append(store.next())

    threads = [threading.Thread(target=hammer, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [n for out in results for n in out]
    assert len(set(every)) == len(every) == 16_000
    assert all(increasing(out) for out in results)
    store.close()


def test_restarted_store_never_reuses_a_nonce_even_if_the_clock_went_back(tmp_path):
    clock = FakeClock()
    store = NonceStore(tmp_path, clock_us=clock, reserve=1_000)
    handed_out = [store.next() for _ in range(10)]
    store.close()
    clock.now = T0 - 3_600_000_000  # an hour backwards
    again = NonceStore(tmp_path, clock_us=clock, reserve=1_000)
    assert again.next() > max(handed_out)
    again.close()


def _use_nonces_then_crash(state_dir: str, conn: multiprocessing.connection.Connection) -> None:
    store = NonceStore(state_dir, reserve=60_000_000)
    conn.send([store.next() for _ in range(100)])
    conn.close()
    os._exit(9)  # no close(): the process dies between reserve and use


def test_a_crash_between_reserve_and_use_never_goes_backwards(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_use_nonces_then_crash, args=(str(tmp_path), child))
    proc.start()
    used = parent.recv()
    proc.join(10)
    assert proc.exitcode == 9
    with NonceStore(tmp_path, clock_us=FakeClock(0)) as again:  # even with a broken clock
        assert again.next() > max(used)


def test_persistence_is_amortised_by_the_reserve(tmp_path):
    clock = FakeClock()
    fsyncs = []
    real_fsync = os.fsync
    with mock.patch.object(nonce_module.os, "fsync", lambda fd: fsyncs.append(real_fsync(fd))):
        store = NonceStore(tmp_path, clock_us=clock, reserve=1_000)
        for _ in range(10_000):
            clock.now += 1
            store.next()
    assert store.writes == 10  # one mark per 1000 µs of nonces, not one per nonce
    assert len(fsyncs) == 2 * store.writes  # the file and its directory
    assert json.loads((tmp_path / "nonce.json").read_text()) == {
        "high_water": store.high_water, "version": 1}
    assert store.last < store.high_water
    store.close()


@pytest.mark.parametrize("content", [b"{not json", b'{"high_water": "12", "version": 1}',
                                     b'{"high_water": 12, "version": 2}', b"[]", b""])
def test_a_corrupt_file_is_an_error_naming_the_path(tmp_path, content):
    (tmp_path / "nonce.json").write_bytes(content)
    with pytest.raises(NonceStoreCorrupt, match=str(tmp_path / "nonce.json")):
        NonceStore(tmp_path)
    NonceStore(tmp_path, filename="other.json").close()  # the failed open released its lock


def test_a_missing_file_starts_from_the_clock(tmp_path):
    with NonceStore(tmp_path / "fresh", clock_us=FakeClock()) as store:
        assert store.next() == T0


def test_a_second_holder_of_the_same_store_is_refused(tmp_path):
    first = NonceStore(tmp_path)
    with pytest.raises(NonceStoreLocked, match=str(tmp_path / "nonce.json.lock")):
        NonceStore(tmp_path)
    first.close()
    NonceStore(tmp_path).close()  # released by close


def test_a_closed_store_refuses_to_hand_out_nonces(tmp_path):
    store = NonceStore(tmp_path)
    store.close()
    with pytest.raises(nonce_module.NonceStoreError, match="closed"):
        store.next()


def test_jump_moves_forward_persists_and_is_counted(tmp_path):
    clock = FakeClock()
    store = NonceStore(tmp_path, clock_us=clock, reserve=1_000)
    before = store.next()
    floor = store.jump()
    assert floor >= before + 1_000 and store.jumps == 1
    assert floor <= store.next() < store.high_water
    assert store.jump(minimum=T0 * 2) == T0 * 2 and store.jumps == 2
    store.close()
    with NonceStore(tmp_path, clock_us=clock, reserve=1_000) as again:
        assert again.next() > T0 * 2


def test_recovery_retries_an_invalid_nonce_exactly_once(tmp_path):
    store = NonceStore(tmp_path, clock_us=FakeClock(), reserve=1_000)
    sent: list[int] = []

    def flaky(nonce: int) -> str:
        sent.append(nonce)
        return "EAPI:Invalid nonce" if len(sent) == 1 else "ok"

    assert call_with_nonce_recovery(flaky, store, lambda r: r == "EAPI:Invalid nonce") == "ok"
    assert len(sent) == 2 and sent[1] >= sent[0] + 1_000 and store.jumps == 1

    sent.clear()
    with pytest.raises(NonceRejected):
        call_with_nonce_recovery(lambda n: sent.append(n) or "bad", store, lambda r: r == "bad")
    assert len(sent) == 2 and store.jumps == 2  # one retry, never a loop

    sent.clear()
    assert call_with_nonce_recovery(lambda n: sent.append(n) or "ok", store, lambda r: False)
    assert len(sent) == 1 and store.jumps == 2
    store.close()


OPS = st.lists(st.one_of(st.just("next"), st.just("reopen"), st.just("jump"),
                         st.integers(-10**9, 10**9)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(ops=OPS, reserve=st.integers(1, 5_000))
def test_any_interleaving_of_calls_restarts_and_clock_moves_is_increasing(ops, reserve):
    clock = FakeClock()
    seen: list[int] = []
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(nonce_module.os, "fsync"):
        store = NonceStore(tmp, clock_us=clock, reserve=reserve)
        for op in ops:
            if op == "next":
                seen.append(store.next())
                assert seen[-1] >= clock.now
            elif op == "reopen":
                store.close()
                store = NonceStore(tmp, clock_us=clock, reserve=reserve)
            elif op == "jump":
                store.jump()
            else:
                clock.now += op
        seen.append(store.next())
        store.close()
    assert increasing(seen)


def _try_to_hold(state_dir: str, results: multiprocessing.Queue[str],
                 release: multiprocessing.synchronize.Event) -> None:
    try:
        store = NonceStore(state_dir)
    except NonceStoreLocked:
        results.put("locked")
        return
    results.put("ok")
    release.wait(10)
    store.close()


def test_only_one_of_two_processes_can_open_a_store(tmp_path: Path):
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    release = ctx.Event()
    procs = [ctx.Process(target=_try_to_hold, args=(str(tmp_path), results, release))
             for _ in range(2)]
    for proc in procs:
        proc.start()
    outcomes = sorted(results.get(timeout=10) for _ in procs)
    release.set()
    for proc in procs:
        proc.join(10)
    assert outcomes == ["locked", "ok"]
