"""Shared pytest fixtures: a real Apache on loopback (``apache_factory``, ``requires_apache``)."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from mpmsim.cli import main
from tests.apache import APACHE_BIN, ApacheFactory, ApacheServer, running_apache
from tests.helpers import Cli, Outcome


@pytest.fixture(autouse=True, scope="session")
def _private_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Caches (``mpmsim optimize``'s) go to a temporary folder, never to the user's home."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``requires_apache`` marker."""
    config.addinivalue_line(
        "markers",
        "requires_apache(*tools): needs /usr/sbin/apache2 (and the named tools on PATH, e.g. "
        '"ab", "wrk", or files named by absolute path, e.g. php-fpm8.2 and libphp8.2.so); '
        "skipped when missing, but FAILS when the CI environment variable is set",
    )


def _missing(tools: tuple[str, ...]) -> list[str]:
    missing = [] if os.access(APACHE_BIN, os.X_OK) else [str(APACHE_BIN)]
    return missing + [
        tool
        for tool in tools
        if (not os.path.exists(tool) if tool.startswith("/") else shutil.which(tool) is None)
    ]


def _require(tools: tuple[str, ...]) -> None:
    """Skip (or fail under CI) when Apache or one of ``tools`` is not installed."""
    missing = _missing(tools)
    if not missing:
        return
    reason = (
        f"real-Apache test needs {', '.join(missing)}: apt-get install -y apache2 apache2-utils "
        "wrk (PHP: php8.2-fpm libapache2-mod-php8.2)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so this is an error: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Apply ``requires_apache`` markers."""
    for marker in item.iter_markers("requires_apache"):
        _require(tuple(str(tool) for tool in marker.args))


@pytest.fixture
def apache_factory(tmp_path: Path) -> Iterator[ApacheFactory]:
    """``start(mpm="prefork", directives=None)`` -> a running server, stopped after the test."""
    _require(())
    counter = itertools.count(1)
    with contextlib.ExitStack() as stack:

        def start(
            mpm: str = "prefork", directives: Mapping[str, object] | None = None
        ) -> ApacheServer:
            root = tmp_path / f"apache-{mpm}-{next(counter)}"
            return stack.enter_context(running_apache(mpm, dict(directives or {}), root))

        yield start


@pytest.fixture
def mpmsim(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """``mpmsim ARGS`` through the console entry point, in this process (no start-up cost)."""

    def call(*args: str) -> Outcome:
        monkeypatch.setattr(sys, "argv", ["mpmsim", *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            main()
            sys.exit(0)
        out, err = capsys.readouterr()
        return Outcome(int(done.value.code or 0), out, err)

    return call
