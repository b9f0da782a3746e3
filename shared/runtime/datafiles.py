"""Data files maintained by people (routing policy, provider registry, deadlines, notification preferences):
read as safe YAML that refuses a key given twice, validated by a pydantic model, and refused with the file,
line and key of every problem, so the person who edited it can find each one."""

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from shared.contract.validation import error_location, error_message

M = TypeVar("M", bound=BaseModel)


class DataFileError(ValueError):
    """A data file cannot be read or is not valid; one line per problem, each `<file>:<line>: <key>: <message>`."""


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice; PyYAML would silently keep the last one."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def load_model(path: Path, model: type[M], error: type[DataFileError] = DataFileError, *, empty: Any = None) -> M:
    """The file at `path` as a `model`; an empty file reads as `empty`. Raises `error` (a DataFileError)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None
    try:
        tree = yaml.compose(text, Loader=_StrictLoader)
        raw = yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise error(f"{path}{where}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not YAML: {exc}") from None
    try:
        return model.model_validate(empty if raw is None else raw)
    except ValidationError as exc:
        raise error(
            "\n".join(
                f"{path}{_line_of(tree, e['loc'])}: {error_location(e['loc'])}: {error_message(e)}"
                for e in exc.errors(include_url=False)
            )
        ) from None


def _line_of(node: Any, loc: tuple[str | int, ...]) -> str:
    """':<line>' of the deepest key (or list item) of `loc` found in the YAML tree, '' when not even the first."""
    line = ""
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            entry = next(((k, v) for k, v in node.value if k.value == key), None)
            if entry is None:
                break
            key_node, node = entry
            line = f":{key_node.start_mark.line + 1}"
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            node = node.value[key]
            line = f":{node.start_mark.line + 1}"
        else:
            break
    return line
