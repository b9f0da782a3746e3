"""Routing's, engagements' and notify's OpenAPI documents, fuzzed by schemathesis (bounded, deterministic) with
a staff key: no input makes a service answer with a server error. Intake has its own, deeper fuzz.

Every operation in a document is fuzzed with inputs that fit it, and every one that takes an input (a path, query,
header or cookie parameter, the API key, a body) with inputs that do not; an operation that takes none, such as
/asyncapi.json, has no input that does not fit. People's pages are not in the documents (include_in_schema=False):
their bad input is tested with the pages (tests/unit/test_web.py, tests/integration/test_routing_pages.py,
tests/e2e/test_authorization.py)."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode

from tests.support import STAFF

pytestmark = pytest.mark.e2e

SERVICES = ("routing", "engagements", "notify")

# Not fuzzed: readiness answers 503 while a dependency is away, which is its answer and no fault (tested in
# tests/e2e/test_startup.py and test_operations.py); the dashboard's stream of server-sent events never ends.
NOT_FUZZED = {("GET", "/health/ready"), ("GET", "/dashboard/stream")}


@pytest.fixture(scope="module")
def schemas(system):
    return {service: schemathesis.openapi.from_url(f"{system[service].url}/openapi.json") for service in SERVICES}


def takes_input(operation) -> bool:
    """Whether the operation reads anything from the request that a negative case could get wrong (schemathesis
    rejects every negative case of one that reads nothing, and hypothesis then fails as Unsatisfiable)."""
    return any(True for _ in operation.iter_parameters()) or bool(operation.body)


@pytest.mark.parametrize("mode", list(GenerationMode))
@pytest.mark.parametrize("service", SERVICES)
def test_no_generated_input_makes_a_service_answer_with_a_server_error(system, schemas, service, mode):
    operations = [result.ok() for result in schemas[service].get_all_operations()]
    fuzzed = set()
    for operation in operations:
        key = (operation.method.upper(), operation.path)
        if key in NOT_FUZZED or (mode is GenerationMode.NEGATIVE and not takes_input(operation)):
            continue

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=25, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def call(case):
            case.call_and_validate(headers=STAFF, checks=[not_a_server_error])

        call()
        fuzzed.add(key)
    # The versioned API needs a key, so every one of its operations has inputs that do not fit, in both modes.
    api = {(operation.method.upper(), operation.path) for operation in operations if operation.path.startswith("/v1/")}
    assert api, f"{service} documents no /v1 operation"
    assert api <= fuzzed, f"not fuzzed in {mode.value} mode: {sorted(api - fuzzed)}"
