"""`nijactl`: talk to a running supervisor (status, pause, resume, restart, stop, query) and
verify a deployment (check-config, test-connection, users: see `supervisor.verify`).

Exit codes: 0 done, 1 the supervisor failed or did not answer, 2 bad usage or unknown account.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
import zmq
import zmq.auth

from protocol.codec import control_reply_codec, encode
from protocol.messages import (
    AccountQuery,
    Ack,
    ControlRequest,
    Error,
    PauseRequest,
    QueryReply,
    RestartRequest,
    ResumeRequest,
    StatusReply,
    StatusRequest,
    StopRequest,
)
from protocol.sockets import dealer
from supervisor import verify
from supervisor.config import default_runtime_dir

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class ControlClient:
    """A DEALER to the control endpoint; one request at a time, correlated by request id."""

    def __init__(self, endpoint: str, timeout_s: float = 15.0,
                 curve_client_key: str | None = None, curve_server_key: str | None = None
                 ) -> None:
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.sock = dealer(self.ctx, identity=f"ctl-{uuid.uuid4().hex[:12]}".encode())
        self.sock.setsockopt(zmq.IMMEDIATE, 0)  # queue the request until the connection is up
        if endpoint.startswith("tcp://"):
            self._curve(curve_client_key, curve_server_key)
        self.sock.connect(endpoint)
        self.timeout_s = timeout_s
        self.codec = control_reply_codec()
        self._ids = int(time.time() * 1000) % 1_000_000_000

    def _curve(self, client_key: str | None, server_key: str | None) -> None:
        """TCP control is always CURVE: our keypair (whitelisted on the supervisor) and the
        supervisor's public key, as written by zmq.auth.create_certificates."""
        if not (client_key and server_key):
            raise ValueError("a tcp:// control endpoint needs --curve-client-key (our secret "
                             "certificate) and --curve-server-key (the supervisor's public one)")
        public, secret = zmq.auth.load_certificate(client_key)
        server_public, _ = zmq.auth.load_certificate(server_key)
        if secret is None:
            raise ValueError(f"{client_key} holds no secret key")
        self.sock.curve_publickey, self.sock.curve_secretkey = public, secret
        self.sock.curve_serverkey = server_public

    def request(self, build: Any) -> StatusReply | Ack | QueryReply | Error:
        self._ids += 1
        request: ControlRequest = build(self._ids)
        self.sock.send(encode(request))
        deadline = time.monotonic() + self.timeout_s
        while (left := deadline - time.monotonic()) > 0:
            if not self.sock.poll(int(left * 1000) + 1):
                break
            reply = self.codec.decode(self.sock.recv())
            if reply.request_id == request.request_id:
                return reply
        raise TimeoutError(f"no answer from the supervisor within {self.timeout_s:.0f}s")

    def close(self) -> None:
        self.sock.close()
        self.ctx.term()


def default_endpoint() -> str:
    runtime = os.environ.get("NIJA_RUNTIME_DIR") or default_runtime_dir(os.environ)
    return os.environ.get("NIJA_CONTROL") or f"ipc://{runtime}/control.sock"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nijactl", description=__doc__)
    parser.add_argument("--control", default=None, help="supervisor control endpoint "
                        "(default: $NIJA_CONTROL or the supervisor's own default)")
    parser.add_argument("--timeout", type=float, default=15.0)
    parser.add_argument("--curve-client-key", default=os.environ.get("NIJA_CURVE_CLIENT_KEY"),
                        help="for tcp:// control: our secret certificate file")
    parser.add_argument("--curve-server-key", default=os.environ.get("NIJA_CURVE_SERVER_KEY"),
                        help="for tcp:// control: the supervisor's public certificate file")
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="one line per actor")
    status.add_argument("--json", action="store_true", help="one JSON object per actor")
    pause = commands.add_parser("pause", help="stop opening orders (durable)")
    pause.add_argument("account", nargs="?")
    pause.add_argument("--all", action="store_true", help="every account: the kill switch")
    pause.add_argument("--cancel-open", action="store_true")
    pause.add_argument("--flatten", action="store_true")
    resume = commands.add_parser("resume")
    resume.add_argument("account", nargs="?")
    resume.add_argument("--all", action="store_true")
    restart = commands.add_parser("restart", help="restart one actor with a fresh budget")
    restart.add_argument("account")
    commands.add_parser("stop", help="stop the supervisor gracefully")
    for name, what in (("positions", "spot holdings, per-pair position and P&L"),
                       ("orders", "open orders")):
        shortcut = commands.add_parser(name, help=f"{what} of one account")
        shortcut.add_argument("account")
    query = commands.add_parser("query", help="ask one actor (balance, status, ...)")
    query.add_argument("account")
    query.add_argument("what", help="balance, ticker, open_orders, pnl, place_order, ...")
    query.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE",
                       help="query parameter, e.g. -p pair=XBTUSD -p side=buy -p volume=0.001")
    query.add_argument("--json", action="store_true")
    verify.add_parsers(commands)
    return parser.parse_args(argv)


def _money(text: str | None) -> str:
    """A USD figure to the cent for the table (the JSON keeps every digit)."""
    if not text:
        return "-"
    try:
        return f"{Decimal(text):,.2f}"
    except InvalidOperation:
        return text


def _since(stamp: str | None, now: float) -> str:
    if not stamp:
        return "-"
    age = max(0.0, now - float(stamp))
    return f"{age:.0f}s ago" if age < 120 else f"{age / 60:.0f}m ago"


def _status_table(reply: StatusReply, now: float | None = None) -> str:
    """One row per actor: process health, then what the account holds and has earned."""
    now = time.time() if now is None else now
    rows = [("ACCOUNT", "BROKER", "STATE", "PID", "RESTARTS", "UPTIME", "HEARTBEAT", "MODE",
             "EQUITY", "REALISED", "UNREALISED", "POS", "ORDERS", "LAST ORDER", "DETAIL")]
    for a in reply.actors:
        figures = a.summary
        detail = a.detail or figures.get("blocked", "")
        rows.append((a.account, a.broker, a.state + (" (paused)" if a.paused and a.state
                                                      != "paused" else ""),
                     str(a.pid or "-"), str(a.restarts),
                     f"{a.uptime_s:.0f}s" if a.uptime_s is not None else "-",
                     f"{a.heartbeat_age_s:.1f}s" if a.heartbeat_age_s is not None else "-",
                     "market data" if a.role == "market" else figures.get("mode", "-"),
                     _money(figures.get("equity_usd")),
                     _money(figures.get("realised_pnl_usd")),
                     _money(figures.get("unrealised_pnl_usd")),
                     figures.get("positions", "-"), figures.get("open_orders", "-"),
                     _since(figures.get("last_order_at"), now), detail))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
             for r in rows]
    venue = f" (venue {reply.venue})" if reply.venue else ""
    return f"mode: {reply.mode}{venue}\n" + "\n".join(line.rstrip() for line in lines)


def _build(args: argparse.Namespace) -> Any:
    if args.command == "status":
        return lambda rid: StatusRequest(request_id=rid)
    if args.command in ("pause", "resume") and bool(args.account) == bool(args.all):
        raise SystemExit(f"nijactl {args.command}: give one ACCOUNT or --all")
    if args.command == "pause":
        return lambda rid: PauseRequest(request_id=rid, account=args.account or "",
                                        all_accounts=args.all, cancel_open=args.cancel_open,
                                        flatten=args.flatten)
    if args.command == "resume":
        return lambda rid: ResumeRequest(request_id=rid, account=args.account or "",
                                         all_accounts=args.all)
    if args.command == "restart":
        return lambda rid: RestartRequest(request_id=rid, account=args.account)
    if args.command == "stop":
        return lambda rid: StopRequest(request_id=rid)
    if args.command in ("positions", "orders"):
        what = "pnl" if args.command == "positions" else "open_orders"
        return lambda rid: AccountQuery(request_id=rid, account=args.account, what=what)
    params = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"nijactl query: --param wants KEY=VALUE, got {item!r}")
        params[key] = value
    return lambda rid: AccountQuery(request_id=rid, account=args.account, what=args.what,
                                    params=params)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command in verify.COMMANDS:
        return verify.run(args, lambda endpoint, timeout: ControlClient(
            endpoint, timeout, args.curve_client_key, args.curve_server_key))
    try:
        build = _build(args)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    try:
        client = ControlClient(args.control or default_endpoint(), args.timeout,
                               args.curve_client_key, args.curve_server_key)
    except (ValueError, OSError) as exc:
        print(f"nijactl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        reply = client.request(build)
    except TimeoutError as exc:
        print(f"nijactl: {exc} (is it running? endpoint {args.control or default_endpoint()})",
              file=sys.stderr)
        return EXIT_FAILED
    finally:
        client.close()
    if isinstance(reply, Error):
        print(f"nijactl: {reply.message}", file=sys.stderr)
        return EXIT_USAGE if reply.code == "unknown_account" else EXIT_FAILED
    if isinstance(reply, StatusReply):
        if args.json:
            print(json.dumps([msgspec.to_builtins(a) for a in reply.actors], indent=2))
        else:
            print(_status_table(reply))
    elif isinstance(reply, QueryReply):
        print(json.dumps(reply.result, indent=2, default=str))
    else:
        print(reply.message)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
