"""The public request form: every field of the request model is on it, a posted form becomes the model's request,
and the model's errors are told beside the right field in the form's words."""

from datetime import date

import pytest
from pydantic import BaseModel

from services.intake.domain.request_form import (
    FIELDS,
    GROUPS,
    STATE_NAMES,
    FormErrors,
    answers,
    request_body,
    validate,
)
from shared.contract.requests import EXAMPLE_REQUEST, RequestForAssistance
from shared.contract.vocabulary import STATES_AND_TERRITORIES


def _model_fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        nested = [t for t in getattr(info.annotation, "__args__", (info.annotation,)) if isinstance(t, type)]
        submodels = [t for t in nested if issubclass(t, BaseModel)]
        if submodels:
            names |= _model_fields(submodels[0], f"{prefix}{name}.")
        else:
            names.add(f"{prefix}{name}")
    return names


def filled(**changes: list[str]) -> dict[str, list[str]]:
    """The documentation's example request as a browser posts it, with `changes` (dots as `__`)."""
    form = {
        "agency.name": ["Springfield Police Department"],
        "agency.type": ["local"],
        "agency.state": ["IL"],
        "agency.ori": [""],
        "agency.sworn_officers": ["120"],
        "agency.population_served": ["115,000"],
        "contact.name": ["Jordan Lee"],
        "contact.title": ["Chief of Police"],
        "contact.email": ["jlee@springfield.example.gov"],
        "contact.phone": ["+1 217-555-0100"],
        "assistance.topic_areas": ["de_escalation"],
        "assistance.delivery_modes": ["in_person_training"],
        "assistance.description": ["Department-wide de-escalation training for patrol officers."],
        "assistance.desired_start": [""],
        "incident.summary": [""],
        "incident.occurred_on": [""],
        "systemic_concerns.description": [""],
        "urgency": ["routine"],
        "client_reference": [""],
        "csrf_token": ["not a field of the request"],
    }
    form.update({name.replace("__", "."): values for name, values in changes.items()})
    return form


def test_every_field_of_the_request_model_is_on_the_form_once():
    assert set(FIELDS) == _model_fields(RequestForAssistance)
    assert sum(len(group.fields) for group in GROUPS) == len(FIELDS)


def test_every_state_and_territory_has_its_name():
    assert STATE_NAMES.keys() == STATES_AND_TERRITORIES


def test_a_complete_form_is_the_documented_example_request():
    assert validate(filled()) == RequestForAssistance.model_validate(EXAMPLE_REQUEST)


def test_empty_optional_parts_are_left_out_and_a_filled_one_is_kept():
    assert "incident" not in request_body(filled())
    request = validate(
        filled(
            incident__summary=["A vehicle pursuit ended in a fatal crash."],
            incident__occurred_on=["2026-11-20"],
            incident__high_profile=["yes"],
            incident__assistance=["after_action_review", "data_analysis"],
        )
    )
    assert isinstance(request, RequestForAssistance)
    assert request.incident.occurred_on == date(2026, 11, 20)
    assert request.incident.high_profile and not request.incident.confidential
    assert [a.value for a in request.incident.assistance] == ["after_action_review", "data_analysis"]


def test_an_empty_form_names_every_required_field_of_the_required_parts_in_form_order():
    errors = validate({})
    assert isinstance(errors, FormErrors)
    assert list(errors.by_field) == [
        "agency.name",
        "agency.type",
        "agency.state",
        "agency.sworn_officers",
        "agency.population_served",
        "contact.name",
        "contact.title",
        "contact.email",
        "contact.phone",
        "assistance.description",
    ]
    assert errors.by_field["agency.name"] == "Enter your agency's name"
    assert errors.general == ()


def test_blank_text_is_missing_not_too_short():
    errors = validate(filled(contact__name=["   "]))
    assert errors.by_field == {"contact.name": "Enter your full name"}


def test_a_started_optional_part_asks_for_the_rest_of_it():
    errors = validate(filled(incident__confidential=["yes"]))
    assert errors.by_field == {
        "incident.summary": "Describe what happened",
        "incident.occurred_on": "Enter the date of the incident",
    }
    concerns = validate(filled(systemic_concerns__description=["Trust has eroded since 2024."]))
    assert concerns.by_field == {"systemic_concerns.issues": "Choose at least one issue"}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"agency__sworn_officers": ["about 120"]}, "agency.sworn_officers", "like 120"),
        ({"agency__sworn_officers": ["-3"]}, "agency.sworn_officers", "must be 0 or more"),
        ({"agency__population_served": ["60,000,000"]}, "agency.population_served", "50,000,000 or less"),
        ({"agency__ori": ["il084"]}, "agency.ori", "like IL0840000"),
        ({"agency__state": ["ZZ"]}, "agency.state", "Choose your agency's state or territory"),
        ({"contact__email": ["jlee at springfield"]}, "contact.email", "like name@agency.gov"),
        ({"contact__phone": ["call me"]}, "contact.phone", "like +1 217-555-0100"),
        ({"agency__name": ["x" * 201]}, "agency.name", "Agency name must be 200 characters or fewer"),
        ({"assistance__description": ["x" * 5001]}, "assistance.description", "5,000 characters or fewer"),
        ({"assistance__topic_areas": ["not_a_topic"]}, "assistance.topic_areas", "Choose from the options listed"),
        ({"assistance__desired_start": ["2026-02-30"]}, "assistance.desired_start", "Enter a real date"),
        ({"urgency": ["whenever"]}, "urgency", "Choose from the options listed"),
        ({"agency__name": ["Springfield\x00PD"]}, "agency.name", "NUL character"),
    ],
)
def test_each_wrong_value_is_told_beside_its_field(changes, field, message):
    errors = validate(filled(**changes))
    assert list(errors.by_field) == [field]
    assert message in errors.by_field[field]


def test_eleven_topics_are_one_too_many():
    eleven = [choice.value for choice in FIELDS["assistance.topic_areas"].choices[:11]]
    assert validate(filled(assistance__topic_areas=eleven)).by_field == {
        "assistance.topic_areas": "Choose no more than 10"
    }


def test_an_ori_of_another_state_is_told_beside_the_ori_in_the_models_words():
    errors = validate(filled(agency__ori=["NY0840000"]))
    assert errors.by_field == {"agency.ori": "ORI NY0840000 does not start with the agency's state code IL"}


def test_dates_in_the_wrong_order_are_told_beside_the_end_date():
    errors = validate(filled(assistance__desired_start=["2026-06-01"], assistance__desired_end=["2026-05-01"]))
    assert errors.by_field == {
        "assistance.desired_end": "The latest end date must be on or after the earliest start date"
    }


def test_values_are_read_as_typed_except_thousands_separators():
    body = request_body(filled(agency__sworn_officers=[" 1,200 "], contact__name=["  Jordan Lee "]))
    assert body["agency"]["sworn_officers"] == "1200"
    assert body["contact"]["name"] == "  Jordan Lee "
    assert "sheriff_office" not in body["agency"]  # unticked: the model's default


def test_the_answers_to_check_are_in_the_forms_words_and_order():
    request = validate(filled(agency__sheriff_office=["yes"], urgency=["urgent"]))
    assert answers(request) == [
        ("Agency name", "Springfield Police Department"),
        ("Type of agency", "Local: city, town or county"),
        ("This is a sheriff's office", "Yes"),
        ("State or territory", "Illinois"),
        ("Number of sworn officers", "120"),
        ("Population your agency serves", "115000"),
        ("Full name", "Jordan Lee"),
        ("Job title", "Chief of Police"),
        ("Email address", "jlee@springfield.example.gov"),
        ("Phone number", "+1 217-555-0100"),
        ("Describe the help your agency needs", "Department-wide de-escalation training for patrol officers."),
        ("Topics (choose up to 10)", "De-escalation"),
        ("How you would like the help delivered", "Training in person"),
        ("How soon do you need help?", "Urgent: something has just happened"),
    ]
