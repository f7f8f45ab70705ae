"""Every message between supervisor, actors and control clients.

Frozen, tagged msgspec Structs (the tag is the class name, in field `type`), grouped in
one Union per direction. msgpack on the wire. `docs/protocol.md` describes each one.
Evolution rule: new fields get defaults; a new message type bumps PROTOCOL_VERSION,
which both ends check in the handshake (Hello/Welcome, and every control request).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

PROTOCOL_VERSION = 1


class Message(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """Base of every message; `type` on the wire names the class."""


# -- shared --------------------------------------------------------------------------

ErrorCode = Literal[
    "malformed", "unknown_type", "oversized", "version_mismatch", "unknown_account",
    "not_running", "timeout", "busy", "refused", "internal",
]


class Error(Message, frozen=True, kw_only=True):
    """A request could not be served, or a frame could not be understood."""

    request_id: int | None
    code: ErrorCode
    message: str


# -- actor -> supervisor -------------------------------------------------------------

class Hello(Message, frozen=True, kw_only=True):
    """First frame of every actor incarnation; the supervisor answers Welcome or Error."""

    actor_id: str  # "kraken:master"
    pid: int
    protocol_version: int
    started_at: float  # unix seconds


class Heartbeat(Message, frozen=True, kw_only=True):
    """Sent from the actor's main loop every interval: it proves the loop, not just the
    process, is alive (ZMTP heartbeats cannot tell a hung Python loop)."""

    seq: int
    state: str
    sent_at: float
    counters: dict[str, int] = {}
    summary: dict[str, str] = {}  # the broker's figures for `nijactl status`


class StateChanged(Message, frozen=True, kw_only=True):
    state: str
    reason: str = ""


class Reply(Message, frozen=True, kw_only=True):
    """The answer to a request carrying the same request_id."""

    request_id: int
    result: dict[str, Any] = {}


class MetricPoint(msgspec.Struct, frozen=True, array_like=True):
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


class HistogramPoint(msgspec.Struct, frozen=True, array_like=True):
    """Cumulative since the actor incarnation started: `counts[i]` observations <= `bounds[i]`."""

    name: str
    labels: tuple[tuple[str, str], ...]
    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    sum: float
    count: int


class MetricsSample(Message, frozen=True, kw_only=True):
    """Counter and histogram values are totals since this incarnation started (so a lost
    sample loses nothing); the supervisor turns them into monotonic series across restarts."""

    counters: tuple[MetricPoint, ...] = ()
    gauges: tuple[MetricPoint, ...] = ()
    histograms: tuple[HistogramPoint, ...] = ()


class LogRecord(Message, frozen=True, kw_only=True):
    """A log line from the actor, already redacted there, written by the supervisor."""

    level: int
    logger: str
    message: str
    created: float
    exc_text: str = ""


ActorMessage = Hello | Heartbeat | StateChanged | Reply | Error | MetricsSample | LogRecord


# -- supervisor -> actor -------------------------------------------------------------

class Welcome(Message, frozen=True, kw_only=True):
    """Accepts a Hello and tells the new incarnation what survives restarts (pause)."""

    protocol_version: int
    paused: bool
    heartbeat_interval_s: float
    heartbeat_misses: int


class Ping(Message, frozen=True, kw_only=True):
    """The supervisor's heartbeat: an actor that stops hearing it shuts itself down, so an
    orphan never keeps trading on a key."""

    seq: int
    sent_at: float


class Pause(Message, frozen=True, kw_only=True):
    """Stop opening orders at once; optionally cancel resting orders and flatten positions."""

    request_id: int
    cancel_open: bool = False
    flatten: bool = False


class Resume(Message, frozen=True, kw_only=True):
    request_id: int


class Shutdown(Message, frozen=True, kw_only=True):
    """Finish in-flight work and exit within `deadline_s`; the supervisor kills after that."""

    request_id: int
    deadline_s: float


class Query(Message, frozen=True, kw_only=True):
    """Ask the actor for data: "status" here; brokers add "balance", "open_orders", ..."""

    request_id: int
    what: str
    params: dict[str, str] = {}


SupervisorMessage = Welcome | Ping | Pause | Resume | Shutdown | Query | Error


# -- control client -> supervisor ----------------------------------------------------

class ControlRequest(Message, frozen=True, kw_only=True):
    request_id: int
    protocol_version: int = PROTOCOL_VERSION


class StatusRequest(ControlRequest, frozen=True, kw_only=True):
    pass


class PauseRequest(ControlRequest, frozen=True, kw_only=True):
    """`account` is "master" or "kraken:master"; `all_accounts` is the kill switch."""

    account: str = ""
    all_accounts: bool = False
    cancel_open: bool = False
    flatten: bool = False


class ResumeRequest(ControlRequest, frozen=True, kw_only=True):
    account: str = ""
    all_accounts: bool = False


class RestartRequest(ControlRequest, frozen=True, kw_only=True):
    account: str


class StopRequest(ControlRequest, frozen=True, kw_only=True):
    """Stop the whole supervisor gracefully (as SIGTERM does)."""


class AccountQuery(ControlRequest, frozen=True, kw_only=True):
    """Forward a Query to one account's actor and relay its answer."""

    account: str
    what: str
    params: dict[str, str] = {}


ControlMessage = (
    StatusRequest | PauseRequest | ResumeRequest | RestartRequest | StopRequest | AccountQuery
)


# -- supervisor -> control client ----------------------------------------------------

class ActorStatus(msgspec.Struct, frozen=True):
    name: str  # actor id, "kraken:master"
    broker: str
    account: str
    state: str  # starting, running, paused, stopping, backoff, failed, credentials_invalid, ...
    pid: int | None
    restarts: int
    uptime_s: float | None
    heartbeat_age_s: float | None
    paused: bool
    detail: str = ""
    role: str = "account"  # or "market": the broker's market data actor
    summary: dict[str, str] = {}  # equity, P&L, positions, orders... as the actor reports


class StatusReply(Message, frozen=True, kw_only=True):
    request_id: int
    mode: str  # "live" | "paper"
    actors: tuple[ActorStatus, ...]
    venue: str = ""  # the exchange's base URL (the simulator's in paper mode)


class Ack(Message, frozen=True, kw_only=True):
    request_id: int
    message: str
    actors: tuple[str, ...] = ()


class QueryReply(Message, frozen=True, kw_only=True):
    request_id: int
    actor: str
    result: dict[str, Any]


ControlReply = StatusReply | Ack | QueryReply | Error
