"""The venue's candle clock, estimated from the venue's own answers (pure: times passed in).

Why it exists: a pair's OHLC is fetched only when its open candle may have committed, that
is when the venue's clock has passed the open candle's end. Candles are stamped by the
venue's candle clock: on Kraken that is its server clock (wall time, rate 1); the
simulator's runs `--speed` times faster than its server clock. Neither Ticker nor Time
tells the candle clock, so it is estimated:

- Model: venue(t) = anchor_venue + rate * (t - anchor_local), t in local monotonic seconds.
- Seed: the first OHLC answer anchors at the server's time (the HTTP Date of that answer,
  else local wall time), so on Kraken the phase within a candle is right from the start.
- Bounds: an OHLC answer received at local t proves venue(t) lies in [open, open + span),
  `open` being the still-open row's time. The estimate is pulled into that interval and
  re-anchored at t, so a wrong seed or rate is corrected by every answer.
- Rate: exactly 1 until the answers seen cover `CALIBRATION_SPANS` spans of candle time;
  then the measured rate (candle time covered / local time taken) if it is clearly above 1
  (`FAST_RATE`, a sped-up simulator), else exactly 1 (Kraken). Until calibrated a probe is
  due at local gaps doubling from `FIRST_PROBE_S`: a sped-up venue is noticed in seconds,
  a real one costs a handful of extra OHLC calls in its first minutes.
- Candle time going backwards (a restarted simulator) resets the estimate.
"""

from __future__ import annotations

CALIBRATION_SPANS = 4
FAST_RATE = 1.5
FIRST_PROBE_S = 1.0
EDGE_S = 1e-3  # "just before the open candle's end", in venue seconds


class CandleClock:
    """Estimate of one venue's candle clock; `span_s` is the candle interval in seconds."""

    def __init__(self, span_s: float) -> None:
        if span_s <= 0:
            raise ValueError("span_s must be positive")
        self.span = span_s
        self.reset()

    def reset(self) -> None:
        self.rate = 1.0
        self.calibrated = False
        self.probe_at = 0.0  # local time of the next probe (meaningful while uncalibrated)
        self._probe_gap = FIRST_PROBE_S
        self._anchor: tuple[float, float] | None = None  # (local, venue)
        self._first: tuple[float, float] | None = None  # (local, open time) first answer

    def venue_time(self, local: float) -> float | None:
        """The estimated candle clock at local time `local`; None before any answer."""
        if self._anchor is None:
            return None
        anchor_local, anchor_venue = self._anchor
        return anchor_venue + self.rate * (local - anchor_local)

    def local_time(self, venue: float) -> float:
        """The local time at which the candle clock reaches `venue` (0.0 before any answer:
        due at once)."""
        if self._anchor is None:
            return 0.0
        anchor_local, anchor_venue = self._anchor
        return anchor_local + (venue - anchor_venue) / self.rate

    def observe(self, local: float, open_time: float, server_time: float) -> None:
        """An OHLC answer received at `local` had its still-open candle at `open_time`;
        `server_time` is the venue's server clock for that answer (used only to seed)."""
        if self._first is not None and open_time < self._first[1]:
            self.reset()
        estimate = self.venue_time(local)
        if estimate is None:
            estimate = server_time
        if self._first is None:
            self._first = (local, open_time)
        else:
            self._learn_rate(local, open_time)
        estimate = min(max(estimate, open_time), open_time + self.span - EDGE_S)
        self._anchor = (local, estimate)
        if not self.calibrated:
            self.probe_at = local + self._probe_gap
            self._probe_gap *= 2

    def _learn_rate(self, local: float, open_time: float) -> None:
        assert self._first is not None
        first_local, first_open = self._first
        covered = open_time - first_open
        if covered < CALIBRATION_SPANS * self.span or local <= first_local:
            return
        measured = covered / (local - first_local)
        self.rate = measured if measured >= FAST_RATE else 1.0
        self.calibrated = True
