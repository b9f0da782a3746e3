"""The published contract: JSON Schemas published once and never changed, FULL transitive compatibility between
the versions of an event (checked by a checker that is itself tested change by change), tolerant readers."""

import copy
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from markupsafe import escape

from shared.contract import schemas
from shared.contract.envelope import Envelope
from shared.contract.events import EVENT_MODELS, NewerVersion, RequestQueued, RequestRouted, UnknownEvent, parse_event
from shared.contract.schemas import (
    BACKWARD,
    EXAMPLES_DIR,
    FORWARD,
    FULL,
    MANIFEST,
    SCHEMA_DIR,
    ContractError,
    current_schemas,
    digest,
    example,
    incompatibilities,
    manifest,
    published_schemas,
    unpublishable,
    versions_of,
    write_schemas,
)
from shared.contract.topics import CATALOG, replication
from shared.runtime.contract_page import render_page
from system.asyncapi import ASYNCAPI_DIR, asyncapi_document
from system.stack.runner import SERVICES


def test_every_published_schema_is_the_file_it_was_published_as():
    published = manifest()
    files = {path.name for path in SCHEMA_DIR.glob("*.json")}
    assert files == set(published), f"every schema file is published, once: see {MANIFEST}"
    for name, sha in published.items():
        assert digest((SCHEMA_DIR / name).read_text()) == sha, f"{name} was published and must never change"


def test_the_code_changes_no_published_version_and_breaks_none():
    assert unpublishable() == []


def test_the_code_is_published():
    unpublished = set(current_schemas()) - set(manifest())
    assert not unpublished, f"{sorted(unpublished)} not published yet: run `cri export-schemas`"


@pytest.mark.parametrize("event_type", sorted(EVENT_MODELS))
def test_the_published_versions_of_an_event_are_fully_compatible_transitively(event_type):
    versions = versions_of(event_type, published_schemas())
    assert max(versions) == EVENT_MODELS[event_type].event_version
    for old in versions:
        for new in (v for v in versions if v > old):
            assert incompatibilities(versions[old], versions[new]) == [], f"v{old} -> v{new}"


@pytest.mark.parametrize("service", SERVICES)
def test_the_committed_asyncapi_documents_match_the_code(service):
    committed = json.loads((ASYNCAPI_DIR / f"{service}.json").read_text())
    assert committed == asyncapi_document(service), f"docs/asyncapi/{service}.json is stale: run `cri export-schemas`"


# The checker, change by change, against the published RequestRouted v1: (field, change, rule) per verdict.
Schema = dict[str, Any]
ROUTED_V1 = published_schemas()["RequestRouted.v1.json"]


def _with(change: Callable[[Schema], object]) -> Schema:
    schema = copy.deepcopy(ROUTED_V1)
    change(schema)
    return schema


def _rename_reason(schema: Schema) -> None:
    schema["properties"]["override_reason"] = schema["properties"].pop("reason")


CHANGES: dict[str, tuple[Schema, list[tuple[str, str, str]]]] = {
    "optional field added": (
        _with(lambda s: s["properties"].update(region={"type": "string", "default": None})),
        [],
    ),
    "description reworded": (
        _with(lambda s: s["properties"]["reason"].update(description="Why staff chose this provider.")),
        [],
    ),
    "required field added": (
        _with(lambda s: (s["properties"].update(region={"type": "string"}), s["required"].append("region"))),
        [("region", "required field added", BACKWARD)],
    ),
    "optional field removed": (
        _with(lambda s: s["properties"].pop("reason")),
        [("reason", "field removed", FORWARD)],
    ),
    "required field removed": (
        _with(lambda s: (s["properties"].pop("urgency"), s["required"].remove("urgency"))),
        [("urgency", "field removed", FORWARD)],
    ),
    "field renamed": (_with(_rename_reason), [("reason", "field removed", FORWARD)]),
    "optional field made required": (
        _with(lambda s: s["required"].append("reason")),
        [("reason", "field became required", BACKWARD)],
    ),
    "required field made optional": (
        _with(lambda s: s["required"].remove("urgency")),
        [("urgency", "field became optional", FORWARD)],
    ),
    "type widened (integer to number)": (
        _with(lambda s: s["$defs"]["AgencySummary"]["properties"]["sworn_officers"].update(type="number")),
        [("agency.sworn_officers", "type widened from integer to number", FORWARD)],
    ),
    "type widened (null allowed)": (
        _with(lambda s: s["properties"].update(tier={"anyOf": [{"$ref": "#/$defs/Tier"}, {"type": "null"}]})),
        [("tier", "type widened from string to null or string", FORWARD)],
    ),
    "type changed": (
        _with(lambda s: s["properties"]["routed_at"].update(type="integer")),
        [("routed_at", "type changed from string to integer", FULL)],
    ),
    "enum value added": (
        _with(lambda s: s["$defs"]["Tier"]["enum"].append("peer_exchange")),
        [("tier", "allowed values added: ['peer_exchange']", FORWARD)],
    ),
    "enum value removed": (
        _with(lambda s: s["$defs"]["Tier"]["enum"].remove("organizational_assessment")),
        [("tier", "allowed values removed: ['organizational_assessment']", BACKWARD)],
    ),
    "enum value removed in a list's items": (
        _with(lambda s: s["$defs"]["TopicArea"]["enum"].remove("de_escalation")),
        [("topic_areas[]", "allowed values removed: ['de_escalation']", BACKWARD)],
    ),
    "bound tightened": (
        _with(lambda s: s["properties"]["rules_fired"].update(maxItems=5)),
        [("rules_fired", "maxItems changed from None to 5", BACKWARD)],
    ),
    "bound added": (
        _with(lambda s: s["$defs"]["AgencySummary"]["properties"]["sworn_officers"].update(minimum=0)),
        [("agency.sworn_officers", "minimum changed from None to 0", BACKWARD)],
    ),
    "format changed": (
        _with(lambda s: s["properties"]["routed_at"].update(format="date")),
        [("routed_at", "format changed from 'date-time' to 'date'", FULL)],
    ),
}


@pytest.mark.parametrize("change", CHANGES)
def test_the_checker_gives_each_change_its_verdict(change):
    changed, verdict = CHANGES[change]
    found = incompatibilities(ROUTED_V1, changed)
    assert [(i.field, i.change, i.rule) for i in found] == verdict


def test_a_loosened_bound_breaks_old_readers():
    tight = _with(lambda s: s["properties"]["rules_fired"].update(maxItems=5))
    loose = _with(lambda s: s["properties"]["rules_fired"].update(maxItems=9))
    (found,) = incompatibilities(tight, loose)
    assert (found.field, found.rule) == ("rules_fired", FORWARD)


def test_a_refusal_names_the_field_and_the_rule():
    (found,) = incompatibilities(ROUTED_V1, CHANGES["enum value removed"][0])
    assert str(found) == f"tier: allowed values removed: ['organizational_assessment'] ({BACKWARD})"


@pytest.fixture
def published_copy(tmp_path: Path) -> Path:
    shutil.copytree(SCHEMA_DIR, tmp_path / "schemas")
    return tmp_path / "schemas"


def test_exporting_publishes_nothing_twice(published_copy):
    before = {path.name: path.read_text() for path in published_copy.iterdir()}
    assert write_schemas(published_copy) == []
    assert {path.name: path.read_text() for path in published_copy.iterdir()} == before


def test_exporting_refuses_to_rewrite_a_published_version(published_copy):
    # As if RequestQueued v1 had been published without its `reason`: today's model would change it.
    path = published_copy / "RequestQueued.v1.json"
    schema = json.loads(path.read_text())
    del schema["properties"]["reason"]
    schema["required"].remove("reason")
    path.write_text(json.dumps(schema))
    (published_copy / MANIFEST).write_text(
        (published_copy / MANIFEST).read_text().replace(manifest()["RequestQueued.v1.json"], digest(path.read_text()))
    )
    with pytest.raises(ContractError, match=r"RequestQueued.v1.json is published and never changes"):
        write_schemas(published_copy)
    assert json.loads(path.read_text()) == schema


def test_exporting_writes_a_new_version_and_records_its_hash(published_copy, monkeypatch):
    monkeypatch.setitem(EVENT_MODELS, "RequestQueued", QueuedV2)
    (written,) = write_schemas(published_copy)
    assert written.name == "RequestQueued.v2.json"
    assert manifest(published_copy)["RequestQueued.v2.json"] == digest(written.read_text())
    assert (published_copy / "RequestQueued.v1.json").read_text() == (SCHEMA_DIR / "RequestQueued.v1.json").read_text()


def test_exporting_refuses_a_new_version_that_breaks_a_published_one(published_copy, monkeypatch):
    schema = RequestQueued.model_json_schema()
    del schema["properties"]["reason"]
    schema["required"].remove("reason")
    monkeypatch.setattr(schemas, "current_schemas", lambda: {"RequestQueued.v2.json": schema})
    with pytest.raises(ContractError, match=r"RequestQueued.v2.json against v1: reason: field removed \(FORWARD"):
        write_schemas(published_copy)
    assert not (published_copy / "RequestQueued.v2.json").exists()


# A fixture: RequestQueued gains an optional field, which makes version 2.
class QueuedV2(RequestQueued):
    event_version = 2
    expected_wait_days: int | None = None


def _queued(version: int, **data: Any) -> Envelope:
    payload = {"request_id": str(uuid4()), "tier": "cri_tac", "reason": "full", "queued_at": datetime.now(UTC)}
    return Envelope(
        type="RequestQueued",
        version=version,
        source="routing",
        key="k",
        correlation_id="c",
        data={
            **json.loads(json.dumps(payload, default=str)),
            **data,
        },
    )


def test_a_version_with_an_added_optional_field_is_compatible():
    assert incompatibilities(published_schemas()["RequestQueued.v1.json"], QueuedV2.model_json_schema()) == []


def test_an_old_reader_reads_a_newer_compatible_version_ignoring_what_it_does_not_know():
    event = parse_event(_queued(2, expected_wait_days=12), RequestQueued)
    assert type(event) is RequestQueued and event.reason == "full"


def test_a_new_reader_reads_an_older_version_with_the_added_fields_defaults():
    event = parse_event(_queued(1), QueuedV2)
    assert isinstance(event, QueuedV2) and event.expected_wait_days is None


def test_readers_ignore_unknown_fields_while_producers_stay_strict():
    assert parse_event(_queued(1, wait_hint="soon")).reason == "full"
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        RequestQueued(request_id=uuid4(), tier="cri_tac", reason="full", queued_at=datetime.now(UTC), wait_hint="x")


def test_a_newer_version_that_does_not_read_is_refused_by_name():
    with pytest.raises(NewerVersion, match=r"RequestQueued version 3 is newer than this consumer reads \(1\)"):
        parse_event(_queued(3, reason=None))


def test_an_unknown_type_is_refused_by_name():
    envelope = Envelope(type="RequestTeleported", version=1, source="x", key="k", correlation_id="c", data={})
    with pytest.raises(UnknownEvent, match="unknown event type 'RequestTeleported'"):
        parse_event(envelope)


def test_every_event_names_a_topic_of_the_catalog():
    names = {spec.name for spec in CATALOG}
    assert {model.topic for model in EVENT_MODELS.values()} <= names


# The examples outsiders read (on /asyncapi and in docs/contract.md): one per published version, each valid.
PUBLISHED_VERSIONS = sorted(name.removesuffix(".json") for name in published_schemas() if name != "Envelope.json")


def test_every_published_version_has_an_example_and_every_example_a_published_version():
    examples = {path.stem for path in EXAMPLES_DIR.glob("*.json")}
    missing = sorted(set(PUBLISHED_VERSIONS) - examples)
    assert not missing, f"add an example envelope of each to shared/contract/examples/ (<Event>.v<N>.json): {missing}"
    assert sorted(examples) == PUBLISHED_VERSIONS, "an example of a version that is not published"


@pytest.mark.parametrize("name", PUBLISHED_VERSIONS)
def test_an_example_is_valid_against_the_published_schemas_and_read_by_todays_consumers(name):
    event_type, version = name.rsplit(".v", 1)
    envelope = example(event_type, int(version))
    published = published_schemas()
    Draft202012Validator(published["Envelope.json"], format_checker=FormatChecker()).validate(envelope)
    Draft202012Validator(published[f"{name}.json"], format_checker=FormatChecker()).validate(envelope["data"])
    assert (envelope["type"], envelope["version"]) == (event_type, int(version))
    assert isinstance(parse_event(Envelope.model_validate(envelope)), EVENT_MODELS[event_type])


@pytest.mark.parametrize("service", SERVICES)
def test_the_asyncapi_page_shows_each_published_event_with_its_example_and_each_subscription(service):
    document = asyncapi_document(service)
    page = render_page(service, document)
    HTMLParser().feed(page)
    for name, channel in document["channels"].items():
        assert f"<code>{channel['address']}</code>" in page
        event, _, version = name.partition(" v")
        if version.isdigit():
            assert f'id="pub-{event}"' in page
            assert escape(json.dumps(example(event, int(version)), indent=2)) in page


def test_the_consumer_guide_names_every_topic_and_event_type():
    guide = (Path(__file__).parents[2] / "docs" / "contract.md").read_text()
    assert [spec.name for spec in CATALOG if f"`{spec.name}`" not in guide] == []
    assert [name for name in EVENT_MODELS if f"`{name}`" not in guide] == []


def test_todays_consumers_read_routed_v1_through_its_upcaster():
    stored = Envelope.model_validate(example("RequestRouted", 1))
    stored = stored.model_copy(
        update={"data": {**stored.data, "rules_fired": ["critical_response.recent_event", "precedence.cri_tac"]}}
    )
    event = parse_event(stored)
    assert type(event) is RequestRouted and event.event_version == 2
    assert (event.candidate_tiers, event.providers_scored) == (["cri_tac", "critical_response"], [])


def test_exporting_refuses_to_change_the_envelope(published_copy, monkeypatch):
    changed = {**Envelope.model_json_schema(), "title": "Wrapper"}
    monkeypatch.setattr(schemas, "current_schemas", lambda: {"Envelope.json": changed})
    with pytest.raises(ContractError, match="Envelope.json is published and never changes: every consumer reads it"):
        write_schemas(published_copy)


@pytest.mark.parametrize(("brokers", "expected"), [(1, (1, None)), (2, (2, None)), (3, (3, 2)), (5, (3, 2))])
def test_topics_are_replicated_as_the_cluster_allows(brokers, expected):
    """Three copies and two in sync before a write is acknowledged where three brokers run; one on one broker."""
    assert replication(brokers) == expected
    factor, min_insync = expected
    assert all(
        spec.config(min_insync).get("min.insync.replicas") == (min_insync and str(min_insync)) for spec in CATALOG
    )
