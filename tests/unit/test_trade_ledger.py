"""TradeLedger books every venue trade once, in `pnl.replay`'s order, however trades are
paged, repeated or saved in between; DayPnl keeps a UTC day's baseline and latched low."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.kraken.pnl import Book, replay, valuation
from actors.trading.ledger import DayPnl, LedgerCorrupt, NewTrade, TradeLedger

D = Decimal
QUOTES = {"XXBTZUSD": "ZUSD", "XETHZUSD": "ZUSD", "SOLUSD": "ZUSD", "XBTUSDT": "USDT"}
T0 = 1_700_000_000.0
Entry = dict[str, Any]


def entry(pair: str, side: str, vol: str, price: str, fee: str, time: float,
          order: str = "OA") -> Entry:
    """A TradesHistory entry as the venue sends it (amounts as strings)."""
    return {"ordertxid": order, "postxid": "TP", "pair": pair, "time": time, "type": side,
            "ordertype": "limit", "price": price, "cost": str(D(vol) * D(price)), "fee": fee,
            "vol": vol, "margin": "0.00000", "misc": ""}


def fields(books: Mapping[str, Book]) -> dict[str, tuple[str, ...]]:
    """Books as strings: equal means equal to the last decimal place."""
    return {p: (str(b.volume), str(b.cost), str(b.realised), str(b.fees))
            for p, b in books.items()}


def assert_matches_replay(ledger: TradeLedger, trades: Mapping[str, Entry]) -> None:
    assert fields(ledger.books()) == fields(replay(trades))


FIXED: dict[str, Entry] = {
    "T1": entry("XXBTZUSD", "buy", "1", "100", "0.4", T0 + 1, "O1"),
    "T2": entry("XXBTZUSD", "buy", "1", "200", "0.8", T0 + 2, "O2"),
    "T3": entry("XXBTZUSD", "sell", "0.5", "300", "0.6", T0 + 3, "O3"),
    "T4": entry("XXBTZUSD", "sell", "0.5", "100", "0.2", T0 + 4, "O4"),
    "T5": entry("XETHZUSD", "buy", "2", "10", "0.05", T0 + 5, "O5"),
    "T6": entry("XETHZUSD", "sell", "2", "12", "0.06", T0 + 6, "O6"),
    "T7": entry("XBTUSDT", "buy", "1", "90", "0.1", T0 + 7, "O7"),
    "T8": entry("XBTUSDT", "sell", "1", "95", "0.1", T0 + 8, "O8"),
    "T9": entry("XBTUSDT", "buy", "2", "100", "0.2", T0 + 9, "O9"),
}


def fixed_ledger() -> TradeLedger:
    ledger = TradeLedger()
    ledger.set_quotes(QUOTES)
    ledger.apply(FIXED)
    return ledger


def test_fixed_trades_book_average_cost_with_fees_and_partial_sells() -> None:
    ledger = fixed_ledger()
    btc, eth = ledger.books()["XXBTZUSD"], ledger.books()["XETHZUSD"]
    # bought 2 for 300 + 0.4 + 0.8 fees: 150.6 each; sold 0.5 at 300 and 0.5 at 100
    assert (btc.volume, btc.cost, btc.fees) == (D("1"), D("150.6"), D("2.0"))
    assert btc.realised == (D(150) - D("75.3") - D("0.6")) + (D(50) - D("75.3") - D("0.2"))
    assert ledger.average_price("XXBTZUSD") == D("150.6")
    assert (eth.volume, eth.realised) == (D(0), D(24) - D("20.05") - D("0.06"))
    assert ledger.average_price("XETHZUSD") == D(0)
    assert ledger.positions() == {"XXBTZUSD": D("1"), "XBTUSDT": D("2")}
    assert ledger.realised_usd() == D("48.6") + D("3.89")
    assert ledger.trade_count == 9
    assert_matches_replay(ledger, FIXED)


def test_valuation_counts_only_usd_quoted_pairs_in_usd_totals() -> None:
    marks = {"XXBTZUSD": D(160), "XETHZUSD": D(11), "XBTUSDT": D(110)}
    report = fixed_ledger().valuation(marks)
    assert D(report["realised_pnl"]) == D("52.49")
    assert D(report["unrealised_pnl"]) == D(160) - D("150.6")
    usdt = report["positions"]["pairs"]["XBTUSDT"]  # kept per pair, in USDT
    assert (usdt["quote"], usdt["realised_pnl"], usdt["unrealised_pnl"]) == (
        "USDT", str(D(95) - D("90.1") - D("0.1")), str(D(220) - D("200.2")))
    assert report["excluded"] == {"XBTUSDT": "quote USDT is not USD"}
    btc = report["positions"]["pairs"]["XXBTZUSD"]
    assert (D(btc["volume"]), D(btc["average_price"]), D(btc["value"])) == (
        D(1), D("150.6"), D(160))
    # same totals as pnl.valuation when only USD pairs traded
    usd_only = {k: v for k, v in FIXED.items() if v["pair"] != "XBTUSDT"}
    old = valuation({}, usd_only, marks)
    assert (old["realised_pnl"], old["unrealised_pnl"]) == (
        report["realised_pnl"], report["unrealised_pnl"])


def test_pairs_of_unknown_quote_or_without_mark_are_left_out_and_named() -> None:
    ledger = TradeLedger()
    ledger.apply(FIXED)
    report = ledger.valuation({"XXBTZUSD": D(160)})
    assert (report["realised_pnl"], report["unrealised_pnl"]) == ("0", "0")
    assert set(report["excluded"].values()) == {"quote unknown"}
    ledger.set_quotes(QUOTES)
    report = ledger.valuation({})
    assert report["excluded"]["XXBTZUSD"] == "no mark: unrealised P&L not counted"
    assert report["positions"]["pairs"]["XXBTZUSD"]["unrealised_pnl"] == ""
    assert report["unrealised_pnl"] == "0"
    assert "XETHZUSD" not in report["excluded"]  # flat: nothing to mark


def test_new_trades_come_back_once_oldest_first_as_decimals() -> None:
    ledger = TradeLedger()
    first = ledger.apply({k: FIXED[k] for k in ("T3", "T1", "T2")})
    assert [t.trade_id for t in first] == ["T1", "T2", "T3"]
    assert first[2] == NewTrade("T3", "O3", "XXBTZUSD", "sell", D("0.5"), D("300"),
                                D("150.0"), D("0.6"), T0 + 3)
    assert ledger.apply({k: FIXED[k] for k in ("T1", "T2", "T3")}) == []
    again = ledger.apply(FIXED)
    assert [t.trade_id for t in again] == [f"T{i}" for i in range(4, 10)]
    assert ledger.apply(FIXED) == []
    assert ledger.trade_count == 9
    assert_matches_replay(ledger, FIXED)


def test_a_late_trade_in_the_same_second_is_booked_in_its_place() -> None:
    sell = {"T2": entry("SOLUSD", "sell", "1", "120", "0.3", T0, "OB")}
    buy = {"T1": entry("SOLUSD", "buy", "1", "100", "0.2", T0, "OA")}  # books before the sell
    ledger = TradeLedger()
    ledger.apply({"T0": entry("SOLUSD", "buy", "1", "90", "0.1", T0 - 1, "O0")})
    ledger.apply(sell)
    assert [t.trade_id for t in ledger.apply(buy)] == ["T1"]
    union = {"T0": entry("SOLUSD", "buy", "1", "90", "0.1", T0 - 1, "O0"), **sell, **buy}
    assert_matches_replay(ledger, union)
    assert ledger.books()["SOLUSD"].volume == D(1)


def test_replay_order_does_not_depend_on_dict_order() -> None:
    """Two fills of one sell at the same instant, larger together than the position."""
    trades = {"A": entry("SOLUSD", "buy", "1", "100", "0", T0),
              "B": entry("SOLUSD", "sell", "0.7", "110", "0", T0 + 1, "OS"),
              "C": entry("SOLUSD", "sell", "0.7", "130", "0", T0 + 1, "OS")}
    backwards = dict(reversed(list(trades.items())))
    assert fields(replay(trades)) == fields(replay(backwards))
    assert replay(trades)["SOLUSD"].realised == D(77) - D(70) + D(39) - D(30)


def test_fetch_from_starts_a_little_before_the_newest_trade_never_below_the_floor() -> None:
    ledger = TradeLedger(replay_window_s=10, fetch_overlap_s=4)
    assert ledger.fetch_from() is None
    ledger.apply({"T1": entry("SOLUSD", "buy", "1", "100", "0", T0)})
    assert ledger.fetch_from() == T0 - 4
    ledger.apply({"T2": entry("SOLUSD", "buy", "1", "100", "0", T0 + 100)})
    assert ledger.fetch_from() == T0 + 96
    with pytest.raises(ValueError):
        TradeLedger(replay_window_s=1, fetch_overlap_s=2)


def test_an_unseen_trade_older_than_the_floor_is_ignored_and_counted() -> None:
    ledger = TradeLedger(replay_window_s=10, fetch_overlap_s=4)
    ledger.apply({"T1": entry("SOLUSD", "buy", "1", "100", "0", T0 + 100)})
    assert ledger.apply({"OLD": entry("SOLUSD", "buy", "1", "50", "0", T0 + 89)}) == []
    assert ledger.stale_ignored == 1
    assert ledger.positions() == {"SOLUSD": D(1)}


def test_a_malformed_entry_books_nothing() -> None:
    ledger = TradeLedger()
    bad = entry("SOLUSD", "short", "1", "100", "0", T0)
    with pytest.raises(ValueError, match="T9"):
        ledger.apply({"T1": FIXED["T1"], "T9": bad})
    with pytest.raises(ValueError, match="T8"):
        ledger.apply({"T8": {**FIXED["T1"], "vol": "lots"}})
    assert ledger.books() == {} and ledger.trade_count == 0
    with pytest.raises(ValueError):
        Book().apply("short", D(1), D(1), D(0))


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    ledger = TradeLedger(replay_window_s=3, fetch_overlap_s=1)
    ledger.apply(FIXED)
    path = tmp_path / "pnl.json"
    ledger.save(path)
    loaded = TradeLedger.load(path, replay_window_s=3, fetch_overlap_s=1)
    assert fields(loaded.books()) == fields(ledger.books())
    assert (loaded.trade_count, loaded.fetch_from()) == (9, ledger.fetch_from())
    assert loaded.apply(FIXED) == []  # kept ids and the floor survive the restart
    assert [p.name for p in tmp_path.iterdir()] == ["pnl.json"]
    assert D(json.loads(path.read_text())["checkpoint"]["XXBTZUSD"]["cost"]) == D("150.6")


def test_missing_file_loads_empty_ledger_and_day(tmp_path: Path) -> None:
    assert TradeLedger.load(tmp_path / "none.json").books() == {}
    assert DayPnl.load(tmp_path / "none.json").day is None


@pytest.mark.parametrize("content", [
    "{not json", "[]", '{"version": 99}', '{"version": 1}',
    '{"version": 1, "floor": null, "trade_count": 1, "checkpoint": {}, '
    '"recent": [{"trade_id": "T1", "vol": "NaN"}]}',
    '{"version": 1, "floor": null, "trade_count": 0, "checkpoint": '
    '{"SOLUSD": {"volume": "x", "cost": "0", "realised": "0", "fees": "0"}}, "recent": []}',
])
def test_corrupt_files_raise_ledger_corrupt_naming_the_file(tmp_path: Path,
                                                            content: str) -> None:
    path = tmp_path / "pnl.json"
    path.write_text(content)
    with pytest.raises(LedgerCorrupt, match=r"pnl\.json") as raised:
        TradeLedger.load(path)
    assert raised.value.path == path
    with pytest.raises(LedgerCorrupt, match=r"pnl\.json"):
        DayPnl.load(path)


def test_a_failed_save_keeps_the_previous_file(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "pnl.json"
    fixed_ledger().save(path)
    before = path.read_text()

    def refuse(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        TradeLedger().save(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["pnl.json"]


# -- property: any chunking, overlap, duplication and restarts give pnl.replay's books --

PAIRS = ("XXBTZUSD", "XETHZUSD", "XBTUSDT")
WINDOW, OVERLAP = 10.0, 3.0


@st.composite
def trade_lists(draw: st.DrawFn) -> dict[str, Entry]:
    trades: dict[str, Entry] = {}
    time = T0
    for i in range(draw(st.integers(1, 30))):
        time += draw(st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.5, 6.0]))
        vol = draw(st.decimals(D("0.0001"), D(3), places=4))
        price = draw(st.decimals(D(1), D(500), places=2))
        fee = (vol * price * D("0.0026")).quantize(D("0.00001"))
        trades[f"T{i:03d}"] = entry(draw(st.sampled_from(PAIRS)),
                                    draw(st.sampled_from(["buy", "buy", "sell"])), str(vol),
                                    str(price), str(fee), time,
                                    draw(st.sampled_from(["OA", "OB", f"O{i}"])))
    return trades


@settings(max_examples=200, deadline=None)
@given(trades=trade_lists(), data=st.data())
def test_any_chunking_with_duplicates_and_restarts_equals_replay(
        trades: dict[str, Entry], data: st.DataObject) -> None:
    # delivery order: venue time plus a lateness below half the replay window
    late = {t: data.draw(st.sampled_from([0.0, 0.0, 1.0, 4.5])) for t in trades}
    order = sorted(trades, key=lambda t: (trades[t]["time"] + late[t], t))
    ledger = TradeLedger(WINDOW, OVERLAP)
    seen: dict[str, Entry] = {}
    with tempfile.TemporaryDirectory() as tmp:
        start = 0
        while start < len(order):
            end = data.draw(st.integers(start + 1, len(order)))
            back = data.draw(st.integers(0, start))
            extra = data.draw(st.lists(st.sampled_from(order[:start] or order[:1]), max_size=3))
            ids = data.draw(st.permutations(sorted(set(order[back:end]) | set(extra))))
            new = ledger.apply({t: trades[t] for t in ids})
            assert {t.trade_id for t in new} == set(order[start:end]) - set(seen)
            seen.update({t: trades[t] for t in ids})
            assert_matches_replay(ledger, seen)
            if data.draw(st.booleans()):
                ledger.save(Path(tmp) / "pnl.json")
                ledger = TradeLedger.load(Path(tmp) / "pnl.json", WINDOW, OVERLAP)
            start = end
    assert ledger.trade_count == len(trades)


@settings(max_examples=200, deadline=None)
@given(trades=trade_lists(), data=st.data())
def test_reads_from_fetch_from_miss_no_trade_reported_late(
        trades: dict[str, Entry], data: st.DataObject) -> None:
    """The trader's loop: each read asks for trades after `fetch_from()`; a trade shows in
    the venue's history up to just under FETCH_OVERLAP seconds after its own time."""
    shown = {t: e["time"] + data.draw(st.sampled_from([0.0, 1.0, OVERLAP - 0.01]))
             for t, e in trades.items()}
    ledger = TradeLedger(WINDOW, OVERLAP)
    reads = sorted(data.draw(st.lists(st.floats(T0, T0 + 200), max_size=20)))
    for now in [*reads, float("inf")]:
        start = ledger.fetch_from()
        ledger.apply({t: e for t, e in trades.items() if shown[t] <= now
                      and (start is None or e["time"] > start)})
    assert_matches_replay(ledger, trades)
    assert ledger.stale_ignored == 0


# -- DayPnl --------------------------------------------------------------------------

MIDNIGHT = datetime(2025, 3, 2, tzinfo=UTC).timestamp()


def test_day_pnl_is_equity_against_the_first_observation_with_a_latched_low() -> None:
    day = DayPnl()
    assert day.observe(D(1000), MIDNIGHT + 60) == (D(0), D(0))
    assert day.observe(D(950), MIDNIGHT + 120) == (D(-50), D(-50))
    assert day.observe(D(1010), MIDNIGHT + 180) == (D(10), D(-50))
    assert day.observe(D(970), MIDNIGHT + 240) == (D(-30), D(-50))


def test_day_pnl_rolls_over_at_utc_midnight_and_never_back() -> None:
    day = DayPnl()
    day.observe(D(1000), MIDNIGHT - 60)
    assert day.observe(D(900), MIDNIGHT - 0.001) == (D(-100), D(-100))
    assert day.observe(D(905), MIDNIGHT) == (D(0), D(0))  # new baseline, low reset
    assert day.observe(D(800), MIDNIGHT - 30) == (D(-105), D(-105))  # clock stepped back
    assert day.observe(D(1000), MIDNIGHT + 86_400 + 5) == (D(0), D(0))


def test_day_pnl_survives_a_restart_the_same_day_only(tmp_path: Path) -> None:
    path = tmp_path / "day.json"
    day = DayPnl()
    day.observe(D("1000.50"), MIDNIGHT + 10)
    day.observe(D("940.25"), MIDNIGHT + 20)
    day.save(path)
    again = DayPnl.load(path)
    assert again.observe(D("990.50"), MIDNIGHT + 30) == (D(-10), D("-60.25"))
    assert DayPnl.load(path).observe(D(700), MIDNIGHT + 86_400) == (D(0), D(0))
    assert [p.name for p in tmp_path.iterdir()] == ["day.json"]


def test_day_file_with_a_positive_low_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "day.json"
    path.write_text('{"version": 1, "day": "2025-03-02", "baseline": "1", "low": "5"}')
    with pytest.raises(LedgerCorrupt, match=r"day\.json"):
        DayPnl.load(path)
