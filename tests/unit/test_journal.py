"""The order journal: intent is durable before send; replay restores every order's state."""

from __future__ import annotations

import pytest

from actors.kraken.journal import OrderJournal

PARAMS = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "volume": "0.1",
          "price": "50000.0"}


def test_replay_restores_every_outcome(tmp_path):
    journal = OrderJournal(tmp_path)
    for name in "abcd":
        journal.intent(name, 7, PARAMS)
    journal.placed("a", "OAAAAA-AAAAA-AAAAAA")
    journal.rejected("b", "EOrder:Insufficient funds")
    journal.not_placed("c")
    journal.close()
    again = OrderJournal(tmp_path)
    states = {k: (e.status, e.txid, e.error) for k, e in again.entries.items()}
    assert states == {"a": ("placed", "OAAAAA-AAAAA-AAAAAA", None),
                      "b": ("rejected", None, "EOrder:Insufficient funds"),
                      "c": ("not_placed", None, None), "d": ("intent", None, None)}
    assert [e.cl_ord_id for e in again.unresolved()] == ["d"]
    assert again.by_txid("OAAAAA-AAAAA-AAAAAA").cl_ord_id == "a"


def test_a_torn_last_line_from_a_crash_keeps_the_intent(tmp_path):
    journal = OrderJournal(tmp_path)
    journal.intent("x", 0, PARAMS)
    journal.close()
    with open(journal.path, "a") as handle:
        handle.write('{"op":"placed","cl_ord_id":"x","tx')  # the process died mid-write
    again = OrderJournal(tmp_path)
    assert again.torn_lines == 1 and again.entries["x"].unresolved


def test_a_client_order_id_is_never_journaled_twice(tmp_path):
    journal = OrderJournal(tmp_path)
    journal.intent("x", 0, PARAMS)
    with pytest.raises(ValueError, match="already journaled"):
        journal.intent("x", 0, PARAMS)


def test_compaction_keeps_the_same_state_in_fewer_lines(tmp_path):
    journal = OrderJournal(tmp_path)
    for i in range(50):
        journal.intent(f"o{i}", i, PARAMS)
        journal.placed(f"o{i}", f"T{i}")
        if i % 2:
            journal.closed(f"o{i}", f"T{i}", "closed")
    before = {k: (e.status, e.txid) for k, e in journal.entries.items()}
    lines_before = len(journal.path.read_text().splitlines())
    journal.compact()
    journal.intent("after", 0, PARAMS)  # still appendable after compaction
    journal.close()
    again = OrderJournal(tmp_path)
    after = {k: (e.status, e.txid) for k, e in again.entries.items() if k != "after"}
    assert after == before
    assert len(again.path.read_text().splitlines()) < lines_before


def test_the_cause_of_an_order_survives_replay_and_compaction(tmp_path):
    journal = OrderJournal(tmp_path)
    journal.intent("f", 7, PARAMS, cause="follow:TLEAD1-AAAAA-BBBBBB")
    journal.intent("s", 7, PARAMS)
    journal.placed("f", "OFFFFF-FFFFF-FFFFFF")
    journal.compact()
    journal.close()
    again = OrderJournal(tmp_path)
    assert again.entries["f"].cause == "follow:TLEAD1-AAAAA-BBBBBB"
    assert again.entries["s"].cause == ""
    assert '"cause"' not in journal.path.read_text().splitlines()[-1]  # none told, none written
