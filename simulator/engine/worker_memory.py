"""Memory a child keeps once its workers have served.

Three mechanisms grow a child this way, the first two at most once per worker, the third once
per child:

* ``thread_used_kib``: a thread that has run has grown its stack and got its own malloc arena
  (glibc ``malloc/arena.c`` ``arena_get2``, up to 8 per core), which stays with the process.
  (A prefork child's one thread uses the main arena, counted in ``process_mib``.)
* a request class's ``worker_kib``: state a handler builds and keeps for later requests.
  mod_lua with ``LuaScope server MIN MAX`` keeps its Lua states in a pool of the child process
  (``modules/lua/lua_vmprep.c`` ``ap_lua_get_lua_state``: ``apr_reslist_create`` with no
  time-to-live; ``apr_reslist_acquire`` builds a new state whenever every pooled one is in
  use), so a loaded child holds about one per worker thread that has run the handler (a
  prefork child: one). (MAX, when below ThreadsPerChild, is not modelled.)
* a request class's ``child_kib``, when the child's first worker serves the class: what the
  handler sets up once per process. In the campaigns' measurements (measurements/cpu-bound) a
  prefork child that ran the Lua handler holds ~0.1 MiB more PSS than one that served the
  static page (0.33 against 0.23 MiB per child at 150 children), and a threaded child less
  than that per thread that ran it: calibrate's fit there is 78 KiB per child and 41 KiB per
  worker, where one state's own memory was not all a process keeps.

Idle workers wait on one condition variable (``server/mpm_fdqueue.c``
``ap_queue_pop_something``; the listener's push signals it), and glibc wakes the waiters of
the oldest group first (``nptl/pthread_cond_signal.c``, G1), so work goes round the idle
threads in the order they went idle: until each worker of the child has served, every
hand-off reaches one that has not.
"""

from __future__ import annotations

from mpmsim.engine.memory import MemoryLedger
from mpmsim.models.mpm.base import Child


def keep_for_worker(
    child: Child, ledger: MemoryLedger, served: int, mib: float, child_mib: float = 0.0
) -> int:
    """One more hand-off to a worker of ``child``; ``served`` workers already keep ``mib``.

    While some worker has not served, the hand-off reaches one of them and the child grows by
    ``mib``; the first (``served`` 0) also grows it by ``child_mib``, kept once per child.
    Returns the new count of workers that keep it (at most ``child.threads``).
    """
    if served >= child.threads:
        return served
    grow = mib + child_mib if served == 0 else mib
    child.memory_mib += grow
    ledger.add(grow)
    return served + 1
