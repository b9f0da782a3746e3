"""The public request form (pure): the request model's fields grouped as an agency thinks of them, a posted form
read into the model's shape, and the model's own validation errors told beside the field they concern.

The rules stay the model's (`RequestForAssistance`, the same as the API's): this module only chooses the words,
by error type, and the field each error belongs to."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from shared.contract.requests import RequestForAssistance
from shared.contract.validation import error_message
from shared.contract.vocabulary import (
    AgencyType,
    CriticalAssistance,
    DeliveryMode,
    SystemicIssue,
    TopicArea,
    Urgency,
)

Kind = Literal["text", "email", "tel", "number", "date", "textarea", "select", "radios", "checkboxes", "checkbox"]
Form = Mapping[str, Sequence[str]]
"""A posted form: each name with every value sent for it (checkboxes send several)."""

YES = "yes"  # the value of every single checkbox


class Choice(NamedTuple):
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class FormField:
    """One input; `name` is its dotted path in the request model (`agency.sworn_officers`), also its element id
    (the error summary links to it)."""

    name: str
    label: str
    kind: Kind
    hint: str | None = None
    missing: str | None = None  # the words for an empty required field; None for an optional one
    example: str | None = None  # the words for a value in the wrong shape
    choices: tuple[Choice, ...] = ()
    autocomplete: str | None = None

    @property
    def required(self) -> bool:
        return self.missing is not None


@dataclass(frozen=True, slots=True)
class FieldGroup:
    """A fieldset. An optional group (an incident, long-standing concerns) is part of the request only when
    one of its fields is filled in."""

    part: str | None  # the part of the request model it fills; None for the request's own fields
    legend: str
    intro: str
    fields: tuple[FormField, ...]
    optional: bool = False
    # Where an error about the group as a whole (a model validator's) is shown, and in which words (None keeps
    # the model's own message, written for people).
    whole_group_error: tuple[str, str | None] | None = None


def _choices(vocabulary: type[StrEnum], labels: Mapping[str, str]) -> tuple[Choice, ...]:
    return tuple(Choice(member.value, labels[member.value]) for member in vocabulary)


STATE_NAMES: dict[str, str] = {
    "AL": "Alabama", "AK": "Alaska", "AS": "American Samoa", "AZ": "Arizona", "AR": "Arkansas",
    "CA": "California", "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "GU": "Guam", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine",
    "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi",
    "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire",
    "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York", "NC": "North Carolina", "ND": "North Dakota",
    "MP": "Northern Mariana Islands", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania",
    "PR": "Puerto Rico", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota", "TN": "Tennessee",
    "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VI": "U.S. Virgin Islands", "VA": "Virginia",
    "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
}  # fmt: skip

AGENCY_TYPES = {
    "state": "State agency (for example a highway patrol)",
    "local": "Local: city, town or county",
    "territorial": "Territorial",
    "campus": "Campus (college or university)",
    "tribal": "Tribal",
}
TOPIC_AREAS = {
    "de_escalation": "De-escalation",
    "active_shooter_response": "Active shooter response",
    "intelligence_information_sharing": "Intelligence and information sharing",
    "public_sector_partnerships": "Public-sector partnerships",
    "officer_safety_and_wellness": "Officer safety and wellness",
    "school_safety": "School safety",
    "crisis_intervention": "Crisis intervention",
    "gun_violence": "Gun violence",
    "community_engagement": "Community engagement",
    "hate_crimes": "Hate crimes",
    "recruitment_and_retention": "Recruitment and retention",
    "policy_development": "Policy development",
    "use_of_force": "Use of force",
    "body_worn_cameras": "Body-worn cameras",
    "crime_analysis": "Crime analysis",
    "data_driven_policing": "Data-driven policing",
    "diversity_equity_inclusion": "Diversity, equity and inclusion",
    "early_intervention_systems": "Early intervention systems",
    "field_training": "Field training",
    "human_trafficking": "Human trafficking",
    "internal_affairs": "Internal affairs",
    "leadership_development": "Leadership development",
    "mass_demonstrations": "Mass demonstrations",
    "mental_health_response": "Mental health response",
    "opioids_and_substance_use": "Opioids and substance use",
    "procedural_justice": "Procedural justice",
    "sexual_assault_investigations": "Sexual assault investigations",
    "tactical_operations": "Tactical operations",
    "training_standards": "Training standards",
    "victim_services": "Victim services",
    "violent_crime_reduction": "Violent crime reduction",
    "campus_safety": "Campus safety",
    "jail_operations": "Jail operations (sheriffs)",
    "court_security": "Court security (sheriffs)",
    "rural_policing": "Rural policing (sheriffs)",
    "tribal_jurisdiction": "Tribal jurisdiction (tribal)",
    "missing_and_murdered_indigenous_persons": "Missing and murdered Indigenous persons (tribal)",
    "tribal_community_policing": "Tribal community policing (tribal)",
}
DELIVERY_MODES = {
    "web_training": "Training on the web",
    "in_person_training": "Training in person",
    "virtual_coaching": "Coaching by video call",
    "facilitation": "A facilitated meeting or discussion",
    "on_site_consultation": "An expert visiting your agency",
    "resource_referral": "Pointers to existing resources",
}
CRITICAL_ASSISTANCE = {
    "after_action_review": "An after-action review",
    "targeted_assistance": "Targeted help in the wake of the incident",
    "peer_exchange": "A peer-to-peer exchange with another agency",
    "facilitated_discussion": "A discussion facilitated by subject-matter experts",
    "confidential_consultation": "A confidential consultation",
    "data_analysis": "Analysis of your data (use of force, stops, arrests, staffing)",
}
SYSTEMIC_ISSUES = {
    "community_trust": "Community trust",
    "use_of_force_patterns": "Patterns in the use of force",
    "stops_searches_arrests": "Stops, searches and arrests",
    "accountability_and_discipline": "Accountability and discipline",
    "bias_and_disparities": "Bias and disparities",
    "organizational_culture": "Organizational culture",
    "staffing_and_deployment": "Staffing and deployment",
}
URGENCIES = {
    "routine": "Routine: within the next few months",
    "priority": "Priority: within weeks",
    "urgent": "Urgent: something has just happened",
}

_TEXT_LIMIT = "At most 200 characters."

GROUPS: tuple[FieldGroup, ...] = (
    FieldGroup(
        "agency",
        "Your agency",
        "The law enforcement agency that asks for help.",
        (
            FormField(
                "agency.name",
                "Agency name",
                "text",
                autocomplete="organization",
                missing="Enter your agency's name",
            ),
            FormField(
                "agency.type",
                "Type of agency",
                "radios",
                choices=_choices(AgencyType, AGENCY_TYPES),
                missing="Choose the type of your agency",
            ),
            FormField(
                "agency.sheriff_office",
                "This is a sheriff's office",
                "checkbox",
                hint="Leave unticked for a police department.",
            ),
            FormField(
                "agency.state",
                "State or territory",
                "select",
                choices=tuple(Choice(code, name) for code, name in sorted(STATE_NAMES.items(), key=lambda c: c[1])),
                missing="Choose your agency's state or territory",
            ),
            FormField(
                "agency.ori",
                "ORI (Originating Agency Identifier), if you know it",
                "text",
                hint="9 letters and numbers, starting with your state's code, for example IL0840000.",
                example="Enter the ORI as 9 capital letters and numbers starting with your state's code, "
                "like IL0840000",
            ),
            FormField(
                "agency.sworn_officers",
                "Number of sworn officers",
                "number",
                missing="Enter the number of sworn officers",
                example="Enter the number of sworn officers as a whole number, like 120",
            ),
            FormField(
                "agency.population_served",
                "Population your agency serves",
                "number",
                hint="An estimate is fine.",
                missing="Enter the population your agency serves",
                example="Enter the population as a whole number, like 115000",
            ),
        ),
        whole_group_error=("agency.ori", None),
    ),
    FieldGroup(
        "contact",
        "Your contact details",
        "The person we write to about this request. We send a link to this email address: the request goes "
        "ahead once you open it.",
        (
            FormField("contact.name", "Full name", "text", autocomplete="name", missing="Enter your full name"),
            FormField(
                "contact.title",
                "Job title",
                "text",
                hint="For example Chief of Police, Sheriff, Grants Manager.",
                autocomplete="organization-title",
                missing="Enter your job title",
            ),
            FormField(
                "contact.email",
                "Email address",
                "email",
                autocomplete="email",
                missing="Enter your email address",
                example="Enter an email address in the correct format, like name@agency.gov",
            ),
            FormField(
                "contact.phone",
                "Phone number",
                "tel",
                hint="For example +1 217-555-0100.",
                autocomplete="tel",
                missing="Enter a phone number",
                example="Enter a phone number of 7 to 25 digits, like +1 217-555-0100",
            ),
        ),
    ),
    FieldGroup(
        "assistance",
        "What help you want",
        "Tell us what your agency needs. You do not choose a program: we match your request to the help that "
        "fits and tell you who will contact you.",
        (
            FormField(
                "assistance.description",
                "Describe the help your agency needs",
                "textarea",
                hint="What is happening, who should take part, and what you hope will change. At most 5,000 "
                "characters.",
                missing="Describe the help your agency needs",
            ),
            FormField(
                "assistance.topic_areas",
                "Topics (choose up to 10)",
                "checkboxes",
                hint="Training and technical assistance topics. Choose any that apply, or none.",
                choices=_choices(TopicArea, TOPIC_AREAS),
            ),
            FormField(
                "assistance.delivery_modes",
                "How you would like the help delivered",
                "checkboxes",
                hint="Choose any that suit you, or none.",
                choices=_choices(DeliveryMode, DELIVERY_MODES),
            ),
            FormField(
                "assistance.desired_start",
                "Earliest start date, if you have one",
                "date",
                example="Enter a real date",
            ),
            FormField(
                "assistance.desired_end",
                "Latest end date, if you have one",
                "date",
                example="Enter a real date",
            ),
        ),
        whole_group_error=("assistance.desired_end", "The latest end date must be on or after the earliest start date"),
    ),
    FieldGroup(
        "incident",
        "An incident, if there was one",
        "Leave this part empty unless your agency asks for help after a specific incident, such as a "
        "high-profile event or a major incident.",
        (
            FormField(
                "incident.summary",
                "What happened",
                "textarea",
                hint="At most 5,000 characters.",
                missing="Describe what happened",
            ),
            FormField(
                "incident.occurred_on",
                "Date of the incident",
                "date",
                missing="Enter the date of the incident",
                example="Enter the date of the incident as a real date",
            ),
            FormField("incident.high_profile", "The incident drew public or media attention", "checkbox"),
            FormField("incident.major_incident", "It was a major incident (for example a mass casualty)", "checkbox"),
            FormField(
                "incident.confidential",
                "Keep the incident details confidential",
                "checkbox",
                hint="Providers then see that there was an incident, not what you wrote about it.",
            ),
            FormField(
                "incident.assistance",
                "Help you want after the incident",
                "checkboxes",
                choices=_choices(CriticalAssistance, CRITICAL_ASSISTANCE),
            ),
        ),
        optional=True,
    ),
    FieldGroup(
        "systemic_concerns",
        "Long-standing concerns, if any",
        "Leave this part empty unless your agency wants an in-depth look at issues that affect community trust, "
        "with long-term help to address what it finds.",
        (
            FormField(
                "systemic_concerns.issues",
                "Issues",
                "checkboxes",
                choices=_choices(SystemicIssue, SYSTEMIC_ISSUES),
                missing="Choose at least one issue",
            ),
            FormField(
                "systemic_concerns.description",
                "Describe the concerns",
                "textarea",
                hint="At most 5,000 characters.",
                missing="Describe the concerns",
            ),
            FormField(
                "systemic_concerns.long_term_assistance_wanted",
                "We want long-term assistance (a year or more)",
                "checkbox",
            ),
            FormField(
                "systemic_concerns.commitment_to_implement",
                "Our leadership commits to act on the recommendations",
                "checkbox",
                hint="An organizational assessment asks this of every agency it works with.",
            ),
        ),
        optional=True,
    ),
    FieldGroup(
        None,
        "How soon, and your reference",
        "",
        (
            FormField("urgency", "How soon do you need help?", "radios", choices=_choices(Urgency, URGENCIES)),
            FormField(
                "client_reference",
                "Your own reference, if you use one",
                "text",
                hint="A case or file number of yours. Sending the same reference twice is treated as one request.",
            ),
        ),
    ),
)

FIELDS: dict[str, FormField] = {f.name: f for group in GROUPS for f in group.fields}
_GROUPS = {group.part: group for group in GROUPS if group.part}
_ORDER = {name: position for position, name in enumerate(FIELDS)}


def request_body(form: Form) -> dict[str, Any]:
    """The form's values in the request model's shape: empty inputs left out (the model then says what is
    missing), a ticked checkbox true, numbers without their thousands separators, an optional group only when
    something in it is filled in. Names that are not fields of the form (the CSRF token) are ignored."""
    body: dict[str, Any] = {}
    for group in GROUPS:
        values = {f.name: _value(f, form.get(f.name, ())) for f in group.fields}
        values = {name: value for name, value in values.items() if value not in (None, [], False)}
        if group.optional and not values:
            continue
        # A required part is always there, so a field missing from it is told beside that field.
        target = body.setdefault(group.part, {}) if group.part else body
        for name, value in values.items():
            target[name.rsplit(".", 1)[-1]] = value
    return body


def _value(form_field: FormField, sent: Sequence[str]) -> Any:
    texts = [text.strip() for text in sent if text.strip()]
    if form_field.kind == "checkboxes":
        return texts
    if form_field.kind == "checkbox":
        return YES in texts
    if not texts:
        return None
    if form_field.kind == "number":
        return texts[0].replace(",", "").replace(" ", "")
    # Text is given to the model as typed (it strips whitespace itself); only fully blank inputs are left out.
    return next(text for text in sent if text.strip())


@dataclass(frozen=True, slots=True)
class FormErrors:
    """Messages by field name, in the order of the form, and those that belong to no single field."""

    by_field: dict[str, str] = field(default_factory=dict)
    general: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.by_field or self.general)


def form_errors(exc: ValidationError) -> FormErrors:
    """The first error of each field, told in the form's words; errors the form cannot place go to `general`."""
    by_field: dict[str, str] = {}
    general: list[str] = []
    for error in exc.errors(include_url=False):
        placed = _place(error)
        if placed is None:
            general.append(error_message(error))
        elif placed[0] not in by_field:
            by_field[placed[0]] = placed[1]
    return FormErrors(dict(sorted(by_field.items(), key=lambda item: _ORDER[item[0]])), tuple(general))


def _place(error: ErrorDetails) -> tuple[str, str] | None:
    name = ".".join(str(part) for part in error["loc"] if not isinstance(part, int))
    if name in FIELDS:
        return name, _words(FIELDS[name], error)
    group = _GROUPS.get(name)
    if group is not None and group.whole_group_error is not None:
        field_name, words = group.whole_group_error
        return field_name, words or error_message(error)
    return None


def _words(form_field: FormField, error: ErrorDetails) -> str:
    kind, context = error["type"], error.get("ctx", {})
    if kind in ("missing", "string_too_short", "too_short", "enum", "literal_error") and form_field.missing:
        return form_field.missing
    if kind == "string_too_long":
        return f"{form_field.label} must be {context['max_length']:,} characters or fewer"
    if kind == "too_long":
        return f"Choose no more than {context['max_length']}"
    if kind == "greater_than_equal":
        return f"{form_field.label} must be {context['ge']:,} or more"
    if kind == "less_than_equal":
        return f"{form_field.label} must be {context['le']:,} or less"
    if kind in ("enum", "literal_error"):
        return "Choose from the options listed"
    if form_field.example and kind != "string_unstorable":
        return form_field.example
    return f"{form_field.label}: {error_message(error)}"


def validate(form: Form) -> RequestForAssistance | FormErrors:
    """The request the form describes, or what to correct in it."""
    try:
        return RequestForAssistance.model_validate(request_body(form))
    except ValidationError as exc:
        return form_errors(exc)


def answers(request: RequestForAssistance) -> list[tuple[str, str]]:
    """The request as the person gave it, label and value, in the order of the form (to check before sending)."""
    given = request.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    shown = []
    for name, form_field in FIELDS.items():
        value: Any = given
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value in (None, [], False):
            continue
        labels = dict(form_field.choices)
        if isinstance(value, list):
            shown.append((form_field.label, ", ".join(labels.get(v, v) for v in value)))
        elif value is True:
            shown.append((form_field.label, "Yes"))
        else:
            shown.append((form_field.label, labels.get(str(value), str(value))))
    return shown
