"""Strictly increasing Kraken nonces for one API key, across calls, threads and restarts.

Kraken rejects any nonce not above the last one it accepted for the key (`EAPI:Invalid nonce`,
kraken-api.md §2), and repeated rejections lock the key out for about 15 minutes. Millisecond
clocks, clocks stepping backwards and two processes sharing a key all break that rule (§1.4),
so every private call on a key takes its nonce from the key's one `NonceStore`:

* ``n = max(last + 1, now_us)``: never repeated, never below the current time in microseconds.
* A high-water mark ``reserve`` microseconds ahead is persisted (temp file, fsync, rename,
  directory fsync) *before* any nonce above the previous mark is returned. A new incarnation
  resumes above the mark, so a crash between reserve and use can never go backwards even if
  the clock did, and durability costs one write per ``reserve`` span, not one per nonce.
* An exclusive ``flock`` on ``<filename>.lock`` makes a second holder (another process, or a
  second store in this one) impossible: it gets `NonceStoreLocked` instead of colliding.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

MAX_NONCE = 2**64 - 1  # Kraken: an unsigned 64-bit integer
FORMAT_VERSION = 1
T = TypeVar("T")


def wall_clock_us() -> int:
    """Microseconds since the epoch: about 1.7e15, far below `MAX_NONCE`."""
    return time.time_ns() // 1000


class NonceStoreError(Exception):
    """The key's nonce state cannot be taken or trusted; refusing beats risking a reuse."""


class NonceStoreLocked(NonceStoreError):
    """Another store (in this or another process) holds the key's nonces."""


class NonceStoreCorrupt(NonceStoreError):
    """The persisted mark is unreadable; restarting from the clock could go backwards."""


class NonceRejected(Exception):
    """Kraken rejected the nonce again after one jump forward. Not retryable: more attempts
    only move the key toward a lockout; something else is using the key or a higher scheme."""


class NonceStore:
    """Strictly increasing nonces for one API key, persisted with a reserved high-water mark.

    Invariants: every nonce returned is > every nonce returned before by any store ever opened
    on this directory, is >= ``clock_us()`` at the time of the call, and is <= the persisted
    ``high_water``. Thread-safe. Hold `call_lock` across taking a nonce and sending it, so
    calls on the key reach Kraken in nonce order (no reliance on a nonce window).
    """

    def __init__(self, state_dir: str | os.PathLike[str], *,
                 clock_us: Callable[[], int] = wall_clock_us,
                 reserve: int = 10_000_000,  # µs of nonces per write: 10 s at 1 nonce/µs
                 filename: str = "nonce.json") -> None:
        if reserve < 1:
            raise ValueError(f"reserve must be a positive number of microseconds, not {reserve}")
        directory = Path(state_dir)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / filename
        self.lock_path = directory / f"{filename}.lock"
        self.call_lock = threading.RLock()
        self._clock_us = clock_us
        self._reserve = reserve
        self._lock = threading.Lock()
        self._jumps = 0
        self._writes = 0
        self._lock_fd: int | None = self._take_lock()
        try:
            self._high_water = self._load()
        except BaseException:
            self.close()
            raise
        self._last = self._high_water  # everything up to the mark may already have been used

    # -- nonces ---------------------------------------------------------------------------

    def next(self) -> int:
        """The next nonce; persists a new mark first whenever the nonce would pass the old one."""
        with self._lock:
            nonce = max(self._last + 1, self._clock_us())
            self._advance(nonce, nonce)
            return nonce

    def jump(self, minimum: int | None = None) -> int:
        """Recover from `EAPI:Invalid nonce`: move the floor ``reserve`` past both the last nonce
        and the clock (and to at least ``minimum``), persist it and count it. Returns the floor:
        the next nonce is >= it."""
        with self._lock:
            floor = max(max(self._last + 1, self._clock_us()) + self._reserve, minimum or 0)
            self._advance(floor - 1, floor)
            self._jumps += 1
            return floor

    def _advance(self, last: int, top: int) -> None:
        """Set last, persisting a mark above ``top`` first if the current one does not cover it."""
        if self._lock_fd is None:
            raise NonceStoreError(f"nonce store {self.path} is closed")
        if top > MAX_NONCE:
            raise OverflowError(f"nonce {top} exceeds Kraken's unsigned 64-bit range")
        if top > self._high_water:
            self._persist(min(top + self._reserve, MAX_NONCE))
        self._last = last

    @property
    def last(self) -> int:
        """The last nonce handed out (after open: the persisted mark)."""
        return self._last

    @property
    def high_water(self) -> int:
        """The persisted mark: no nonce up to it will ever be handed out again after a restart."""
        return self._high_water

    @property
    def jumps(self) -> int:
        """Invalid-nonce recoveries in this incarnation (exported as a metric)."""
        return self._jumps

    @property
    def writes(self) -> int:
        """Durable writes of the mark in this incarnation; amortised by ``reserve``."""
        return self._writes

    # -- the file shell ---------------------------------------------------------------------

    def _take_lock(self) -> int:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException as exc:
            os.close(fd)
            if isinstance(exc, BlockingIOError):
                raise NonceStoreLocked(
                    f"nonce store lock {self.lock_path} is held by another process or store; "
                    "two users of one key's nonces would collide") from None
            raise
        return fd

    def _load(self) -> int:
        """The persisted mark; 0 (start from the clock) only if no file was ever written."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise NonceStoreCorrupt(f"cannot read nonce state {self.path}: {exc}") from exc
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        mark = data.get("high_water") if isinstance(data, dict) else None
        if (not isinstance(data, dict) or data.get("version") != FORMAT_VERSION
                or type(mark) is not int or not 0 <= mark <= MAX_NONCE):
            raise NonceStoreCorrupt(
                f"nonce state {self.path} is not {{'high_water': int, 'version': 1}} "
                f"(starts {raw[:60]!r}); refusing to guess. Remove it only if the clock is "
                "known to be ahead of every nonce this key has used")
        return mark

    def _persist(self, high_water: int) -> None:
        """Atomically and durably replace the mark; `high_water` moves only once it is on disk."""
        payload = json.dumps({"high_water": high_water, "version": FORMAT_VERSION})
        tmp = self.path.with_name(self.path.name + ".tmp")  # safe: we hold the exclusive lock
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._high_water = high_water
        self._writes += 1

    def close(self) -> None:
        """Release the lock. Nothing needs saving: the mark on disk already covers `last`."""
        with self._lock:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def __enter__(self) -> NonceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def call_with_nonce_recovery(send: Callable[[int], T], store: NonceStore,
                             is_invalid_nonce: Callable[[T], bool]) -> T:
    """Send one private call with a fresh nonce; on `EAPI:Invalid nonce` jump once and retry.

    Kraken's advice (§4.2) is to retry an invalid nonce once, with a fresh nonce; an AddOrder
    rejected for its nonce was not placed, so the retry cannot duplicate an order. A second
    rejection raises `NonceRejected` rather than looping toward a lockout. The whole exchange
    holds ``store.call_lock`` so this key's calls arrive in nonce order.
    """
    with store.call_lock:
        result = send(store.next())
        if not is_invalid_nonce(result):
            return result
        store.jump()
        result = send(store.next())
        if is_invalid_nonce(result):
            raise NonceRejected(
                f"Kraken rejected the nonce again after a jump (nonce store {store.path}); "
                "is another process or library using this key?")
        return result
