"""A Kraken-compatible spot exchange on loopback: the venue for paper mode and tests."""

from simulator.keys import KeySpec, load_keys, new_key, write_keys_file
from simulator.process import SimulatorProcess

__all__ = ["KeySpec", "SimulatorProcess", "load_keys", "new_key", "write_keys_file"]
