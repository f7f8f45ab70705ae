"""The venue's static reference data: assets, pairs and fee schedules.

Values follow Kraken's AssetPairs/Assets responses for these markets (decimals,
minimums, tick sizes, the X/Z-prefixed ids and the three names of every pair).
Start prices and volatilities only seed the simulated price path.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Asset:
    id: str  # "XXBT", "ZUSD", "SOL"
    altname: str  # "XBT", "USD", "SOL"
    decimals: int  # precision of balances
    display_decimals: int


@dataclass(frozen=True, slots=True)
class FeeTier:
    volume: Decimal  # 30-day volume in USD from which this tier applies
    percent: Decimal  # fee as a percentage of cost


@dataclass(frozen=True, slots=True)
class Pair:
    key: str  # canonical key, "XXBTZUSD"
    altname: str  # "XBTUSD"
    wsname: str  # "XBT/USD"
    base: str  # asset id
    quote: str  # asset id
    pair_decimals: int
    lot_decimals: int
    cost_decimals: int
    ordermin: Decimal
    costmin: Decimal
    tick_size: Decimal
    start_price: Decimal  # where the seeded price path begins
    annual_volatility: float  # of the log price, for the path model only
    half_spread_bps: Decimal  # half the top-of-book spread, in basis points of mid
    reference: str | None = None  # a pair whose path this one follows (XBTUSDT follows XBTUSD)

    @property
    def names(self) -> tuple[str, ...]:
        """Every spelling Kraken accepts for this pair."""
        slash = f"{self.altname[: -len(_short(self.quote))]}/{_short(self.quote)}"
        return (self.key, self.altname, self.wsname, slash)


def _short(asset_id: str) -> str:
    return ASSETS[asset_id].altname


def _tiers(rows: list[tuple[int, str]]) -> tuple[FeeTier, ...]:
    return tuple(FeeTier(Decimal(v), Decimal(p)) for v, p in rows)


# Kraken Pro spot schedule (percent of cost), by 30-day USD volume.
TAKER_FEES = _tiers([
    (0, "0.40"), (10_000, "0.35"), (50_000, "0.24"), (100_000, "0.22"), (250_000, "0.20"),
    (500_000, "0.18"), (1_000_000, "0.16"), (2_500_000, "0.14"), (5_000_000, "0.12"),
    (10_000_000, "0.10"),
])
MAKER_FEES = _tiers([
    (0, "0.25"), (10_000, "0.20"), (50_000, "0.14"), (100_000, "0.12"), (250_000, "0.10"),
    (500_000, "0.08"), (1_000_000, "0.06"), (2_500_000, "0.04"), (5_000_000, "0.02"),
    (10_000_000, "0.00"),
])
# Kraken charges stablecoin/FX pairs on a separate, lower schedule.
STABLE_TAKER_FEES = _tiers([(0, "0.20"), (50_000, "0.16"), (100_000, "0.12"), (250_000, "0.08")])
STABLE_MAKER_FEES = _tiers([(0, "0.20"), (50_000, "0.16"), (100_000, "0.12"), (250_000, "0.08")])

ASSETS: dict[str, Asset] = {
    a.id: a
    for a in (
        Asset("ZUSD", "USD", 4, 2),
        Asset("XXBT", "XBT", 10, 5),
        Asset("XETH", "ETH", 10, 5),
        Asset("SOL", "SOL", 10, 5),
        Asset("XLTC", "LTC", 10, 5),
        Asset("USDT", "USDT", 8, 4),
        Asset("USDC", "USDC", 8, 4),
    )
}

_D = Decimal
PAIRS: tuple[Pair, ...] = (
    Pair("XXBTZUSD", "XBTUSD", "XBT/USD", "XXBT", "ZUSD", 1, 8, 5,
         _D("0.00005"), _D("0.5"), _D("0.1"), _D("90000.0"), 0.55, _D("0.5")),
    Pair("XETHZUSD", "ETHUSD", "ETH/USD", "XETH", "ZUSD", 2, 8, 5,
         _D("0.002"), _D("0.5"), _D("0.01"), _D("3200.00"), 0.70, _D("0.8")),
    Pair("SOLUSD", "SOLUSD", "SOL/USD", "SOL", "ZUSD", 2, 8, 5,
         _D("0.02"), _D("0.5"), _D("0.01"), _D("180.00"), 0.90, _D("1.5")),
    Pair("XLTCZUSD", "LTCUSD", "LTC/USD", "XLTC", "ZUSD", 2, 8, 5,
         _D("0.05"), _D("0.5"), _D("0.01"), _D("95.00"), 0.75, _D("2.0")),
    Pair("USDTZUSD", "USDTUSD", "USDT/USD", "USDT", "ZUSD", 4, 8, 5,
         _D("5"), _D("0.5"), _D("0.0001"), _D("1.0002"), 0.01, _D("0.5")),
    Pair("XBTUSDT", "XBTUSDT", "XBT/USDT", "XXBT", "USDT", 1, 8, 5,
         _D("0.00005"), _D("0.5"), _D("0.1"), _D("90000.0"), 0.55, _D("0.6"), "XXBTZUSD"),
    Pair("ETHUSDT", "ETHUSDT", "ETH/USDT", "XETH", "USDT", 2, 8, 5,
         _D("0.002"), _D("0.5"), _D("0.01"), _D("3200.00"), 0.70, _D("0.9"), "XETHZUSD"),
)

_BY_NAME: dict[str, Pair] = {}
for _p in PAIRS:
    for _n in _p.names:
        _BY_NAME[_n.upper()] = _p
_BY_KEY: dict[str, Pair] = {p.key: p for p in PAIRS}


def resolve_pair(name: str) -> Pair | None:
    """The pair for any name Kraken accepts (`XXBTZUSD`, `XBTUSD`, `XBT/USD`), else None."""
    return _BY_NAME.get(name.strip().upper())


def pair_by_key(key: str) -> Pair:
    return _BY_KEY[key]


def resolve_asset(name: str) -> Asset | None:
    """An asset by id (`XXBT`) or altname (`XBT`)."""
    upper = name.strip().upper()
    if upper in ASSETS:
        return ASSETS[upper]
    for asset in ASSETS.values():
        if asset.altname == upper:
            return asset
    return None


def is_stable_pair(pair: Pair) -> bool:
    return pair.base in {"USDT", "USDC"}


def fee_percent(pair: Pair, volume_30d_usd: Decimal, maker: bool) -> Decimal:
    """Fee percentage for an account with this 30-day volume."""
    if is_stable_pair(pair):
        tiers = STABLE_MAKER_FEES if maker else STABLE_TAKER_FEES
    else:
        tiers = MAKER_FEES if maker else TAKER_FEES
    chosen = tiers[0].percent
    for tier in tiers:
        if volume_30d_usd >= tier.volume:
            chosen = tier.percent
    return chosen
