"""``mpmsim inspect``: parsing Apache's answers, per-process memory, the cost model it writes,
and (with the real package) a Debian Apache started from a copy of /etc/apache2."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mpmsim.errors import InputError
from mpmsim.inspection.apachectl import (
    Invocation,
    _config_path,
    parse_cmdline,
    parse_modules,
    parse_run_config,
    parse_version,
)
from mpmsim.inspection.host import parse_meminfo
from mpmsim.inspection.inspector import check_output, inspect_apache, write_inspection
from mpmsim.inspection.measured_costs import costs_yaml, measured_costs
from mpmsim.inspection.process_memory import (
    MemoryProfile,
    ProcessReading,
    apache_parent,
    profile,
    sample,
    snapshot,
)
from mpmsim.inspection.result import capacity
from mpmsim.inspection.summary import summary_lines
from mpmsim.models.apache.config_file import read_apache_config
from mpmsim.models.apache.directives import apply_apache_rules
from mpmsim.models.apache.envvars import parse_envvars
from mpmsim.models.costs import load_costs
from tests.apache import APACHE_BIN, free_port, live_group_members
from tests.test_cli import assert_one_line_error, mpmsim

CTL = Path(__file__).resolve().parent / "fixtures" / "apache" / "apache2ctl"
MIB = 1024


# ---------------------------------------------------------------------------------------------
# What the binary says (outputs of Debian 12's apache2ctl -V, -M, -S).


def test_parse_version() -> None:
    found = parse_version((CTL / "V.txt").read_text())
    assert found["version"] == "Apache/2.4.71 (Debian)"
    assert found["mpm"] == "event"
    assert found["HTTPD_ROOT"] == "/etc/apache2"
    assert found["SERVER_CONFIG_FILE"] == "apache2.conf"
    assert found["APR_HAS_SENDFILE"] == ""


def test_parse_modules_and_run_config() -> None:
    modules = parse_modules((CTL / "M.txt").read_text())
    assert modules[0] == ("core_module", "static")
    assert ("mpm_event_module", "shared") in modules
    assert sum(kind == "static" for _, kind in modules) == 8
    run = parse_run_config((CTL / "S.txt").read_text())
    assert run["ServerRoot"] == "/etc/apache2"
    assert run["PidFile"] == "/var/run/apache2/apache2.pid"
    assert "Mutex default" not in run  # dir="..." is not a plain value


def test_parse_cmdline() -> None:
    """-d/-f/-D in both spellings; a relative -d is taken against the process's folder."""
    inv = parse_cmdline(
        ["/usr/sbin/apache2", "-dsrv", "-f", "conf/x.conf", "-DSSL", "-D", "TUNED", "-k", "start"],
        Path("/usr/sbin/apache2"),
        Path("/opt"),
    )
    assert inv.server_root == Path("/opt/srv")
    assert inv.config == Path("conf/x.conf")
    assert inv.defines == ("SSL", "TUNED")
    assert inv.arguments() == ["-d", "/opt/srv", "-f", "conf/x.conf", "-D", "SSL", "-D", "TUNED"]


def test_config_path_asks_the_binary_only_for_what_the_invocation_leaves_out() -> None:
    """-d and an absolute -f say it all: no ``-V`` (a binary that is not there is never run);
    a relative -f or no -d needs the compiled-in settings, so the binary is asked."""
    missing = Path("/nonexistent/apache2")
    given = Invocation(missing, Path("/srv/web"), Path("/srv/web/site.conf"))
    assert _config_path(given, None) == (Path("/srv/web"), Path("/srv/web/site.conf"))
    for partial in (
        Invocation(missing, Path("/srv/web"), Path("site.conf")),
        Invocation(missing, None, Path("/srv/web/site.conf")),
    ):
        with pytest.raises(InputError, match="nonexistent"):
            _config_path(partial, None)


def test_parse_meminfo() -> None:
    text = "MemTotal:        4026532 kB\nMemFree:  100 kB\nMemAvailable:   2013266 kB\nHuge: x\n"
    assert parse_meminfo(text) == {"MemTotal": 4026532, "MemFree": 100, "MemAvailable": 2013266}


# ---------------------------------------------------------------------------------------------
# Memory: arithmetic on readings, and real processes read from /proc.


def _reading(pid: int, rss: int, pss: int, private: int, *, parent: bool = False) -> ProcessReading:
    return ProcessReading(pid, parent, rss * MIB, pss * MIB, private * MIB, 1 if parent else 27)


def test_profile_arithmetic() -> None:
    """Shared pages once: the sum over processes of PSS - private."""
    first = [_reading(1, 4, 2, 1, parent=True), _reading(2, 5, 2, 1), _reading(3, 7, 3, 1)]
    second = [_reading(1, 4, 2, 1, parent=True), _reading(2, 5, 2, 1)]
    memory = profile([first, second], window_s=0.5)
    assert (memory.samples, memory.children_mean, memory.children_max) == (2, 1.5, 2)
    assert memory.child_rss_max_mib == 7
    assert memory.child_rss_mean_mib == pytest.approx((5 + 7 + 5) / 3, abs=1e-3)
    assert memory.parent_private_mib == 1
    assert memory.shared_mib == pytest.approx(((1 + 1 + 2) + (1 + 1)) / 2)
    assert memory.total_pss_mib == pytest.approx((7 + 4) / 2)
    with pytest.raises(InputError, match="no children"):
        profile([[_reading(1, 4, 2, 1, parent=True)]], window_s=0)


def test_sample_count_follows_window_and_interval() -> None:
    """One snapshot at once, then one per interval while it is inside the window."""
    now = [100.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    samples = sample(os.getpid(), 1.0, 0.25, clock=lambda: now[0], sleep=sleep)
    assert len(samples) == 5
    assert now[0] == pytest.approx(101.0)


_FORKING = """
import os, sys, time
pids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        block = bytearray(8 << 20)  # 8 MiB, every page written: private to this child
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(60)
        os._exit(0)
    pids.append(pid)
print("ready", flush=True)
time.sleep(60)
"""


@pytest.fixture
def forked_tree() -> Iterator[int]:
    """A Python parent with two forked children holding 8 MiB each; yields the parent's PID."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _FORKING], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 10
        while len(snapshot(proc.pid)) < 3 or any(
            r.private_kib < 8 * MIB for r in snapshot(proc.pid) if not r.parent
        ):
            assert time.monotonic() < deadline, "children did not allocate in time"
            time.sleep(0.05)
        yield proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_real_processes_split_into_private_and_shared(forked_tree: int) -> None:
    """Read from /proc: each child's 8 MiB is private; the interpreter's pages are shared."""
    memory = profile(sample(forked_tree, 0.2, 0.1), 0.2)
    assert memory.children_max == 2
    assert memory.child_private_mean_mib >= 8
    assert memory.child_rss_mean_mib > memory.child_pss_mean_mib >= memory.child_private_mean_mib
    assert memory.shared_mib > 0.5  # libpython's pages, mapped by all three
    assert memory.total_pss_mib == pytest.approx(
        memory.parent_private_mib + 2 * memory.child_private_mean_mib + memory.shared_mib, rel=0.02
    )


def test_a_process_that_is_not_apache_is_refused() -> None:
    with pytest.raises(InputError, match="not Apache"):
        apache_parent(os.getpid())


# ---------------------------------------------------------------------------------------------
# The cost model, the capacity figures and the output folder.


def _memory(child_private_mib: float) -> MemoryProfile:
    """A profile with round figures: parent private 1.25 MiB, shared 3.5, largest child 10."""
    return MemoryProfile(
        samples=3, window_s=1.0, children_mean=2.0, children_max=2, child_threads=27,
        child_rss_mean_mib=9.0, child_rss_max_mib=10.0, child_pss_mean_mib=4.0,
        child_pss_max_mib=4.5, child_private_mean_mib=child_private_mib,
        child_private_max_mib=child_private_mib, parent_rss_mib=5.0, parent_pss_mib=2.0,
        parent_private_mib=1.25, shared_mib=3.5, total_pss_mib=12.0, total_pss_max_mib=12.0,
        total_rss_mib=23.0,
    )  # fmt: skip


def test_measured_costs_split_child_memory(tmp_path: Path) -> None:
    """thread_mib stays the base's unless the child is smaller; process_mib takes the rest."""
    base = load_costs("default")
    big = measured_costs(_memory(2.0), base, threads_per_child=27, where="h", provenance={})
    assert (big.parent_mib, big.shared_mib) == (1.25, 3.5)
    assert big.thread_mib == base.thread_mib
    assert big.process_mib == pytest.approx(2.0 - 27 * base.thread_mib, abs=1e-4)
    small = measured_costs(_memory(0.27), base, threads_per_child=27, where="h", provenance={})
    assert small.thread_mib == pytest.approx(0.01)
    assert small.process_mib == 0.0
    assert small.request_cpu_ms == base.request_cpu_ms and small.classes == base.classes
    text = costs_yaml(big, "default")
    assert text.startswith("# Cost model written by `mpmsim inspect`.")
    (tmp_path / "costs.yaml").write_text(text)
    assert load_costs("costs.yaml", relative_to=tmp_path) == big


def test_capacity_figures() -> None:
    """apache2buddy: usable / largest RSS; mpmsim: (usable - parent - shared) / child cost."""
    costs = load_costs("default").model_copy(
        update={"parent_mib": 1.0, "shared_mib": 9.0, "process_mib": 2.0, "connection_kib": 512,
                "listener_connection_kib": 256}
    )  # fmt: skip
    prefork, _ = apply_apache_rules("prefork", {"MaxRequestWorkers": 100})
    cap = capacity(1010.0, _memory(2.0), costs, prefork, mpm="prefork", threads_per_child=1)
    assert (cap.buddy_children, cap.buddy_workers) == (101, 101)
    child = 2.0 + costs.thread_mib + 0.5
    assert cap.child_mib == pytest.approx(child, abs=1e-3)
    assert cap.workers == int(1000 // child)
    assert cap.configured_mib == pytest.approx(10 + 100 * child, abs=0.1)
    event, _ = apply_apache_rules("event", {"ThreadsPerChild": 10, "MaxRequestWorkers": 100})
    cap = capacity(1010.0, _memory(2.0), costs, event, mpm="event", threads_per_child=12)
    assert cap.buddy_workers == 1010
    # event: AsyncRequestWorkerFactor 2 lets each child hold 3 x 10 connections, each kept
    # alive with a pool of its own (listener_connection_kib); without keep-alive only its
    # lingering closes keep one, about one per worker (10).
    assert cap.child_mib == pytest.approx(2.0 + 12 * costs.thread_mib + 30 * 0.75, abs=1e-3)
    event, _ = apply_apache_rules(
        "event", {"ThreadsPerChild": 10, "MaxRequestWorkers": 100, "KeepAlive": False}
    )
    cap = capacity(1010.0, _memory(2.0), costs, event, mpm="event", threads_per_child=12)
    assert cap.child_mib == pytest.approx(
        2.0 + 12 * costs.thread_mib + 30 * 0.5 + 10 * 0.25, abs=1e-3
    )


def test_output_folder_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "costs.yaml").write_text("mine")
    with pytest.raises(InputError, match="use --force"):
        check_output(tmp_path, force=False)
    check_output(tmp_path, force=True)
    with pytest.raises(InputError, match="not a folder"):
        check_output(tmp_path / "costs.yaml", force=True)
    with pytest.raises(InputError, match="does not exist"):
        check_output(tmp_path / "a" / "b", force=False)


def test_cli_refuses_a_process_that_is_not_apache(tmp_path: Path) -> None:
    proc = mpmsim("inspect", "--pid", str(os.getpid()), "-o", str(tmp_path / "out"))
    assert_one_line_error(proc, "--pid", "not Apache")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# The real Apache: a copy of /etc/apache2 on 127.0.0.1.


@dataclass(frozen=True)
class DebianApache:
    """A server started from a copy of /etc/apache2."""

    conf_dir: Path
    pid: int


def _env(conf_dir: Path) -> dict[str, str]:
    return {**os.environ, **parse_envvars((conf_dir / "envvars").read_text())}


@contextlib.contextmanager
def _debian_apache(root: Path, mpm: str = "event") -> Iterator[DebianApache]:
    """Start ``apache2 -d COPY``: ports.conf on a free loopback port, envvars' run, lock, log
    and pid paths in ``root`` (so the system server's files are not touched), ``mpm`` enabled
    as a2enmod does it; the rest as installed. Stopped, its processes gone, when the block ends."""
    conf_dir = root / "apache2"
    shutil.copytree("/etc/apache2", conf_dir, symlinks=True)
    enabled = conf_dir / "mods-enabled"
    for link in enabled.glob("mpm_*"):
        link.unlink()
    for suffix in (".load", ".conf"):
        (enabled / f"mpm_{mpm}{suffix}").symlink_to(f"../mods-available/mpm_{mpm}{suffix}")
    if mpm != "prefork":  # a2enmod refuses a threaded MPM while mod_php (php8.2) is enabled
        for link in enabled.glob("php*"):
            link.unlink()
    ports = conf_dir / "ports.conf"
    ports.write_text(ports.read_text().replace("Listen 80\n", f"Listen 127.0.0.1:{free_port()}\n"))
    for sub in ("run", "lock", "log"):
        (root / sub).mkdir()
    with (conf_dir / "envvars").open("a") as envvars:
        envvars.write(
            textwrap.dedent(f"""
            export APACHE_RUN_DIR={root}/run
            export APACHE_PID_FILE={root}/run/apache2.pid
            export APACHE_LOCK_DIR={root}/lock
            export APACHE_LOG_DIR={root}/log
            """)
        )
    command = [str(APACHE_BIN), "-d", str(conf_dir), "-k"]
    subprocess.run([*command, "start"], env=_env(conf_dir), check=True, timeout=30)
    pid_file = root / "run" / "apache2.pid"
    pid = 0
    try:
        deadline = time.monotonic() + 15
        while not pid or len(live_group_members(pid)) < 3:  # the parent and 2 of StartServers
            assert time.monotonic() < deadline, (root / "log" / "error.log").read_text()
            time.sleep(0.05)
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text())
        yield DebianApache(conf_dir, pid)
    finally:
        subprocess.run([*command, "stop"], env=_env(conf_dir), timeout=30, check=False)
        deadline = time.monotonic() + 15
        while pid and live_group_members(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid and live_group_members(pid):
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def debian_apache(tmp_path: Path) -> Iterator[DebianApache]:
    with _debian_apache(tmp_path / "server") as server:
        yield server


@pytest.mark.requires_apache()
def test_inspect_real_debian_apache(debian_apache: DebianApache, tmp_path: Path) -> None:
    """The MPM, modules and directives are the server's; the memory split adds up to its PSS."""
    child = next(p for p in live_group_members(debian_apache.pid) if p != debian_apache.pid)
    found = inspect_apache(pid=child, window_s=0.6, interval_s=0.2)
    assert found.pid == debian_apache.pid  # a child's PID leads to its parent
    assert found.server.mpm == found.config.mpm == "event"
    assert found.notes == ()  # the files load exactly the modules apache2 -M lists
    assert found.server.variables_from == f"/proc/{debian_apache.pid}/environ"
    mpm_conf = debian_apache.conf_dir / "mods-enabled" / "mpm_event.conf"
    _, shipped = read_apache_config(mpm_conf, "event")
    assert found.directives.MaxRequestWorkers == int(shipped["MaxRequestWorkers"])
    assert found.directives.ThreadsPerChild == int(shipped["ThreadsPerChild"])
    memory, costs = found.memory, found.costs
    assert memory.children_max >= int(shipped["StartServers"])
    # The threads the engine charges to an event child: ThreadsPerChild, listener, main.
    assert memory.child_threads == found.directives.ThreadsPerChild + 2
    assert memory.child_rss_max_mib > memory.child_pss_max_mib > 0
    assert costs.parent_mib == pytest.approx(memory.parent_private_mib, abs=1e-3)
    assert costs.shared_mib == pytest.approx(memory.shared_mib, abs=1e-3)
    per_child = costs.process_mib + memory.child_threads * costs.thread_mib
    model_pss = costs.parent_mib + costs.shared_mib + memory.children_mean * per_child
    assert model_pss == pytest.approx(memory.total_pss_mib, rel=0.02)
    # apache2buddy charges shared pages to every child: it must find fewer workers than we do.
    assert found.capacity.buddy_workers < found.capacity.workers
    assert any("apache2buddy" in line for line in summary_lines(found))
    scenario, costs_file = write_inspection(found, tmp_path / "out", force=False)
    data = yaml.safe_load(scenario.read_text())
    assert data["costs"] == costs_file.name and data["server"]["mpm"] == "event"
    run = mpmsim("run", str(scenario), "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["effective_directives"]["MaxRequestWorkers"] == found.directives.MaxRequestWorkers
    assert result["throughput_rps"] > 0


@pytest.mark.requires_apache()
def test_cli_inspect_finds_the_server_from_its_config(
    debian_apache: DebianApache, tmp_path: Path
) -> None:
    """Without --pid the PidFile names the server; -o is never overwritten without --force."""
    out = tmp_path / "inspected"
    args = ["inspect", "--config", str(debian_apache.conf_dir / "apache2.conf"), "-o", str(out)]
    proc = mpmsim(*args, "--window-s", "0.3", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["pid"] == debian_apache.pid
    assert data["apache"]["files_read"][0] == str(debian_apache.conf_dir / "apache2.conf")
    assert {"scenario", "costs"} <= set(data["written"])
    before = (out / "costs.yaml").read_text()
    again = mpmsim(*args, "--window-s", "0")
    assert_one_line_error(again, "-o", "--force")
    assert (out / "costs.yaml").read_text() == before
    table = mpmsim(*args, "--window-s", "0", "--force")
    assert table.returncode == 0, table.stderr
    assert "apache2buddy" in table.stdout and "mpmsim run" in table.stdout


@pytest.mark.requires_apache()
def test_a_config_the_server_does_not_read_is_said(debian_apache: DebianApache) -> None:
    """--config naming a copy of the running server's file: its directives are read, and the
    notes say the running server (whose memory is sampled) was started with another file."""
    own = debian_apache.conf_dir / "apache2.conf"
    copy = debian_apache.conf_dir / "copy.conf"
    copy.write_text(own.read_text())
    found = inspect_apache(pid=debian_apache.pid, config=copy, window_s=0.0)
    [note] = [n for n in found.notes if n.startswith("--config")]
    assert str(copy) in note and f"(PID {debian_apache.pid})" in note and str(own) in note
    same = inspect_apache(pid=debian_apache.pid, config=own, window_s=0.0)
    assert not [n for n in same.notes if n.startswith("--config")]


@pytest.mark.requires_apache()
def test_inspect_real_prefork(tmp_path: Path) -> None:
    """prefork: one thread per child, one worker per child; Debian's mpm_prefork.conf values."""
    with _debian_apache(tmp_path / "server", "prefork") as server:
        found = inspect_apache(pid=server.pid, window_s=0.3, interval_s=0.1)
    assert found.server.mpm == found.config.mpm == "prefork"
    assert found.notes == ()
    _, shipped = read_apache_config(
        server.conf_dir / "mods-available" / "mpm_prefork.conf", "prefork"
    )
    assert found.directives.MaxRequestWorkers == int(shipped["MaxRequestWorkers"])
    assert found.memory.child_threads == 1
    assert found.capacity.workers_per_child == 1
    assert found.capacity.buddy_workers == found.capacity.buddy_children
    assert found.costs.process_mib > 0  # a prefork child is one thread: the rest is the process


def test_the_host_counts_the_cpus_apache_may_run_on() -> None:
    """Apache pinned by taskset to one CPU is sized on that one, whatever CPUs mpmsim has."""
    import os
    import subprocess

    from mpmsim.inspection.host import read_host

    one = min(os.sched_getaffinity(0))
    child = subprocess.Popen(["sleep", "30"], preexec_fn=lambda: os.sched_setaffinity(0, {one}))
    try:
        assert read_host(pid=child.pid).vcpus == 1
        assert read_host().vcpus == len(os.sched_getaffinity(0))
    finally:
        child.kill()
        child.wait()
