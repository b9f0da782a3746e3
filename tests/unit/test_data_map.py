"""docs/data-map.md says, for each topic, which personal and confidential fields it carries, who may read it and
for how long: held here to the contract's marks, the ACLs and the catalog."""

import importlib
import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from shared.contract.events import EVENT_MODELS
from shared.contract.privacy import Sensitive
from shared.contract.requests import RequestForAssistance
from shared.contract.topics import CATALOG, INBOUND_SUBMISSIONS, REQUEST_CONTACTS, Cleanup, TopicSpec
from system.access import acls, readers
from system.stack.runner import SERVICES

DATA_MAP = Path(__file__).parents[2] / "docs" / "data-map.md"
_HOUR_MS = 60 * 60 * 1000
_DAY_MS = 24 * _HOUR_MS
# The inbound topic carries the request body itself, not an event.
PAYLOADS: dict[str, list[type[BaseModel]]] = {INBOUND_SUBMISSIONS.name: [RequestForAssistance]}
for _model in EVENT_MODELS.values():
    PAYLOADS.setdefault(_model.topic, []).append(_model)


def _models_in(annotation: object) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _models_in(argument)


def marked_fields(model: type[BaseModel], path: str) -> Iterator[tuple[str, str]]:
    """(dotted path, kind) of every field marked personal or confidential, nested models included."""
    for name, info in model.model_fields.items():
        field_path = f"{path}.{name}"
        yield from ((field_path, mark.kind) for mark in info.metadata if isinstance(mark, Sensitive))
        for inner in _models_in(info.annotation):
            yield from marked_fields(inner, field_path)


def carried(spec: TopicSpec) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {"personal": set(), "confidential": set()}
    for model in PAYLOADS.get(spec.name, []):
        name = getattr(model, "event_type", model.__name__)
        for path, kind in marked_fields(model, name):
            found[kind].add(path)
    return found


def _names(cell: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", cell))


@pytest.fixture(scope="module")
def rows() -> dict[str, dict[str, str]]:
    columns = ["topic", "payload", "personal", "confidential", "readers", "retention"]
    found = {}
    for line in DATA_MAP.read_text().splitlines():
        if line.startswith("| `"):
            cells = dict(zip(columns, (cell.strip() for cell in line.strip("|").split(" | ")), strict=True))
            found[_names(cells["topic"]).pop()] = cells
    return found


def test_the_map_has_a_row_per_catalog_topic(rows):
    assert sorted(rows) == sorted(spec.name for spec in CATALOG)


@pytest.mark.parametrize("spec", CATALOG, ids=lambda spec: spec.name)
def test_the_map_lists_every_marked_field_of_the_topic(rows, spec):
    fields = carried(spec)
    assert _names(rows[spec.name]["personal"]) == fields["personal"]
    assert _names(rows[spec.name]["confidential"]) == fields["confidential"]


@pytest.mark.parametrize("spec", CATALOG, ids=lambda spec: spec.name)
def test_the_map_names_the_readers_the_acls_let_in(rows, spec):
    assert _names(rows[spec.name]["readers"]) == set(readers(spec.name, acls()))


@pytest.mark.parametrize("spec", CATALOG, ids=lambda spec: spec.name)
def test_the_map_gives_the_catalogs_retention(rows, spec):
    retention = rows[spec.name]["retention"]
    if spec.cleanup is Cleanup.COMPACT:
        assert retention.startswith("compacted")
    else:
        assert retention == _duration(spec.retention_ms)


def _duration(ms: int) -> str:
    """A retention as the map writes it: whole days, else whole hours."""
    if ms % _DAY_MS == 0:
        return f"{ms // _DAY_MS} days"
    hours = ms // _HOUR_MS
    assert hours * _HOUR_MS == ms, "a retention of whole days or hours"
    return "1 hour" if hours == 1 else f"{hours} hours"


@pytest.mark.parametrize("spec", CATALOG, ids=lambda spec: spec.name)
def test_personal_data_is_kept_a_bounded_time_and_never_on_a_compacted_topic(spec):
    if carried(spec)["personal"]:
        assert spec.cleanup is Cleanup.DELETE
        assert spec.retention_ms is not None and spec.retention_ms <= 365 * _DAY_MS


def test_the_marks_are_found_where_they_are():
    fields = carried(INBOUND_SUBMISSIONS)
    assert "RequestForAssistance.contact.email" in fields["personal"]
    assert "RequestForAssistance.incident.summary" in fields["confidential"]


@pytest.fixture(scope="module")
def published() -> set[type[BaseModel]]:
    """The event models the services publish today (what they declare for their AsyncAPI documents)."""
    found = set()
    for service in SERVICES:
        broker = importlib.import_module(f"services.{service}.app").create_app().state.runtime.broker
        found |= {publisher.specification.config.schema_ for publisher in broker.publishers}
    return found


def test_a_contact_person_is_published_only_to_those_who_address_the_agency(published):
    carrying = {model.event_type for model in published for path, _ in marked_fields(model, "") if ".contact." in path}
    assert carrying == {"RequestContactGiven"}
    assert {EVENT_MODELS[name].topic for name in carrying} == {REQUEST_CONTACTS.name}
    assert set(readers(REQUEST_CONTACTS.name, acls())) == {"cri-engagements", "cri-notify"}


def test_routing_decides_on_no_personal_data_of_the_contact(published):
    """Routing reads cri.requests: nothing published there today names the agency's contact person."""
    on_requests = [model for model in published if model.topic == "cri.requests"]
    assert "RequestReceived" in {model.event_type for model in on_requests}
    assert not [
        path for model in on_requests for path, _ in marked_fields(model, model.event_type) if ".contact." in path
    ]
