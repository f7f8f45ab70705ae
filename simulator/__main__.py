"""`python -m simulator` / `kraken-sim`: serve a Kraken-compatible venue on loopback.

Prints exactly one line to stdout, the base URL, once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from simulator.app import SettingsError, VenueSettings, build_venue, load_settings, serve
from simulator.faults import FaultsError, load_faults
from simulator.keys import KeysFileError, load_keys
from simulator.server import ALL_METHODS

log = logging.getLogger("simulator")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kraken-sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    parser.add_argument("--keys", required=True, help="keys file (TOML, [[key]] tables)")
    parser.add_argument("--seed", type=int, default=42, help="seeds prices, ids and faults")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="market time runs this many times faster than server time")
    parser.add_argument("--faults", help="fault injection file (TOML)")
    parser.add_argument("--settings", help="venue settings file (TOML): lockouts, limits")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--watch-parent", action="store_true",
                        help="exit when the parent process dies (used when supervised)")
    return parser.parse_args(argv)


async def _watch_parent(stop: asyncio.Event) -> None:
    """A supervised venue must not outlive its supervisor (it would hold the port)."""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    log.warning("parent process %d is gone; stopping", parent)
    stop.set()


async def _run(args: argparse.Namespace) -> None:
    keys = load_keys(args.keys)
    faults = load_faults(args.faults, ALL_METHODS) if args.faults else None
    settings = load_settings(args.settings) if args.settings else VenueSettings()
    venue = build_venue(keys, seed=args.seed, speed=args.speed, faults=faults,
                        settings=settings)
    runner, url = await serve(venue, args.host, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("serving %d key(s), seed %d, speed %g", len(keys), args.seed, args.speed)
    print(url, flush=True)
    watcher = asyncio.create_task(_watch_parent(stop)) if args.watch_parent else None
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        if watcher is not None:
            watcher.cancel()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        asyncio.run(_run(args))
    except (KeysFileError, FaultsError, SettingsError, ValueError) as exc:
        print(f"kraken-sim: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"kraken-sim: cannot listen on {args.host}:{args.port}: {exc.strerror}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
