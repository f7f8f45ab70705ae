"""Hostile configuration, generated: any TOML file and credential environment either loads
or is refused with a ConfigError naming what is wrong; never another exception (which the
supervisor would print as a traceback), and never with a secret in the message."""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor.config import ConfigError, load_config

SECRET = base64.b64encode(b"fuzz-canary-secret-" + b"x" * 45).decode()
KEYS = {
    "supervisor": ["state_dir", "runtime_dir", "control", "metrics_addr", "log_level",
                   "kraken_url", "heartbeat_interval_s", "heartbeat_misses",
                   "shutdown_deadline_s", "start_method"],
    "restart": ["type", "intensity", "period_s", "backoff_initial_s", "backoff_max_s",
                "backoff_multiplier", "jitter"],
    "market": ["pairs", "interval_min", "poll_s", "public_calls_per_s", "window"],
    "paper": ["speed", "seed", "balances", "accounts"],
    "account": ["name", "broker", "tier", "enabled", "mode", "strategy", "leader", "pairs",
                "order_timeout_s", "limit_offset_bps", "max_fill_age_s", "lockout_s",
                "buying_power_assets", "allow_withdraw_permission", "unknown_key"],
    "account.risk": ["max_position_usd", "max_exposure_usd", "max_order_usd",
                     "max_daily_loss_usd", "min_balance_usd"],
    "account.strategy_params": ["fast", "slow", "atr_period", "fraction", "bogus"],
}
NAMES = st.sampled_from(["master", "daivon", "tania", "market", "Bad Name", "", "a" * 40])
SCALARS = st.one_of(
    st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), NAMES, st.text(max_size=30),
    st.sampled_from(["tcp://127.0.0.1:1", "ipc:///tmp/x", "starter", "pro", "follow",
                     "independent", "trend", "hold", "XBTUSD", "1e400", "-1", "NaN"]))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3))


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(repr(value), repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + "".join(c if c.isprintable() else " " for c in text) + '"'


@st.composite
def documents(draw: st.DrawFn) -> str:
    lines = []
    for table in draw(st.lists(st.sampled_from(sorted(KEYS)), max_size=6)):
        header = (f"[[{table}]]" if table == "account" else f"[{table}]")
        lines.append(header)
        for key in draw(st.lists(st.sampled_from(KEYS[table]), max_size=5, unique=True)):
            lines.append(f"{key} = {_toml_value(draw(VALUES))}")
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.text(max_size=20)))
    return "\n".join(lines) + "\n"


ENVIRONMENTS = st.dictionaries(
    st.sampled_from(["KRAKEN_MASTER_API_KEY", "KRAKEN_MASTER_API_SECRET",
                     "KRAKEN_USER_DAIVON_API_KEY", "KRAKEN_USER_DAIVON_API_SECRET",
                     "KRAKEN_USER__API_KEY", "NIJA_CONTROL", "NIJA_METRICS_ADDR",
                     "NIJA_LOG_LEVEL"]),
    st.one_of(st.just(SECRET), st.just(SECRET[:-3] + "!!!"), st.text(max_size=10)),
    max_size=4)


@settings(max_examples=400, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(documents(), ENVIRONMENTS)
def test_any_file_and_environment_loads_or_is_refused_by_name(document: str,
                                                             environ: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nija.toml"
        path.write_bytes(document.encode("utf-8", "surrogatepass"))
        home = {"HOME": tmp, "XDG_STATE_HOME": tmp, "XDG_RUNTIME_DIR": tmp}
        cwd = os.getcwd()
        os.chdir(tmp)  # no developer's ./.env
        try:
            load_config(path, {**home, **environ})
        except ConfigError as err:
            message = str(err)
            assert message.strip(), "a refusal must say what is wrong"
            assert SECRET not in message and SECRET[:16] not in message
        finally:
            os.chdir(cwd)
