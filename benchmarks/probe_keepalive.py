"""Probe what an idle keep-alive connection holds in Apache's memory (PSS), beside a used thread.

Paced clients (``kaclient``: ``measurements/*/paced``) keep hundreds of connections open and
idle between their requests. Under event, Apache's listener holds each such connection with its
own transaction pool (event.c ``listener_thread``: a pool, and an allocator of its own, for
each accepted socket; the request's pool is its child and leaves its freed blocks there), where
worker and prefork hold a connection in a thread whose pool is recycled. The simulator charges
a connection that event's listeners hold ``listener_connection_kib``
(``engine/conn_memory.py``); ``mpmsim calibrate`` fits it from the shared set, whose rows have
few such connections. This measures it directly.

A fresh throw-away Apache (tests/apache.py) pinned to CPU 1, ``--children`` fixed children of
25 threads (none forked or stopped), KeepAlive On with a long timeout, mod_lua loaded as the
shared set's harness loads it (``--lua``). First ab without keep-alive on the static page at
as many clients as there are threads (``--warm`` requests), so that every thread has served
before the baseline; then connections are opened in steps (``--idle``, cumulative), each sends
one keep-alive request for the 4 KiB page, reads the response and stays open. At each step the
summed PSS of Apache's processes (the median of 5 samples 0.2 s apart) and its growth by kind
of mapping; ``--again`` then sends a second request on every open connection and samples again
(a connection that has served twice). Per step: the PSS over the baseline per open connection.

    python benchmarks/probe_keepalive.py --mpm event --children 16 --idle 100,200,400,800
    python benchmarks/probe_keepalive.py --mpm worker --children 16 --idle 100,200,300
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the throw-away Apache lives in tests/apache.py

import campaigns  # noqa: E402
from probe_apache import LOAD, PAGE, SERVER, _pss_by_mapping  # noqa: E402

from mpmsim.bench.processes import apache_pid, apache_pids, sample_processes  # noqa: E402
from tests.apache import running_apache  # noqa: E402

#: the campaigns' ThreadsPerChild
THREADS = campaigns.THREADS_PER_CHILD
#: long enough that no connection times out while the steps run
KEEPALIVE_TIMEOUT_S = 120
REQUEST = b"GET /test.html HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"


def request(sock: socket.socket) -> None:
    """One keep-alive request for the page; read its whole response (headers and 4 KiB)."""
    sock.sendall(REQUEST)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response's headers")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response's body")
        body += chunk


def pss_kib(parent: int, samples: int = 5) -> float:
    """The median of ``samples`` summed PSS readings (KiB) of Apache's processes."""
    out = []
    for _ in range(samples):
        out.append(sample_processes(parent)["pss_kb"] or 0)
        time.sleep(0.2)
    return float(statistics.median(out))


def grown(before: dict[str, int], after: dict[str, int]) -> str:
    """PSS growth (KiB) by kind of mapping."""
    return " ".join(f"{k} {after.get(k, 0) - before.get(k, 0):+d}" for k in sorted(after))


def _sample(parent: int, label: str, base: float, maps0: dict[str, int], n: int) -> None:
    """Print the PSS with ``n`` connections open, over the baseline and by kind of mapping."""
    pss = pss_kib(parent)
    per = (pss - base) / n if n else float("nan")
    print(f"  {n:5d} open ({label}): PSS {pss:.0f} KiB, +{pss - base:.0f} over the baseline, "
          f"{per:.2f} KiB a connection; by mapping "
          f"{grown(maps0, _pss_by_mapping(apache_pids(parent)))}", flush=True)  # fmt: skip


def probe(mpm: str, children: int, steps: Sequence[int], warm: int, lua: bool, again: bool) -> None:
    """Print one line per step: open connections, PSS, its growth per connection."""
    block = {**campaigns.fixed_children(mpm, children, THREADS), "MaxConnectionsPerChild": 0,
             "KeepAlive": "On", "MaxKeepAliveRequests": 100,
             "KeepAliveTimeout": KEEPALIVE_TIMEOUT_S}  # fmt: skip
    scope = f"server 1 {1 if mpm == 'prefork' else THREADS}"
    socks: list[socket.socket] = []
    with campaigns._scratch() as root:
        lines = campaigns.lua_module_lines(scope, root / "htdocs") if lua else []
        files = {**PAGE, "cpu.lua": campaigns.CPU_LUA.format(n=1000).encode()}
        with running_apache(mpm, block, root, extra_lines=lines, files=files,
                            launcher=SERVER) as srv:  # fmt: skip
            parent = apache_pid(srv.pid_file)
            time.sleep(1.0)
            clients = children * (1 if mpm == "prefork" else THREADS)
            subprocess.run([*LOAD, "-c", str(clients), "-n", str(warm), srv.url],
                           capture_output=True, check=True)  # fmt: skip
            time.sleep(1.0)
            base = pss_kib(parent)
            maps0 = _pss_by_mapping(apache_pids(parent))
            lua_on = "on" if lua else "off"
            print(f"{mpm}, {children} children, mod_lua {lua_on}: baseline after {warm} "
                  f"requests at {clients} clients {base:.0f} KiB", flush=True)  # fmt: skip
            try:
                for n in steps:
                    while len(socks) < n:
                        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
                        socks.append(s)
                        request(s)
                    time.sleep(1.0)
                    _sample(parent, "once", base, maps0, n)
                    if again:
                        for s in socks:
                            request(s)
                        time.sleep(1.0)
                        _sample(parent, "twice", base, maps0, n)
            finally:
                for s in socks:
                    with contextlib.suppress(OSError):
                        s.close()
                time.sleep(1.0)
                print(f"  all closed: PSS {pss_kib(parent):.0f} KiB", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mpm", choices=("prefork", "worker", "event"), default="event")
    ap.add_argument("--children", type=int, default=16)
    ap.add_argument("--idle", default="100,200,400,800", help="open connections, cumulative")
    ap.add_argument("--warm", type=int, default=40_000, help="ab requests before the baseline")
    ap.add_argument("--no-lua", dest="lua", action="store_false", help="without mod_lua")
    ap.add_argument("--again", action="store_true", help="a second request on each, then sample")
    args = ap.parse_args(argv)
    steps = [int(x) for x in args.idle.split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(steps) + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    probe(args.mpm, args.children, steps, args.warm, args.lua, args.again)
    return 0


if __name__ == "__main__":
    sys.exit(main())
