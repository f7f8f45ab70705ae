"""The pure parts of `nijactl check-config`, `test-connection` and `users`: what counts as a
problem, what a permission probe means, how roles are read, and that tables line up and
never carry a secret value."""

from __future__ import annotations

from typing import Any

from supervisor.config import (
    AccountConfig,
    Config,
    Credentials,
    PaperSettings,
    RestartSettings,
    SupervisorSettings,
)
from supervisor.dotenv import Secret
from supervisor.verify_report import (
    account_report,
    apply_permissions,
    config_problems,
    connection_result,
    credential_names_in_environ,
    credential_report,
    format_config,
    format_connections,
    format_users,
    roles,
    table,
)

SECRET = "U0VDUkVULUNBTkFSWS0xMjM0NTY="
ALL_GRANTED = {"query_funds": True, "query_open_orders": True, "query_closed_orders": True,
               "create_orders": True, "cancel_orders": True, "withdraw": False}


def _config(*accounts: AccountConfig, paper: bool = False) -> Config:
    return Config(supervisor=SupervisorSettings(state_dir="/s", runtime_dir="/r",
                                                control="ipc:///r/control.sock"),
                  restart=RestartSettings(), paper=PaperSettings(), accounts=accounts,
                  paper_mode=paper, source="test")


def _keyed(name: str, **fields: Any) -> AccountConfig:
    creds = Credentials(Secret(f"KEY-{name}"), Secret(SECRET), "environment")
    return AccountConfig(name=name, credentials=creds, **fields)


def test_table_pads_columns_to_the_widest_cell_without_trailing_blanks():
    text = table([("A", "BB", "C"), ("long", "x", "")])
    assert text.splitlines() == ["A     BB  C", "long  x"]
    assert table([]) == ""


def test_credential_report_gives_names_and_sources_never_values():
    variables = {"KRAKEN_MASTER_API_KEY": "KEY", "KRAKEN_MASTER_API_SECRET": "  "}
    origin = {"KRAKEN_MASTER_API_KEY": ".env file /x/.env",
              "KRAKEN_MASTER_API_SECRET": "environment"}
    report = credential_report("master", variables, origin)
    assert report == [
        {"variable": "KRAKEN_MASTER_API_KEY", "present": True, "origin": ".env file /x/.env"},
        {"variable": "KRAKEN_MASTER_API_SECRET", "present": False, "origin": None}]


def test_live_enabled_account_without_credentials_is_a_problem_naming_its_variables():
    problems = config_problems(_config(_keyed("master"), AccountConfig(name="daivon")))
    assert problems == ["kraken:daivon: enabled but credentials are missing: set "
                        "KRAKEN_USER_DAIVON_API_KEY and KRAKEN_USER_DAIVON_API_SECRET"]


def test_disabled_account_without_credentials_is_no_problem():
    assert config_problems(_config(_keyed("master"),
                                   AccountConfig(name="daivon", enabled=False))) == []


def test_follower_of_a_leader_without_credentials_is_a_problem():
    config = _config(AccountConfig(name="master"),
                     _keyed("daivon", mode="follow", leader="master"))
    problems = config_problems(config)
    assert len(problems) == 2
    assert problems[1].startswith("kraken:daivon: follows master, which has no credentials "
                                  "(KRAKEN_MASTER_API_KEY / KRAKEN_MASTER_API_SECRET)")


def test_paper_mode_needs_no_credentials():
    assert config_problems(_config(AccountConfig(name="master"), paper=True)) == []


def test_config_report_and_table_never_show_a_secret():
    config = _config(_keyed("master", strategy="trend", pairs=("XBTUSD",)))
    variables = {"KRAKEN_MASTER_API_KEY": "KEY-master", "KRAKEN_MASTER_API_SECRET": SECRET}
    origin = dict.fromkeys(variables, "environment")
    account = account_report(config, config.accounts[0], variables, origin)
    report = {"mode": "live", "source": "test", "notes": [], "problems": [],
              "supervisor": {"state_dir": "/s", "runtime_dir": "/r", "metrics_addr": "x:1",
                             "control": "ipc:///r/control.sock", "kraken_url": "http://v"},
              "accounts": [account]}
    text = format_config(report)
    assert SECRET not in repr(account) and SECRET not in text and "KEY-master" not in text
    assert account["credentials"] == "present" and account["pairs"] == ["XBTUSD"]
    assert "KRAKEN_MASTER_API_SECRET  master   yes  environment" in text
    assert text.endswith("OK: the configuration is usable")


def test_all_permissions_granted_and_no_withdrawal_is_ok():
    result = connection_result("master", "running")
    result["balance_ok"] = True
    assert apply_permissions(result, ALL_GRANTED, None)["ok"] is True
    assert result["missing"] == {}


def test_missing_permission_names_what_it_blocks_and_fails():
    result = connection_result("master", "running")
    result["balance_ok"] = True
    apply_permissions(result, {**ALL_GRANTED, "create_orders": False, "cancel_orders": False},
                      None)
    assert result["ok"] is False
    assert result["missing"] == {"create_orders": "placing orders",
                                 "cancel_orders": "cancelling orders and the dead man's switch"}
    lines = format_connections({"via": "supervisor", "mode": "live", "venue": "",
                                "accounts": [result]}).splitlines()
    assert "master: lacks create_orders: blocks placing orders" in lines
    assert "MISSING create_orders,cancel_orders" in lines[2]


def test_withdrawal_fails_unless_the_account_allows_it():
    granted = {**ALL_GRANTED, "withdraw": True}
    for allowed, ok in ((None, False), (False, False), (True, True)):
        result = connection_result("master", "standalone")
        result["balance_ok"] = True
        assert apply_permissions(result, granted, allowed)["ok"] is ok
        assert result["withdraw"] is True


def test_failed_balance_is_never_ok_even_with_every_permission():
    result = connection_result("master", "running")
    assert apply_permissions(result, ALL_GRANTED, None)["ok"] is False


def test_credential_names_in_environ_returns_names_only():
    raw = (b"PATH=/bin\0KRAKEN_USER_TANIA_API_SECRET=" + SECRET.encode()
           + b"\0kraken_master_api_key=k\0KRAKEN_URL=x\0NIJA_STATE_DIR=/s\0")
    assert credential_names_in_environ(raw) == ["KRAKEN_USER_TANIA_API_SECRET",
                                                "kraken_master_api_key"]
    assert credential_names_in_environ(b"PATH=/bin\0HOME=/root\0") == []


def test_roles_read_leaders_from_their_followers():
    named = roles([("master", "independent"), ("daivon", "follow master"),
                   ("tania", "follow master"), ("solo", "independent"), ("new", "")])
    assert named == {"master": "leader of daivon, tania", "daivon": "follower of master",
                     "tania": "follower of master", "solo": "independent", "new": "unknown"}


def test_users_table_flags_an_actor_holding_credentials():
    base = {"state": "running", "uid": 1000, "state_dir": "/s/accounts/kraken-x",
            "env_error": None, "nonce_file": True, "nonce_owner": "nija",
            "nonce_lock_held": True, "role": "independent"}
    rows = [{**base, "account": "good", "pid": 10, "isolated": True, "env_credentials": []},
            {**base, "account": "bad", "pid": 11, "isolated": False,
             "env_credentials": ["KRAKEN_USER_GOOD_API_KEY"]},
            {**base, "account": "off", "pid": None, "uid": None, "isolated": None,
             "env_credentials": [], "nonce_file": False}]
    lines = format_users({"running": True, "mode": "live", "accounts": rows}).splitlines()
    assert lines[0] == "mode: live"
    assert "none (isolated)" in lines[2] and "owner nija, locked by actor" in lines[2]
    assert "HELD: KRAKEN_USER_GOOD_API_KEY" in lines[3]
    assert lines[4].split()[:3] == ["off", "running", "-"] and "absent" in lines[4]
