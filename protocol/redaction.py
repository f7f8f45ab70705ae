"""Scrub secrets from log text before it leaves a process, and again where it is written."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"
# Header values and long base64 runs that look like Kraken keys (56 chars) or secrets (88).
_PATTERNS = (
    re.compile(r"(?i)(api[-_]?sign|api[-_]?key|api[-_]?secret|secret|otp)(['\"]?\s*[:=]\s*['\"]?)"
               r"([A-Za-z0-9+/=_-]{8,})"),
    re.compile(r"[A-Za-z0-9+/]{52,}={0,2}"),
)


class Redactor:
    """Replaces known secret values and anything shaped like a key, secret or signature."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def add(self, secret: str) -> None:
        if len(secret) >= 6 and secret not in self._secrets:
            self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        text = _PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
        return _PATTERNS[1].sub(MASK, text)


class RedactingFilter(logging.Filter):
    """Attach to every handler: renders the message with its args, then scrubs it."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.redactor(text)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        return True
