"""Apache's parent process: the loop that maintains the children once a second.

httpd 2.4 ``server/mpm_common.c`` ``ap_wait_or_timeout``: ``apr_proc_wait_all_procs`` with
APR_NOWAIT returns at once when a child is done; only when none is does it ``apr_sleep(1 s)``
and return pid -1, which falls through to ``perform_idle_server_maintenance``. A child that
exits during the sleep is a zombie whose slot still holds its pid (event: not free, ``pid !=
0``; prefork: its status is not SERVER_DEAD) until the loop's next turns reap it: after the
maintenance that ends the sleep (``server_main_loop`` / ``prefork_run``:
``event_note_child_stopped``, ``prefork_note_child_killed``; measured 2026-11-30 with LogLevel
mpm_event:debug: at each maintenance "Child N quiescing" for the last batch, then "Child M
started" in the other slots only, then "Child N stopped"). Exited children are replaced only
there, at the 1, 2, 4 ... 32 spawn rate.
"""

from __future__ import annotations

from collections.abc import Generator

import simpy

from mpmsim.engine.process_table import ProcessTable
from mpmsim.models.mpm.base import MPMModel, ServerView


def maintenance_loop(
    env: simpy.Environment, model: MPMModel, server: ServerView, table: ProcessTable
) -> Generator[simpy.Event, None, None]:
    """Maintain ``server``'s children after every 1 s sleep (``model.maintain``), then reap
    those that exited meanwhile (``table``)."""
    while True:
        yield env.timeout(1.0)
        model.maintain(server)
        table.reap()
