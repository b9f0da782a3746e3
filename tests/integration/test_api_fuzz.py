"""Routing's, engagements' and notify's OpenAPI documents, fuzzed by schemathesis (bounded, deterministic) with
a staff key: no input makes a service answer with a server error. Intake has its own, deeper fuzz."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode

from tests.support import STAFF

pytestmark = pytest.mark.e2e

SERVICES = ("routing", "engagements", "notify")


@pytest.fixture(scope="module")
def schemas(system):
    return {service: schemathesis.openapi.from_url(f"{system[service].url}/openapi.json") for service in SERVICES}


@pytest.mark.parametrize("mode", list(GenerationMode))
@pytest.mark.parametrize("service", SERVICES)
def test_no_generated_input_makes_a_service_answer_with_a_server_error(system, schemas, service, mode):
    schema = schemas[service]
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith(("/dashboard", "/health")):
            continue

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=25, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def call(case):
            case.call_and_validate(headers=STAFF, checks=[not_a_server_error])

        call()
        checked += 1
    assert checked > 0
