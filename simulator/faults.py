"""Seeded fault injection: the venue misbehaving the ways Kraken does, reproducibly.

A rule gives per-request probabilities; `[default]` applies to every private and
public method, `[endpoint.<Method>]` replaces it for one method. Draws come from one
seeded RNG in request order, so a failing test replays with the same seed.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

DropMode = Literal["5xx", "drop", "mixed"]

# Methods whose effects persist; apply-then-fail only makes sense for them.
WRITE_METHODS = frozenset({
    "AddOrder", "AddOrderBatch", "CancelOrder", "CancelOrderBatch", "CancelAll",
    "CancelAllOrdersAfter", "EditOrder", "AmendOrder",
})


class FaultsError(ValueError):
    """The faults file or document is unusable; the message names the field."""


class FaultRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    http_5xx: float = 0.0  # a Cloudflare-style HTML 5xx before the request reaches the engine
    service_unavailable: float = 0.0  # EService:Unavailable, not applied
    service_busy: float = 0.0  # EService:Busy, not applied
    deadline_elapsed: float = 0.0  # EService:Deadline elapsed, not applied
    rate_limit: float = 0.0  # EAPI:Rate limit exceeded, not applied
    lockout: float = 0.0  # EGeneral:Temporary lockout, not applied
    latency: float = 0.0  # probability of an added delay
    latency_ms: tuple[int, int] = (50, 250)  # uniform range of that delay
    apply_then_fail: float = 0.0  # applied, then answered with a 5xx or a dropped connection
    apply_then_fail_mode: DropMode = "mixed"

    def check(self, where: str) -> None:
        for name in ("http_5xx", "service_unavailable", "service_busy", "deadline_elapsed",
                     "rate_limit", "lockout", "latency", "apply_then_fail"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise FaultsError(f"{where}.{name} = {value}: must be a probability in [0, 1]")
        low, high = self.latency_ms
        if low < 0 or high < low:
            raise FaultsError(f"{where}.latency_ms = {list(self.latency_ms)}: need 0 <= lo <= hi")


class FaultConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    seed: int | None = None
    default: FaultRule = FaultRule()
    endpoint: dict[str, FaultRule] = msgspec.field(default_factory=dict)

    def rule_for(self, method: str) -> FaultRule:
        return self.endpoint.get(method, self.default)


def parse_faults(
    raw: bytes, fmt: Literal["toml", "json"], known_methods: frozenset[str]
) -> FaultConfig:
    try:
        if fmt == "toml":
            config = msgspec.toml.decode(raw, type=FaultConfig)
        else:
            config = msgspec.json.decode(raw, type=FaultConfig)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise FaultsError(f"faults: {exc}") from None
    config.default.check("default")
    for method, rule in config.endpoint.items():
        if method not in known_methods:
            raise FaultsError(f"faults: endpoint.{method}: no such endpoint")
        rule.check(f"endpoint.{method}")
    return config


def load_faults(path: str | os.PathLike[str], known_methods: frozenset[str]) -> FaultConfig:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise FaultsError(f"cannot read faults file {path}: {exc.strerror}") from exc
    return parse_faults(raw, "toml", known_methods)


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What to do to one request; at most one error, plus optional latency."""

    delay_s: float = 0.0
    before: str | None = None  # "http_5xx" or an error kind answered instead of the call
    after: DropMode | None = None  # "5xx" or "drop": fail the response after applying

    @property
    def is_noop(self) -> bool:
        return not (self.delay_s or self.before or self.after)


NO_FAULT = FaultPlan()

BEFORE_ERRORS = {
    "service_unavailable": "EService:Unavailable",
    "service_busy": "EService:Busy",
    "deadline_elapsed": "EService:Deadline elapsed",
    "rate_limit": "EAPI:Rate limit exceeded",
    "lockout": "EGeneral:Temporary lockout",
}


class FaultInjector:
    def __init__(self, config: FaultConfig, seed: int) -> None:
        self.counts: dict[str, int] = {}
        self.seed = seed
        self.replace(config, seed)

    def replace(self, config: FaultConfig, seed: int) -> None:
        self.config = config
        self._rng = random.Random(config.seed if config.seed is not None else seed)

    def plan(self, method: str) -> FaultPlan:
        rule = self.config.rule_for(method)
        if rule == _EMPTY:
            return NO_FAULT
        rng = self._rng
        delay = 0.0
        if rule.latency and rng.random() < rule.latency:
            delay = rng.uniform(*rule.latency_ms) / 1000.0
            self._count("latency")
        for kind in ("http_5xx", *BEFORE_ERRORS):
            probability: float = getattr(rule, kind)
            if probability and rng.random() < probability:
                self._count(kind)
                return FaultPlan(delay, before=kind)
        if method in WRITE_METHODS and rule.apply_then_fail and rng.random() < rule.apply_then_fail:
            mode = rule.apply_then_fail_mode
            if mode == "mixed":
                mode = "drop" if rng.random() < 0.5 else "5xx"
            self._count(f"apply_then_fail_{mode}")
            return FaultPlan(delay, after=mode)
        return FaultPlan(delay) if delay else NO_FAULT

    def _count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1


_EMPTY = FaultRule()
