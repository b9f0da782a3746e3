"""A service's AsyncAPI document, and the same document as a page people can read: what the service publishes
(each event's topic, fields and an example envelope from shared/contract/examples/) and what it consumes.
Every service serves both (`/asyncapi`, `/asyncapi.json`); `cri export-schemas` commits the JSON under docs/."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from shared.contract.envelope import Envelope
from shared.contract.schemas import example

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True, undefined=StrictUndefined
)


def asyncapi_document(broker: KafkaBroker, service: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document FastStream makes of the service's subscribers and declared publishers."""
    spec = AsyncAPI(broker, title=f"CRI Exchange {service}", version="1.0.0")
    return json.loads(spec.to_specification().to_json())


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    type: str
    required: bool
    description: str


@dataclass(frozen=True, slots=True)
class Definition:
    name: str
    description: str
    rows: list[Row] = field(default_factory=list)
    values: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Published:
    event: str
    version: str
    topic: str
    description: str
    rows: list[Row]
    definitions: list[Definition]
    example: str


@dataclass(frozen=True, slots=True)
class Consumed:
    group: str
    topic: str
    description: str


def render_page(service: str, document: dict[str, Any]) -> str:
    """The document as one HTML page."""
    schemas = document.get("components", {}).get("schemas", {})
    published, consumed = [], []
    for operation in document.get("operations", {}).values():
        channel = document["channels"][_ref_name(operation["channel"]["$ref"])]
        if operation["action"] == "send":
            event, _, version = _ref_name(operation["channel"]["$ref"]).partition(" v")
            message = document["components"]["messages"][f"{event} v{version}:Message"]
            payload = _resolve(message["payload"], schemas)
            published.append(
                Published(
                    event=event,
                    version=version,
                    topic=channel["address"],
                    description=channel.get("description", ""),
                    rows=_rows(payload),
                    definitions=[_definition(name, schemas[name]) for name in sorted(_refs(payload, schemas))],
                    example=json.dumps(example(event, int(version)), indent=2),
                )
            )
        else:
            group = _ref_name(operation["channel"]["$ref"]).split(":", 1)[0]
            consumed.append(Consumed(group, channel["address"], channel.get("description", "")))
    return _TEMPLATES.get_template("asyncapi.html").render(
        service=service,
        envelope=_rows(Envelope.model_json_schema()),
        published=sorted(published, key=lambda p: (p.topic, p.event)),
        consumed=sorted(consumed, key=lambda c: c.topic),
    )


def _ref_name(ref: str) -> str:
    return unquote(ref.rsplit("/", 1)[-1])


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return schemas[_ref_name(schema["$ref"])] if "$ref" in schema else schema


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return _ref_name(schema["$ref"])
    if "anyOf" in schema:
        return " or ".join(_type(option) for option in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of {_type(schema['additionalProperties'])}"
    return f"{kind} ({schema['format']})" if "format" in schema else kind


def _rows(schema: dict[str, Any]) -> list[Row]:
    required = set(schema.get("required", []))
    return [
        Row(name, _type(prop), name in required, prop.get("description", ""))
        for name, prop in schema.get("properties", {}).items()
    ]


def _refs(schema: Any, schemas: dict[str, Any], seen: set[str] | None = None) -> set[str]:
    """Names of the definitions a schema uses, directly or through others."""
    seen = set() if seen is None else seen
    if isinstance(schema, dict):
        if "$ref" in schema and (name := _ref_name(schema["$ref"])) not in seen:
            seen.add(name)
            _refs(schemas[name], schemas, seen)
        for value in schema.values():
            _refs(value, schemas, seen)
    elif isinstance(schema, list):
        for value in schema:
            _refs(value, schemas, seen)
    return seen


def _definition(name: str, schema: dict[str, Any]) -> Definition:
    return Definition(name, schema.get("description", ""), _rows(schema), [str(v) for v in schema.get("enum", [])])
