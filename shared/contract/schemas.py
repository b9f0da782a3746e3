"""The published contract as JSON Schema, one document per event type and version, generated from the models,
and the rule that tells a compatible change of a published event from a breaking one."""

import json
from pathlib import Path
from typing import Any

from shared.contract.envelope import Envelope
from shared.contract.events import EVENT_MODELS

SCHEMA_DIR = Path(__file__).parent / "schemas"


def current_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema for the envelope and each event type at its current version."""
    schemas = {"Envelope.json": Envelope.model_json_schema()}
    for name, model in EVENT_MODELS.items():
        schemas[f"{name}.v{model.event_version}.json"] = model.model_json_schema()
    return schemas


def write_schemas(folder: Path = SCHEMA_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, schema in current_schemas().items():
        path = folder / file_name
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def published_schemas(folder: Path = SCHEMA_DIR) -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def breaking_changes(published: dict[str, Any], current: dict[str, Any], where: str = "") -> list[str]:
    """What in `current` would break a consumer written against `published` (same type and version):
    a field removed, a field newly required, a type changed, an allowed value removed."""
    problems: list[str] = []
    old_defs, new_defs = published.get("$defs", {}), current.get("$defs", {})

    def resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        return defs[ref.rsplit("/", 1)[-1]] if ref else schema

    def compare(old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        old, new = resolve(old, old_defs), resolve(new, new_defs)
        if old.get("type") != new.get("type") and "type" in old:
            problems.append(f"{path or '<root>'}: type changed from {old.get('type')} to {new.get('type')}")
        if "enum" in old:
            removed = set(old["enum"]) - set(new.get("enum", old["enum"]))
            if removed:
                problems.append(f"{path}: allowed values removed: {sorted(removed)}")
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        for name in old_props:
            if name not in new_props:
                problems.append(f"{path}.{name}: field removed")
            else:
                compare(old_props[name], new_props[name], f"{path}.{name}")
        for name in set(new.get("required", [])) - set(old.get("required", [])):
            problems.append(f"{path}.{name}: field is now required")
        for key in ("items", "additionalProperties"):
            if isinstance(old.get(key), dict) and isinstance(new.get(key), dict):
                compare(old[key], new[key], f"{path}[]")

    compare(published, current, where)
    return problems
