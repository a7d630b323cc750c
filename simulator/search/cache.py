"""A disk cache of evaluated optimize candidates, so ``--resume`` repeats no simulation."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

CACHE_VERSION = 4
"""Bumped when cached evaluations change (2, 3: offered_rps, CPU per request, throttling; 4:
the first replication's error_log)."""


def candidate_key(
    scenario_json: str, overrides: tuple[str, ...], seed: int, reps: int, context: str = ""
) -> str:
    """Hash of the scenario's content, the candidate's overrides, the seed and replications.

    ``context`` holds what the scenario only names (the resolved hardware, costs, directives of
    a config file, mix) and the mpmsim version, so an edited cost file or a new release never
    reuses a stale point.
    """
    text = json.dumps(
        {
            "v": CACHE_VERSION,
            "context": context,
            "scenario": scenario_json,
            "overrides": list(overrides),
            "seed": seed,
            "replications": reps,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()


@functools.cache
def code_fingerprint() -> str:
    """A hash of mpmsim's own source files (and its shipped catalogs): a cached point is never
    reused by other code, even when the version number did not change (a checkout, an edit)."""
    import mpmsim
    import mpmsim.models
    import mpmsim.workloads

    # An editable install maps mpmsim.models and .workloads to folders beside the package's.
    roots = {Path(str(m.__file__)).parent for m in (mpmsim, mpmsim.models, mpmsim.workloads)}
    files = {f.resolve() for r in roots for pattern in ("*.py", "*.yaml") for f in r.rglob(pattern)}
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class EvalCache:
    """One JSON file per candidate under ``folder``; reads only when ``reuse`` is set."""

    def __init__(self, folder: Path | None, *, reuse: bool) -> None:
        self.folder = folder
        self.reuse = reuse
        self.hits = 0
        self.writes = 0
        self.problem: str | None = None

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored evaluation for ``key``, if reusing and present."""
        if self.folder is None or not self.reuse:
            return None
        path = self.folder / f"{key}.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        self.hits += 1
        return data

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store an evaluation atomically (a Ctrl-C never leaves half a file).

        A folder that cannot be written (read-only, full disk) turns the cache off and leaves
        the reason in ``problem``: the search goes on without it.
        """
        if self.folder is None:
            return
        tmp = self.folder / f".{key}.{os.getpid()}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(value, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.folder / f"{key}.json")
        except OSError as exc:
            self.problem = f"cache off: cannot write {self.folder}: {exc.strerror or exc}"
            self.folder = None
            return
        self.writes += 1
