"""The trading bus: what actors publish to each other over ZeroMQ PUB/SUB.

Two kinds of publisher, each binding its own ipc socket in the runtime directory:
- the market data actor of a broker (`market_endpoint`) publishes `Candles` and `Prices`,
  so public REST volume does not grow with the number of accounts;
- a leader account's actor (`fills_endpoint`) publishes its executed trades (`Fill`) and,
  periodically, `LeaderState`, so followers learn of them without reading its account.

Every frame is two parts: the topic (`topic()`, for SUB prefix filtering) and the msgpack
message. Prices and volumes are Decimal (msgspec carries them as strings), times are Unix
seconds. PUB/SUB drops what a subscriber is not connected for; every message is therefore
self-contained (a `Candles` carries the whole window a strategy needs), and `LeaderState`
is repeated, so a subscriber that (re)connects is whole again at the next message.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from protocol.codec import MAX_FRAME_BYTES, ProtocolError

BUS_VERSION = 1


class BusMessage(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """Base of every bus message; `type` on the wire names the class."""


class CandleRow(msgspec.Struct, frozen=True, array_like=True):
    """One committed OHLC candle: open time (Unix s) and Kraken's decimal strings."""

    time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


class Candles(BusMessage, frozen=True, kw_only=True):
    """The last committed candles of one pair, oldest first (the still-open one excluded).
    Published when a new candle commits; `seq` counts publications of this feed."""

    broker: str
    pair: str  # the pair key, e.g. "XXBTZUSD"
    altname: str  # "XBTUSD"
    interval_min: int
    candles: tuple[CandleRow, ...]
    published_at: float
    seq: int


class Prices(BusMessage, frozen=True, kw_only=True):
    """Last trade price per pair key, from one Ticker call."""

    broker: str
    last: dict[str, Decimal]
    server_time: float  # the venue's clock when the prices were read (Unix s)
    published_at: float
    seq: int


class Fill(BusMessage, frozen=True, kw_only=True):
    """One executed trade of a leader account, as its venue reported it. `trade_id` is
    unique per leader: followers mirror each one at most once."""

    broker: str
    leader: str  # account name
    trade_id: str
    order_txid: str
    pair: str  # pair key
    side: Literal["buy", "sell"]
    volume: Decimal
    price: Decimal
    leader_equity_usd: Decimal
    time: float  # venue time of the trade
    published_at: float


class LeaderState(BusMessage, frozen=True, kw_only=True):
    """Repeated by a leader every few seconds: followers block new positions while the
    leader is paused (configurable) and size against its equity."""

    broker: str
    leader: str
    paused: bool
    equity_usd: Decimal | None
    published_at: float


BusUnion = Candles | Prices | Fill | LeaderState
_ENCODER = msgspec.msgpack.Encoder()
_DECODER: msgspec.msgpack.Decoder[BusUnion] = msgspec.msgpack.Decoder(BusUnion)


def topic(message: BusUnion) -> bytes:
    """`candles/XXBTZUSD`, `prices`, `fills/master`, `leader/master`."""
    if isinstance(message, Candles):
        return f"candles/{message.pair}".encode()
    if isinstance(message, Prices):
        return b"prices"
    return f"{'fills' if isinstance(message, Fill) else 'leader'}/{message.leader}".encode()


def encode_bus(message: BusUnion) -> list[bytes]:
    """The two frames to send with `send_multipart`."""
    return [topic(message), _ENCODER.encode(message)]


def decode_bus(frames: list[bytes]) -> BusUnion:
    """Raises ProtocolError for anything that is not one valid bus message."""
    if len(frames) != 2:
        raise ProtocolError("malformed", f"bus message has {len(frames)} frames, expected 2")
    if len(frames[1]) > MAX_FRAME_BYTES:
        raise ProtocolError("oversized", f"bus frame of {len(frames[1])} bytes")
    try:
        return _DECODER.decode(frames[1])
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        raise ProtocolError("malformed", f"bad bus message: {exc}") from None
    except RecursionError:  # nested past the recursion limit: must not end the subscriber
        raise ProtocolError("malformed", "bad bus message: nested too deeply") from None


def market_endpoint(runtime_dir: str, broker: str) -> str:
    return f"ipc://{runtime_dir}/market-{broker}.sock"


def fills_endpoint(runtime_dir: str, broker: str, account: str) -> str:
    return f"ipc://{runtime_dir}/fills-{broker}-{account}.sock"
