"""Durable pause flags: a paused account stays paused across actor and supervisor restarts.

`ALL` in the set is the kill switch (`nijactl pause --all`): it also pauses accounts added
later, until `resume --all`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ALL = "*"


class PauseStore:
    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.path = Path(state_dir) / "paused.json"

    def load(self) -> set[str]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return set()
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"cannot read pause state {self.path}: {exc}") from exc
        return {str(actor) for actor, paused in data.items() if paused}

    def save(self, paused: set[str]) -> None:
        """Atomic: write a temporary file, fsync it, rename over, fsync the directory."""
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump({actor: True for actor in sorted(paused)}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
