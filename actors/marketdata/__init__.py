"""The market data actor: one per broker, it polls the venue's public REST API (Ticker,
OHLC) within a public-call budget and publishes `Candles` and `Prices` on the trading bus,
so public request volume does not grow with the number of accounts.

`feed`, `clock` and `answers` are pure (times passed in); `broker` is the IO shell the actor
runtime drives.
"""
