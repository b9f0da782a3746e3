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


SERVICES = ("intake", "routing", "engagements", "notify")
# Every service has these roles, under these names; a reader who knows one service knows them all.
ROLES = (
    "__init__.py",
    "__main__.py",
    "settings.py",
    "app.py",
    "domain",
    "commands.py",
    "handlers.py",
    "api.py",
    "store.py",
)
IO_LIBRARIES = ("asyncpg", "aiokafka", "faststream", "fastapi", "starlette", "httpx", "aiosmtplib", "uvicorn", "yaml")


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_same_module_roles(service):
    folder = ROOT / "services" / service
    assert [role for role in ROLES if not (folder / role).exists()] == []


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_names_itself_once_in_its_package(service):
    package = ast.parse((ROOT / "services" / service / "__init__.py").read_text())
    names = {
        target.id: node.value.value
        for node in package.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert names.get("SERVICE") == service


@pytest.mark.parametrize("service", SERVICES)
def test_the_domain_does_no_io(service):
    """Pure decisions: nothing in domain/ imports a database, broker, HTTP, SMTP or file-format library, except the
    data-file loader, which reads a file when called, never at import."""
    offending = {
        str(path): sorted(name for name in names if name.split(".")[0] in IO_LIBRARIES)
        for path, names in imported_modules(ROOT / "services" / service / "domain").items()
    }
    assert {path: names for path, names in offending.items() if names} == {}


@pytest.mark.parametrize("service", SERVICES)
def test_no_store_builds_an_event(service):
    source = (ROOT / "services" / service / "store.py").read_text()
    calls = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "wrap"
    ]
    assert calls == [], "events are built by commands, never by the store"


@pytest.mark.parametrize("service", SERVICES)
def test_no_api_reads_database_records(service):
    api_modules = [path for path in (ROOT / "services" / service).glob("*.py") if path.name in ("api.py", "pages.py")]
    offending = {
        str(path.relative_to(ROOT)): names
        for path in api_modules
        if (names := sorted(n for n in imported_modules(path.parent)[path.relative_to(ROOT)] if n == "asyncpg"))
    }
    assert offending == {}
