"""Kraken spot REST broker: client, errors, order journal."""
