import json
import random

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from actors.broker import BrokerError, CredentialsInvalid
from actors.kraken import errors as E

# Expected flags by kraken-api.md §4.2 action: (retryable, outcome_unknown, unfixable, nonce_error)
FLAGS = {
    "N": (False, False, False, False),  # do not retry without a fix
    "A": (True, False, False, False),  # retry after waiting; the call was not applied
    "R": (True, True, False, False),  # reads retry; writes reconcile first
    "X": (False, False, True, False),  # restart cannot help
    "1": (False, False, False, True),  # once, with a fresh nonce
}

SECTION_4_2 = [
    ("EAPI:Invalid key", E.InvalidKey, "X"),
    ("EAPI:Invalid signature", E.InvalidSignature, "X"),
    ("EAPI:Invalid nonce", E.InvalidNonce, "1"),
    ("EAPI:Bad request", E.BadRequest, "N"),
    ("EAPI:Rate limit exceeded", E.RateLimited, "A"),
    ("EAPI:Invalid arguments:expire_time above max", E.InvalidArguments, "N"),
    ("EAPI:Invalid arguments:price below min", E.InvalidArguments, "N"),
    ("EGeneral:Permission denied", E.PermissionDenied, "X"),
    ("EGeneral:Invalid arguments", E.InvalidArguments, "N"),
    ("EGeneral:Invalid arguments:ordertype", E.InvalidArguments, "N"),
    ("EGeneral:Invalid arguments:Index unavailable", E.InvalidArguments, "N"),
    ("EGeneral:Invalid arguments:volume minimum not met", E.OrderMinimumNotMet, "N"),
    ("EGeneral:Temporary lockout", E.TemporaryLockout, "N"),
    ("EGeneral:Too many requests", E.TooManyRequests, "A"),
    ("EGeneral:Internal error", E.InternalError, "R"),
    ("EGeneral:Internal error:12", E.InternalError, "R"),
    ("EGeneral:Unknown method", E.UnknownMethod, "N"),
    ("EService:Unavailable", E.ServiceUnavailable, "R"),
    ("EService:Busy", E.ServiceBusy, "R"),
    ("EService:Throttled: 1700000000", E.Throttled, "A"),
    ("EService:Deadline elapsed", E.DeadlineElapsed, "R"),
    ("EService:Market in cancel_only mode", E.MarketClosed, "N"),
    ("EService:Market in post_only mode", E.MarketClosed, "N"),
    ("EDatabase:Internal error", E.InternalError, "R"),
    ("EOrder:Insufficient funds", E.InsufficientFunds, "N"),
    ("EOrder:Order minimum not met", E.OrderMinimumNotMet, "N"),
    ("EOrder:Cost minimum not met", E.CostMinimumNotMet, "N"),
    ("EOrder:Tick size check failed", E.TickSizeError, "N"),
    ("EOrder:Invalid price", E.InvalidPrice, "N"),
    ("EOrder:Invalid price:XXBTZEUR price can only be specified up to 1 decimals.",
     E.InvalidPrice, "N"),
    ("EOrder:Invalid order", E.InvalidOrder, "N"),
    ("EOrder:Rate limit exceeded", E.TradingRateLimited, "A"),
    ("EOrder:Domain rate limit exceeded", E.TradingRateLimited, "A"),
    ("EOrder:Orders limit exceeded", E.OrdersLimitExceeded, "N"),
    ("EOrder:Scheduled orders limit exceeded", E.OrdersLimitExceeded, "N"),
    ("EOrder:Positions limit exceeded", E.MarginRejected, "N"),
    ("EOrder:Unknown order", E.UnknownOrder, "N"),
    ("EOrder:Unknown position", E.MarginRejected, "N"),
    ("EOrder:Cancel pending", E.CancelPending, "R"),
    ("EOrder:Cannot open position", E.MarginRejected, "N"),
    ("EOrder:Cannot open opposing position", E.MarginRejected, "N"),
    ("EOrder:Margin allowance exceeded", E.MarginRejected, "N"),
    ("EOrder:Margin level too low", E.MarginRejected, "N"),
    ("EOrder:Margin position size exceeded", E.MarginRejected, "N"),
    ("EOrder:Insufficient margin", E.MarginRejected, "N"),
    ("EOrder:Reduce only:No position exists", E.MarginRejected, "N"),
    ("EOrder:Reduce only:Position is closed", E.MarginRejected, "N"),
    ("EOrder:Reduce only:Non-PC", E.MarginRejected, "N"),
    ("EQuery:Unknown asset pair", E.UnknownAssetPair, "N"),
    ("EQuery:Invalid asset pair", E.UnknownAssetPair, "N"),
    ("EQuery:Unknown asset", E.UnknownAsset, "N"),
    ("ETrade:Invalid request", E.BadRequest, "N"),
    ("ETrade:User Locked", E.AccountLocked, "X"),
    ("EAuth:Account temporary disabled", E.AccountLocked, "X"),
    ("EAuth:Account unconfirmed", E.AccountLocked, "X"),
    ("EAuth:Rate limit exceeded", E.TooManyRequests, "A"),
    ("EAuth:Too many requests", E.TooManyRequests, "A"),
    ("EAuth:Failed", E.InvalidKey, "X"),
    ("EAccount:Invalid permissions", E.PermissionDenied, "X"),
    ("ESession:Invalid session", E.InvalidKey, "X"),
    ("EFunding:Unknown withdraw key", E.FundingRejected, "N"),
    ("EFunding:Invalid amount", E.FundingRejected, "N"),
    ("EFunding:Max fee exceeded", E.FundingRejected, "N"),
    ("EFunding:Too many addresses", E.FundingRejected, "N"),
    ("EFunding:Unknown asset", E.FundingRejected, "N"),
    ("EEarnings:Invalid arguments", E.FundingRejected, "N"),
    ("EBM:limit exceeded:CAL", E.AccountRestricted, "N"),
    ("EOrder:Trading agreement required", E.AccountRestricted, "N"),
    ("EGeneral:Feature disabled", E.AccountRestricted, "N"),
    # the simulator's own strings
    ("EOrder:Duplicate order", E.DuplicateOrder, "N"),
    ("EOrder:Post only order", E.PostOnlyRejected, "N"),
]


def raised(method, errors, **envelope):
    with pytest.raises(E.KrakenError) as info:
        E.classify_response(method, {"error": errors, **envelope})
    return info.value


@pytest.mark.parametrize(("error", "cls", "action"), SECTION_4_2)
def test_every_documented_string_maps_to_its_class_and_flags(error, cls, action):
    exc = raised("AddOrder", [error])
    assert type(exc) is cls
    assert (exc.retryable, exc.outcome_unknown, exc.unfixable, exc.nonce_error) == FLAGS[action]
    assert isinstance(exc, BrokerError)
    assert isinstance(exc, CredentialsInvalid) == exc.unfixable
    assert exc.errors == (error,)
    assert exc.method == "AddOrder"
    assert str(exc) == f"AddOrder: {error}"


def test_every_table_entry_is_exercised():
    tested = {E.error_class(error) for error, _, _ in SECTION_4_2}
    assert set(E.ERROR_TABLE.values()) <= tested


def test_parameterised_strings_carry_their_parameters():
    assert raised("AddOrder", ["EGeneral:Invalid arguments:volume"]).field == "volume"
    assert raised("AddOrder", ["EGeneral:Invalid arguments"]).field is None
    assert raised("AddOrder", ["EAPI:Invalid arguments:expire_time out of range"]
                  ).field == "expire_time out of range"
    price = raised("AddOrder", [
        "EOrder:Invalid price:ETH/GBP price can only be specified up to 2 decimals."])
    assert price.max_decimals == 2
    assert raised("AddOrder", ["EOrder:Invalid price"]).max_decimals is None
    assert raised("Balance", ["EService:Throttled: 1700000000"]).retry_after == 1700000000.0
    assert raised("Balance", ["EService: Throttled: 1700000001"]).retry_after == 1700000001.0
    assert raised("Balance", ["EService:Throttled: soon"]).retry_after is None


def test_lockout_carries_the_configured_period():
    assert raised("Balance", ["EGeneral:Temporary lockout"]).lockout_s == 900.0
    with pytest.raises(E.TemporaryLockout) as info:
        E.classify_response("Balance", {"error": ["EGeneral:Temporary lockout"]}, lockout_s=60)
    assert info.value.lockout_s == 60


def test_warnings_are_not_errors():
    E.classify_response("Balance", {"error": ["WDatabase:No change"], "result": {}})
    E.classify_response("Balance", {"error": [], "result": {"ZUSD": "1.0"}})
    exc = raised("AddOrder", ["WDatabase:No change", "EOrder:Insufficient funds"])
    assert type(exc) is E.InsufficientFunds
    assert exc.errors == ("EOrder:Insufficient funds",)


def test_an_unknown_string_keeps_its_raw_text():
    exc = raised("AddOrder", ["EOrder:Something new: 42"])
    assert type(exc) is E.UnknownKrakenError
    assert exc.errors == ("EOrder:Something new: 42",)
    assert "EOrder:Something new: 42" in str(exc)
    assert not exc.retryable and exc.outcome_unknown and not exc.unfixable


def test_the_most_severe_of_several_errors_picks_the_class():
    exc = raised("AddOrder", ["EGeneral:Invalid arguments:price", "EAPI:Invalid key"])
    assert type(exc) is E.InvalidKey
    assert exc.errors == ("EGeneral:Invalid arguments:price", "EAPI:Invalid key")
    assert type(raised("Balance", ["EService:Busy", "EOrder:Insufficient funds"])) is E.ServiceBusy


@pytest.mark.parametrize("response", [
    {"error": "EAPI:Invalid key"}, {"error": [None]}, {"error": []}, {},
])
def test_a_broken_envelope_is_malformed(response):
    with pytest.raises(E.MalformedResponse):
        E.classify_response("Balance", response)


def test_the_message_holds_only_method_and_error_strings():
    canary = "CANARY-c2VjcmV0"
    response = {"error": ["EAPI:Invalid signature"], "result": {"echo": canary},
                "nonce": canary, "headers": {"API-Sign": canary}}
    with pytest.raises(E.InvalidSignature) as info:
        E.classify_response("Balance", response)
    assert str(info.value) == "Balance: EAPI:Invalid signature"
    assert canary not in repr(info.value)


def http_error(status, body, url):
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.url = url
    response.headers["Content-Type"] = "text/html"
    try:
        response.raise_for_status()
    except requests.HTTPError as exc:
        return exc
    raise AssertionError("raise_for_status did not raise")


CANARY_URL = "https://api.kraken.com/0/private/AddOrder?token=CANARY"


def transport_failures():
    try:
        json.loads("<html>CANARY</html>")
    except json.JSONDecodeError as exc:
        bad_json = exc
    return [
        (requests.ConnectionError(f"Connection refused for url: {CANARY_URL}"), E.TransportError),
        (requests.ConnectionError("Connection reset by peer"), E.TransportError),
        (requests.exceptions.ChunkedEncodingError("Connection broken"), E.TransportError),
        (requests.Timeout(f"Read timed out. {CANARY_URL}"), E.TransportError),
        (requests.ConnectTimeout("CANARY"), E.TransportError),
        (ConnectionResetError(104, "CANARY"), E.TransportError),
        (http_error(520, b"<html><body>CANARY Web server is returning an unknown error</body>"
                    b"</html>", CANARY_URL), E.HTTPStatusError),
        (http_error(502, b"<html>CANARY</html>", CANARY_URL), E.HTTPStatusError),
        (http_error(404, b'{"error":["EGeneral:Unknown method"]}', CANARY_URL), E.UnknownMethod),
        (requests.JSONDecodeError("CANARY Expecting value", "<html>CANARY</html>", 0),
         E.MalformedResponse),
        (bad_json, E.MalformedResponse),
        (ValueError("CANARY"), E.MalformedResponse),
        (RuntimeError("CANARY"), E.UnknownKrakenError),
    ]


@pytest.mark.parametrize(("failure", "cls"), transport_failures())
def test_transport_failures_map_to_types_without_urls_or_bodies(failure, cls):
    exc = E.from_transport("AddOrder", failure)
    assert type(exc) is cls
    assert exc.method == "AddOrder"
    assert str(exc).startswith("AddOrder: ")
    assert "CANARY" not in str(exc) and "CANARY" not in repr(exc)
    assert "://" not in str(exc)


def test_cloudflare_status_is_kept_and_unknown_for_writes():
    exc = E.from_transport("AddOrder", http_error(520, b"<html></html>", CANARY_URL))
    assert isinstance(exc, E.HTTPStatusError)
    assert exc.status == 520
    assert str(exc) == "AddOrder: HTTP 520"
    assert exc.retryable and exc.outcome_unknown
    timeout = E.from_transport("Balance", requests.ReadTimeout("x"))
    assert timeout.retryable and timeout.outcome_unknown


def test_a_kraken_error_passes_through_transport_mapping():
    original = E.RateLimited("Balance: EAPI:Rate limit exceeded", method="Balance")
    assert E.from_transport("Balance", original) is original


POLICY = E.RetryPolicy(random.Random(1), base_s=0.5, cap_s=30.0, max_attempts=4)

# (error, attempt, retry a read?, retry a write?)
DECISIONS = [
    (E.RateLimited("m"), 1, True, True),
    (E.TradingRateLimited("m"), 2, True, True),
    (E.Throttled("m", errors=["EService:Throttled: 1"]), 1, True, True),
    (E.ServiceUnavailable("m"), 1, True, False),
    (E.DeadlineElapsed("m"), 1, True, False),
    (E.InternalError("m"), 1, True, False),
    (E.TransportError("m"), 1, True, False),
    (E.HTTPStatusError("m", status=520), 1, True, False),
    (E.MalformedResponse("m"), 1, True, False),
    (E.InvalidNonce("m"), 1, True, True),
    (E.InvalidNonce("m"), 2, False, False),
    (E.TemporaryLockout("m"), 1, False, False),
    (E.InvalidKey("m"), 1, False, False),
    (E.PermissionDenied("m"), 1, False, False),
    (E.InsufficientFunds("m"), 1, False, False),
    (E.InvalidArguments("m"), 1, False, False),
    (E.DuplicateOrder("m"), 1, False, False),
    (E.UnknownOrder("m"), 1, False, False),
    (E.UnknownKrakenError("m"), 1, False, False),
    (E.RateLimited("m"), 4, False, False),  # out of attempts
    (E.TransportError("m"), 4, False, False),
]


@pytest.mark.parametrize(("exc", "attempt", "read", "write"), DECISIONS)
def test_retry_decisions_for_reads_and_writes(exc, attempt, read, write):
    assert POLICY.should_retry(exc, attempt, is_write=False) is read
    assert POLICY.should_retry(exc, attempt, is_write=True) is write


def test_write_methods_are_the_order_calls():
    assert {"AddOrder", "CancelOrder", "EditOrder", "AmendOrder", "CancelAll"} <= E.WRITE_METHODS
    assert "Balance" not in E.WRITE_METHODS and "QueryOrders" not in E.WRITE_METHODS


@given(seed=st.integers(), attempt=st.integers(1, 10_000),
       base=st.floats(0.01, 5.0), cap=st.floats(5.0, 120.0))
def test_backoff_stays_within_its_jittered_exponential_bounds(seed, attempt, base, cap):
    policy = E.RetryPolicy(random.Random(seed), base_s=base, cap_s=cap)
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 64))
    assert ceiling / 2 <= policy.delay(attempt) <= ceiling <= cap


@given(seed=st.integers(), attempt=st.integers(1, 60))
def test_backoff_ceiling_never_shrinks(seed, attempt):
    policy = E.RetryPolicy(random.Random(seed))
    assert policy.delay(attempt) <= 2 * policy.delay(attempt + 1)


def test_throttled_waits_at_least_until_its_timestamp():
    exc = E.Throttled("m", errors=["EService:Throttled: 1000"])
    assert POLICY.delay(1, exc, now=990.0) >= 10.0
    assert POLICY.delay(1, exc, now=2000.0) <= 0.5


@pytest.mark.parametrize("kwargs", [{"base_s": 0}, {"base_s": 5, "cap_s": 1}, {"max_attempts": 0}])
def test_policy_rejects_nonsense(kwargs):
    with pytest.raises(ValueError):
        E.RetryPolicy(random.Random(0), **kwargs)
