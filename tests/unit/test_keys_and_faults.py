import stat

import pytest

from simulator.faults import FaultConfig, FaultInjector, FaultRule, FaultsError, parse_faults
from simulator.keys import KeysFileError, load_keys, new_key, write_keys_file
from simulator.server import ALL_METHODS


def test_generated_keys_round_trip_through_a_private_file(tmp_path):
    specs = [new_key("master", balances={"ZUSD": "100"}), new_key("daivon", tier="pro")]
    path = write_keys_file(tmp_path / "keys.toml", specs)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keys(path) == specs


def test_secrets_stay_out_of_repr():
    spec = new_key("master")
    assert spec.secret not in repr(spec) and spec.key not in repr(spec)


def test_duplicate_names_are_an_error_naming_the_key(tmp_path):
    path = tmp_path / "keys.toml"
    path.write_text(
        "".join(f'[[key]]\nname = "master"\nkey = "k{i}"\nsecret = "c2VjcmV0"\n\n' for i in (1, 2))
    )
    with pytest.raises(KeysFileError, match="duplicate key name 'master'"):
        load_keys(path)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('tier = "platinum"', "tier"),
        ('permissions = ["trade_everything"]', "trade_everything"),
        ('balances = { DOGE = "1" }', "balances.DOGE"),
        ('balances = { ZUSD = "lots" }', "balances.ZUSD"),
        ("nonce_window = -1", "nonce_window"),
        ("colour = 1", "colour"),
    ],
)
def test_bad_fields_are_named(tmp_path, extra, message):
    path = tmp_path / "keys.toml"
    path.write_text(f'[[key]]\nname = "m"\nkey = "k"\nsecret = "c2VjcmV0"\n{extra}\n')
    with pytest.raises(KeysFileError, match=message):
        load_keys(path)


def test_bad_secret_is_named(tmp_path):
    path = tmp_path / "keys.toml"
    path.write_text('[[key]]\nname = "m"\nkey = "k"\nsecret = "%%%"\n')
    with pytest.raises(KeysFileError, match=r"'m'.*secret"):
        load_keys(path)


def test_faults_file_names_bad_fields():
    with pytest.raises(FaultsError, match=r"default\.http_5xx"):
        parse_faults(b"[default]\nhttp_5xx = 2.0\n", "toml", ALL_METHODS)
    with pytest.raises(FaultsError, match=r"endpoint\.Teleport"):
        parse_faults(b"[endpoint.Teleport]\nhttp_5xx = 0.5\n", "toml", ALL_METHODS)
    with pytest.raises(FaultsError, match="latency_ms"):
        parse_faults(b"[default]\nlatency_ms = [300, 100]\n", "toml", ALL_METHODS)


def test_fault_plans_replay_with_the_same_seed_and_respect_write_only_faults():
    config = FaultConfig(default=FaultRule(http_5xx=0.2, service_busy=0.2, apply_then_fail=0.3))
    plans = [[FaultInjector(config, seed=7).plan("AddOrder") for _ in range(1)] for _ in range(2)]
    first, second = FaultInjector(config, 7), FaultInjector(config, 7)
    a = [first.plan(m) for m in ["AddOrder", "Balance"] * 200]
    b = [second.plan(m) for m in ["AddOrder", "Balance"] * 200]
    assert a == b and plans[0] == plans[1]
    assert any(p.after for p in a[::2])
    assert not any(p.after for p in a[1::2])  # reads are never "applied then failed"
    other = FaultInjector(config, 8)
    assert [other.plan(m) for m in ["AddOrder", "Balance"] * 200] != a
