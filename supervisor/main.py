"""`run_supervisor.py`: load and validate the config, then supervise until stopped."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys

from protocol.redaction import Redactor
from supervisor.config import Config, ConfigError, describe, load_config, prepare_dirs
from supervisor.logsink import setup_logging
from supervisor.sdnotify import NOTIFY_VARIABLES, ServiceNotifier

log = logging.getLogger("nija.supervisor")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run_supervisor.py", description=(
        "Supervise one isolated process per trading account. With no credentials configured "
        "it runs in paper mode against a local Kraken simulator."))
    parser.add_argument("--config", help="TOML config file")
    parser.add_argument("--paper", action="store_true", help="force paper mode")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR")
    parser.add_argument("--metrics-addr", help="HOST:PORT for /metrics (port 0 picks one)")
    parser.add_argument("--control", help="control endpoint (ipc://PATH or tcp://HOST:PORT)")
    parser.add_argument("--state-dir", help="nonce, journal and pause state")
    parser.add_argument("--runtime-dir", help="ipc sockets and the lock file")
    return parser.parse_args(argv)


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    pairs = {"log_level": args.log_level, "metrics_addr": args.metrics_addr,
             "control": args.control, "state_dir": args.state_dir,
             "runtime_dir": args.runtime_dir}
    return {k: v for k, v in pairs.items() if v is not None}


SECRET_VARIABLE = re.compile(r"^KRAKEN_.*_API_(KEY|SECRET)$", re.IGNORECASE)


def scrub_environment() -> dict[str, str]:
    """Keep the environment (credentials included) for config reloads in this process's
    memory only, and remove the credential variables from the environment children
    inherit: the fork server, and so every actor, must never hold other accounts' keys.
    systemd's notify variables go too: only the supervisor may speak to systemd (a child
    sending READY or WATCHDOG would mask a hung supervisor)."""
    snapshot = dict(os.environ)
    for name in [n for n in os.environ if SECRET_VARIABLE.match(n) or n in NOTIFY_VARIABLES]:
        del os.environ[name]  # unsetenv: not passed to anything started from now on
    return snapshot


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    environ = scrub_environment()

    def load() -> Config:
        return load_config(args.config, environ, force_paper=args.paper,
                           overrides=_overrides(args))

    try:
        config = load()
        prepare_dirs(config)
    except ConfigError as exc:
        print(f"nija: configuration error: {exc}", file=sys.stderr)
        return 2
    redactor = Redactor()
    setup_logging(config.supervisor.log_level, redactor)
    from supervisor.core import STARTUP_TIMEOUT_S, Supervisor, SupervisorError  # after logging

    log.info("configuration:\n%s", describe(config))
    notifier = ServiceNotifier.from_environ(environ, os.getpid(), ready_after_s=STARTUP_TIMEOUT_S)
    supervisor = Supervisor(config, reload=load, redactor=redactor, notifier=notifier)
    try:
        return supervisor.run()
    except SupervisorError as exc:
        log.error("%s", exc)
        return 2
