"""Strategies on fixed candle series: warm-up, crossings, stops, registry, indicators.

The hand-computed series uses fast=3 (smoothing 1/2), slow=4 (smoothing 2/5) and
atr_period=2 so every EMA and ATR value is an exact decimal:
closes 10 10 10 10 10 13, each candle high = close + 1, low = close - 1.
  ema3: -, -, 10, 10, 10, 11.5        ema4: -, -, -, 10, 10, 11.2
  true range: 2 2 2 2 2 4 (14 - previous close 10)   atr2: -, 2, 2, 2, 2, 3
  warmup = max(4 + 1, 2) = 5; at the last candle ema3 crosses above ema4:
  stop = 13 - 2 * 3 = 7, take = 13 + 3 * 3 = 22.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.strategies import (
    REGISTRY,
    Candle,
    HoldStrategy,
    Position,
    SignalCounter,
    Target,
    TrendStrategy,
    make_strategy,
)
from actors.strategies.indicators import ema, true_ranges, wilder_atr

D = Decimal
BTC = "XXBTZUSD"


def bar(i: int, close: float | str, high: float | str | None = None,
        low: float | str | None = None) -> Candle:
    c = D(str(close))
    return Candle(time=60 * i, open=c, high=D(str(high)) if high is not None else c + 1,
                  low=D(str(low)) if low is not None else c - 1, close=c, volume=D(1))


def series(*closes: float, start: int = 0) -> list[Candle]:
    return [bar(start + i, c) for i, c in enumerate(closes)]


def small() -> TrendStrategy:
    return TrendStrategy(fast=3, slow=4, atr_period=2)


GOLDEN = series(10, 10, 10, 10, 10, 13)


def test_ema_is_seeded_with_the_simple_average_then_smoothed() -> None:
    assert ema([D(v) for v in (1, 2, 3, 4, 5)], 3) == [None, None, D(2), D(3), D(4)]
    assert ema([D(v) for v in (10, 10, 10, 10, 13, 8)], 4)[3:] == [D(10), D("11.2"), D("9.92")]
    assert ema([D(1)], 2) == [None]


def test_true_range_reaches_to_the_previous_close_and_atr_is_wilders() -> None:
    candles = [bar(0, 10, 11, 9), bar(1, 11, 12, "10.5"), bar(2, 9, 10, 8), bar(3, "9.2", "9.5", 9)]
    assert true_ranges(candles) == [D(2), D(2), D(3), D("0.5")]
    assert wilder_atr(candles, 2) == [None, D(2), D("2.5"), D("1.5")]
    atr3 = wilder_atr(candles, 3)[3]
    assert atr3 is not None and abs(atr3 - D(31) / 18) < D("1e-25")


def test_warmup_gives_no_opinion_for_exactly_warmup_minus_one_candles() -> None:
    for strategy, candles in ((small(), GOLDEN), (TrendStrategy(), series(*range(100, 140)))):
        for n in range(strategy.warmup):
            target = strategy.decide(BTC, candles[:n], None)
            assert target.fraction is None and "warming up" in target.reason
        assert strategy.decide(BTC, candles[: strategy.warmup], None).fraction is not None
    assert small().warmup == 5 and TrendStrategy().warmup == 27


def test_golden_cross_goes_long_with_stops_from_atr() -> None:
    assert small().decide(BTC, GOLDEN[:5], None).fraction == 0
    target = small().decide(BTC, GOLDEN, None)
    assert target == Target(BTC, D("0.25"), stop_loss=D(7), take_profit=D(22),
                            reason=target.reason)
    assert "ema3 crossed above ema4 at 300" in target.reason


def test_long_holds_while_fast_stays_above_then_death_cross_goes_flat() -> None:
    # ema3 11.75 > ema4 11.52 at close 12; then 10.875 <= 10.912 at close 10
    held = small().decide(BTC, [*GOLDEN, bar(6, 12)], None)
    assert held.fraction == D("0.25") and (held.stop_loss, held.take_profit) == (D(7), D(22))
    flat = small().decide(BTC, [*GOLDEN, bar(6, 12), bar(7, 10)], None)
    assert flat.fraction == 0 and "ema3 crossed below ema4 at 420" in flat.reason


def test_stop_hit_goes_flat_and_does_not_reenter_until_a_fresh_cross() -> None:
    wick = [*GOLDEN, bar(6, 13, 14, 6)]  # low 6 <= stop 7 while ema3 12.25 > ema4 11.92
    stopped = small().decide(BTC, wick, None)
    assert stopped.fraction == 0 and "stop-loss 7" in stopped.reason
    still_up = [*wick, bar(7, 15), bar(8, 16)]
    assert small().decide(BTC, still_up, None).fraction == 0
    crash_and_recover = [*still_up, *series(5, 5, 5, start=9), *series(9, 12, 14, start=12)]
    assert small().decide(BTC, crash_and_recover[:-3], None).fraction == 0
    again = small().decide(BTC, crash_and_recover, None)
    assert again.is_long and "crossed above" in again.reason


def test_take_profit_hit_goes_flat_and_does_not_reenter_on_the_same_trend() -> None:
    taken = [*GOLDEN, bar(6, 20, 23, 19)]  # high 23 >= take 22
    target = small().decide(BTC, taken, None)
    assert target.fraction == 0 and "take-profit 22" in target.reason
    assert small().decide(BTC, [*taken, bar(7, 24), bar(8, 26)], None).fraction == 0


def test_a_candle_spanning_stop_and_take_counts_as_the_stop() -> None:
    target = small().decide(BTC, [*GOLDEN, bar(6, 13, 23, 6)], None)
    assert target.fraction == 0 and "stop-loss" in target.reason


def test_a_cross_with_zero_atr_does_not_enter() -> None:
    # zero-range candles; with atr_period=1 the ATR is the last true range: 2 - 2 = 0
    candles = [Candle(60 * i, D(c), D(c), D(c), D(c), D(1))
               for i, c in enumerate((1, 1, 1, 2, 4, 1, 2, 2))]
    target = TrendStrategy(fast=2, slow=3, atr_period=1).decide(BTC, candles, None)
    assert target.fraction == 0 and "zero ATR" in target.reason


def test_default_trend_on_fixed_shapes() -> None:
    trend = TrendStrategy()
    flat = series(*[100] * 40)
    falling = series(*range(140, 100, -1))
    rising = series(*range(100, 140))  # already up when history starts: no cross seen
    for candles in (flat, falling, rising):
        assert trend.decide(BTC, candles, None).fraction == 0
    v_shape = series(*range(130, 100, -1), *range(101, 131))
    entry = next(i for i in range(trend.warmup, len(v_shape))
                 if trend.decide(BTC, v_shape[: i + 1], None).is_long)
    assert 30 < entry < 50  # after the trough (index 29), with the lag of the EMAs
    atr = wilder_atr(v_shape, 14)[entry]
    assert atr is not None
    target = trend.decide(BTC, v_shape[: entry + 2], None)
    assert target.fraction == D("0.25")
    assert target.stop_loss == v_shape[entry].close - 2 * atr
    assert target.take_profit == v_shape[entry].close + 3 * atr
    final = trend.decide(BTC, v_shape, None)  # the steady climb reaches the take-profit
    assert final.fraction == 0 and f"take-profit {target.take_profit}" in final.reason


def test_the_target_depends_on_candles_only() -> None:
    candles = [*GOLDEN, bar(6, 12)]
    first = small().decide(BTC, candles, None)
    assert small().decide(BTC, tuple(candles), Position(BTC, D("0.5"), D(12))) == first
    assert small().decide(BTC, candles, Position(BTC, D(0))) == first


def test_hold_never_trades() -> None:
    hold = make_strategy("hold")
    assert isinstance(hold, HoldStrategy) and hold.warmup == 0
    for candles in ([], GOLDEN, series(*range(130, 100, -1), *range(101, 131))):
        target = hold.decide(BTC, candles, Position(BTC, D(1), D(100)))
        assert target.fraction is None and target.stop_loss is None


def test_make_strategy_builds_by_name_and_names_every_problem() -> None:
    assert set(REGISTRY) == {"hold", "trend"}
    built = make_strategy("trend", fast=5, slow=20, fraction=0.1, stop_atr="1.5")
    assert isinstance(built, TrendStrategy)
    assert (built.fast, built.fraction, built.stop_atr) == (5, D("0.1"), D("1.5"))
    with pytest.raises(ValueError, match=r"'momentum'.*hold, trend"):
        make_strategy("momentum")
    with pytest.raises(ValueError, match=r"no parameter 'fsat'.*fast, slow"):
        make_strategy("trend", fsat=5)
    with pytest.raises(ValueError, match="no parameter 'fast'"):
        make_strategy("hold", fast=5)
    bad = {"fast": 0, "slow": "26", "atr_period": True, "stop_atr": -1, "take_atr": "x",
           "fraction": D("1.5")}
    for name, value in bad.items():
        with pytest.raises(ValueError, match=f"'{name}'"):
            make_strategy("trend", **{name: value})
    with pytest.raises(ValueError, match=r"'fast'.*below 'slow'"):
        make_strategy("trend", fast=26, slow=12)


def test_candles_parse_from_kraken_rows_and_must_be_ordered() -> None:
    row = [1688671200, "30306.1", "30306.2", "30305.7", "30305.7", "30306.1", "3.39243896", 23]
    candle = Candle.from_kraken(row)
    assert candle == Candle(1688671200, D("30306.1"), D("30306.2"), D("30305.7"),
                            D("30305.7"), D("3.39243896"))
    for broken in (row[:5], [1.5, *row[1:]], [row[0], 30306.1, *row[2:]],
                   [row[0], "NaN", *row[2:]], [row[0], "1", "0.5", *row[3:]]):
        with pytest.raises(ValueError):
            Candle.from_kraken(broken)
    with pytest.raises(ValueError, match="out of order"):
        small().decide(BTC, [*GOLDEN[3:], *GOLDEN[:3]], None)


def test_target_refuses_inconsistent_values() -> None:
    for kwargs in ({"fraction": D("1.5")}, {"fraction": D(-1)},
                   {"fraction": None, "stop_loss": D(1)},
                   {"fraction": D("0.5"), "stop_loss": D(5), "take_profit": D(5)},
                   {"fraction": D("0.5"), "stop_loss": D(0)}):
        with pytest.raises(ValueError):
            Target(BTC, **kwargs)
    with pytest.raises(ValueError):
        Position(BTC, D(-1))


def test_signal_counter_counts_changes_of_target() -> None:
    counter = SignalCounter()
    kinds = [counter.record(Target(BTC, f)) for f in
             (None, D(0), D("0.25"), D("0.25"), None, D("0.5"), D(0), D(0))]
    assert kinds == [None, None, "enter", None, None, "resize", "exit", None]
    assert counter.counts == {(BTC, "enter"): 1, (BTC, "resize"): 1, (BTC, "exit"): 1}


@st.composite
def candle_series(draw: st.DrawFn) -> list[Candle]:
    cents = st.integers(min_value=0, max_value=500)
    close = draw(st.integers(min_value=1_000, max_value=100_000))
    out = []
    for i in range(draw(st.integers(min_value=0, max_value=45))):
        close = max(1, close + draw(st.integers(min_value=-800, max_value=800)))
        high, low = close + draw(cents), max(0, close - draw(cents))
        out.append(Candle(i * 60, D(close) / 100, D(high) / 100, D(low) / 100, D(close) / 100,
                          D(1)))
    return out


@settings(max_examples=200, deadline=None)
@given(candles=candle_series(), fast=st.integers(1, 5), extra=st.integers(1, 6),
       atr_period=st.integers(1, 8), stop_atr=st.sampled_from(["0.5", "2", "40"]),
       take_atr=st.sampled_from(["0.1", "3"]), fraction=st.sampled_from(["0.1", "1"]))
def test_targets_stay_within_the_configured_fraction_and_bracket_the_close(
        candles: list[Candle], fast: int, extra: int, atr_period: int, stop_atr: str,
        take_atr: str, fraction: str) -> None:
    trend = TrendStrategy(fast=fast, slow=fast + extra, atr_period=atr_period,
                          stop_atr=stop_atr, take_atr=take_atr, fraction=fraction)
    target = trend.decide(BTC, candles, None)
    assert (target.fraction is None) == (len(candles) < trend.warmup)
    assert target.fraction is None or target.fraction in (D(0), D(fraction))
    if target.is_long:
        close = candles[-1].close
        assert target.take_profit is not None and close < target.take_profit
        assert target.stop_loss is None or 0 < target.stop_loss < close
    assert trend.decide(BTC, list(candles), Position(BTC, D(1), D(1))) == target
