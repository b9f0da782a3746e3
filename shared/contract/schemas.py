"""The published contract as JSON Schema, one document per event type and version, generated from the models.

A published version is immutable: `PUBLISHED.sha256` (the format of `sha256sum`) holds the hash of every
published file, and exporting writes new versions only. A new version must be FULL transitively compatible with
every published version of its type, with readers that ignore fields they do not know:

- BACKWARD: a reader of the new version reads every older event (nothing it requires is missing from them, no
  value of theirs is refused);
- FORWARD: a reader of an older version reads every newer event (nothing it expects is gone, no new value is
  refused).

So a version may add optional fields, and nothing else. Removing a field is refused even when it was optional:
an older reader would silently take its default for a fact the producer no longer states.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.contract.envelope import Envelope
from shared.contract.events import EVENT_MODELS

SCHEMA_DIR = Path(__file__).parent / "schemas"
# An example envelope of every published event version, for the pages and guides (checked against the schemas).
EXAMPLES_DIR = Path(__file__).parent / "examples"
MANIFEST = "PUBLISHED.sha256"
BACKWARD = "BACKWARD: readers of the new version must read events of the older one"
FORWARD = "FORWARD: readers of the older version must read events of the new one"
FULL = "FULL: readers of either version must read events of the other"

_VERSIONED = re.compile(r"^(\w+)\.v(\d+)\.json$")
# Keywords that bound a value: any change refuses values one side accepts.
_BOUNDS = {"maximum": 1, "exclusiveMaximum": 1, "maxLength": 1, "maxItems": 1}
_BOUNDS |= {"minimum": -1, "exclusiveMinimum": -1, "minLength": -1, "minItems": -1}
_EXACT = ("pattern", "format", "const")


def current_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema for the envelope and each event type at its current version."""
    schemas = {"Envelope.json": Envelope.model_json_schema()}
    for name, model in EVENT_MODELS.items():
        schemas[f"{name}.v{model.event_version}.json"] = model.model_json_schema()
    return schemas


def schema_text(schema: dict[str, Any]) -> str:
    """How a schema is written to its file (and hashed)."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def published_schemas(folder: Path = SCHEMA_DIR) -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def example(event_type: str, version: int) -> dict[str, Any]:
    """The example envelope of one published event version."""
    return json.loads((EXAMPLES_DIR / f"{event_type}.v{version}.json").read_text())


def manifest(folder: Path = SCHEMA_DIR) -> dict[str, str]:
    """Published file name -> the sha256 it was published with."""
    path = folder / MANIFEST
    lines = path.read_text().splitlines() if path.exists() else []
    return {name: sha for sha, name in (line.split(maxsplit=1) for line in lines if line.strip())}


def versions_of(event_type: str, published: dict[str, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The published schemas of one event type, by version."""
    found = {}
    for file_name, schema in published.items():
        match = _VERSIONED.match(file_name)
        if match and match.group(1) == event_type:
            found[int(match.group(2))] = schema
    return dict(sorted(found.items()))


class ContractError(ValueError):
    """A change the published contract does not allow; the message says which file, field and rule."""


def unpublishable(folder: Path = SCHEMA_DIR) -> list[str]:
    """Why the code's schemas cannot be published as they are: a published version changed, or a new version
    incompatible with a published one. Empty when exporting is safe."""
    published, hashes = published_schemas(folder), manifest(folder)
    problems = []
    for file_name, schema in current_schemas().items():
        if file_name in hashes:
            if digest(schema_text(schema)) != hashes[file_name]:
                breaks = "; ".join(map(str, incompatibilities(published[file_name], schema)))
                remedy = "publish the change as a new version (raise the model's event_version)"
                if not _VERSIONED.match(file_name):
                    remedy = "every consumer reads it as it is"
                problems.append(
                    f"{file_name} is published and never changes: {remedy}"
                    + (f"; even then it breaks: {breaks}" if breaks else "")
                )
            continue
        match = _VERSIONED.match(file_name)
        if match is None:
            continue
        for version, old in versions_of(match.group(1), published).items():
            problems += [f"{file_name} against v{version}: {problem}" for problem in incompatibilities(old, schema)]
    return problems


def write_schemas(folder: Path = SCHEMA_DIR) -> list[Path]:
    """Publish the versions not yet published (and record their hashes); never rewrite a published one."""
    problems = unpublishable(folder)
    if problems:
        raise ContractError("\n".join(problems))
    hashes = manifest(folder)
    written = []
    for file_name, schema in current_schemas().items():
        if file_name in hashes:
            continue
        text = schema_text(schema)
        (folder / file_name).write_text(text)
        hashes[file_name] = digest(text)
        written.append(folder / file_name)
    (folder / MANIFEST).write_text("".join(f"{sha}  {name}\n" for name, sha in sorted(hashes.items())))
    return written


@dataclass(frozen=True, slots=True)
class Incompatibility:
    field: str
    change: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field or '(event)'}: {self.change} ({self.rule})"


def incompatibilities(old: dict[str, Any], new: dict[str, Any]) -> list[Incompatibility]:
    """What in `new` breaks FULL compatibility with `old` (two versions of one event), field by field."""
    found: list[Incompatibility] = []
    old_defs, new_defs = old.get("$defs", {}), new.get("$defs", {})

    def resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        return defs[ref.rsplit("/", 1)[-1]] if ref else schema

    def alternatives(schema: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
        return [resolve(s, defs) for s in schema.get("anyOf", [schema])]

    def types(options: list[dict[str, Any]]) -> set[str]:
        named = set()
        for option in options:
            kind = option.get("type", "object" if "properties" in option else "any")
            named |= set(kind) if isinstance(kind, list) else {kind}
        return named

    def compare(old_schema: dict[str, Any], new_schema: dict[str, Any], field: str) -> None:
        before, after = alternatives(old_schema, old_defs), alternatives(new_schema, new_defs)
        old_types, new_types = types(before), types(after)
        # An integer is a number: integer -> number widens, number -> integer narrows.
        widened = {"integer"} if "number" in new_types else set()
        narrowed = {"integer"} if "number" in old_types else set()
        if old_types != new_types:
            change = f"from {_names(old_types)} to {_names(new_types)}"
            if old_types <= new_types | widened:
                found.append(Incompatibility(field, f"type widened {change}", FORWARD))
            elif new_types <= old_types | narrowed:
                found.append(Incompatibility(field, f"type narrowed {change}", BACKWARD))
            else:
                found.append(Incompatibility(field, f"type changed {change}", FULL))
            return
        before = [o for o in before if o.get("type") != "null"]
        after = [o for o in after if o.get("type") != "null"]
        for old_option, new_option in zip(before, after, strict=False):
            compare_one(old_option, new_option, field)

    def compare_one(old_schema: dict[str, Any], new_schema: dict[str, Any], field: str) -> None:
        if "enum" in old_schema or "enum" in new_schema:
            old_values, new_values = set(old_schema.get("enum", [])), set(new_schema.get("enum", []))
            if added := sorted(new_values - old_values):
                found.append(Incompatibility(field, f"allowed values added: {added}", FORWARD))
            if removed := sorted(old_values - new_values):
                found.append(Incompatibility(field, f"allowed values removed: {removed}", BACKWARD))
        for keyword, sign in _BOUNDS.items():
            a, b = old_schema.get(keyword), new_schema.get(keyword)
            if a != b:
                looser = a is not None and (b is None or (b - a) * sign > 0)
                change = f"{keyword} changed from {a} to {b}"
                found.append(Incompatibility(field, change, FORWARD if looser else BACKWARD))
        for keyword in _EXACT:
            if old_schema.get(keyword) != new_schema.get(keyword):
                change = f"{keyword} changed from {old_schema.get(keyword)!r} to {new_schema.get(keyword)!r}"
                found.append(Incompatibility(field, change, FULL))
        compare_fields(old_schema, new_schema, field)
        for keyword, suffix in (("items", "[]"), ("additionalProperties", "{}")):
            if isinstance(old_schema.get(keyword), dict) and isinstance(new_schema.get(keyword), dict):
                compare(old_schema[keyword], new_schema[keyword], field + suffix)

    def compare_fields(old_schema: dict[str, Any], new_schema: dict[str, Any], field: str) -> None:
        old_fields, new_fields = old_schema.get("properties", {}), new_schema.get("properties", {})
        old_required, new_required = set(old_schema.get("required", [])), set(new_schema.get("required", []))
        prefix = f"{field}." if field else ""
        for name in old_fields:
            if name not in new_fields:
                found.append(Incompatibility(prefix + name, "field removed", FORWARD))
                continue
            if name in new_required - old_required:
                found.append(Incompatibility(prefix + name, "field became required", BACKWARD))
            elif name in old_required - new_required:
                found.append(Incompatibility(prefix + name, "field became optional", FORWARD))
            compare(old_fields[name], new_fields[name], prefix + name)
        for name in new_fields.keys() - old_fields.keys():
            if name in new_required:
                found.append(Incompatibility(prefix + name, "required field added", BACKWARD))

    compare(old, new, "")
    return found


def _names(kinds: set[str]) -> str:
    return " or ".join(sorted(kinds))
