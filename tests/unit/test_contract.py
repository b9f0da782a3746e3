"""The published contract: JSON Schemas committed beside the models, and changes that would break consumers."""

import copy
import json
import re

import pytest

from shared.contract.envelope import Envelope
from shared.contract.events import EVENT_MODELS, UPCASTERS, RequestRouted, UnknownEvent, parse_event
from shared.contract.schemas import breaking_changes, current_schemas, published_schemas
from shared.contract.topics import CATALOG, replication
from system.asyncapi import ASYNCAPI_DIR, asyncapi_document
from system.stack.runner import SERVICES

_VERSIONED = re.compile(r"^(\w+)\.v(\d+)\.json$")


def test_the_committed_schemas_match_the_code():
    published = published_schemas()
    for file_name, schema in current_schemas().items():
        assert published.get(file_name) == schema, f"{file_name} is stale: run `cri export-schemas`"


@pytest.mark.parametrize("file_name", sorted(published_schemas()))
def test_no_published_event_version_is_broken_by_the_code(file_name):
    current = current_schemas()
    if file_name in current:
        assert breaking_changes(published_schemas()[file_name], current[file_name]) == []
    else:
        # An older version: today's consumers must still read it, through upcasters.
        event_type, version = _VERSIONED.match(file_name).groups()
        latest = EVENT_MODELS[event_type].event_version
        assert all((event_type, v) in UPCASTERS for v in range(int(version), latest))


@pytest.mark.parametrize("service", SERVICES)
def test_the_committed_asyncapi_documents_match_the_code(service):
    committed = json.loads((ASYNCAPI_DIR / f"{service}.json").read_text())
    assert committed == asyncapi_document(service), f"docs/asyncapi/{service}.json is stale: run `cri export-schemas`"


def test_removing_a_field_is_reported_as_breaking():
    published = RequestRouted.model_json_schema()
    changed = copy.deepcopy(published)
    del changed["properties"]["reason"]
    assert breaking_changes(published, changed) == [".reason: field removed"]


def test_requiring_a_new_field_is_reported_as_breaking():
    published = RequestRouted.model_json_schema()
    changed = copy.deepcopy(published)
    changed["properties"]["region"] = {"type": "string"}
    changed["required"].append("region")
    assert breaking_changes(published, changed) == [".region: field is now required"]


def test_removing_an_allowed_value_is_reported_as_breaking():
    published = RequestRouted.model_json_schema()
    changed = json.loads(json.dumps(published).replace(', "organizational_assessment"', ""))
    assert any("allowed values removed" in problem for problem in breaking_changes(published, changed))


def test_adding_an_optional_field_is_compatible():
    published = RequestRouted.model_json_schema()
    changed = copy.deepcopy(published)
    changed["properties"]["region"] = {"type": "string", "default": None}
    assert breaking_changes(published, changed) == []


def test_an_event_newer_than_the_consumer_is_refused_by_name():
    envelope = Envelope(type="RequestRouted", version=99, source="routing", key="k", correlation_id="c", data={})
    with pytest.raises(UnknownEvent, match="version 99 is newer"):
        parse_event(envelope)


def test_every_event_names_a_topic_of_the_catalog():
    names = {spec.name for spec in CATALOG}
    assert {model.topic for model in EVENT_MODELS.values()} <= names


@pytest.mark.parametrize(("brokers", "expected"), [(1, (1, None)), (2, (2, None)), (3, (3, 2)), (5, (3, 2))])
def test_topics_are_replicated_as_the_cluster_allows(brokers, expected):
    """Three copies and two in sync before a write is acknowledged where three brokers run; one on one broker."""
    assert replication(brokers) == expected
    factor, min_insync = expected
    assert all(
        spec.config(min_insync).get("min.insync.replicas") == (min_insync and str(min_insync)) for spec in CATALOG
    )
