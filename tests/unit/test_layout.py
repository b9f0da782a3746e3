"""The layers of the code base: `shared/` is what services import at run time and knows no service; services
never import each other; only `system/` (the tooling) knows the whole system."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def imported_modules(folder: Path) -> dict[Path, set[str]]:
    found: dict[Path, set[str]] = {}
    for path in folder.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[path.relative_to(ROOT)] = names
    return found


def test_shared_imports_no_service_and_no_tooling():
    offending = {
        str(path): sorted(name for name in names if name.split(".")[0] in ("services", "system", "benchmarks"))
        for path, names in imported_modules(ROOT / "shared").items()
    }
    assert {path: names for path, names in offending.items() if names} == {}


def test_the_contract_imports_no_runtime_plumbing():
    offending = {
        str(path): sorted(name for name in names if name.startswith("shared.runtime"))
        for path, names in imported_modules(ROOT / "shared" / "contract").items()
    }
    assert {path: names for path, names in offending.items() if names} == {}


@pytest.mark.parametrize("service", ["intake", "routing", "engagements", "notify"])
def test_a_service_imports_no_other_service_and_no_tooling(service):
    offending = {
        str(path): sorted(
            name
            for name in names
            if name.split(".")[0] in ("system", "benchmarks")
            or (name.startswith("services.") and not name.startswith(f"services.{service}"))
        )
        for path, names in imported_modules(ROOT / "services" / service).items()
    }
    assert {path: names for path, names in offending.items() if names} == {}
