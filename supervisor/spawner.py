"""Starting actor processes: forkserver with the actor's modules preloaded.

The fork server is a fresh interpreter (it is exec'd, not forked from the supervisor), so
it never holds any account's secrets; each actor is forked from it with the heavy imports
already done (fast restarts, pages shared copy-on-write), and receives its ActorLaunch
through the fork server's pipe, never argv or environment. See docs/architecture.md for
the spawn-vs-forkserver measurement.
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.process import BaseProcess
from typing import Any

from actors.launch import ActorLaunch

PRELOAD = ["actors.main", "actors.runtime", "actors.kraken.broker", "krakenex", "requests",
           "zmq", "msgspec", "protocol.messages"]


class Spawner:
    def __init__(self, method: str = "forkserver") -> None:
        self.method = method
        self.ctx: Any = mp.get_context(method)
        if method == "forkserver":
            self.ctx.set_forkserver_preload(PRELOAD)

    def spawn(self, launch: ActorLaunch) -> BaseProcess:
        from actors.main import actor_main

        process: BaseProcess = self.ctx.Process(target=actor_main, args=(launch,),
                                                name=launch.actor_id)
        process.start()
        return process
