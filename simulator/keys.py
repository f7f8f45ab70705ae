"""API keys the venue accepts: the TOML keys file, its validation, and fresh paper keys."""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

import msgspec

from simulator.markets import resolve_asset

Tier = Literal["starter", "intermediate", "pro"]

PERMISSIONS = frozenset({
    "query_funds", "query_open_orders", "query_closed_orders", "query_ledger",
    "create_orders", "cancel_orders", "withdraw",
})
TRADING_PERMISSIONS: tuple[str, ...] = (
    "query_funds", "query_open_orders", "query_closed_orders", "query_ledger",
    "create_orders", "cancel_orders",
)


class KeysFileError(ValueError):
    """The keys file is unusable; the message names the key and field."""


class KeySpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One API key as configured on the venue (Kraken's key settings page, as data)."""

    name: str
    key: str
    secret: str
    tier: Tier = "starter"
    permissions: tuple[str, ...] = TRADING_PERMISSIONS
    balances: dict[str, str] = msgspec.field(default_factory=dict)
    nonce_window: int = 0
    websocket: bool = True  # Kraken's "WebSocket interface: On" toggle

    def __repr__(self) -> str:  # never let a secret reach a log line or traceback
        return f"KeySpec(name={self.name!r}, tier={self.tier!r})"


class _KeysFile(msgspec.Struct, forbid_unknown_fields=True):
    key: list[KeySpec] = msgspec.field(default_factory=list)


def load_keys(path: str | os.PathLike[str]) -> list[KeySpec]:
    """Parse and validate a keys file; raises KeysFileError naming what is wrong."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise KeysFileError(f"cannot read keys file {path}: {exc.strerror}") from exc
    try:
        parsed = msgspec.toml.decode(raw, type=_KeysFile)
    except msgspec.ValidationError as exc:
        raise KeysFileError(f"keys file {path}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise KeysFileError(f"keys file {path} is not valid TOML: {exc}") from None
    return validate_keys(parsed.key, source=str(path))


def validate_keys(specs: Iterable[KeySpec], source: str = "keys") -> list[KeySpec]:
    out: list[KeySpec] = []
    names: set[str] = set()
    key_strings: set[str] = set()
    for index, spec in enumerate(specs):
        where = f"{source}: key[{index}] ({spec.name!r})"
        if not spec.name:
            raise KeysFileError(f"{source}: key[{index}].name is empty")
        if spec.name in names:
            raise KeysFileError(f"{source}: duplicate key name {spec.name!r}")
        if not spec.key:
            raise KeysFileError(f"{where}: field 'key' is empty")
        if spec.key in key_strings:
            raise KeysFileError(f"{where}: field 'key' repeats another key's API key")
        validate_key_spec(spec, where)
        names.add(spec.name)
        key_strings.add(spec.key)
        out.append(spec)
    return out


def validate_key_spec(spec: KeySpec, where: str) -> None:
    try:
        if not base64.b64decode(spec.secret, validate=True):
            raise KeysFileError(f"{where}: field 'secret' is empty")
    except binascii.Error:
        raise KeysFileError(f"{where}: field 'secret' is not valid base64") from None
    unknown = sorted(set(spec.permissions) - PERMISSIONS)
    if unknown:
        raise KeysFileError(
            f"{where}: unknown permission(s) {unknown}; known: {sorted(PERMISSIONS)}"
        )
    if spec.nonce_window < 0:
        raise KeysFileError(f"{where}: field 'nonce_window' must be >= 0")
    for asset, amount in spec.balances.items():
        if resolve_asset(asset) is None:
            raise KeysFileError(f"{where}: balances.{asset}: unknown asset")
        try:
            value = Decimal(amount)
        except InvalidOperation:
            raise KeysFileError(f"{where}: balances.{asset}: {amount!r} is not a number") from None
        if not value.is_finite() or value < 0:
            raise KeysFileError(f"{where}: balances.{asset}: must be a finite amount >= 0")


def new_key(
    name: str,
    *,
    tier: Tier = "starter",
    permissions: Iterable[str] = TRADING_PERMISSIONS,
    balances: Mapping[str, str] | None = None,
    nonce_window: int = 0,
) -> KeySpec:
    """A key with fresh random material, shaped like Kraken's (56-char key, 64-byte secret)."""
    return KeySpec(
        name=name,
        key=base64.b64encode(secrets.token_bytes(42)).decode(),
        secret=base64.b64encode(secrets.token_bytes(64)).decode(),
        tier=tier,
        permissions=tuple(permissions),
        balances=dict(balances or {}),
        nonce_window=nonce_window,
    )


def write_keys_file(path: str | os.PathLike[str], specs: Iterable[KeySpec]) -> Path:
    """Write specs as a keys file readable only by its owner (mode 0600)."""
    specs = validate_keys(specs, source=str(path))
    lines: list[str] = []
    for spec in specs:
        balances = ", ".join(f"{a} = {json.dumps(v)}" for a, v in spec.balances.items())
        lines += [
            "[[key]]",
            f"name = {json.dumps(spec.name)}",
            f"key = {json.dumps(spec.key)}",
            f"secret = {json.dumps(spec.secret)}",
            f"tier = {json.dumps(spec.tier)}",
            f"permissions = {json.dumps(list(spec.permissions))}",
            f"balances = {{ {balances} }}",
            f"nonce_window = {spec.nonce_window}",
            f"websocket = {'true' if spec.websocket else 'false'}",
            "",
        ]
    target = Path(path)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    os.chmod(target, 0o600)
    return target
