"""supervisor.config + supervisor.trading_config: the [market] table and each account's
trading keys, validated at load with errors naming the key, and converted to the settings
the actors receive. Every test passes `environ` explicitly."""

from __future__ import annotations

import base64
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from actors.execution.risk import RiskLimits
from actors.launch import MarketSettings, TradingSettings
from actors.strategies import TrendStrategy, make_strategy
from supervisor.config import AccountConfig, Config, ConfigError, describe, load_config
from supervisor.trading_config import MARKET_ACTOR, market_settings, trading_settings

SECRET = base64.b64encode(b"kraken-private-key-bytes").decode()
HOME = {"HOME": "/home/nija"}
MASTER = {"KRAKEN_MASTER_API_KEY": "master-key", "KRAKEN_MASTER_API_SECRET": SECRET}
DAIVON = {"KRAKEN_USER_DAIVON_API_KEY": "daivon-key", "KRAKEN_USER_DAIVON_API_SECRET": SECRET}

EXAMPLE = """
[market]                    # the market data actor (one per broker)
pairs = ["XBTUSD", "ETHUSD"]
interval_min = 1
poll_s = 2.0
public_calls_per_s = 0.9
window = 120

[[account]]
name = "master"
tier = "pro"
mode = "independent"
strategy = "trend"
pairs = ["XBTUSD"]
order_timeout_s = 30.0
limit_offset_bps = "5"
[account.strategy_params]
fast = 12
slow = 30
fraction = "0.5"
[account.risk]
max_position_usd = "1000.50"
max_exposure_usd = "3000"
max_order_usd = 500
max_daily_loss_usd = "200"
min_balance_usd = "0.1"

[[account]]
name = "daivon"
mode = "follow"
leader = "master"
follow_when_leader_paused = false
max_fill_age_s = 60.0
"""

ONE_ACCOUNT = "[[account]]\nname = 'a'\n"
LEADER = "[[account]]\nname = 'lead'\nstrategy = 'trend'\n"


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_config reads ./.env by default; never let a developer's .env into a test."""
    monkeypatch.chdir(tmp_path)


def load(text: str | None, **env: str) -> Config:
    path = None
    if text is not None:
        path = Path("nija.toml")
        path.write_text(text)
    return load_config(path, {**HOME, **env})


def error_of(text: str | None, **env: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(text, **env)
    return str(info.value)


def by_name(config: Config) -> dict[str, AccountConfig]:
    return {account.name: account for account in config.accounts}


def test_full_example_converts_to_actor_settings_with_exact_decimals() -> None:
    config = load(EXAMPLE, **MASTER, **DAIVON)
    assert not config.paper_mode
    accounts = by_name(config)
    master = trading_settings(accounts["master"])
    assert master == TradingSettings(
        mode="independent", strategy="trend",
        strategy_params=(("fast", 12), ("slow", 30), ("fraction", "0.5")), pairs=("XBTUSD",),
        limits=RiskLimits(max_position_usd=Decimal("1000.50"),
                          max_exposure_usd=Decimal("3000"), max_order_usd=Decimal(500),
                          max_daily_loss_usd=Decimal("200"), min_balance_usd=Decimal("0.1")),
        leader="", follow_when_leader_paused=False, order_timeout_s=30.0,
        limit_offset_bps=Decimal("5"), max_fill_age_s=60.0)
    assert all(type(getattr(master.limits, f)) is Decimal for f in vars(master.limits))
    assert str(master.limits.max_position_usd) == "1000.50"  # not rounded through a float
    built = make_strategy(master.strategy, **dict(master.strategy_params))
    assert isinstance(built, TrendStrategy) and built.fraction == Decimal("0.5")
    follower = trading_settings(accounts["daivon"])
    assert (follower.mode, follower.leader, follower.strategy) == ("follow", "master", "hold")
    assert follower.pairs == ("XBTUSD", "ETHUSD")  # defaults to [market].pairs
    assert follower.limits == RiskLimits()
    assert market_settings(config) == MarketSettings(
        pairs=("XBTUSD", "ETHUSD"), interval_min=1, poll_s=2.0, public_calls_per_s=0.9,
        window=120)


def test_identical_files_give_equal_settings_and_a_changed_parameter_does_not() -> None:
    """A reload compares launches: equal config must mean equal settings, and back."""
    first = trading_settings(by_name(load(EXAMPLE, **MASTER))["master"])
    assert trading_settings(by_name(load(EXAMPLE, **MASTER))["master"]) == first
    changed = trading_settings(by_name(load(EXAMPLE.replace("fast = 12", "fast = 9"),
                                            **MASTER))["master"])
    assert changed != first and dict(changed.strategy_params)["fast"] == 9


def test_existing_configs_keep_loading_with_holding_independent_accounts() -> None:
    config = load("[[account]]\nname = 'master'\ntier = 'intermediate'\n"
                  "[[account]]\nname = 'zoe'\n", **MASTER)
    for account in config.accounts:
        settings = trading_settings(account)
        assert (settings.mode, settings.strategy, settings.leader) == ("independent", "hold", "")
        assert settings.pairs == ("XBTUSD", "ETHUSD")
    assert by_name(config)["zoe"].tier == "starter"  # live defaults are unchanged


def test_environment_only_accounts_hold_and_can_lead_file_followers() -> None:
    config = load("[[account]]\nname = 'daivon'\nmode = 'follow'\nleader = 'master'\n",
                  **MASTER, **DAIVON)
    accounts = by_name(config)
    assert (accounts["master"].mode, accounts["master"].strategy) == ("independent", "hold")
    assert accounts["daivon"].leader == "master"


@pytest.mark.parametrize(("paper", "poll_s", "calls"), [(False, 2.0, 0.9), (True, 1.0, 20.0)])
def test_market_rates_default_by_mode(paper: bool, poll_s: float, calls: float) -> None:
    config = load("[market]\npairs = ['XBTUSD']\n", **({} if paper else MASTER))
    assert config.paper_mode is paper
    assert (config.market.poll_s, config.market.public_calls_per_s) == (poll_s, calls)
    assert market_settings(config) == MarketSettings(pairs=("XBTUSD",), poll_s=poll_s,
                                                     public_calls_per_s=calls)


def test_explicit_market_rates_win_in_paper_mode() -> None:
    config = load("[market]\npoll_s = 5\npublic_calls_per_s = 0.5\ninterval_min = 15\n"
                  "window = 720\n")
    assert config.paper_mode
    assert market_settings(config) == MarketSettings(interval_min=15, poll_s=5.0,
                                                     public_calls_per_s=0.5, window=720)


def test_market_settings_resolves_defaults_even_for_an_unresolved_config() -> None:
    config = msgspec.structs.replace(load(None, **MASTER), paper_mode=False)
    raw = msgspec.structs.replace(config.market, poll_s=None, public_calls_per_s=None)
    settings = market_settings(msgspec.structs.replace(config, market=raw))
    assert (settings.poll_s, settings.public_calls_per_s) == (2.0, 0.9)


@pytest.mark.parametrize(("table", "expected"), [
    ("interval_min = 2", "market.interval_min: must be one of Kraken's OHLC intervals 1, 5"),
    ("interval_min = '1'", "market.interval_min: expected `int`"),
    ("window = 1", "market.window: must be >= 2 and <= 720"),
    ("window = 721", "market.window: must be >= 2 and <= 720"),
    ("window = 120.0", "market.window: expected `int`"),
    ("poll_s = 0", "market.poll_s: must be > 0"),
    ("poll_s = inf", "market.poll_s: must be > 0"),
    ("public_calls_per_s = -1", "market.public_calls_per_s: must be > 0"),
    ("pairs = []", "market.pairs: must name at least one pair"),
    ("pairs = ['XBTUSD', '']", "market.pairs[1]: must be a Kraken pair name"),
    ("pairs = ['XBTUSD', 'xbt/usd']", "market.pairs[1]: 'xbt/usd' is already listed"),
    ("colour = 'red'", "market.colour: unknown key"),
])
def test_bad_market_values_are_named(table: str, expected: str) -> None:
    assert error_of(f"[market]\n{table}\n").startswith(expected)


@pytest.mark.parametrize(("text", "expected"), [
    (ONE_ACCOUNT + "mode = 'follow'", 'account[0].leader: required when mode = "follow"'),
    (ONE_ACCOUNT + "leader = 'lead'\n" + LEADER,
     'account[0].leader: only a follower (mode = "follow") has a leader'),
    (ONE_ACCOUNT + "mode = 'follow'\nleader = 'a'",
     "account[0].leader: an account cannot follow itself"),
    (LEADER + ONE_ACCOUNT + "mode = 'follow'\nleader = 'nobody'",
     "account[1].leader: no account named 'nobody' is configured"),
    (LEADER + "[[account]]\nname = 'b'\nmode = 'follow'\nleader = 'lead'\n"
     + ONE_ACCOUNT + "mode = 'follow'\nleader = 'b'",
     "account[2].leader: 'b' is itself a follower (of 'lead')"),
    (LEADER + "enabled = false\n" + ONE_ACCOUNT + "mode = 'follow'\nleader = 'lead'",
     "account[1].leader: 'lead' is disabled"),
    (LEADER + ONE_ACCOUNT + "mode = 'follow'\nleader = 'lead'\nstrategy = 'trend'",
     "account[1].strategy: a follower mirrors its leader's trades"),
    (LEADER + ONE_ACCOUNT + "mode = 'follow'\nleader = 'lead'\n"
     "[account.strategy_params]\nfast = 3", "account[1].strategy_params: a follower runs no"),
    (LEADER + ONE_ACCOUNT + "mode = 'follow'\nleader = 'Lead Account'",
     "account[1].leader: must be 1-32 characters"),
    (ONE_ACCOUNT + "mode = 'copy'", "account[0].mode: must be one of 'independent', 'follow'"),
])
def test_follow_rules_name_the_key(text: str, expected: str) -> None:
    assert error_of(text).startswith(expected)


def test_a_follower_may_say_hold_and_a_disabled_follower_may_keep_a_disabled_leader() -> None:
    config = load(LEADER + "enabled = false\n" + ONE_ACCOUNT
                  + "mode = 'follow'\nleader = 'lead'\nstrategy = 'hold'\nenabled = false\n")
    assert by_name(config)["a"].leader == "lead"


@pytest.mark.parametrize(("text", "expected"), [
    (ONE_ACCOUNT + "strategy = 'moon'",
     "account[0].strategy: unknown strategy 'moon'; known strategies: hold, trend"),
    (ONE_ACCOUNT + "strategy = 'trend'\n[account.strategy_params]\nspeed = 3",
     "account[0].strategy_params.speed: strategy 'trend' has no parameter 'speed'"),
    (ONE_ACCOUNT + "strategy = 'trend'\n[account.strategy_params]\nfast = 0",
     "account[0].strategy_params.fast: parameter 'fast' must be an integer >= 1"),
    (ONE_ACCOUNT + "strategy = 'trend'\n[account.strategy_params]\nslow = 5",
     "account[0].strategy_params.slow: parameter 'fast' (12) must be below 'slow' (5)"),
    (ONE_ACCOUNT + "strategy = 'trend'\n[account.strategy_params]\nfraction = 'most'",
     "account[0].strategy_params.fraction: parameter 'fraction' must be a number"),
    (ONE_ACCOUNT + "[account.strategy_params]\nfast = 3",
     "account[0].strategy_params.fast: strategy 'hold' has no parameter 'fast'"),
    (ONE_ACCOUNT + "strategy = 'trend'\n[account.strategy_params.fast]\nx = 1",
     "account[0].strategy_params.fast: must be a number, string or boolean"),
    (ONE_ACCOUNT + "strategy = 'trend'\nstrategy_params = 3",
     "account[0].strategy_params: expected a table"),
    (ONE_ACCOUNT + "strategy = 3", "account[0].strategy: expected `str`"),
])
def test_strategy_is_built_at_load_and_its_errors_name_the_key(text: str, expected: str) -> None:
    assert error_of(text).startswith(expected)


RISK_FIELDS = ("max_position_usd", "max_exposure_usd", "max_order_usd", "max_daily_loss_usd",
               "min_balance_usd")


@pytest.mark.parametrize("field", RISK_FIELDS)
def test_money_given_as_a_toml_float_is_refused(field: str) -> None:
    message = error_of(f"{ONE_ACCOUNT}[account.risk]\n{field} = 100.0\n")
    assert message.startswith(f"account[0].risk.{field}: a TOML float is inexact")
    assert "quote it as a decimal string" in message


def test_limit_offset_as_a_float_is_refused_and_as_a_string_is_exact() -> None:
    assert error_of(ONE_ACCOUNT + "limit_offset_bps = 2.5").startswith(
        "account[0].limit_offset_bps: a TOML float is inexact")
    account = by_name(load(ONE_ACCOUNT + "limit_offset_bps = '2.5'"))["a"]
    assert trading_settings(account).limit_offset_bps == Decimal("2.5")


@pytest.mark.parametrize(("risk", "expected"), [
    ("max_order_usd = '600'\nmax_position_usd = '500'",
     "account[0].risk.max_order_usd: 600 exceeds max_position_usd 500"),
    ("max_position_usd = '4000'", "account[0].risk.max_position_usd: 4000 exceeds"),
    ("max_daily_loss_usd = '-1'", "account[0].risk.max_daily_loss_usd: must be >= 0"),
    ("min_balance_usd = 'NaN'", "account[0].risk.min_balance_usd: must be a finite Decimal"),
    ("max_order_usd = 'lots'", "account[0].risk.max_order_usd: invalid decimal string"),
    ("max_order_usd = true", "account[0].risk.max_order_usd: expected `decimal`"),
    ("max_order = '1'", "account[0].risk.max_order: unknown key"),
])
def test_risk_limits_are_checked_by_building_them(risk: str, expected: str) -> None:
    assert error_of(f"{ONE_ACCOUNT}[account.risk]\n{risk}\n").startswith(expected)


def test_risk_accepts_integers_and_strings_as_exact_decimals() -> None:
    account = by_name(load(ONE_ACCOUNT + "[account.risk]\nmax_order_usd = 250\n"
                           "max_daily_loss_usd = '0.10'\n"))["a"]
    limits = trading_settings(account).limits
    assert limits == RiskLimits(max_order_usd=Decimal(250), max_daily_loss_usd=Decimal("0.10"))
    assert str(limits.max_daily_loss_usd) == "0.10"


@pytest.mark.parametrize(("text", "expected"), [
    (ONE_ACCOUNT + "order_timeout_s = 0", "account[0].order_timeout_s: must be > 0"),
    (ONE_ACCOUNT + "max_fill_age_s = -1", "account[0].max_fill_age_s: must be > 0"),
    (ONE_ACCOUNT + "limit_offset_bps = '-1'", "account[0].limit_offset_bps: must be >= 0"),
    (ONE_ACCOUNT + "limit_offset_bps = '10000'", "account[0].limit_offset_bps: must be >= 0"),
    (ONE_ACCOUNT + "follow_when_leader_paused = 'no'",
     "account[0].follow_when_leader_paused: expected `bool`"),
])
def test_bad_order_handling_values_are_named(text: str, expected: str) -> None:
    assert error_of(text).startswith(expected)


@pytest.mark.parametrize(("pairs", "expected"), [
    ("['XBTUSD', 'DOGEUSD']", "account[0].pairs[1]: 'DOGEUSD' is not in [market].pairs"),
    ("[]", "account[0].pairs: must name at least one pair"),
    ("['XBTUSD', 'XBTUSD']", "account[0].pairs[1]: 'XBTUSD' is already listed"),
    ("['XBT USD']", "account[0].pairs[0]: must be a Kraken pair name"),
])
def test_account_pairs_must_be_polled_by_the_market_actor(pairs: str, expected: str) -> None:
    assert error_of(f"{ONE_ACCOUNT}pairs = {pairs}\n").startswith(expected)


def test_account_pairs_match_market_pairs_in_any_case_and_with_a_slash() -> None:
    config = load("[market]\npairs = ['XBTUSD', 'ETHUSD']\n" + ONE_ACCOUNT
                  + "pairs = ['eth/usd']\n")
    assert trading_settings(by_name(config)["a"]).pairs == ("eth/usd",)


def test_the_market_name_is_reserved_everywhere_an_account_is_named() -> None:
    reserved = "'market' is reserved for the market data actor (kraken:market)"
    assert error_of("[[account]]\nname = 'market'\n") == f"account[0].name: {reserved}"
    assert error_of("[paper]\naccounts = ['x', 'market']\n") == f"paper.accounts[1]: {reserved}"
    env = {"KRAKEN_USER_MARKET_API_KEY": "k", "KRAKEN_USER_MARKET_API_SECRET": SECRET}
    assert error_of(None, **env) == f"KRAKEN_USER_MARKET_API_KEY: {reserved}"
    assert AccountConfig(name=MARKET_ACTOR).actor_id == "kraken:market"  # the supervisor's own


def test_paper_built_ins_are_a_trend_master_followed_by_the_others_on_pro_keys() -> None:
    config = load(None)
    assert config.paper_mode
    master, *followers = (trading_settings(a) for a in config.accounts)
    assert [a.name for a in config.accounts] == ["master", "daivon", "tania"]
    assert all(a.tier == "pro" for a in config.accounts)
    assert (master.mode, master.strategy, master.leader) == ("independent", "trend", "")
    assert [(f.mode, f.leader, f.strategy) for f in followers] == [("follow", "master", "hold")] * 2


def test_the_first_paper_account_leads_whatever_its_name() -> None:
    config = load("[paper]\naccounts = ['solo', 'copy']\n")
    solo, copy = config.accounts
    assert (solo.name, solo.mode, solo.strategy) == ("solo", "independent", "trend")
    assert (copy.mode, copy.leader) == ("follow", "solo")
    single = load("[paper]\naccounts = ['only']\n").accounts
    assert [(a.name, a.mode, a.strategy) for a in single] == [("only", "independent", "trend")]


def test_paper_file_accounts_are_used_as_written_but_default_to_pro() -> None:
    config = load(ONE_ACCOUNT + "[[account]]\nname = 'b'\ntier = 'starter'\n")
    a, b = config.accounts
    assert config.paper_mode
    assert (a.tier, a.mode, a.strategy) == ("pro", "independent", "hold")
    assert b.tier == "starter"  # the file says otherwise


def test_forced_paper_gives_environment_accounts_pro_keys() -> None:
    config = load_config(None, {**HOME, **MASTER, **DAIVON}, force_paper=True)
    assert [(a.name, a.tier, a.strategy) for a in config.accounts] == [
        ("master", "pro", "hold"), ("daivon", "pro", "hold")]


def test_accounts_built_directly_are_validated_with_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"^leader: required"):
        AccountConfig(name="a", mode="follow")
    with pytest.raises(ConfigError, match=r"^strategy: unknown strategy"):
        AccountConfig(name="a", strategy="moon")


def test_trading_settings_refuses_an_account_whose_pairs_were_never_resolved() -> None:
    with pytest.raises(ValueError, match="pairs not resolved"):
        trading_settings(AccountConfig(name="a"))


def test_a_secret_pasted_as_leader_is_not_echoed() -> None:
    message = error_of(LEADER + ONE_ACCOUNT + f"mode = 'follow'\nleader = '{SECRET}'\n")
    assert message.startswith("account[1].leader: must be 1-32") and SECRET not in message


def test_describe_shows_each_accounts_role_and_the_market() -> None:
    text = describe(load(EXAMPLE, **MASTER, **DAIVON))
    assert "kraken:master: tier=pro enabled mode=independent strategy=trend pairs=XBTUSD " in text
    assert ("kraken:daivon: tier=starter enabled mode=follow leader=master "
            "pairs=XBTUSD,ETHUSD ") in text
    assert ("market: market actor per broker polls XBTUSD,ETHUSD (1-minute candles, window 120, "
            "every 2.0s, at most 0.9 public calls/s)") in text


def test_paper_account_balances_replace_the_default_for_that_account_only():
    from supervisor.config import PaperSettings

    paper = PaperSettings(balances={"ZUSD": "10000"},
                          account_balances={"daivon": {"ZUSD": "2500"}})
    assert paper.balances_for("daivon") == {"ZUSD": "2500"}
    assert paper.balances_for("tania") == {"ZUSD": "10000"}


def test_paper_account_balances_must_be_amounts():
    import pytest as _pytest

    from supervisor.config import ConfigError, PaperSettings

    with _pytest.raises(ConfigError, match=r"account_balances\.daivon\.ZUSD"):
        PaperSettings(account_balances={"daivon": {"ZUSD": "lots"}})
