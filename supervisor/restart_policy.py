"""Restart decisions for one actor: OTP restart types, intensity/period, exponential backoff.

Pure: no clocks, processes or IO. Callers pass `now` (monotonic seconds) and, for
deterministic tests, a seeded `random.Random`.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from dataclasses import dataclass
from typing import Literal

EXIT_UNFIXABLE = 78  # EX_CONFIG: exit code for "a restart cannot help" (invalid key, no permission)

Action = Literal["restart", "stop", "fail", "credentials_invalid"]


class RestartType(enum.Enum):
    """When an actor is restarted, as in OTP child specs."""

    PERMANENT = "permanent"  # after any exit except a requested stop
    TRANSIENT = "transient"  # only after an abnormal exit
    TEMPORARY = "temporary"  # never


class ExitKind(enum.Enum):
    NORMAL = "normal"  # exit code 0
    SHUTDOWN = "shutdown"  # we asked it to stop; never restarted
    ABNORMAL = "abnormal"  # non-zero exit, killed by a signal, or declared hung
    UNFIXABLE = "unfixable"  # the actor reported an error a restart cannot fix


def classify_exit(exitcode: int | None, *, requested_stop: bool, unfixable: bool) -> ExitKind:
    """Map a multiprocessing exit code (negative = killed by signal -code) to an ExitKind.

    Unfixable wins over a requested stop: a bad key stays bad, and reporting it as merely
    "stopped" would let an operator start it straight into the same wall. A kill issued
    because the actor hung is not a requested stop: pass requested_stop=False for it.
    """
    if exitcode is None:
        raise ValueError("classify_exit called for a process that is still running")
    if unfixable or exitcode == EXIT_UNFIXABLE:
        return ExitKind.UNFIXABLE
    if requested_stop:
        return ExitKind.SHUTDOWN
    return ExitKind.NORMAL if exitcode == 0 else ExitKind.ABNORMAL


_DESCRIPTIONS = {
    ExitKind.NORMAL: "exited normally",
    ExitKind.SHUTDOWN: "stopped on request",
    ExitKind.ABNORMAL: "exited abnormally",
    ExitKind.UNFIXABLE: "reported an unfixable error",
}


@dataclass(frozen=True)
class Decision:
    action: Action
    delay_s: float  # for "restart": seconds to wait before starting again; 0 otherwise
    reason: str  # human-readable, for logs and the control socket
    restarts_in_window: int


class RestartPolicy:
    """Restart budget and backoff for ONE actor.

    Per-child on purpose: under OTP one account's crash loop would exhaust a shared budget and
    take every account down. When this budget is exhausted the actor alone is parked ("fail").
    A restart at time t counts while t >= now - period_s (inclusive, as OTP's supervisor.erl).
    """

    def __init__(self, restart_type: RestartType, intensity: int = 5, period_s: float = 60.0,
                 backoff_initial_s: float = 0.1, backoff_max_s: float = 30.0,
                 backoff_multiplier: float = 2.0, jitter: float = 0.2,
                 rng: random.Random | None = None) -> None:
        checks = {
            "intensity must be >= 0": intensity >= 0,
            "period_s must be > 0": period_s > 0,
            "backoff_initial_s must be >= 0": backoff_initial_s >= 0,
            "backoff_max_s must be >= backoff_initial_s": backoff_max_s >= backoff_initial_s,
            "backoff_multiplier must be >= 1": backoff_multiplier >= 1,
            "jitter must be within [0, 1]": 0 <= jitter <= 1,
        }
        for message, ok in checks.items():
            if not ok:
                raise ValueError(message)
        self.restart_type = restart_type
        self.intensity = intensity
        self.period_s = period_s
        self._initial = backoff_initial_s
        self._max = backoff_max_s
        self._multiplier = backoff_multiplier
        self._jitter = jitter
        self._rng = rng if rng is not None else random.Random()
        self._window: deque[float] = deque()
        self._next_delay = backoff_initial_s  # un-jittered; grows by multiplier, capped at max
        self._terminal: Decision | None = None
        self._restarts_total = 0

    @property
    def restarts_total(self) -> int:
        """Every restart decided since construction; survives reset() so metrics stay monotonic."""
        return self._restarts_total

    def on_exit(self, kind: ExitKind, now: float, *, detail: str | None = None) -> Decision:
        """Decide what to do after the actor exited; `detail` (e.g. "exited with code 1")
        replaces the generic description of `kind` in the reason."""
        if self._terminal is not None:
            return self._terminal
        what = detail or _DESCRIPTIONS[kind]
        self._forget_before(now)
        if kind is ExitKind.UNFIXABLE:
            return self._park("credentials_invalid", f"{what}; a restart cannot fix it")
        if not self._wants_restart(kind):
            reason = f"{what}; {self.restart_type.value} actor not restarted"
            return Decision("stop", 0.0, reason, len(self._window))
        count = len(self._window) + 1
        period = f"{self.period_s:g}s"
        if count > self.intensity:
            plural = "restart" if count == 1 else "restarts"
            budget = f"{count} {plural} within {period} exceeds intensity {self.intensity}"
            return self._park("fail", f"{what}; {budget}", count)
        self._window.append(now)
        self._restarts_total += 1
        reason = f"{what}; restart {count} of {self.intensity} within {period}"
        return Decision("restart", self._take_delay(), reason, count)

    def on_stable(self, now: float) -> None:
        """The actor stayed up long enough: the next restart waits `initial` again.

        The intensity window is kept, so a slow crash loop still exhausts the budget.
        """
        self._forget_before(now)
        self._next_delay = self._initial

    def reset(self) -> None:
        """Operator restart after a terminal decision: clean slate (restarts_total is kept)."""
        self._window.clear()
        self._next_delay = self._initial
        self._terminal = None

    def _wants_restart(self, kind: ExitKind) -> bool:
        if self.restart_type is RestartType.PERMANENT:
            return kind is not ExitKind.SHUTDOWN
        if self.restart_type is RestartType.TRANSIENT:
            return kind is ExitKind.ABNORMAL
        return False

    def _park(self, action: Action, reason: str, count: int | None = None) -> Decision:
        in_window = len(self._window) if count is None else count
        self._terminal = Decision(action, 0.0, reason, in_window)
        return self._terminal

    def _forget_before(self, now: float) -> None:
        threshold = now - self.period_s
        while self._window and self._window[0] < threshold:
            self._window.popleft()

    def _take_delay(self) -> float:
        # Grown incrementally (not initial * multiplier**n) so a long loop cannot overflow.
        base = self._next_delay
        self._next_delay = min(self._max, base * self._multiplier)
        if self._jitter == 0:
            return base
        return max(0.0, base * self._rng.uniform(1 - self._jitter, 1 + self._jitter))


class HeartbeatMonitor:
    """Declares an actor hung after `misses` heartbeat intervals without a beat.

    A hung actor is killed by the supervisor and classified ABNORMAL (not a requested stop).
    """

    def __init__(self, interval_s: float, misses: int) -> None:
        if interval_s <= 0 or misses < 1:
            raise ValueError("HeartbeatMonitor needs interval_s > 0 and misses >= 1")
        self.interval_s = interval_s
        self.misses = misses
        self._last: float | None = None

    @property
    def threshold_s(self) -> float:
        return self.interval_s * self.misses

    def start(self, now: float) -> None:
        """The actor (re)started: give it a full threshold before it can be declared hung."""
        self._last = now

    def beat(self, now: float) -> None:
        self._last = now

    def age(self, now: float) -> float:
        """Seconds since the last beat or start(); never negative."""
        if self._last is None:
            raise RuntimeError("HeartbeatMonitor.age called before start() or beat()")
        return max(0.0, now - self._last)

    def is_hung(self, now: float) -> bool:
        return self.age(now) > self.threshold_s
