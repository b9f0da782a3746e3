"""The locks: every pin of pyproject.toml is in them at the same version, every requirement carries hashes, and the
runtime lock (the Dockerfile's) agrees with the test lock (scripts/bootstrap's, CI's) on every shared version."""

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.MULTILINE)


def locked(name: str) -> dict[str, str]:
    return {_normal(package): version for package, version in REQUIREMENT.findall((ROOT / name).read_text())}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements: list[str]) -> dict[str, str]:
    return {_normal(name.split("[")[0]): version for name, version in (r.split("==") for r in requirements)}


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        ("requirements.lock", PROJECT["dependencies"]),
        ("requirements-test.lock", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]),
    ],
)
def test_the_lock_holds_every_pin_of_pyproject(lock, requirements):
    versions = locked(lock)
    stale = {name: (version, versions.get(name)) for name, version in pins(requirements).items()}
    assert {name: v for name, v in stale.items() if v[0] != v[1]} == {}, f"run scripts/lock ({lock} is stale)"


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-test.lock"])
def test_every_locked_requirement_carries_hashes(lock):
    lines = (ROOT / lock).read_text().splitlines()
    unhashed = [
        line
        for line, after in zip(lines, lines[1:] + [""], strict=True)
        if REQUIREMENT.match(line) and not after.strip().startswith("--hash=sha256:")
    ]
    assert lines and unhashed == []


def test_the_runtime_lock_is_the_test_locks_versions():
    runtime, test = locked("requirements.lock"), locked("requirements-test.lock")
    assert {name: version for name, version in runtime.items() if test.get(name) != version} == {}
