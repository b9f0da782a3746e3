"""Ids derived from what they identify (uuid5), so the same fact gets the same id on every try: a dead letter of
one record, a rejection of one submission, one delivery of one event to one recipient."""

from uuid import UUID, uuid5


def derived_id(namespace: UUID, *parts: object, separator: str = "|") -> UUID:
    """The same `parts` in the same `namespace` always give the same id; any other parts give another."""
    return uuid5(namespace, separator.join(map(str, parts)))
