import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervisor.restart_policy import (
    EXIT_UNFIXABLE,
    ExitKind,
    HeartbeatMonitor,
    RestartPolicy,
    RestartType,
    classify_exit,
)

P, TR, TE = RestartType.PERMANENT, RestartType.TRANSIENT, RestartType.TEMPORARY
N, S, A, U = ExitKind.NORMAL, ExitKind.SHUTDOWN, ExitKind.ABNORMAL, ExitKind.UNFIXABLE


def policy(restart_type=P, **kwargs):
    kwargs.setdefault("jitter", 0.0)
    return RestartPolicy(restart_type, **kwargs)


def crash(p, times, start=0.0, step=1.0):
    return [p.on_exit(A, start + i * step) for i in range(times)]


@pytest.mark.parametrize(
    ("restart_type", "kind", "action"),
    [
        (P, N, "restart"), (P, S, "stop"), (P, A, "restart"), (P, U, "credentials_invalid"),
        (TR, N, "stop"), (TR, S, "stop"), (TR, A, "restart"), (TR, U, "credentials_invalid"),
        (TE, N, "stop"), (TE, S, "stop"), (TE, A, "stop"), (TE, U, "credentials_invalid"),
    ],
)
def test_restart_type_and_exit_kind_decide_the_action(restart_type, kind, action):
    assert policy(restart_type).on_exit(kind, 0.0).action == action


def test_temporary_actor_crash_is_stopped_with_a_reason():
    decision = policy(TE).on_exit(A, 0.0)
    assert decision.action == "stop"
    assert "temporary" in decision.reason and "abnormally" in decision.reason


def test_restart_reason_names_the_exit_and_the_budget():
    decision = policy().on_exit(A, 0.0, detail="exited with code 1")
    assert decision.reason == "exited with code 1; restart 1 of 5 within 60s"
    assert decision.restarts_in_window == 1


def test_exactly_intensity_restarts_within_period_are_allowed_one_more_fails():
    p = policy(intensity=5, period_s=60.0)
    decisions = crash(p, 6)
    assert [d.action for d in decisions] == ["restart"] * 5 + ["fail"]
    assert [d.restarts_in_window for d in decisions] == [1, 2, 3, 4, 5, 6]
    assert "6 restarts within 60s exceeds intensity 5" in decisions[-1].reason


def test_restarts_older_than_the_period_are_forgotten():
    p = policy(intensity=5, period_s=60.0)
    crash(p, 5)  # at t = 0..4
    decision = p.on_exit(A, 61.0)  # t=0 is outside [1, 61]; t=1..4 still count
    assert decision.action == "restart"
    assert decision.restarts_in_window == 5


def test_a_restart_exactly_one_period_ago_still_counts():
    p = policy(intensity=1, period_s=10.0)
    assert p.on_exit(A, 0.0).action == "restart"
    assert p.on_exit(A, 10.0).action == "fail"


def test_slow_crash_loop_never_exhausts_the_window():
    p = policy(intensity=1, period_s=10.0)
    assert all(d.action == "restart" for d in crash(p, 50, step=10.5))


def test_intensity_zero_fails_on_first_abnormal_exit():
    decision = policy(intensity=0).on_exit(A, 0.0)
    assert decision.action == "fail"
    assert "1 restart within 60s exceeds intensity 0" in decision.reason


def test_intensity_zero_still_stops_cleanly_on_a_normal_transient_exit():
    assert policy(TR, intensity=0).on_exit(N, 0.0).action == "stop"


def test_backoff_doubles_from_initial_and_caps_at_max():
    p = policy(intensity=100, backoff_initial_s=0.1, backoff_max_s=1.0)
    delays = [d.delay_s for d in crash(p, 7)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])


def test_stop_and_terminal_decisions_have_no_delay():
    assert policy(TR).on_exit(N, 0.0).delay_s == 0.0
    assert policy(intensity=0).on_exit(A, 0.0).delay_s == 0.0


def test_same_seed_gives_same_jittered_delays():
    a = RestartPolicy(P, intensity=100, rng=random.Random(7))
    b = RestartPolicy(P, intensity=100, rng=random.Random(7))
    assert [d.delay_s for d in crash(a, 10)] == [d.delay_s for d in crash(b, 10)]


@given(
    seed=st.integers(0, 2**32),
    initial=st.floats(0.0, 5.0),
    extra=st.floats(0.0, 60.0),
    multiplier=st.floats(1.0, 10.0),
    jitter=st.floats(0.0, 1.0),
    n=st.integers(1, 60),
)
def test_jittered_delays_stay_within_zero_and_max_plus_jitter(
    seed, initial, extra, multiplier, jitter, n
):
    maximum = initial + extra
    p = RestartPolicy(P, intensity=1000, backoff_initial_s=initial, backoff_max_s=maximum,
                      backoff_multiplier=multiplier, jitter=jitter, rng=random.Random(seed))
    for d in crash(p, n):
        assert 0.0 <= d.delay_s <= maximum * (1 + jitter) + 1e-9


@given(
    initial=st.floats(0.0, 5.0),
    extra=st.floats(0.0, 60.0),
    multiplier=st.floats(1.0, 10.0),
    n=st.integers(1, 60),
)
def test_unjittered_delays_never_decrease_until_stable(initial, extra, multiplier, n):
    p = policy(intensity=1000, backoff_initial_s=initial, backoff_max_s=initial + extra,
               backoff_multiplier=multiplier)
    delays = [d.delay_s for d in crash(p, n)]
    assert delays[0] == initial
    assert delays == sorted(delays)


def test_huge_multiplier_over_a_long_loop_does_not_overflow():
    p = policy(intensity=1, period_s=1.0, backoff_multiplier=1e6, backoff_max_s=30.0)
    assert crash(p, 500, step=2.0)[-1].delay_s == 30.0


def test_on_stable_resets_the_backoff_exponent():
    p = policy(intensity=100)
    crash(p, 4)
    p.on_stable(10.0)
    assert p.on_exit(A, 11.0).delay_s == pytest.approx(0.1)


def test_on_stable_keeps_the_intensity_window():
    p = policy(intensity=2, period_s=60.0)
    crash(p, 2)
    p.on_stable(5.0)
    decision = p.on_exit(A, 6.0)
    assert decision.action == "fail"
    assert decision.restarts_in_window == 3


def test_fail_sticks_until_reset():
    p = policy(intensity=1)
    failed = crash(p, 2)[-1]
    assert failed.action == "fail"
    for kind in ExitKind:
        assert p.on_exit(kind, 1000.0) == failed


def test_credentials_invalid_sticks_until_reset():
    p = policy()
    first = p.on_exit(U, 0.0)
    assert first.action == "credentials_invalid"
    assert p.on_exit(A, 1.0) == first
    assert p.on_exit(S, 2.0) == first


def test_reset_after_fail_gives_a_clean_slate():
    p = policy(intensity=2)
    crash(p, 3)
    p.reset()
    decision = p.on_exit(A, 3.0)
    assert decision.action == "restart"
    assert decision.restarts_in_window == 1
    assert decision.delay_s == pytest.approx(0.1)


def test_restarts_total_counts_only_restarts_and_survives_reset():
    p = policy(intensity=2)
    crash(p, 3)  # restart, restart, fail
    p.on_exit(A, 4.0)  # terminal, not counted
    assert p.restarts_total == 2
    p.reset()
    p.on_exit(N, 5.0)
    assert p.restarts_total == 3


def test_shared_nothing_between_policies():
    looping, calm = policy(intensity=2), policy(intensity=2)
    crash(looping, 3)
    assert calm.on_exit(A, 2.0).action == "restart"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"intensity": -1}, {"period_s": 0.0}, {"backoff_initial_s": -0.1},
        {"backoff_initial_s": 2.0, "backoff_max_s": 1.0}, {"backoff_multiplier": 0.5},
        {"jitter": 1.5}, {"jitter": -0.1},
    ],
)
def test_invalid_settings_are_rejected_naming_the_setting(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RestartPolicy(P, **kwargs)


@pytest.mark.parametrize(
    ("exitcode", "requested_stop", "unfixable", "kind"),
    [
        (0, False, False, N), (0, True, False, S),
        (1, False, False, A), (1, True, False, S),
        (-9, False, False, A), (-9, True, False, S),
        (-15, False, False, A), (-15, True, False, S),
        (EXIT_UNFIXABLE, False, False, U), (EXIT_UNFIXABLE, True, False, U),
        (1, False, True, U), (0, False, True, U), (-9, True, True, U),
    ],
)
def test_classify_exit(exitcode, requested_stop, unfixable, kind):
    assert classify_exit(exitcode, requested_stop=requested_stop, unfixable=unfixable) is kind


def test_exit_code_78_is_ex_config():
    assert EXIT_UNFIXABLE == 78


def test_classify_exit_refuses_a_running_process():
    with pytest.raises(ValueError, match="still running"):
        classify_exit(None, requested_stop=False, unfixable=False)


def test_heartbeat_hung_only_after_more_than_interval_times_misses():
    hb = HeartbeatMonitor(interval_s=1.0, misses=3)
    hb.start(100.0)
    assert hb.age(102.5) == 2.5
    assert not hb.is_hung(103.0)
    assert hb.is_hung(103.01)


def test_heartbeat_beat_resets_the_age():
    hb = HeartbeatMonitor(interval_s=1.0, misses=3)
    hb.start(0.0)
    hb.beat(2.9)
    assert hb.age(4.0) == pytest.approx(1.1)
    assert not hb.is_hung(5.8)
    assert hb.is_hung(6.0)


def test_heartbeat_restart_gives_a_fresh_allowance():
    hb = HeartbeatMonitor(interval_s=1.0, misses=2)
    hb.start(0.0)
    assert hb.is_hung(10.0)
    hb.start(10.0)
    assert not hb.is_hung(11.0)


def test_heartbeat_age_never_negative():
    hb = HeartbeatMonitor(interval_s=1.0, misses=1)
    hb.beat(5.0)
    assert hb.age(4.0) == 0.0


def test_heartbeat_age_before_start_is_an_error():
    with pytest.raises(RuntimeError):
        HeartbeatMonitor(interval_s=1.0, misses=1).age(0.0)


@pytest.mark.parametrize(("interval_s", "misses"), [(0.0, 3), (1.0, 0)])
def test_heartbeat_rejects_invalid_settings(interval_s, misses):
    with pytest.raises(ValueError):
        HeartbeatMonitor(interval_s, misses)
