"""A request for assistance, as an agency or another system submits it.

One model serves the HTTP body and the inbound topic, and the request in `RequestReceived` is the same model without
its contact person (`AssistanceRequested`), so they can never disagree on what a valid request is.
"""

from datetime import date
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shared.contract.privacy import CONFIDENTIAL, PERSONAL
from shared.contract.vocabulary import (
    STATES_AND_TERRITORIES,
    AgencyType,
    CriticalAssistance,
    DeliveryMode,
    SystemicIssue,
    TopicArea,
    Urgency,
)


def _storable(text: str) -> str:
    # PostgreSQL cannot store NUL, and no consumer of the contract should have to defend against it.
    if "\x00" in text:
        raise PydanticCustomError("string_unstorable", "text contains a NUL character")
    return text


NoNul = AfterValidator(_storable)
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoNul]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000), NoNul]
# A Literal, so the OpenAPI and JSON Schema documents list the real codes.
StateCode = Literal[tuple(sorted(STATES_AND_TERRITORIES))]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Agency(_Strict):
    name: ShortText = Field(examples=["Springfield Police Department"])
    type: AgencyType = Field(examples=["local"])
    ori: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}[A-Z0-9]{7}$")] | None = Field(
        default=None,
        description="Originating Agency Identifier: 9 characters, the first two the state or territory code.",
        examples=["IL0840000"],
    )
    state: StateCode = Field(description="USPS code of the state or territory.", examples=["IL"])
    sheriff_office: bool = Field(default=False, description="A sheriff's office rather than a police department.")
    sworn_officers: int = Field(ge=0, le=100_000, examples=[120])
    population_served: int = Field(ge=0, le=50_000_000, examples=[115_000])

    @model_validator(mode="after")
    def _state_and_ori_agree(self) -> Self:
        if self.ori is not None and self.ori[:2] != self.state:
            raise ValueError(f"ORI {self.ori} does not start with the agency's state code {self.state}")
        return self


class Contact(_Strict):
    name: Annotated[ShortText, PERSONAL] = Field(examples=["Jordan Lee"])
    title: Annotated[ShortText, PERSONAL] = Field(examples=["Chief of Police"])
    email: Annotated[EmailStr, PERSONAL] = Field(max_length=254, examples=["jlee@springfield.example.gov"])
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ().-]{7,25}$"), PERSONAL] = Field(
        examples=["+1 217-555-0100"]
    )


class AssistanceWanted(_Strict):
    topic_areas: list[TopicArea] = Field(default_factory=list, max_length=10, examples=[["de_escalation"]])
    delivery_modes: list[DeliveryMode] = Field(default_factory=list, max_length=6, examples=[["in_person_training"]])
    description: Annotated[LongText, CONFIDENTIAL] = Field(
        examples=["Department-wide de-escalation training for patrol officers."]
    )
    desired_start: date | None = None
    desired_end: date | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> Self:
        if self.desired_start and self.desired_end and self.desired_end < self.desired_start:
            raise ValueError("desired_end is before desired_start")
        return self


class Incident(_Strict):
    summary: Annotated[LongText, CONFIDENTIAL] = Field(
        description="What happened. Confidential when `confidential` is true."
    )
    occurred_on: date
    high_profile: bool = False
    major_incident: bool = False
    confidential: bool = Field(default=False, description="The agency asks that incident details stay confidential.")
    assistance: list[CriticalAssistance] = Field(default_factory=list, max_length=6)


class SystemicConcerns(_Strict):
    issues: list[SystemicIssue] = Field(min_length=1, max_length=7)
    description: Annotated[LongText, CONFIDENTIAL]
    long_term_assistance_wanted: bool = False
    commitment_to_implement: bool = Field(
        default=False, description="Leadership commits to act on recommendations (required of assessment sites)."
    )


class RequestForAssistance(_Strict):
    agency: Agency
    contact: Contact
    assistance: AssistanceWanted
    incident: Incident | None = None
    systemic_concerns: SystemicConcerns | None = None
    urgency: Urgency = Urgency.ROUTINE
    client_reference: Annotated[str, StringConstraints(min_length=1, max_length=100), NoNul] | None = Field(
        default=None,
        description="The submitter's own reference; the same agency and reference twice is one request.",
        examples=["CASE-2026-0042"],
    )

    def without_contact(self) -> "AssistanceRequested":
        # Its parts are valid already: taken as they are, not validated again.
        fields = AssistanceRequested.model_fields
        return AssistanceRequested.model_construct(**{name: getattr(self, name) for name in fields})


# Built from RequestForAssistance's own fields, so each field is defined once, and the schema of the published
# RequestSubmitted v1 (whose request has the contact in the middle) stays as it was.
AssistanceRequested = create_model(
    "AssistanceRequested",
    __base__=_Strict,
    __doc__="A request for assistance without its contact person: what routing decides on and the providers read. "
    "The contact travels apart, to those who address the agency (`RequestContactGiven`).",
    __module__=__name__,
    **{name: (spec.annotation, spec) for name, spec in RequestForAssistance.model_fields.items() if name != "contact"},
)


# A complete, valid request: the documentation's example, `cri submit`'s payload, the tests' template.
EXAMPLE_REQUEST: dict = {
    "agency": {
        "name": "Springfield Police Department",
        "type": "local",
        "state": "IL",
        "sworn_officers": 120,
        "population_served": 115000,
    },
    "contact": {
        "name": "Jordan Lee",
        "title": "Chief of Police",
        "email": "jlee@springfield.example.gov",
        "phone": "+1 217-555-0100",
    },
    "assistance": {
        "topic_areas": ["de_escalation"],
        "delivery_modes": ["in_person_training"],
        "description": "Department-wide de-escalation training for patrol officers.",
    },
    "urgency": "routine",
}
