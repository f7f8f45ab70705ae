"""supervisor.config: one validated Config from TOML + environment; errors name the key or
variable; secrets never leak. Every test passes `environ` explicitly."""

from __future__ import annotations

import base64
import logging
import os
import pickle
import stat
import traceback
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor.config import (
    AccountConfig,
    Config,
    ConfigError,
    Secret,
    credential_variables,
    default_runtime_dir,
    describe,
    load_config,
    prepare_dirs,
)
from supervisor.dotenv import parse_dotenv

SECRET = base64.b64encode(b"kraken-private-key-bytes").decode()
HOME = {"HOME": "/home/nija"}
MASTER = {"KRAKEN_MASTER_API_KEY": "master-key", "KRAKEN_MASTER_API_SECRET": SECRET}
DAIVON = {"KRAKEN_USER_DAIVON_API_KEY": "daivon-key", "KRAKEN_USER_DAIVON_API_SECRET": SECRET}

GOOD = """
[supervisor]
state_dir = "/var/lib/nija"
runtime_dir = "/run/nija"
metrics_addr = "0.0.0.0:9500"
log_level = "debug"
start_method = "spawn"

[restart]
intensity = 3
period_s = 30
jitter = 0.1

[paper]
speed = 10.0
seed = 7
balances = { ZUSD = "100.50" }

[[account]]
name = "master"
tier = "pro"

[[account]]
name = "daivon"
enabled = false
allow_withdraw_permission = true
[account.restart]
type = "transient"
backoff_max_s = 5.0
"""


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_config reads ./.env by default; never let a developer's .env into a test."""
    monkeypatch.chdir(tmp_path)


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nija.toml"
    path.write_text(text)
    return path


def load(path: Path | None = None, /, **env: str) -> Config:
    return load_config(path, {**HOME, **env})


def error_of(path: Path | None = None, environ: dict[str, str] | None = None,
             **kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, {**HOME, **(environ or {})}, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


def test_good_file_fills_every_table_and_merges_account_restart_overrides(tmp_path: Path) -> None:
    config = load(toml(tmp_path, GOOD), **MASTER)
    sup = config.supervisor
    assert (sup.state_dir, sup.runtime_dir) == ("/var/lib/nija", "/run/nija")
    assert sup.control == "ipc:///run/nija/control.sock"
    assert (sup.metrics_addr, sup.log_level, sup.start_method) == ("0.0.0.0:9500", "DEBUG", "spawn")
    assert (config.restart.intensity, config.restart.period_s) == (3, 30.0)
    assert (config.paper.speed, config.paper.seed) == (10.0, 7)
    assert config.paper.balances == {"ZUSD": "100.50"}
    master, daivon = config.accounts
    assert (master.actor_id, master.tier) == ("kraken:master", "pro")
    assert master.restart == config.restart
    assert not daivon.enabled and daivon.allow_withdraw_permission
    assert daivon.restart == msgspec.structs.replace(config.restart, type="transient",
                                                     backoff_max_s=5.0)
    assert master.credentials is not None and master.credentials.secret.reveal() == SECRET
    assert not config.paper_mode and "nija.toml" in config.source


@pytest.mark.parametrize(("text", "expected"), [
    ("[[account]]\nname = 'a'\ntier = 'gold'", "account[0].tier: must be one of 'starter'"),
    ("[[account]]\nname = 'a'\n[[account]]\nname = 'b'\nbroker = 'x'", "account[1].broker"),
    ("[[account]]\nname = 'Bad Name'", "account[0].name"),
    ("[[account]]\nname = 'a'\nenabled = 'yes'", "account[0].enabled: expected `bool`"),
    ("[[account]]\ntier = 'pro'", "account[0].name: required key is missing"),
    ("[[account]]\nname = 'a'\ncolour = 'red'", "account[0].colour: unknown key"),
    ("[[account]]\nname = 'a'\ncredentials = 'x'", "account[0].credentials: unknown key"),
    ("[[account]]\nname = 'a'\nrestart = 3", "account[0].restart: expected a table"),
    ("[[account]]\nname = 'a'\n[account.restart]\nfoo = 1", "account[0].restart.foo: unknown key"),
    ("[[account]]\nname = 'a'\n[account.restart]\njitter = 1.0", "account[0].restart.jitter"),
    ("[restart]\nintensity = -1", "restart.intensity: must be >= 0"),
    ("[restart]\nperiod_s = 0", "restart.period_s: must be > 0"),
    ("[restart]\nbackoff_initial_s = 0", "restart.backoff_initial_s: must be > 0"),
    ("[restart]\nbackoff_initial_s = 40", "restart.backoff_max_s: must be >= backoff_initial_s"),
    ("[restart]\nbackoff_multiplier = 0.5", "restart.backoff_multiplier: must be >= 1"),
    ("[restart]\njitter = -0.1", "restart.jitter"),
    ("[restart]\ntype = 'sometimes'", "restart.type: must be one of 'permanent'"),
    ("[restart]\nretries = 3", "restart.retries: unknown key"),
    ("[supervisor]\nmetrics_addr = 'localhost'", "supervisor.metrics_addr: must be HOST:PORT"),
    ("[supervisor]\nmetrics_addr = 'h:70000'", "supervisor.metrics_addr"),
    ("[supervisor]\nlog_level = 'LOUD'", "supervisor.log_level: must be one of"),
    ("[supervisor]\nheartbeat_interval_s = 0", "supervisor.heartbeat_interval_s"),
    ("[supervisor]\nheartbeat_misses = 0", "supervisor.heartbeat_misses"),
    ("[supervisor]\nshutdown_deadline_s = -1", "supervisor.shutdown_deadline_s"),
    ("[supervisor]\nstart_method = 'fork'", "supervisor.start_method: must be one of"),
    ("[supervisor]\ncontrol = 'udp://x:1'", "supervisor.control: must be an ipc://"),
    ("[supervisor]\nstate_dir = ''", "supervisor.state_dir: must not be empty"),
    ("[supervisor]\nport = 1", "supervisor.port: unknown key"),
    ("[paper]\nspeed = 0", "paper.speed: must be > 0"),
    ("[paper]\nbalances = { ZUSD = '-1' }", "paper.balances.ZUSD: must be a decimal number"),
    ("[paper]\nbalances = { ZUSD = 'lots' }", "paper.balances.ZUSD"),
    ("[paper]\naccounts = ['a', 'B']", "paper.accounts[1]"),
    ("[paper]\nseed = 'x'", "paper.seed: expected `int`"),
    ("colour = 'red'", "colour: unknown key"),
    ("[supervisor\n", "invalid TOML"),
])
def test_each_bad_field_is_named_by_its_key_path(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_of(toml(tmp_path, text))


def test_duplicate_account_names_are_named(tmp_path: Path) -> None:
    message = error_of(toml(tmp_path, "[[account]]\nname='tania'\n[[account]]\nname='tania'"))
    assert "account[1].name" in message and "'tania'" in message and "account[0]" in message


def test_missing_config_file_names_the_path(tmp_path: Path) -> None:
    assert str(tmp_path / "absent.toml") in error_of(tmp_path / "absent.toml")


def test_environment_only_accounts_are_created_with_defaults_master_first() -> None:
    config = load(**DAIVON, **MASTER)
    assert [a.name for a in config.accounts] == ["master", "daivon"]
    assert all(a.tier == "starter" and a.enabled for a in config.accounts)
    daivon = config.accounts[1]
    assert daivon.credentials is not None and daivon.credentials.key.reveal() == "daivon-key"


def test_environment_credentials_attach_to_the_file_account(tmp_path: Path) -> None:
    config = load(toml(tmp_path, "[[account]]\nname = 'daivon'\ntier = 'pro'"), **DAIVON)
    (daivon,) = config.accounts
    assert daivon.tier == "pro" and daivon.credentials is not None


def test_values_are_stripped() -> None:
    config = load(KRAKEN_MASTER_API_KEY="  k \n", KRAKEN_MASTER_API_SECRET=f" {SECRET}\n")
    creds = config.accounts[0].credentials
    assert creds is not None and (creds.key.reveal(), creds.secret.reveal()) == ("k", SECRET)


@pytest.mark.parametrize(("present", "missing"), [
    ("KRAKEN_USER_DAIVON_API_KEY", "KRAKEN_USER_DAIVON_API_SECRET"),
    ("KRAKEN_USER_DAIVON_API_SECRET", "KRAKEN_USER_DAIVON_API_KEY"),
    ("KRAKEN_MASTER_API_KEY", "KRAKEN_MASTER_API_SECRET"),
    ("KRAKEN_MASTER_API_SECRET", "KRAKEN_MASTER_API_KEY"),
])
@pytest.mark.parametrize("missing_value", [None, "", "   "])
def test_half_a_key_pair_names_the_missing_variable(present: str, missing: str,
                                                    missing_value: str | None) -> None:
    environ = {present: SECRET} | ({} if missing_value is None else {missing: missing_value})
    assert f"{missing} is not set but {present} is" in error_of(environ=environ)


@pytest.mark.parametrize("bad", ["not base64!", "abc", "ññññ"])
def test_secret_that_is_not_base64_names_the_variable(bad: str) -> None:
    message = error_of(environ={**DAIVON, "KRAKEN_USER_DAIVON_API_SECRET": bad})
    assert "KRAKEN_USER_DAIVON_API_SECRET" in message and "base64" in message
    assert bad not in message


@pytest.mark.parametrize("var", ["KRAKEN_USER_Daivon_API_KEY", "KRAKEN_USER_MASTER_API_KEY",
                                 "KRAKEN_USER_" + "A" * 33 + "_API_KEY"])
def test_unusable_credential_variable_names_are_named(var: str) -> None:
    assert var in error_of(environ={var: "x"})


def test_credential_variables_follow_the_existing_convention() -> None:
    assert credential_variables("master") == ("KRAKEN_MASTER_API_KEY", "KRAKEN_MASTER_API_SECRET")
    assert credential_variables("daivon") == ("KRAKEN_USER_DAIVON_API_KEY",
                                              "KRAKEN_USER_DAIVON_API_SECRET")


def test_dotenv_syntax() -> None:
    text = ("# comment\n\nexport A=1\nB = 'two # words'\nC=\"x y\"  # note\nD=v#1 # c\n"
            "E=\nF=a+/b==\nA=last\n")
    assert parse_dotenv(text) == {"A": "last", "B": "two # words", "C": "x y", "D": "v#1",
                                  "E": "", "F": "a+/b=="}


@pytest.mark.parametrize("line", ["JUSTTEXT", "K='unterminated", "K=\"a\" junk", "1K=2",
                                  "K Y=1"])
def test_malformed_dotenv_line_names_file_and_line_but_not_the_content(
        tmp_path: Path, line: str) -> None:
    dotenv = tmp_path / "creds.env"
    dotenv.write_text(f"A=1\n{line}\n")
    message = error_of(dotenv_path=dotenv)
    assert f"{dotenv}:2" in message and line not in message


def test_dotenv_supplies_credentials_and_the_real_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"KRAKEN_MASTER_API_KEY=from-dotenv\n"
                                   f"KRAKEN_MASTER_API_SECRET='{SECRET}'\nNIJA_LOG_LEVEL=ERROR\n")
    config = load(KRAKEN_MASTER_API_KEY="from-env")  # ./.env is read by default
    creds = config.accounts[0].credentials
    assert creds is not None and creds.key.reveal() == "from-env"
    assert creds.origin.startswith("environment + .env file")
    assert config.supervisor.log_level == "ERROR"


def test_an_empty_environment_value_masks_the_dotenv_value(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"KRAKEN_MASTER_API_KEY=k\nKRAKEN_MASTER_API_SECRET={SECRET}\n")
    assert "KRAKEN_MASTER_API_KEY is not set" in error_of(environ={"KRAKEN_MASTER_API_KEY": ""})


def test_explicit_dotenv_path_that_is_missing_is_named(tmp_path: Path) -> None:
    assert "nowhere.env" in error_of(dotenv_path=tmp_path / "nowhere.env")


def test_credentials_directory_sits_between_environment_and_dotenv(tmp_path: Path) -> None:
    creds_dir = tmp_path / "credentials"
    creds_dir.mkdir()
    (creds_dir / "KRAKEN_MASTER_API_KEY").write_text("from-credentials\n")
    (creds_dir / "KRAKEN_MASTER_API_SECRET").write_text(SECRET + "\n")
    (creds_dir / "KRAKEN_USER_TANIA_API_KEY").write_text("tania-from-credentials")
    (tmp_path / ".env").write_text("KRAKEN_MASTER_API_KEY=from-dotenv\n"
                                   "KRAKEN_USER_TANIA_API_SECRET=" + SECRET + "\n")
    config = load(CREDENTIALS_DIRECTORY=str(creds_dir), KRAKEN_USER_TANIA_API_KEY="tania-env")
    master, tania = config.accounts
    assert master.credentials is not None and tania.credentials is not None
    assert master.credentials.key.reveal() == "from-credentials"
    assert master.credentials.secret.reveal() == SECRET
    assert tania.credentials.key.reveal() == "tania-env"


def test_unreadable_credentials_directory_is_named(tmp_path: Path) -> None:
    assert "CREDENTIALS_DIRECTORY" in error_of(
        environ={"CREDENTIALS_DIRECTORY": str(tmp_path / "absent")})


def test_nija_variables_override_the_file_and_cli_overrides_win(tmp_path: Path) -> None:
    path = toml(tmp_path, "[supervisor]\nmetrics_addr = '127.0.0.1:1'\nlog_level = 'INFO'\n")
    env = {**HOME, "NIJA_METRICS_ADDR": "127.0.0.1:2", "NIJA_LOG_LEVEL": "warning",
           "NIJA_STATE_DIR": "/s", "NIJA_RUNTIME_DIR": "/r", "NIJA_CONTROL": "ipc:///c.sock"}
    sup = load_config(path, env).supervisor
    assert (sup.metrics_addr, sup.log_level, sup.state_dir, sup.runtime_dir, sup.control) == (
        "127.0.0.1:2", "WARNING", "/s", "/r", "ipc:///c.sock")
    sup = load_config(path, env, overrides={"metrics_addr": "127.0.0.1:0", "log_level": None,
                                            "state_dir": tmp_path}).supervisor
    assert (sup.metrics_addr, sup.log_level, sup.state_dir) == (
        "127.0.0.1:0", "WARNING", str(tmp_path))


def test_bad_environment_and_override_values_name_their_source() -> None:
    assert error_of(environ={"NIJA_METRICS_ADDR": "nope"}).startswith("NIJA_METRICS_ADDR:")
    assert "override 'metrics_addr'" in error_of(overrides={"metrics_addr": "nope"})
    assert "override 'colour': unknown" in error_of(overrides={"colour": 1})


@pytest.mark.parametrize(("environ", "state_dir", "runtime_dir"), [
    ({"STATE_DIRECTORY": "/var/lib/nija:/var/lib/other", "RUNTIME_DIRECTORY": "/run/nija",
      "XDG_STATE_HOME": "/xdg/state", "XDG_RUNTIME_DIR": "/run/user/1"},
     "/var/lib/nija", "/run/nija"),
    ({"XDG_STATE_HOME": "/xdg/state", "XDG_RUNTIME_DIR": "/run/user/1"},
     "/xdg/state/nija", "/run/user/1/nija"),
    ({"XDG_STATE_HOME": "relative", "XDG_RUNTIME_DIR": ""},
     "/home/nija/.local/state/nija", f"/tmp/nija-{os.getuid()}"),
])
def test_default_directories_follow_systemd_then_xdg_then_home(
        environ: dict[str, str], state_dir: str, runtime_dir: str) -> None:
    sup = load(**environ).supervisor
    assert (sup.state_dir, sup.runtime_dir) == (state_dir, runtime_dir)
    assert sup.control == f"ipc://{runtime_dir}/control.sock"
    assert default_runtime_dir({**HOME, **environ}) == runtime_dir


def test_load_config_creates_no_directories(tmp_path: Path) -> None:
    load(NIJA_STATE_DIR=str(tmp_path / "s"), NIJA_RUNTIME_DIR=str(tmp_path / "r"))
    assert not (tmp_path / "s").exists() and not (tmp_path / "r").exists()


def test_tcp_control_requires_curve(tmp_path: Path) -> None:
    message = error_of(environ={"NIJA_CONTROL": "tcp://127.0.0.1:5555"})
    assert message.startswith("NIJA_CONTROL: tcp control endpoints require CURVE")
    assert "supervisor.control_curve_server_secret_file" in message
    path = toml(tmp_path, "[supervisor]\ncontrol = 'tcp://127.0.0.1:5555'\n"
                "control_curve_server_secret_file = '/k/server.key_secret'\n"
                "control_curve_authorized_dir = '/k/authorized'\n")
    assert load(path).supervisor.control == "tcp://127.0.0.1:5555"


def test_ipc_path_over_the_socket_limit_names_control_and_runtime_dir() -> None:
    message = error_of(environ={"RUNTIME_DIRECTORY": "/run/" + "x" * 100})
    assert "supervisor.control" in message and "RUNTIME_DIRECTORY" in message
    assert "107" in message
    assert error_of(overrides={"control": "ipc:///" + "y" * 110}).startswith("override 'control'")


def test_no_credentials_means_paper_mode_with_the_paper_accounts() -> None:
    config = load()
    assert config.paper_mode
    assert [a.name for a in config.accounts] == ["master", "daivon", "tania"]
    assert "PAPER" in describe(config)


def test_paper_mode_keeps_file_accounts_when_there_are_some(tmp_path: Path) -> None:
    config = load(toml(tmp_path, "[[account]]\nname = 'solo'"))
    assert config.paper_mode and [a.name for a in config.accounts] == ["solo"]


def test_force_paper_drops_every_credential() -> None:
    config = load_config(None, {**HOME, **MASTER, **DAIVON}, force_paper=True)
    assert config.paper_mode and [a.name for a in config.accounts] == ["master", "daivon"]
    assert all(a.credentials is None for a in config.accounts)


def test_credentials_only_on_disabled_accounts_give_paper_mode_without_them(
        tmp_path: Path) -> None:
    config = load(toml(tmp_path, "[[account]]\nname = 'master'\nenabled = false"), **MASTER)
    assert config.paper_mode and config.accounts[0].credentials is None


def test_config_refuses_credentials_in_paper_mode() -> None:
    live = load(**MASTER)
    with pytest.raises(ConfigError, match="paper_mode"):
        msgspec.structs.replace(live, paper_mode=True)


def test_credentials_mean_live_mode_and_describe_names_variables(tmp_path: Path) -> None:
    config = load(toml(tmp_path, "[[account]]\nname = 'master'\n[[account]]\nname='zoe'"),
                  **MASTER)
    text = describe(config)
    assert not config.paper_mode and "LIVE" in text
    assert "KRAKEN_MASTER_API_KEY + KRAKEN_MASTER_API_SECRET present (environment)" in text
    assert "MISSING (set KRAKEN_USER_ZOE_API_KEY and KRAKEN_USER_ZOE_API_SECRET)" in text


def test_secret_never_renders_its_value(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret("hunter2")
    assert repr(secret) == str(secret) == f"{secret}" == f"{secret!r:>5}" == "Secret('***')"
    logging.getLogger("test").warning("value %s %r", secret, secret)
    assert "hunter2" not in caplog.text and "hunter2" not in str(ValueError(secret))
    assert secret.reveal() == "hunter2"
    assert secret == Secret("hunter2") and secret != Secret("other") and secret != "hunter2"
    assert hash(secret) == hash(Secret("hunter2"))
    assert pickle.loads(pickle.dumps(secret)) == secret  # spawned actors need it
    with pytest.raises(TypeError):
        msgspec.json.encode(secret)
    live = load(**MASTER)
    with pytest.raises(TypeError):
        msgspec.to_builtins(live)
    assert pickle.loads(pickle.dumps(live)) == live


def test_account_names_are_validated_even_when_built_directly() -> None:
    with pytest.raises(ConfigError, match="name"):
        AccountConfig(name="Not Valid")


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
MARK = "CaNaRy"  # every canary starts with it, so truncated leaks are caught too
canaries = st.text(B64, min_size=8, max_size=24).map(lambda s: MARK + s + "A" * (-len(s) % 4 + 2))


def _bad_cases(canary: str, tmp: Path) -> list[tuple[dict[str, str], dict[str, object]]]:
    """Broken configurations that each carry the canary somewhere an error could echo it."""
    (tmp / "canary.env").write_text(f"KRAKEN_MASTER_API_KEY={canary}\nGARBAGE {canary}\n")
    bad_toml = {"tier": f"tier = '{canary}'", "colour": f"colour = '{canary}'",
                "name": f"name = '{canary}'"}
    cases: list[tuple[dict[str, str], dict[str, object]]] = [
        ({"KRAKEN_MASTER_API_KEY": canary}, {}),
        ({"KRAKEN_USER_DAIVON_API_SECRET": canary}, {}),
        ({**DAIVON, "KRAKEN_USER_DAIVON_API_SECRET": canary + "*"}, {}),
        ({"KRAKEN_MASTER_API_KEY": canary, "KRAKEN_MASTER_API_SECRET": canary[:-1]}, {}),
        ({"NIJA_METRICS_ADDR": canary}, {}), ({"NIJA_LOG_LEVEL": canary}, {}),
        ({"NIJA_CONTROL": canary}, {}), ({}, {"dotenv_path": tmp / "canary.env"}),
    ]
    for name, line in bad_toml.items():
        path = tmp / f"{name}.toml"
        path.write_text(f"[[account]]\nname = 'ok'\n{line}\n" if name != "name" else
                        f"[[account]]\n{line}\n")
        cases.append(({}, {"path": path}))
    return cases


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(canary=canaries)
def test_canary_secret_never_appears_in_errors_repr_or_describe(tmp_path: Path,
                                                                canary: str) -> None:
    for environ, kwargs in _bad_cases(canary, tmp_path):
        path = kwargs.pop("path", None)
        with pytest.raises(ConfigError) as info:
            load_config(path, {**HOME, **environ}, **kwargs)  # type: ignore[arg-type]
        shown = "".join(traceback.format_exception(info.value))
        assert MARK not in shown and MARK not in repr(info.value)
    good = {"KRAKEN_MASTER_API_KEY": canary, "KRAKEN_MASTER_API_SECRET": canary,
            "KRAKEN_USER_DAIVON_API_KEY": canary, "KRAKEN_USER_DAIVON_API_SECRET": canary}
    for force_paper in (False, True):
        config = load_config(None, {**HOME, **good}, force_paper=force_paper)
        for text in (repr(config), str(config), describe(config), config.source):
            assert MARK not in text


def test_prepare_dirs_makes_private_directories(tmp_path: Path) -> None:
    runtime = tmp_path / "run" / "nija"
    runtime.mkdir(parents=True, mode=0o755)
    runtime.chmod(0o755)
    config = load(NIJA_STATE_DIR=str(tmp_path / "state" / "nija"), NIJA_RUNTIME_DIR=str(runtime))
    prepare_dirs(config)
    for path in (tmp_path / "state" / "nija", runtime):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_prepare_dirs_refuses_directories_owned_by_another_uid(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load(NIJA_STATE_DIR=str(tmp_path / "s"), NIJA_RUNTIME_DIR=str(tmp_path / "r"))
    real_uid = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: real_uid + 1)
    with pytest.raises(ConfigError, match=r"supervisor\.state_dir: .* owned by uid"):
        prepare_dirs(config)


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to chown")
def test_prepare_dirs_refuses_a_runtime_dir_owned_by_someone_else(tmp_path: Path) -> None:
    runtime = tmp_path / "r"
    runtime.mkdir()
    os.chown(runtime, 65534, 65534)
    config = load(NIJA_STATE_DIR=str(tmp_path / "s"), NIJA_RUNTIME_DIR=str(runtime))
    with pytest.raises(ConfigError, match=r"supervisor\.runtime_dir: .* owned by uid 65534"):
        prepare_dirs(config)


def test_kraken_url_defaults_to_kraken_and_can_point_at_a_simulator(tmp_path):
    from supervisor.config import ConfigError as _ConfigError
    from supervisor.config import load_config as _load

    assert _load(None, {"HOME": str(tmp_path)}).supervisor.kraken_url == "https://api.kraken.com"
    env = {"HOME": str(tmp_path), "NIJA_KRAKEN_URL": "http://127.0.0.1:8787"}
    assert _load(None, env).supervisor.kraken_url == "http://127.0.0.1:8787"
    path = tmp_path / "c.toml"
    path.write_text('[supervisor]\nkraken_url = "ftp://nope"\n')
    with pytest.raises(_ConfigError, match="kraken_url"):
        _load(path, {"HOME": str(tmp_path)})
