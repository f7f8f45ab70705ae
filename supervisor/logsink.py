"""One place for every process's logs: JSON lines on stderr (journald under systemd),
carrying account and broker, scrubbed of secrets by a filter on the handler."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from protocol.messages import LogRecord
from protocol.redaction import RedactingFilter, Redactor

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str)


def setup_logging(level: str, redactor: Redactor) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter(redactor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("urllib3", "requests", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler


def emit_actor_record(record: LogRecord, actor_id: str, pid: int | None) -> None:
    """Re-emit an actor's record through the supervisor's handlers (filter runs again)."""
    broker, _, account = actor_id.partition(":")
    logger = logging.getLogger(record.logger if record.logger.startswith("nija") else
                               f"nija.actor.{record.logger}")
    if not logger.isEnabledFor(record.level):
        return
    out = logger.makeRecord(logger.name, record.level, "(actor)", 0, record.message, (), None,
                            extra={"account": account, "broker": broker, "actor_pid": pid})
    out.created = record.created
    out.exc_text = record.exc_text or None
    logger.handle(out)
