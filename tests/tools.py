"""External tools the operations tests drive (promtool, prometheus, systemd-analyze).

A developer without the tool gets a skip naming it; CI (NIJA_CI set, where .ci/run installs
the Debian packages) gets a failure instead, so a missing tool can never turn into a
silently green run.
"""

from __future__ import annotations

import os
import shutil

import pytest

DEBIAN_PACKAGE = {"promtool": "prometheus", "prometheus": "prometheus",
                  "systemd-analyze": "systemd"}


def require_tool(name: str) -> str:
    """The absolute path of `name` on PATH; skip the test without it (fail under NIJA_CI)."""
    path = shutil.which(name)
    if path is not None:
        return path
    package = DEBIAN_PACKAGE.get(name, name)
    message = f"{name} is not installed (Debian: apt-get install {package})"
    if os.environ.get("NIJA_CI"):
        pytest.fail(f"{message}; NIJA_CI is set, so this is a failure", pytrace=False)
    pytest.skip(message)
