"""The commands the README shows run as written (from a scratch folder, examples by path).

Commands in ```sh blocks are run; ```console blocks (a live server, minutes of work) are shown
only, and other tests cover them.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
COMMANDS = [
    line.split("#")[0].strip()
    for block in BLOCKS
    for line in block.splitlines()
    if line.startswith("mpmsim ")
]


def test_readme_has_the_two_setup_commands() -> None:
    setup = [line for block in BLOCKS for line in block.splitlines() if ".venv/bin/" in line]
    assert any("pip install -e" in s and "mpmsim run workloads/examples/" in s for s in setup)
    assert any(s.strip() == ".venv/bin/python -m pytest" for s in setup)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert ".venv/bin/python -m pytest" in ci


@pytest.mark.parametrize(
    "command",
    [  # optimize and report simulate dozens of configurations: slow
        pytest.param(c, marks=pytest.mark.slow) if c.split()[1] in ("optimize", "report") else c
        for c in COMMANDS
    ],
)
def test_readme_command_runs(command: str, tmp_path: Path) -> None:
    args = shlex.split(command)[1:]
    args = [str(REPO / a) if a.startswith("workloads/") else a for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "mpmsim", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
