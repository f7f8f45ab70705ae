"""The operators' control socket: Status, Pause, Resume, Restart, Stop and account queries.

Requests that need an actor's answer are forwarded with a fresh request id and replied to
when every actor involved has answered, or when the timeout passes.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from protocol.codec import ProtocolError, control_codec, encode
from protocol.messages import (
    PROTOCOL_VERSION,
    AccountQuery,
    Ack,
    ControlMessage,
    ControlRequest,
    Error,
    Message,
    Pause,
    PauseRequest,
    Query,
    QueryReply,
    Reply,
    RestartRequest,
    Resume,
    ResumeRequest,
    StatusReply,
    StatusRequest,
    StopRequest,
)
from protocol.sockets import router
from supervisor.config import Config

if TYPE_CHECKING:
    from supervisor.core import Supervisor
    from supervisor.slots import ActorSlot

log = logging.getLogger("nija.control")
FORWARD_TIMEOUT_S = 10.0


@dataclass
class Pending:
    """A control request waiting for actor replies."""

    client: bytes
    request: ControlRequest
    deadline: float
    waiting: dict[int, str] = field(default_factory=dict)  # internal id -> actor id
    answers: dict[str, str] = field(default_factory=dict)


class ControlPlane:
    def __init__(self, supervisor: Supervisor, ctx: zmq.Context[zmq.Socket[bytes]],
                 endpoint: str, config: Config) -> None:
        self.sup = supervisor
        self.ctx = ctx
        self.endpoint = endpoint
        self.config = config
        self.sock = router(ctx)
        self.codec = control_codec()
        self.ids = itertools.count(1)
        self.pending: dict[int, Pending] = {}  # internal id -> the control request it serves
        self.auth: ThreadAuthenticator | None = None

    def bind(self) -> None:
        if self.endpoint.startswith("tcp://"):
            self._enable_curve()
        self.sock.bind(self.endpoint)
        log.info("control endpoint %s", self.endpoint)

    def _enable_curve(self) -> None:
        """TCP control is opt-in and always CURVE-authenticated: only whitelisted client keys."""
        settings = self.config.supervisor
        secret_file = settings.control_curve_server_secret_file
        authorized = settings.control_curve_authorized_dir
        if not secret_file or not Path(secret_file).is_file():
            raise ValueError("supervisor.control_curve_server_secret_file: no such file "
                             f"{secret_file!r}")
        if not authorized or not Path(authorized).is_dir():
            raise ValueError("supervisor.control_curve_authorized_dir: no such directory "
                             f"{authorized!r}")
        self.auth = ThreadAuthenticator(self.ctx)
        self.auth.start()
        self.auth.configure_curve(domain="*", location=authorized)
        public, secret = zmq.auth.load_certificate(secret_file)
        if secret is None:
            raise ValueError("supervisor.control_curve_server_secret_file holds no secret key")
        self.sock.curve_secretkey = secret
        self.sock.curve_publickey = public
        self.sock.curve_server = True

    def close(self) -> None:
        self.sock.close()
        if self.auth is not None:
            self.auth.stop()

    def reply(self, client: bytes, message: Message) -> None:
        with contextlib.suppress(zmq.ZMQError):  # the client went away; nothing to tell
            self.sock.send_multipart([client, encode(message)], zmq.NOBLOCK)

    # -- inbound -------------------------------------------------------------------

    def drain(self) -> None:
        while self.sock.poll(0):
            frames = self.sock.recv_multipart()
            if len(frames) < 2:
                continue
            client, frame = frames[0], frames[-1]
            try:
                request = self.codec.decode(frame)
            except ProtocolError as exc:
                self.reply(client, exc.to_error())
                continue
            if request.protocol_version != PROTOCOL_VERSION:
                self.reply(client, Error(request_id=request.request_id, code="version_mismatch",
                                         message=f"supervisor speaks protocol {PROTOCOL_VERSION}"))
                continue
            try:
                self.handle(client, request)
            except Exception as exc:  # a bug in one request must not take the supervisor down
                log.exception("control request %s failed", type(request).__name__)
                self.reply(client, Error(request_id=request.request_id, code="internal",
                                         message=f"{type(exc).__name__}: {exc}"))

    def resolve(self, account: str) -> ActorSlot | None:
        """`master` or `kraken:master`."""
        slots = self.sup.slots
        if account in slots:
            return slots[account]
        matches = [s for s in slots.values() if s.account.name == account]
        return matches[0] if len(matches) == 1 else None

    def _targets(self, client: bytes, request: PauseRequest | ResumeRequest
                 ) -> list[ActorSlot] | None:
        if request.all_accounts:
            return [s for s in self.sup.slots.values() if s.is_account]
        slot = self.resolve(request.account)
        if slot is None:
            self._unknown(client, request.request_id, request.account)
            return None
        if not slot.is_account:
            self.reply(client, Error(request_id=request.request_id, code="refused", message=(
                f"{slot.actor_id} is the market data actor; it places no orders and cannot "
                "be paused (use restart or stop)")))
            return None
        return [slot]

    def _unknown(self, client: bytes, request_id: int, account: str) -> None:
        known = ", ".join(sorted(s.account.name for s in self.sup.slots.values()))
        self.reply(client, Error(request_id=request_id, code="unknown_account",
                                 message=f"unknown account {account!r}; known: {known}"))

    def handle(self, client: bytes, request: ControlMessage) -> None:
        now = time.monotonic()
        if isinstance(request, StatusRequest):
            self.reply(client, StatusReply(
                request_id=request.request_id, mode=self.sup.metrics.mode,
                actors=tuple(s.status(now) for s in self.sup.slots.values()),
                venue=self.sup.venue_url))
        elif isinstance(request, (PauseRequest, ResumeRequest)):
            targets = self._targets(client, request)
            if targets is not None:
                self._pause_or_resume(client, request, targets, now)
        elif isinstance(request, RestartRequest):
            slot = self.resolve(request.account)
            if slot is None:
                self._unknown(client, request.request_id, request.account)
                return
            self.sup.restart(slot)
            self.reply(client, Ack(request_id=request.request_id, actors=(slot.actor_id,),
                                   message=f"{slot.actor_id} restarting"))
        elif isinstance(request, StopRequest):
            self.reply(client, Ack(request_id=request.request_id, message="supervisor stopping"))
            self.sup.begin_stop()
        elif isinstance(request, AccountQuery):
            self._query(client, request, now)

    def _pause_or_resume(self, client: bytes, request: PauseRequest | ResumeRequest,
                         targets: list[ActorSlot], now: float) -> None:
        pausing = isinstance(request, PauseRequest)
        self.sup.set_paused(targets, pausing, everything=request.all_accounts)
        pending = Pending(client, request, now + FORWARD_TIMEOUT_S)
        for slot in targets:
            if not (slot.connected and slot.alive):
                pending.answers[slot.actor_id] = "will apply when it starts"
                continue
            internal = next(self.ids)
            if isinstance(request, PauseRequest):
                message: Message = Pause(request_id=internal, cancel_open=request.cancel_open,
                                         flatten=request.flatten)
            else:
                message = Resume(request_id=internal)
            if self.sup.send_to_actor(slot, message):
                pending.waiting[internal] = slot.actor_id
                self.pending[internal] = pending
            else:
                pending.answers[slot.actor_id] = "unreachable; will apply when it restarts"
        verb = "paused" if pausing else "resumed"
        for slot in targets:
            slot.log.warning("%s %s by operator", slot.actor_id, verb)
        self._maybe_finish(pending)

    def _query(self, client: bytes, request: AccountQuery, now: float) -> None:
        slot = self.resolve(request.account)
        if slot is None:
            self._unknown(client, request.request_id, request.account)
            return
        if not (slot.connected and slot.alive):
            self.reply(client, Error(request_id=request.request_id, code="not_running",
                                     message=f"{slot.actor_id} is {slot.state}"))
            return
        internal = next(self.ids)
        pending = Pending(client, request, now + FORWARD_TIMEOUT_S, {internal: slot.actor_id})
        self.pending[internal] = pending
        self.sup.send_to_actor(slot, Query(request_id=internal, what=request.what,
                                           params=dict(request.params)))

    # -- actor replies -------------------------------------------------------------

    def on_actor_reply(self, slot: ActorSlot, message: Reply | Error) -> None:
        if message.request_id is None:
            slot.log.warning("%s reported: %s", slot.actor_id, message)
            return
        pending = self.pending.pop(message.request_id, None)
        if pending is None:
            return  # late reply after a timeout, or the reply to our own Shutdown
        pending.waiting.pop(message.request_id, None)
        if isinstance(pending.request, AccountQuery):
            if isinstance(message, Reply):
                self.reply(pending.client, QueryReply(request_id=pending.request.request_id,
                                                      actor=slot.actor_id, result=message.result))
            else:
                self.reply(pending.client, Error(request_id=pending.request.request_id,
                                                 code=message.code, message=message.message))
            return
        pending.answers[slot.actor_id] = "ok" if isinstance(message, Reply) else message.message
        self._maybe_finish(pending)

    def _maybe_finish(self, pending: Pending, timed_out: bool = False) -> None:
        if pending.waiting and not timed_out:
            return
        for internal, actor in pending.waiting.items():
            pending.answers[actor] = "no answer before the timeout"
            self.pending.pop(internal, None)
        if isinstance(pending.request, AccountQuery):
            self.reply(pending.client, Error(request_id=pending.request.request_id,
                                             code="timeout", message="the actor did not answer"))
            return
        verb = "paused" if isinstance(pending.request, PauseRequest) else "resumed"
        detail = "; ".join(f"{a}: {r}" for a, r in sorted(pending.answers.items()))
        self.reply(pending.client, Ack(request_id=pending.request.request_id,
                                       actors=tuple(sorted(pending.answers)),
                                       message=f"{verb} ({detail})"))

    def expire(self, now: float) -> None:
        expired = {id(p): p for p in self.pending.values() if now >= p.deadline}
        for pending in expired.values():
            self._maybe_finish(pending, timed_out=True)


def default_control_endpoint(runtime_dir: str | os.PathLike[str]) -> str:
    return f"ipc://{Path(runtime_dir) / 'control.sock'}"
