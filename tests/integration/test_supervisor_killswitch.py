"""`nijactl pause --all` is a durable kill switch: it also holds accounts added later."""

from __future__ import annotations

import signal

import pytest

from tests.supervisor_harness import RunningSupervisor, wait_until


@pytest.mark.timeout(90)
def test_pause_all_also_pauses_an_account_added_later_until_resume_all():
    with RunningSupervisor(["master"], config='[paper]\naccounts = ["master"]\n') as sup:
        assert sup.ctl("pause", "--all").returncode == 0
        assert sup.config_path is not None
        sup.config_path.write_text('[paper]\naccounts = ["master", "tania"]\n')
        sup.send_signal(signal.SIGHUP)
        wait_until(lambda: sup.try_status() and {a["account"]: a["state"] for a in
                   sup.status()}.get("tania") == "paused", 40, "tania paused")
        assert sup.actor("master")["state"] == "paused"
        assert sup.ctl("resume", "--all").returncode == 0
        wait_until(lambda: all(a["state"] == "running" for a in sup.status()), 20,
                   "all running")
