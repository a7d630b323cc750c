"""Hardware profiles: the shipped catalog and the ways a scenario names its machine."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from mpmsim.errors import InputError
from mpmsim.errors.validation import validation_error_line
from mpmsim.models.hardware import (
    BurstSpec,
    HardwareSpec,
    hardware_catalog,
    hardware_table,
    load_hardware,
)

EXPECTED = {
    "bench-1core", "t3.micro", "t3.small", "t3.medium", "t3.large", "t3.xlarge", "t3.2xlarge",
    "m6i.large", "m6i.xlarge", "m6i.2xlarge", "c6i.large", "c6i.xlarge", "c6i.2xlarge",
}  # fmt: skip


def test_catalog_holds_every_shipped_profile() -> None:
    assert set(hardware_catalog()) == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_profile_cites_its_sources(name: str) -> None:
    spec = hardware_catalog()[name]
    for key in ("vcpus", "ram_mib", "price_per_hour_usd", "cpu_speed"):
        assert spec.sources.get(key), f"{name} lacks a source for {key}"
    if spec.burst is not None:
        for key in ("baseline_fraction", "credits_per_hour", "credits_max", "credits_initial"):
            assert spec.sources.get(f"burst.{key}"), f"{name} lacks a source for burst.{key}"
    if spec.host_contention is not None:
        assert spec.sources.get("host_contention"), f"{name} lacks a source for host_contention"
    if spec.idle_wake is not None:
        assert spec.sources.get("idle_wake"), f"{name} lacks a source for idle_wake"
    assert 0 < spec.usable_ram_mib < spec.ram_mib


def test_t3_medium_matches_aws() -> None:
    spec = hardware_catalog()["t3.medium"]
    assert (spec.vcpus, spec.ram_mib, spec.price_per_hour_usd) == (2, 4096, 0.0416)
    assert spec.burst == BurstSpec(
        baseline_fraction=0.20, credits_initial=576, credits_max=576, credits_per_hour=24
    )
    assert spec.burst.mode == "standard"


def test_t3_credits_sustain_the_baseline() -> None:
    """Credits per hour = vCPUs x baseline x 60 min, and the cap is 24 h of earning."""
    for spec in hardware_catalog().values():
        if spec.burst is not None:
            b = spec.burst
            assert b.credits_per_hour == pytest.approx(spec.vcpus * b.baseline_fraction * 60)
            assert b.credits_max == pytest.approx(24 * b.credits_per_hour)


def test_bench_machine_is_the_reference() -> None:
    spec = hardware_catalog()["bench-1core"]
    assert (spec.vcpus, spec.ram_mib, spec.cpu_speed, spec.burst) == (1, 24576, 1.0, None)


def test_table_has_one_row_per_profile() -> None:
    rows = hardware_table()
    assert [r["name"] for r in rows] == list(hardware_catalog())
    medium = next(r for r in rows if r["name"] == "t3.medium")
    assert medium == {
        "name": "t3.medium", "vcpus": 2, "ram_mib": 4096.0, "cpu_speed": 0.65,
        "baseline": 0.2, "price_per_hour_usd": 0.0416,
    }  # fmt: skip


def test_load_by_name_path_and_inline(tmp_path: Path) -> None:
    assert load_hardware("t3.small") is hardware_catalog()["t3.small"]
    (tmp_path / "box.yaml").write_text("vcpus: 3\nram_mib: 2048\n")
    from_file = load_hardware("box.yaml", relative_to=tmp_path)
    assert (from_file.name, from_file.vcpus, from_file.usable_ram_mib) == ("box", 3, 1536)
    assert load_hardware(str(tmp_path / "box.yaml")).vcpus == 3
    inline = load_hardware({"vcpus": 4, "ram_mib": 8192, "os_reserved_mib": 1024})
    assert (inline.name, inline.usable_ram_mib) == ("custom", 7168)


def test_base_plus_overrides_merges_nested_keys() -> None:
    spec = load_hardware(
        {"base": "t3.medium", "burst": {"mode": "unlimited", "credits_initial": 0}}
    )
    assert spec.name == "t3.medium (custom)"
    assert spec.burst is not None
    assert (spec.burst.mode, spec.burst.credits_initial, spec.burst.credits_max) == (
        "unlimited",
        0,
        576,
    )
    assert spec.price_per_hour_usd == 0.0416
    assert "burst.credits_initial" not in spec.sources  # no longer the base's value
    assert "burst.credits_max" in spec.sources


def test_file_may_use_a_base(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text("base: t3.large\nram_mib: 16384\n")
    spec = load_hardware("big.yaml", relative_to=tmp_path)
    assert (spec.name, spec.vcpus, spec.ram_mib) == ("big", 2, 16384)


def test_unknown_name_suggests_the_nearest() -> None:
    with pytest.raises(InputError) as info:
        load_hardware("t3.meduim", source="w.yaml")
    text = str(info.value)
    assert text.startswith("w.yaml: hardware: unknown hardware 't3.meduim'")
    assert "did you mean t3.medium" in text
    assert "or a path to a hardware YAML" in text
    assert "\n" not in text


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such hardware file"):
        load_hardware("nope.yaml", relative_to=tmp_path)


@pytest.mark.parametrize(
    ("ref", "field", "fragment"),
    [
        (
            {"base": "t3.medium", "burst": {"mode": "turbo"}},
            "hardware.burst.mode",
            "input should be 'standard' or 'unlimited'",
        ),
        ({"vcpus": 0, "ram_mib": 1024}, "hardware.vcpus", "greater than or equal to 1"),
        ({"vcpus": 1, "ram_mib": 512}, "hardware.os_reserved_mib", "less than ram_mib (512)"),
        ({"vcpus": 1, "ram_mib": 1024, "ram_gb": 1}, "hardware.ram_gb", "unknown key"),
        ({"ram_mib": 512}, "hardware.vcpus", "required key is missing"),
        ({"base": "t3.medium", "burst": {"baseline_fraction": 1.5}}, "hardware.burst", "1"),
        ({"vcpus": 2, "ram_mib": 1024, "online_cpus": 1}, "hardware.online_cpus", "at least vcpus"),
    ],
)
def test_bad_field_gives_one_line_with_its_path(
    ref: dict[str, object], field: str, fragment: str
) -> None:
    with pytest.raises(InputError) as info:
        load_hardware(ref, source="w.yaml")
    assert info.value.field is not None and info.value.field.startswith(field)
    assert info.value.file == "w.yaml"
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_yaml_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("vcpus: [1\n")
    with pytest.raises(InputError) as info:
        load_hardware(str(path))
    assert info.value.file == str(path) and "invalid YAML" in str(info.value)
    path.write_text("vcpus: 1\nram_mib: 1024\ncolour: red\n")
    with pytest.raises(InputError) as info:
        load_hardware(str(path))
    assert (info.value.file, info.value.field) == (str(path), "colour")


def test_validation_error_line_uses_dotted_paths() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        HardwareSpec.model_validate({"vcpus": 2, "ram_mib": 1024, "burst": {"mode": "x"}})
    path, message = validation_error_line(info.value)
    assert path == "burst.baseline_fraction"
    assert message == "required key is missing"


def test_scheduler_scales_with_the_cpus_online() -> None:
    # A server pinned to one of two online CPUs: the kernel's tunables follow the two.
    pinned = HardwareSpec(vcpus=1, ram_mib=1024, online_cpus=2)
    assert pinned.scheduler_cpus == 2
    assert HardwareSpec(vcpus=4, ram_mib=1024).scheduler_cpus == 4
