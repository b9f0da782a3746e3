"""Marks on the contract's fields that carry personal data (about an identifiable person) or confidential text.

A marked field puts its topic in the data map (docs/data-map.md): which topics carry it, who may read them (by
ACL) and for how long. A test fails when an event gains a marked field the map does not list. The marks are
metadata of the models only: they change no payload and no published JSON Schema.
"""

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Sensitive:
    kind: Literal["personal", "confidential"]


PERSONAL = Sensitive("personal")
"""Names, contact details or free text that identifies a person, or bytes that may hold any of these."""
CONFIDENTIAL = Sensitive("confidential")
"""What an agency tells in confidence: incident details and the problems it describes."""
