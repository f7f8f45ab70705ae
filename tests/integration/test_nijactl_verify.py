"""`nijactl check-config`, `test-connection` and `users` run as the operator runs them: the
installed `nijactl` in a child process, against config files, `.env` files, a credentials
directory, a running paper supervisor, and a real simulator for live standalone tests."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from actors.kraken.nonce import NonceStore
from tests.conftest import Venue
from tests.supervisor_harness import (
    NIJACTL,
    PAPER_ACCOUNTS,
    RunningSupervisor,
    clean_env,
    short_tempdir,
)

pytestmark = pytest.mark.slow
TWO_ACCOUNTS = """
[[account]]
name = "master"
strategy = "trend"

[[account]]
name = "daivon"
mode = "follow"
leader = "master"
"""


def _canary() -> str:
    """A value shaped like a Kraken secret (base64) that must never be printed."""
    return base64.b64encode(b"CANARY-" + secrets.token_bytes(24)).decode()


def nijactl(*args: str, cwd: Path, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
    """`nijactl ARGS` in `cwd` (so only a `.env` placed there is seen) with a clean env."""
    return subprocess.run([NIJACTL, *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd, env=clean_env(env), check=False)


def document(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


@pytest.fixture
def root() -> Iterator[Path]:
    path = short_tempdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _dirs(root: Path) -> dict[str, str]:
    """State and runtime directories that do not exist (check-config must not create them)."""
    return {"NIJA_STATE_DIR": str(root / "s"), "NIJA_RUNTIME_DIR": str(root / "r")}


# -- check-config ----------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_check_config_resolves_accounts_and_names_credential_sources(root):
    (root / "nija.toml").write_text(TWO_ACCOUNTS)
    key, secret = "KEY-" + secrets.token_hex(8), _canary()
    dkey, dsecret = "DKEY-" + secrets.token_hex(8), _canary()
    (root / "creds.env").write_text(f"KRAKEN_USER_DAIVON_API_KEY={dkey}\n"
                                    f"KRAKEN_USER_DAIVON_API_SECRET='{dsecret}'\n")
    env = {**_dirs(root), "KRAKEN_MASTER_API_KEY": key, "KRAKEN_MASTER_API_SECRET": secret}
    args = ("check-config", "--config", str(root / "nija.toml"), "--env-file",
            str(root / "creds.env"))

    human = nijactl(*args, cwd=root, env=env)
    done = nijactl(*args, "--json", cwd=root, env=env)

    assert human.returncode == 0 and done.returncode == 0, human.stderr + done.stderr
    for text in (human.stdout, human.stderr, done.stdout, done.stderr):
        for value in (key, secret, dkey, dsecret):
            assert value not in text
    report = document(done)
    assert report["ok"] is True and report["mode"] == "live" and report["problems"] == []
    accounts = {a["account"]: a for a in report["accounts"]}
    assert list(accounts) == ["master", "daivon"]
    assert accounts["daivon"]["mode"] == "follow" and accounts["daivon"]["leader"] == "master"
    assert accounts["master"]["strategy"] == "trend"
    assert accounts["master"]["pairs"] == ["XBTUSD", "ETHUSD"]
    origins = {v["variable"]: v["origin"] for a in report["accounts"] for v in a["variables"]}
    assert origins["KRAKEN_MASTER_API_SECRET"] == "environment"
    assert origins["KRAKEN_USER_DAIVON_API_SECRET"].startswith(".env file ")
    assert report["supervisor"]["state_dir"] == str(root / "s")
    assert report["supervisor"]["control"] == f"ipc://{root / 'r'}/control.sock"
    assert "mode: live" in human.stdout and "OK: the configuration is usable" in human.stdout
    assert "KRAKEN_USER_DAIVON_API_SECRET" in human.stdout
    assert not (root / "s").exists() and not (root / "r").exists()


@pytest.mark.timeout(60)
def test_check_config_reads_a_systemd_credentials_directory(root):
    creds = root / "credentials"
    creds.mkdir()
    secret = _canary()
    (creds / "KRAKEN_MASTER_API_KEY").write_text("KEY-" + secrets.token_hex(8) + "\n")
    (creds / "KRAKEN_MASTER_API_SECRET").write_text(secret + "\n")
    env = {**_dirs(root), "CREDENTIALS_DIRECTORY": str(creds)}

    done = nijactl("check-config", "--json", cwd=root, env=env)

    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout + done.stderr
    report = document(done)
    master = next(a for a in report["accounts"] if a["account"] == "master")
    assert master["credentials"] == "present"
    assert {v["origin"] for v in master["variables"]} == {f"credentials directory {creds}"}


@pytest.mark.timeout(60)
def test_check_config_half_a_key_pair_names_the_missing_variable(root):
    key = "KEY-" + secrets.token_hex(8)
    env = {**_dirs(root), "KRAKEN_USER_DAIVON_API_KEY": key}

    human = nijactl("check-config", cwd=root, env=env)
    done = nijactl("check-config", "--json", cwd=root, env=env)

    assert human.returncode == 2 and done.returncode == 2
    assert "KRAKEN_USER_DAIVON_API_SECRET is not set" in human.stderr
    assert document(done)["ok"] is False
    assert "KRAKEN_USER_DAIVON_API_SECRET" in document(done)["problems"][0]
    assert key not in human.stdout + human.stderr + done.stdout + done.stderr


@pytest.mark.timeout(60)
def test_check_config_bad_toml_key_is_named_and_its_value_not_echoed(root):
    secret = _canary()
    (root / "nija.toml").write_text(f'[[account]]\nname = "master"\ntierr = "{secret}"\n')

    done = nijactl("check-config", "--config", str(root / "nija.toml"), cwd=root,
                   env=_dirs(root))

    assert done.returncode == 2
    assert "account[0].tierr: unknown key" in done.stderr
    assert secret not in done.stdout + done.stderr


@pytest.mark.timeout(60)
def test_check_config_live_account_without_credentials_is_a_problem(root):
    (root / "nija.toml").write_text(TWO_ACCOUNTS)
    env = {**_dirs(root), "KRAKEN_MASTER_API_KEY": "KEY-1",
           "KRAKEN_MASTER_API_SECRET": _canary()}

    done = nijactl("check-config", "--config", str(root / "nija.toml"), "--json", cwd=root,
                   env=env)
    human = nijactl("check-config", "--config", str(root / "nija.toml"), cwd=root, env=env)

    assert done.returncode == 2 and human.returncode == 2
    report = document(done)
    assert report["mode"] == "live" and report["ok"] is False
    assert report["problems"] == ["kraken:daivon: enabled but credentials are missing: set "
                                  "KRAKEN_USER_DAIVON_API_KEY and KRAKEN_USER_DAIVON_API_SECRET"]
    assert "NOT USABLE (1 problem(s))" in human.stdout


@pytest.mark.timeout(60)
def test_check_config_follower_whose_leader_has_no_credentials_is_a_problem(root):
    (root / "nija.toml").write_text(TWO_ACCOUNTS)
    env = {**_dirs(root), "KRAKEN_USER_DAIVON_API_KEY": "KEY-2",
           "KRAKEN_USER_DAIVON_API_SECRET": _canary()}

    done = nijactl("check-config", "--config", str(root / "nija.toml"), "--json", cwd=root,
                   env=env)

    assert done.returncode == 2
    problems = document(done)["problems"]
    assert any(p.startswith("kraken:daivon: follows master, which has no credentials "
                            "(KRAKEN_MASTER_API_KEY / KRAKEN_MASTER_API_SECRET)")
               for p in problems), problems


@pytest.mark.timeout(60)
def test_check_config_paper_mode_is_usable_and_says_why(root):
    done = nijactl("check-config", "--json", cwd=root, env=_dirs(root))

    assert done.returncode == 0, done.stderr
    report = document(done)
    assert report["mode"] == "paper"
    assert [a["account"] for a in report["accounts"]] == list(PAPER_ACCOUNTS)
    assert {a["credentials"] for a in report["accounts"]} == {"not used (paper mode)"}
    assert "paper mode because no enabled account has credentials" in report["notes"]


# -- test-connection and users through a running paper supervisor ----------------------

@pytest.fixture(scope="module")
def paper() -> Iterator[RunningSupervisor]:
    with RunningSupervisor() as sup:
        yield sup


@pytest.mark.timeout(60)
def test_test_connection_through_the_supervisor_checks_every_account(paper):
    done = paper.ctl("test-connection", "--json")
    human = paper.ctl("test-connection")

    assert done.returncode == 0, done.stdout + done.stderr
    report = document(done)
    assert report["via"] == "supervisor" and report["mode"] == "paper" and report["ok"]
    assert [a["account"] for a in report["accounts"]] == list(PAPER_ACCOUNTS)
    for account in report["accounts"]:
        assert account["reachable"] and account["balance_ok"] and account["ok"]
        assert account["latency_s"] > 0
        assert Decimal(account["balances"]["ZUSD"]) > 0  # the paper fleet trades: not fixed
        assert account["missing"] == {} and account["withdraw"] is False
        assert set(account["permissions"]) >= {"create_orders", "cancel_orders", "withdraw"}
    assert human.returncode == 0 and "through the running supervisor" in human.stdout
    assert human.stdout.count("all granted") == len(PAPER_ACCOUNTS)


@pytest.mark.timeout(60)
def test_test_connection_through_the_supervisor_for_one_account(paper):
    done = paper.ctl("test-connection", "tania", "--json")
    unknown = paper.ctl("test-connection", "nobody")

    assert done.returncode == 0, done.stderr
    assert [a["account"] for a in document(done)["accounts"]] == ["tania"]
    assert unknown.returncode == 2 and "nobody" in unknown.stderr


@pytest.mark.timeout(60)
def test_users_reports_each_actor_isolated_with_its_own_nonce_store(paper):
    # roles come from what the actors report, which starts with their first heartbeat
    paper.wait_for(lambda: all(a["summary"].get("mode") for a in paper.status()), 15,
                   "every actor to report its trading mode")
    done = paper.ctl("users", "--json")
    human = paper.ctl("users")

    assert done.returncode == 0, done.stdout + done.stderr
    report = document(done)
    assert report["running"] and report["ok"]
    users = {u["account"]: u for u in report["accounts"]}
    assert list(users) == list(PAPER_ACCOUNTS)
    pids = paper.pids()
    for name, user in users.items():
        assert user["pid"] == pids[name]
        assert user["isolated"] is True and user["env_credentials"] == []
        assert user["state_dir"] == str(paper.state_dir / "accounts" / f"kraken-{name}")
        assert user["nonce_lock_held"] is True and user["nonce_file"] is True
    assert users["master"]["role"] == "leader of daivon, tania"
    assert users["daivon"]["role"] == users["tania"]["role"] == "follower of master"
    assert human.stdout.count("none (isolated)") == len(PAPER_ACCOUNTS)


@pytest.mark.timeout(60)
def test_without_a_supervisor_paper_has_no_venue_and_users_lists_not_running(root):
    connection = nijactl("test-connection", cwd=root, env=_dirs(root))
    as_json = nijactl("test-connection", "--json", cwd=root, env=_dirs(root))
    users = nijactl("users", "--json", cwd=root, env=_dirs(root))

    assert connection.returncode == 2 and "no venue to test" in connection.stderr
    assert as_json.returncode == 2 and document(as_json)["ok"] is False
    assert "no venue to test" in document(as_json)["problems"][0]
    assert users.returncode == 1
    report = document(users)
    assert report["running"] is False
    assert {u["state"] for u in report["accounts"]} == {"not running"}
    assert not (root / "s").exists()


# -- test-connection standalone, live, against a real simulator -------------------------

def _live_env(root: Path, venue: Venue, **spec: Any) -> tuple[dict[str, str], list[str]]:
    client, _ = venue.account("verify", **spec)
    env = {**_dirs(root), "NIJA_KRAKEN_URL": venue.url,
           "KRAKEN_MASTER_API_KEY": client.key, "KRAKEN_MASTER_API_SECRET": client.secret}
    return env, [client.key, client.secret]


def _high_water(root: Path) -> int:
    data = json.loads((root / "s" / "accounts" / "kraken-master" / "nonce.json").read_text())
    mark: int = data["high_water"]
    return mark


@pytest.mark.timeout(60)
def test_standalone_live_test_continues_the_accounts_nonce_sequence(root, venue):
    env, canaries = _live_env(root, venue)

    first = nijactl("test-connection", "--json", cwd=root, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    mark = _high_water(root)
    second = nijactl("test-connection", cwd=root, env=env)

    assert second.returncode == 0, second.stdout + second.stderr
    assert _high_water(root) > mark
    report = document(first)
    assert report["via"] == "standalone" and report["venue"] == venue.url
    (master,) = report["accounts"]
    assert master["ok"] and master["balance_ok"] and master["missing"] == {}
    assert master["balances"]["ZUSD"].startswith("1000000")
    assert "standalone" in second.stdout and "all granted" in second.stdout
    for text in (first.stdout, first.stderr, second.stdout, second.stderr):
        assert not [c for c in canaries if c in text]


@pytest.mark.timeout(60)
def test_standalone_refuses_a_nonce_store_held_by_another_process(root, venue):
    env, _ = _live_env(root, venue)
    state = root / "s" / "accounts" / "kraken-master"
    with NonceStore(state) as held:
        before = held.high_water
        done = nijactl("test-connection", "--json", cwd=root, env=env)
        assert held.high_water == before

    assert done.returncode == 1
    (master,) = document(done)["accounts"]
    assert master["ok"] is False and master["reachable"] is False
    assert master["error"].startswith("refused: nonce store lock")


@pytest.mark.timeout(60)
def test_standalone_names_missing_permissions_and_flags_withdrawal(root, venue):
    env, _ = _live_env(root, venue, permissions=("query_funds", "query_open_orders",
                                                 "query_closed_orders", "cancel_orders",
                                                 "withdraw"))

    done = nijactl("test-connection", "--json", cwd=root, env=env)
    human = nijactl("test-connection", cwd=root, env=env)

    assert done.returncode == 1 and human.returncode == 1
    (master,) = document(done)["accounts"]
    assert master["balance_ok"] is True and master["ok"] is False
    assert master["missing"] == {"create_orders": "placing orders"}
    assert master["withdraw"] is True and master["withdraw_allowed"] is False
    assert "master: lacks create_orders: blocks placing orders" in human.stdout
    assert "CAN WITHDRAW" in human.stdout


@pytest.mark.timeout(60)
def test_state_owned_by_another_user_is_refused_by_both_commands(root, venue):
    if os.getuid() != 0:
        pytest.skip("needs root to give the state directory to another user")
    env, _ = _live_env(root, venue)
    state = root / "s" / "accounts" / "kraken-master"
    state.mkdir(parents=True)
    os.chown(root / "s", 65534, 65534)

    checked = nijactl("check-config", "--json", cwd=root, env=env)
    tested = nijactl("test-connection", "--json", cwd=root, env=env)

    assert checked.returncode == 2
    assert document(checked)["problems"] == [
        f"supervisor.state_dir: {root / 's'} is owned by uid 65534, not by this user (uid 0); "
        "run this as the user the supervisor runs as"]
    assert tested.returncode == 1
    (master,) = document(tested)["accounts"]
    assert master["error"].startswith(f"refused: {root / 's'} is owned by uid 65534")
    assert list(state.iterdir()) == []
