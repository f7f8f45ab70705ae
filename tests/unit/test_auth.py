import base64

import krakenex
from hypothesis import given
from hypothesis import strategies as st

from simulator.auth import LockoutTracker, NonceGuard, api_sign, signature_matches

# Kraken's published test vector (docs: spot REST authentication).
SECRET = (
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
)
NONCE = "1616492376594"
BODY = b"nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
EXPECTED = (
    "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
)


def test_signature_matches_krakens_published_vector():
    raw = api_sign("/0/private/AddOrder", NONCE, BODY, base64.b64decode(SECRET))
    assert base64.b64encode(raw).decode() == EXPECTED


def test_signature_agrees_with_krakenex():
    api = krakenex.API("key", SECRET)
    data = {"nonce": NONCE, "ordertype": "limit", "pair": "XBTUSD", "price": "37500",
            "type": "buy", "volume": "1.25"}
    assert api._sign(data, "/0/private/AddOrder") == EXPECTED


def test_signature_rejects_other_path_body_or_garbage():
    secret = base64.b64decode(SECRET)
    assert signature_matches(EXPECTED, "/0/private/AddOrder", NONCE, BODY, secret)
    assert not signature_matches(EXPECTED, "/0/private/Balance", NONCE, BODY, secret)
    assert not signature_matches(EXPECTED, "/0/private/AddOrder", NONCE, BODY + b"0", secret)
    assert not signature_matches("not base64!", "/0/private/AddOrder", NONCE, BODY, secret)


def test_nonce_must_strictly_increase_without_a_window():
    guard = NonceGuard()
    assert guard.accept(10)
    assert not guard.accept(10)
    assert not guard.accept(9)
    assert guard.accept(11)


def test_nonce_window_tolerates_reordering_but_not_replays():
    guard = NonceGuard(window=100)
    assert guard.accept(1000)
    assert guard.accept(950)  # late arrival inside the window
    assert not guard.accept(950)  # exact replay
    assert not guard.accept(900)  # at the window's edge
    assert guard.last == 1000


@given(st.lists(st.integers(min_value=0, max_value=10**6), max_size=200))
def test_rejected_nonces_never_advance_and_accepted_ones_never_repeat(nonces):
    guard = NonceGuard()
    accepted = []
    for n in nonces:
        before = guard.last
        if guard.accept(n):
            accepted.append(n)
            assert n > before
        else:
            assert guard.last == before
    assert accepted == sorted(set(accepted))


def test_lockout_after_threshold_failures_then_expiry():
    tracker = LockoutTracker(threshold=3, window_s=10, duration_s=60)
    assert not tracker.record_failure("k", 0)
    assert not tracker.record_failure("k", 1)
    assert tracker.record_failure("k", 2)
    assert tracker.locked("k", 30)
    assert not tracker.locked("other", 30)
    assert not tracker.locked("k", 62.1)


def test_failures_outside_the_window_or_before_a_success_do_not_count():
    tracker = LockoutTracker(threshold=3, window_s=10, duration_s=60)
    tracker.record_failure("k", 0)
    tracker.record_failure("k", 1)
    assert not tracker.record_failure("k", 20)  # the first two aged out
    tracker.record_success("k")
    tracker.record_failure("k", 21)
    assert not tracker.record_failure("k", 22)
