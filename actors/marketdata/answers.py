"""Kraken's public answers read into bus types (pure): AssetPairs into the configured pairs
and the USD-quoted pairs, OHLC rows into CandleRows, Ticker into last prices. Every value
stays a Decimal."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from actors.broker import ConfigInvalid
from protocol.bus import CandleRow

USD_QUOTES = ("ZUSD", "USD")  # AssetPairs `quote` of a pair priced in US dollars


class FeedDataError(ValueError):
    """An answer that does not have Kraken's shape; the call counts as failed."""


@dataclass(frozen=True)
class FeedPair:
    """One configured pair as the venue names it: `key` keys every public result."""

    key: str
    altname: str


def _normal(name: str) -> str:
    return name.replace("/", "").strip().upper()


def resolve_pairs(wanted: Sequence[str], asset_pairs: Mapping[str, Any]) -> list[FeedPair]:
    """The configured names (key, altname or wsname, any case) as venue pairs, in the given
    order without repeats. An unknown name raises ConfigInvalid naming it and a few valid
    altnames, closest first: a restart cannot fix a typo."""
    index: dict[str, FeedPair] = {}
    for key, record in asset_pairs.items():
        altname = str(record.get("altname") or key) if isinstance(record, Mapping) else key
        pair = FeedPair(key, altname)
        wsname = str(record.get("wsname") or "") if isinstance(record, Mapping) else ""
        for name in (key, altname, wsname):
            if name:
                index.setdefault(_normal(name), pair)
    found: list[FeedPair] = []
    for name in wanted:
        match = index.get(_normal(name))
        if match is None:
            raise ConfigInvalid(f"market pair {name!r} is not traded on this venue; valid "
                                f"altnames include {', '.join(_suggest(name, index))}")
        if match not in found:
            found.append(match)
    if not found:
        raise ConfigInvalid("market settings name no pairs")
    return found


def _suggest(name: str, index: Mapping[str, FeedPair]) -> list[str]:
    altnames = sorted({p.altname for p in index.values()})
    close = difflib.get_close_matches(_normal(name), altnames, n=3, cutoff=0.5)
    return (close + [a for a in altnames if a not in close])[:6]


def _decimal(value: object) -> Decimal:
    if not isinstance(value, (str, int)):  # Kraken sends decimal strings; floats would round
        raise FeedDataError(f"expected a decimal string, got {type(value).__name__}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise FeedDataError(f"not a decimal: {value!r}") from None
    if not number.is_finite():
        raise FeedDataError(f"not a finite decimal: {value!r}")
    return number


def _result_for(result: object, pair: FeedPair) -> object:
    """The value of `pair` in a public result: keyed by its key, or (a quirk) its altname."""
    if not isinstance(result, Mapping):
        raise FeedDataError("result is not an object")
    for name in (pair.key, pair.altname):
        if name in result:
            return result[name]
    raise FeedDataError(f"no {pair.key} in the answer")


def parse_ohlc(result: object, pair: FeedPair) -> list[CandleRow]:
    """Every row of an OHLC answer, as sent (oldest first; the last one still open)."""
    raw = _result_for(result, pair)
    if not isinstance(raw, list) or not raw:
        raise FeedDataError(f"OHLC for {pair.key} has no rows")
    rows = []
    for row in raw:
        if not isinstance(row, list) or len(row) < 7 or not isinstance(row[0], int):
            raise FeedDataError(f"malformed OHLC row for {pair.key}")
        rows.append(CandleRow(row[0], _decimal(row[1]), _decimal(row[2]), _decimal(row[3]),
                              _decimal(row[4]), _decimal(row[6])))
    return rows


def usd_pairs(asset_pairs: Mapping[str, Any]) -> list[FeedPair]:
    """Every pair quoted in US dollars (AssetPairs `quote` "ZUSD" or "USD"), in the venue's
    order: `Prices` carries them all so account actors can value any holding in USD."""
    found = []
    for key, record in asset_pairs.items():
        if isinstance(record, Mapping) and record.get("quote") in USD_QUOTES:
            found.append(FeedPair(key, str(record.get("altname") or key)))
    return found


def parse_ticker(result: object, pairs: Sequence[FeedPair],
                 usd: Sequence[FeedPair] = ()) -> dict[str, Decimal]:
    """Last trade price (`c[0]`) per pair key, for the configured `pairs` and the `usd`
    (valuation) pairs. A pair missing from the answer is left out, and so is one whose last
    price is not positive (no trade yet: it would value a holding at nothing). An answer
    with none of the configured pairs is malformed, and so is any entry without a last
    trade."""
    if not isinstance(result, Mapping):
        raise FeedDataError("result is not an object")
    last: dict[str, Decimal] = {}
    answered: set[str] = set()
    for pair in {p.key: p for p in (*pairs, *usd)}.values():
        entry = next((result[n] for n in (pair.key, pair.altname) if n in result), None)
        if entry is None:
            continue
        answered.add(pair.key)
        trade = entry.get("c") if isinstance(entry, Mapping) else None
        if not isinstance(trade, list) or not trade:
            raise FeedDataError(f"Ticker for {pair.key} has no last trade")
        price = _decimal(trade[0])
        if price > 0:
            last[pair.key] = price
    if not answered & {p.key for p in pairs}:
        raise FeedDataError("the Ticker answer has none of the configured pairs")
    return last
