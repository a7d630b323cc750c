"""The public API (``mpmsim.__all__``): sorted, and every name still what it says after a run.

The bug this guards against: ``mpmsim.prepare`` was a function until the first ``mpmsim.run()``
imported a submodule of the same name, which Python's import machinery then bound to
``mpmsim.prepare`` in its place, so the next ``mpmsim.prepare(...)`` raised TypeError.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

import mpmsim
from tests.helpers import EXAMPLES

EXAMPLE = EXAMPLES / "primer-ab-event.yaml"
SMALL = ("load.requests=300",)  # the primer's scenario, cut short


def _modules() -> dict[str, ModuleType | None]:
    """Every module under ``mpmsim`` by dotted name; packages imported (to walk into them)."""
    found: dict[str, ModuleType | None] = {"mpmsim": mpmsim}
    for info in pkgutil.walk_packages(mpmsim.__path__, "mpmsim."):
        found[info.name] = importlib.import_module(info.name) if info.ispkg else None
    return found


def test_all_is_sorted() -> None:
    assert list(mpmsim.__all__) == sorted(mpmsim.__all__)


def test_every_public_name_works_after_a_run(tmp_path: Path) -> None:
    first = mpmsim.run(EXAMPLE, overrides=SMALL, replications=1)
    assert first.to_dict()["completed"] == 300
    for name in mpmsim.__all__:
        value = getattr(mpmsim, name)
        if name == "__version__":
            assert value == importlib.metadata.version("mpmsim")
        elif isinstance(value, ModuleType):  # a namespace of helpers: mpmsim.plot
            assert value.__name__ == f"mpmsim.{name}" and value.__all__, name
        elif name[0].isupper():
            assert inspect.isclass(value), f"mpmsim.{name} is {value!r}, not a class"
        else:
            assert inspect.isfunction(value), f"mpmsim.{name} is {value!r}, not a function"
    # ... and each function, called a second time, returns what the classes say.
    scenario = mpmsim.load_scenario(EXAMPLE, overrides=SMALL)
    assert isinstance(scenario, mpmsim.Scenario)
    assert mpmsim.prepare(scenario).directives.MaxRequestWorkers == 400
    again = mpmsim.run(scenario, replications=1)
    assert isinstance(again, mpmsim.RunResult)
    assert again.to_dict()["throughput_rps"] == first.to_dict()["throughput_rps"]
    best = mpmsim.optimize(scenario, budget=1, cache_dir=tmp_path)
    assert isinstance(best, mpmsim.OptimizeResult)
    with pytest.raises(mpmsim.InputError, match="MaxRequestWorkers"):
        mpmsim.run(EXAMPLE, overrides=("server.directives.MaxRequestWorkers=many",))


def test_no_module_is_named_like_a_public_function() -> None:
    """A module ``mpmsim/prepare.py`` would replace the function ``mpmsim.prepare`` once imported;
    the same holds in any package for the names its ``__all__`` exports (``mpmsim.cli.run`` may
    exist: it shadows nothing in ``mpmsim``)."""
    modules = _modules()
    public = {
        name
        for name in mpmsim.__all__
        if name.islower()
        and not name.startswith("_")
        and not isinstance(getattr(mpmsim, name), ModuleType)  # mpmsim.plot is the package
    }
    assert public >= {"load_scenario", "optimize", "prepare", "run"}
    assert [f"mpmsim.{name}" for name in sorted(public) if f"mpmsim.{name}" in modules] == []
    clashes = [
        f"{package}.{name}"
        for package, module in modules.items()
        if module is not None
        for name in getattr(module, "__all__", ())
        if f"{package}.{name}" in modules
        and not isinstance(getattr(module, name), ModuleType)  # exported as the package it is
    ]
    assert clashes == []


ONE_CLIENT = Path(__file__).resolve().parent.parent / "measurements" / "one-client" / "runs.csv"


@pytest.mark.slow
def test_calibrate_fits_measurement_csvs_as_the_command_does(tmp_path: Path) -> None:
    """``mpmsim.calibrate``: the rows of a CSV fitted, held-out rows predicted, bad names refused
    with the field named (the first repetition of the one-client campaign: six rows)."""
    lines = ONE_CLIENT.read_text(encoding="utf-8").splitlines(keepends=True)
    csv = tmp_path / "runs.csv"
    csv.write_text("".join([lines[0], *(line for line in lines[1:] if "-r1," in line)]))
    cal = mpmsim.calibrate(csv, holdout="mpm=event", name="mine", jobs=1)
    assert isinstance(cal, mpmsim.Calibration)
    assert cal.costs.name == "mine"
    assert [r["held_out"] for r in cal.rows].count(True) == 2  # event's two rows
    assert len(cal.rows) == 6 and cal.mape  # every row simulated and compared
    with pytest.raises(mpmsim.InputError, match="cannot be kept") as bad:
        mpmsim.calibrate([csv], keep=["thread_mib"])
    assert bad.value.field == "--keep"
    with pytest.raises(mpmsim.InputError, match="no measurement CSV"):
        mpmsim.calibrate([])
