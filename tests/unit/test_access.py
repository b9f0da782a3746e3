"""The Kafka ACLs come from the topic catalog, and the catalog says what each service's code really does: no
topic without its ACLs, no service reading or writing beyond them, no group shared between principals."""

import importlib
import re
from pathlib import Path

import pytest

from shared.contract.topics import CATALOG, DEAD_LETTERS, ENGAGEMENT_STATE, INBOUND_REJECTIONS, INBOUND_SUBMISSIONS
from system.access import (
    DASHBOARD,
    OPS,
    PUBLISHER,
    SETUP,
    Operation,
    Resource,
    acls,
    allowed,
    principal_of,
    principals,
    readers,
)
from system.stack.runner import SERVICES

RULES = acls()


def topics_allowed(principal: str, operation: Operation) -> set[str]:
    return {spec.name for spec in CATALOG if allowed(principal, operation, Resource.TOPIC, spec.name, RULES)}


@pytest.mark.parametrize("spec", CATALOG, ids=lambda spec: spec.name)
def test_every_catalog_topic_has_the_acls_of_its_producers_and_consumers(spec):
    writers = {p for p in principals() if allowed(p, Operation.WRITE, Resource.TOPIC, spec.name, RULES)}
    assert writers == {principal_of(party) for party in spec.producers} and writers
    assert readers(spec.name, RULES) == sorted({principal_of(party) for party in spec.consumers})
    assert readers(spec.name, RULES)


def test_a_principal_per_service_and_per_kind_of_outside_client_and_setup():
    assert principals() == sorted([*(f"cri-{s}" for s in SERVICES), PUBLISHER, DASHBOARD, OPS]) + [SETUP]


def test_setup_needs_no_acl_it_is_a_super_user_and_nobody_else_may_create():
    assert not [rule for rule in RULES if rule.principal == SETUP]
    assert {rule.operation for rule in RULES} == {Operation.READ, Operation.WRITE, Operation.DESCRIBE}


def test_outside_clients_get_exactly_what_the_issue_grants():
    assert topics_allowed(PUBLISHER, Operation.WRITE) == {INBOUND_SUBMISSIONS.name}
    assert topics_allowed(PUBLISHER, Operation.READ) == {INBOUND_REJECTIONS.name}
    assert topics_allowed(DASHBOARD, Operation.READ) == {ENGAGEMENT_STATE.name}
    assert topics_allowed(DASHBOARD, Operation.WRITE) == set()
    assert topics_allowed(OPS, Operation.WRITE) == set()
    assert all(allowed(OPS, Operation.DESCRIBE, kind, "any", RULES) for kind in (Resource.TOPIC, Resource.GROUP))


def test_dead_letters_are_written_by_every_service_and_read_by_ops_alone():
    assert readers(DEAD_LETTERS.name, RULES) == [OPS]
    assert topics_allowed(OPS, Operation.WRITE) == set()


def test_no_principal_may_use_another_principals_consumer_group():
    for principal in principals():
        for other in principals():
            for group in (other, f"{other}-inbound"):
                mine = allowed(principal, Operation.READ, Resource.GROUP, group, RULES)
                assert mine == (principal == other and principal != SETUP), (principal, group)


@pytest.fixture(scope="module")
def brokers() -> dict:
    return {
        service: importlib.import_module(f"services.{service}.app").create_app().state.runtime.broker
        for service in SERVICES
    }


@pytest.mark.parametrize("service", SERVICES)
def test_the_catalog_says_what_each_service_subscribes_to_and_publishes(brokers, service):
    broker, principal = brokers[service], f"cri-{service}"
    subscribed = {name for subscriber in broker.subscribers for name in subscriber.topic_names}
    assert subscribed == topics_allowed(principal, Operation.READ)
    assert {publisher.topic for publisher in broker.publishers} <= topics_allowed(principal, Operation.WRITE)
    for subscriber in broker.subscribers:
        owners = [p for p in principals() if allowed(p, Operation.READ, Resource.GROUP, subscriber.group_id, RULES)]
        assert owners == [principal], subscriber.group_id


def test_the_table_in_docs_security_md_is_the_acls():
    table = {}
    for line in (Path(__file__).parents[2] / "docs" / "security.md").read_text().splitlines():
        if line.startswith("| `cri-"):
            principal, _who, writes, reads, _groups = (cell.strip() for cell in line.strip("|").split(" | "))
            table[principal.strip("`")] = (
                set(re.findall(r"`(cri\.[^`]+)`", writes)),
                set(re.findall(r"`(cri\.[^`]+)`", reads)),
            )
    del table[SETUP]
    assert table == {
        p: (topics_allowed(p, Operation.WRITE), topics_allowed(p, Operation.READ)) for p in principals() if p != SETUP
    }
