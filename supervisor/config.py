"""The supervisor's one typed configuration object, loaded from TOML plus the environment.

Everything is validated here, at start, so a bad deployment fails before any process is
spawned, with an error naming the TOML key (`account[1].tier`) or the variable
(`KRAKEN_USER_DAIVON_API_SECRET`). The rest of the code receives a `Config` and never reads
`os.environ`. Credential values are wrapped in `Secret` and never appear in messages or reprs.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import msgspec

from actors.launch import Mode
from supervisor.dotenv import (
    MASTER,
    Secret,
    SourceError,
    credential_accounts,
    credential_pair,
    credential_variables,
    default_directory,
    default_runtime_dir,
    default_state_dir,
    gather_variables,
)
from supervisor.trading_config import (
    MARKET_ACTOR,
    RESERVED,
    MarketSettingsConfig,
    RiskConfig,
    StrategyParam,
    check_account_fields,
    check_accounts,
    describe_market,
    describe_trading,
    market_settings,
    prepare_account_entry,
    resolve_market,
)

__all__ = ["AccountConfig", "Config", "ConfigError", "Credentials", "MarketSettingsConfig",
           "PaperSettings", "RestartSettings", "RiskConfig", "Secret", "SupervisorSettings",
           "credential_variables", "default_runtime_dir", "default_state_dir", "describe",
           "load_config", "prepare_dirs"]

Broker = Literal["kraken"]
Tier = Literal["starter", "intermediate", "pro"]
RestartType = Literal["permanent", "transient", "temporary"]
StartMethod = Literal["forkserver", "spawn"]

_T = TypeVar("_T")
IPC_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL
_NAME = re.compile(r"[a-z0-9_-]{1,32}")
_NAME_RULE = "must be 1-32 characters of a-z, 0-9, '_' or '-'"
_LOG_LEVELS = tuple(logging.getLevelNamesMapping())
_ENV_SETTINGS = {"state_dir": "NIJA_STATE_DIR", "runtime_dir": "NIJA_RUNTIME_DIR",
                 "control": "NIJA_CONTROL", "metrics_addr": "NIJA_METRICS_ADDR",
                 "kraken_url": "NIJA_KRAKEN_URL",
                 "log_level": "NIJA_LOG_LEVEL"}
_CHOICES = {"broker": get_args(Broker), "tier": get_args(Tier), "type": get_args(RestartType),
            "start_method": get_args(StartMethod), "mode": get_args(Mode)}


class ConfigError(ValueError):
    """The configuration is unusable. The message names the key or variable, never a secret."""


def _require(ok: bool, field: str, problem: str) -> None:
    """Validation failures in `__post_init__` are phrased `field: problem` so that `_explain`
    can prefix the path of the enclosing table."""
    if not ok:
        raise ConfigError(f"{field}: {problem}")


class Credentials(msgspec.Struct, frozen=True):
    """One account's Kraken API key pair; `origin` says where it was read (for logs)."""

    key: Secret
    secret: Secret
    origin: str = "environment"


class RestartSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Restart policy of one actor: at most `intensity` restarts within `period_s` seconds,
    then the actor is marked failed; delays grow from `backoff_initial_s` by `backoff_multiplier`
    up to `backoff_max_s`, each randomised by +/- `jitter` (a fraction)."""

    type: RestartType = "permanent"
    intensity: int = 5
    period_s: float = 60.0
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 30.0
    backoff_multiplier: float = 2.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        _require(self.intensity >= 0, "intensity", "must be >= 0")
        _require(self.period_s > 0, "period_s", "must be > 0")
        _require(self.backoff_initial_s > 0, "backoff_initial_s", "must be > 0")
        _require(self.backoff_max_s >= self.backoff_initial_s, "backoff_max_s",
                 "must be >= backoff_initial_s")
        _require(self.backoff_multiplier >= 1, "backoff_multiplier", "must be >= 1")
        _require(0 <= self.jitter < 1, "jitter", "must be >= 0 and < 1")


class AccountConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One trading account, run as one actor process. `credentials` is None when no key pair
    was configured (a paper-mode candidate) and always None in paper mode. The trading
    fields mirror `actors.launch.TradingSettings` (see `trading_config.trading_settings`);
    `pairs` None means every `[market]` pair and is resolved by `load_config`. By default
    an account holds: it trades only when its config names a strategy."""

    name: str
    broker: Broker = "kraken"
    tier: Tier = "starter"
    enabled: bool = True
    allow_withdraw_permission: bool = False
    buying_power_assets: tuple[str, ...] = ("ZUSD", "USDT")  # USD buying power
    restart: RestartSettings = msgspec.field(default_factory=RestartSettings)
    credentials: Credentials | None = None
    mode: Mode = "independent"
    strategy: str = "hold"
    strategy_params: tuple[tuple[str, StrategyParam], ...] = ()
    pairs: tuple[str, ...] | None = None
    risk: RiskConfig = msgspec.field(default_factory=RiskConfig)
    leader: str = ""
    follow_when_leader_paused: bool = False
    order_timeout_s: float = 30.0
    limit_offset_bps: Decimal = Decimal("5")
    max_fill_age_s: float = 60.0
    lockout_s: float = 900.0  # Kraken: "about 15 minutes"; calling during one extends it

    def __post_init__(self) -> None:
        _require(_NAME.fullmatch(self.name) is not None, "name", _NAME_RULE)
        _require(self.lockout_s > 0, "lockout_s", "must be > 0 seconds")
        _require(not self.leader or _NAME.fullmatch(self.leader) is not None, "leader",
                 _NAME_RULE)
        try:
            check_account_fields(self)
        except ValueError as err:
            raise ConfigError(str(err)) from None

    @property
    def actor_id(self) -> str:
        return f"{self.broker}:{self.name}"


def _is_host_port(addr: str) -> bool:
    host, _, port = addr.rpartition(":")
    if not re.fullmatch(r"[0-9]{1,5}", port) or int(port) > 65535:
        return False
    if host.startswith("["):
        return host.endswith("]") and len(host) > 2
    return re.fullmatch(r"[A-Za-z0-9._-]+", host) is not None


class SupervisorSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The `[supervisor]` table. After `load_config`, `state_dir`, `runtime_dir` and `control`
    are always set (defaults resolved from the environment)."""

    state_dir: str | None = None
    runtime_dir: str | None = None
    control: str | None = None
    control_curve_server_secret_file: str | None = None
    control_curve_authorized_dir: str | None = None
    metrics_addr: str = "127.0.0.1:9464"
    log_level: str = "INFO"
    heartbeat_interval_s: float = 1.0
    heartbeat_misses: int = 3
    shutdown_deadline_s: float = 10.0
    start_method: StartMethod = "forkserver"
    kraken_url: str = "https://api.kraken.com"  # live venue; paper mode uses its simulator

    def __post_init__(self) -> None:
        for field in ("state_dir", "runtime_dir", "control", "control_curve_server_secret_file",
                      "control_curve_authorized_dir"):
            _require(getattr(self, field) != "", field, "must not be empty")
        _require(_is_host_port(self.metrics_addr), "metrics_addr", "must be HOST:PORT")
        _require(self.log_level.upper() in _LOG_LEVELS, "log_level",
                 f"must be one of {', '.join(_LOG_LEVELS)}")
        _require(self.heartbeat_interval_s > 0, "heartbeat_interval_s", "must be > 0")
        _require(self.heartbeat_misses >= 1, "heartbeat_misses", "must be >= 1")
        _require(self.shutdown_deadline_s > 0, "shutdown_deadline_s", "must be > 0")
        _require(self.kraken_url.startswith(("https://", "http://")), "kraken_url",
                 "must be an http(s):// base URL")
        if self.control is not None:
            self._check_control(self.control)
        if self.runtime_dir:
            actors = len(os.fsencode(self.runtime_dir)) + len("/market-kraken.sock")
            _require(actors <= IPC_PATH_MAX, "runtime_dir", f"the market socket path would be "
                     f"{actors} bytes, over the {IPC_PATH_MAX}-byte ipc limit; use a shorter "
                     "runtime_dir")

    def _check_control(self, control: str) -> None:
        scheme, _, where = control.partition("://")
        _require(scheme in ("ipc", "tcp") and bool(where), "control",
                 "must be an ipc://PATH or tcp://HOST:PORT endpoint")
        if scheme == "ipc":
            size = len(os.fsencode(where))
            _require(size <= IPC_PATH_MAX, "control", f"ipc socket path is {size} bytes, over "
                     f"the {IPC_PATH_MAX}-byte limit; use a shorter runtime_dir or control path")
        else:
            _require(bool(self.control_curve_server_secret_file
                          and self.control_curve_authorized_dir), "control",
                     "tcp control endpoints require CURVE: set supervisor."
                     "control_curve_server_secret_file and supervisor.control_curve_authorized_dir")


def _is_amount(text: str) -> bool:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return False
    return amount.is_finite() and amount >= 0


class PaperSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The `[paper]` table: the simulated exchange used when no real credentials are in play.
    `speed` is simulated seconds per real second; balances are decimal strings, never floats."""

    speed: float = 60.0
    seed: int = 42
    accounts: tuple[str, ...] = (MASTER, "daivon", "tania")
    balances: dict[str, str] = msgspec.field(
        default_factory=lambda: {"ZUSD": "10000", "XXBT": "0.05", "USDT": "500"})
    # Per-account starting funds, replacing `balances` for that account (e.g. a small
    # follower next to a large leader).
    account_balances: dict[str, dict[str, str]] = {}

    def balances_for(self, account: str) -> dict[str, str]:
        return dict(self.account_balances.get(account, self.balances))

    def __post_init__(self) -> None:
        _require(self.speed > 0, "speed", "must be > 0")
        for i, name in enumerate(self.accounts):
            _require(_NAME.fullmatch(name) is not None, f"accounts[{i}]", _NAME_RULE)
            _require(name != MARKET_ACTOR, f"accounts[{i}]", RESERVED)
        _require(len(set(self.accounts)) == len(self.accounts), "accounts", "duplicate name")
        for asset, amount in self.balances.items():
            _require(_is_amount(amount), f"balances.{asset}", "must be a decimal number >= 0")
        for name, funds in self.account_balances.items():
            _require(_NAME.fullmatch(name) is not None, f"account_balances.{name}", _NAME_RULE)
            for asset, amount in funds.items():
                _require(_is_amount(amount), f"account_balances.{name}.{asset}",
                         "must be a decimal number >= 0")


class Config(msgspec.Struct, frozen=True):
    """Everything the supervisor needs. Invariant: in paper mode no account has credentials.
    After `load_config`, every account's `pairs` and the market's mode defaults are set."""

    supervisor: SupervisorSettings
    restart: RestartSettings
    paper: PaperSettings
    accounts: tuple[AccountConfig, ...]
    paper_mode: bool
    source: str
    market: MarketSettingsConfig = msgspec.field(default_factory=MarketSettingsConfig)

    def __post_init__(self) -> None:
        _require(not (self.paper_mode and any(a.credentials for a in self.accounts)),
                 "paper_mode", "accounts must not carry credentials in paper mode")


class _FileModel(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The TOML file's shape. `[supervisor]` and `[[account]]` stay raw because the
    environment, CLI overrides and `[restart]` defaults are merged in before validation."""

    supervisor: dict[str, Any] = {}
    restart: RestartSettings = msgspec.field(default_factory=RestartSettings)
    paper: PaperSettings = msgspec.field(default_factory=PaperSettings)
    market: MarketSettingsConfig = msgspec.field(default_factory=MarketSettingsConfig)
    account: list[dict[str, Any]] = []


def _join(prefix: str, key: str) -> str:
    if not prefix or not key:
        return prefix or key
    return prefix + key if key.startswith("[") else f"{prefix}.{key}"


def _explain(err: msgspec.ValidationError, name: Callable[[str], str]) -> ConfigError:
    """Turn msgspec's "... - at `$.account[0].tier`" into "account[0].tier: ...". Input
    values are never echoed (a secret pasted into the wrong key must not reach a log)."""
    found = re.fullmatch(r"(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?", str(err), re.S)
    msg, key = (found["msg"], (found["path"] or "").lstrip(".")) if found else (str(err), "")
    if match := re.fullmatch(r"Object contains unknown field `(.+)`", msg):
        key, problem = _join(key, match[1]), "unknown key"
    elif match := re.fullmatch(r"Object missing required field `(.+)`", msg):
        key, problem = _join(key, match[1]), "required key is missing"
    elif msg.startswith("Invalid enum value"):
        choices = _CHOICES.get(re.sub(r"\[[^]]*\]", "", key).rpartition(".")[2])
        problem = f"must be one of {', '.join(map(repr, choices))}" if choices else "invalid value"
    elif match := re.fullmatch(r"([A-Za-z_][\w.\[\]-]*): (.*)", msg, re.S):
        key, problem = _join(key, match[1]), match[2]
    else:
        problem = re.sub(r"'[^']*'", "'...'", msg[:1].lower() + msg[1:])
        problem = problem.replace("`object`", "table (`object`)")
    return ConfigError(f"{name(key)}: {problem}")


def _convert(data: object, kind: type[_T], name: Callable[[str], str]) -> _T:
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as err:
        raise _explain(err, name) from None


def _read_file(path: str | os.PathLike[str]) -> _FileModel:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"config file {os.fspath(path)}: {err.strerror or err}") from None
    try:
        return msgspec.toml.decode(data, type=_FileModel)
    except msgspec.ValidationError as err:
        error = _explain(err, str)
        if str(error).startswith("account: expected `array`"):
            error = ConfigError(f"{error} (write each account as an [[account]] table)")
        raise error from None
    except msgspec.DecodeError as err:
        raise ConfigError(f"config file {os.fspath(path)}: invalid TOML: {err}") from None


def _supervisor(table: Mapping[str, Any], env: Mapping[str, str],
                overrides: Mapping[str, object]) -> SupervisorSettings:
    """[supervisor] from the file, then NIJA_* variables, then CLI overrides; errors name
    whichever of those supplied the bad value."""
    data = dict(table)
    label: dict[str, str] = {}
    for field, var in _ENV_SETTINGS.items():
        if text := env.get(var, "").strip():
            data[field], label[field] = text, var
    known = {f.name for f in msgspec.structs.fields(SupervisorSettings)}
    for key, value in overrides.items():
        if key not in known:
            raise ConfigError(f"override {key!r}: unknown supervisor setting")
        if value is not None:
            data[key] = os.fspath(value) if isinstance(value, os.PathLike) else value
            label[key] = f"override {key!r}"
    for field in ("state_dir", "runtime_dir"):
        if data.get(field) is None:
            data[field], source = default_directory(field, env)
            label[field] = source if source.isupper() else f"supervisor.{field} ({source})"
    if data.get("control") is None:
        data["control"] = f"ipc://{data['runtime_dir']}/control.sock"
        runtime_label = label.get("runtime_dir", "supervisor.runtime_dir")
        label["control"] = f"supervisor.control (default, under runtime_dir from {runtime_label})"
    if isinstance(level := data.get("log_level"), str):
        data["log_level"] = level.upper()

    def name(key: str) -> str:
        head = re.split(r"[.\[]", key, maxsplit=1)[0]
        return label.get(head, _join("supervisor", head)) + key[len(head):]

    return _convert(data, SupervisorSettings, name)


def _file_accounts(entries: list[dict[str, Any]], restart: RestartSettings,
                   ) -> dict[str, tuple[str, AccountConfig]]:
    """[[account]] tables by name, each with its key (`account[1]`); each
    `[account.restart]` overrides single fields of [restart]."""
    accounts: dict[str, tuple[str, AccountConfig]] = {}
    for i, entry in enumerate(entries):
        where = f"account[{i}]"
        if "credentials" in entry:
            raise ConfigError(f"{where}.credentials: unknown key (credentials come only from "
                              f"the environment: {' / '.join(credential_variables('<name>'))})")
        override = entry.get("restart", {})
        if not isinstance(override, dict):
            raise ConfigError(f"{where}.restart: expected a table")
        try:
            data = prepare_account_entry(entry)
        except ValueError as err:
            raise ConfigError(f"{where}.{err}") from None
        data["restart"] = {**msgspec.structs.asdict(restart), **override}
        account = _convert(data, AccountConfig, functools.partial(_join, where))
        _require(account.name != MARKET_ACTOR, f"{where}.name", RESERVED)
        if account.name in accounts:
            raise ConfigError(f"{where}.name: duplicate account name {account.name!r} "
                              f"(first defined at {accounts[account.name][0]})")
        accounts[account.name] = (where, account)
    return accounts


def _accounts(model: _FileModel, env: Mapping[str, str], origin: Mapping[str, str],
              ) -> tuple[list[AccountConfig], dict[str, str]]:
    """File accounts, then accounts known only from credential variables (with defaults:
    independent, holding), each with its credentials; and the file accounts' keys."""
    in_file = _file_accounts(model.account, model.restart)
    accounts = [account for _, account in in_file.values()]
    for name in credential_accounts(env):
        if name not in in_file:
            _require(name != MARKET_ACTOR, credential_variables(name)[0], RESERVED)
            accounts.append(AccountConfig(name=name, restart=model.restart))
    accounts = [msgspec.structs.replace(a, credentials=_credentials(a.name, env, origin))
                for a in accounts]
    return accounts, {name: where for name, (where, _) in in_file.items()}


def _paper_accounts(accounts: list[AccountConfig], model: _FileModel) -> list[AccountConfig]:
    """Paper mode: no credentials, tier "pro" unless the file names one (the simulator
    gives each paper key its account's tier). With no accounts at all, `[paper].accounts`
    are built in: the first trades `trend` and the others follow it."""
    tiered = {entry.get("name") for entry in model.account if "tier" in entry}
    if accounts:
        return [msgspec.structs.replace(a, credentials=None,
                                        tier=a.tier if a.name in tiered else "pro")
                for a in accounts]
    names = model.paper.accounts
    built_in = functools.partial(AccountConfig, tier="pro", restart=model.restart)
    return [built_in(name=name, strategy="trend") if i == 0 else
            built_in(name=name, mode="follow", leader=names[0])
            for i, name in enumerate(names)]


def _credentials(name: str, env: Mapping[str, str], origin: Mapping[str, str],
                 ) -> Credentials | None:
    pair = credential_pair(name, env, origin)
    return None if pair is None else Credentials(*pair)


def _check_socket_paths(supervisor: SupervisorSettings, accounts: list[AccountConfig]) -> None:
    """A leader binds `fills-<broker>-<name>.sock` in runtime_dir: refuse at load what
    the kernel would refuse at bind time."""
    runtime = os.fsencode(supervisor.runtime_dir or "")
    for account in accounts:
        size = len(runtime) + len(f"/fills-{account.broker}-{account.name}.sock")
        if size > IPC_PATH_MAX:
            raise ConfigError(f"runtime_dir: the bus socket of account {account.name!r} would "
                              f"be {size} bytes, over the {IPC_PATH_MAX}-byte ipc limit; use a "
                              "shorter runtime_dir")


def load_config(path: str | os.PathLike[str] | None, environ: Mapping[str, str], *,
                dotenv_path: str | os.PathLike[str] | None = None, force_paper: bool = False,
                overrides: Mapping[str, object] | None = None) -> Config:
    """Build and validate the Config. `path=None` means no file (built-in defaults);
    `dotenv_path=None` means `./.env` if it exists; `overrides` are CLI values for
    [supervisor] keys (None values are ignored). Reads files only; creates nothing.

    Paper mode is entered when forced or when no enabled account has credentials; in paper
    mode every account's credentials are dropped so they cannot be used by mistake."""
    model = _read_file(path) if path is not None else _FileModel()
    try:
        env, origin, sources = gather_variables(environ, dotenv_path)
        supervisor = _supervisor(model.supervisor, env, overrides or {})
        accounts, labels = _accounts(model, env, origin)
    except SourceError as err:
        raise ConfigError(str(err)) from None
    _check_socket_paths(supervisor, accounts)
    paper_mode = force_paper or not any(a.enabled and a.credentials for a in accounts)
    if paper_mode:
        accounts = _paper_accounts(accounts, model)
    market = resolve_market(model.market, paper_mode)
    try:
        accounts = check_accounts(accounts, labels, market)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    described = [f"file {os.fspath(path)}" if path is not None else "built-in defaults",
                 *sources, *(["CLI overrides"] if overrides else [])]
    return Config(supervisor=supervisor, restart=model.restart, paper=model.paper,
                  accounts=tuple(accounts), paper_mode=paper_mode, source="; ".join(described),
                  market=market)


def describe(config: Config) -> str:
    """A multi-line summary for logs and `check-config`. Names credential variables and
    where they came from, never their values."""
    sup, restart = config.supervisor, config.restart
    mode = ("PAPER (simulated exchange; no credentials are used)" if config.paper_mode
            else "LIVE (real Kraken API)")
    lines = [f"source: {config.source}", f"mode: {mode}", f"state_dir: {sup.state_dir}",
             f"runtime_dir: {sup.runtime_dir}", f"control: {sup.control}",
             f"metrics: {sup.metrics_addr}", f"log_level: {sup.log_level}",
             f"kraken_url: {sup.kraken_url}",
             f"restart: {restart.type}, at most {restart.intensity} in {restart.period_s}s",
             describe_market(market_settings(config)), f"accounts ({len(config.accounts)}):"]
    for account in config.accounts:
        key_var, secret_var = credential_variables(account.name)
        if account.credentials is not None:
            creds = f"{key_var} + {secret_var} present ({account.credentials.origin})"
        elif config.paper_mode:
            creds = "not used (paper mode)"
        else:
            creds = f"MISSING (set {key_var} and {secret_var})"
        withdraw = "allowed" if account.allow_withdraw_permission else "refused"
        lines.append(f"  {account.actor_id}: tier={account.tier} "
                     f"{'enabled' if account.enabled else 'disabled'} "
                     f"{describe_trading(account)} "
                     f"withdraw_permission={withdraw} credentials: {creds}")
    return "\n".join(lines)


def prepare_dirs(config: Config) -> None:
    """Create state_dir and runtime_dir with mode 0700 and refuse directories owned by another
    user (another user could read nonces or impersonate the control socket). runtime_dir is
    re-chmodded to 0700 even if it already existed."""
    for field in ("state_dir", "runtime_dir"):
        directory = getattr(config.supervisor, field)
        if directory is None:
            raise ConfigError(f"supervisor.{field}: not resolved (use load_config)")
        path = Path(directory)
        try:
            existed = path.exists()
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            owner = path.stat().st_uid
            if owner != os.getuid():
                raise ConfigError(f"supervisor.{field}: {directory} is owned by uid {owner}, "
                                  f"not by this process (uid {os.getuid()})")
            if field == "runtime_dir" or not existed:
                path.chmod(0o700)
        except OSError as err:
            raise ConfigError(f"supervisor.{field}: cannot prepare {directory}: "
                              f"{err.strerror or type(err).__name__}") from None
