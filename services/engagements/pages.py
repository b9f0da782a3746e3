"""The provider workspace, as pages for people: "my engagements" and each engagement's page, where the signed-in
provider (or program staff) records milestones, works on recommendations, closes and (staff) escalates.

Every action is a form (CSRF-checked) that runs the same command as the JSON API, in the signed-in person's
name, then redirects to the engagement's page. A form sent from a page someone else has changed since (its
`expected_version` is stale) gets the engagement as it is now, saying so (409), never a raw refusal. A provider
sees only its own engagements (403 page for another's); agency people, 403 everywhere here.
"""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from services.engagements import commands
from services.engagements.api import Closure, Escalation, NewRecommendation, RecommendationChange, RecordMilestone
from services.engagements.domain import lifecycle, workspace
from services.engagements.domain.disclosure import readable_request
from services.engagements.domain.recommendations import can_add_recommendations
from services.engagements.store import AskedRequest, AuditEntry, Deadline, EngagementRow, PostgresStore, Recommendation
from shared.contract.vocabulary import CriticalAssistance, Tier
from shared.runtime.auth import Principal, Role
from shared.runtime.http import runtime_of
from shared.runtime.outbox import UnitOfWork, unit_of_work
from shared.runtime.web.forms import field_errors, read_form
from shared.runtime.web.pages import Web, web_of
from shared.runtime.web.session import Person, signed_in

M = TypeVar("M", bound=BaseModel)
router = APIRouter(tags=["pages"], include_in_schema=False)
SignedIn = Annotated[Person, Depends(signed_in(Role.PROVIDER, Role.STAFF))]
Staff = Annotated[Person, Depends(signed_in(Role.STAFF))]

_VERSION = {"expected_version": "expected_version"}  # the version the page showed, sent back by its forms
# What the page says after each action; the redirect names one of these, never free text.
_DONE = {
    "milestone": "The milestone is recorded.",
    "closed": "The engagement is closed.",
    "escalated": "The engagement is closed as escalated; routing assigns the next tier.",
    "recommendation": "The recommendation is added.",
    "moved": "The recommendation's status is changed.",
}


def install(web: Web) -> None:
    """The words and view functions the workspace's and the dashboard's templates use."""
    web.env.filters.update(
        words=workspace.words,
        day=_day,
        moment=_moment,
        duration=workspace.duration,
        audit_detail=workspace.audit_detail,
    )
    web.env.globals.update(
        milestone_actions=workspace.milestone_actions,
        recommendation_moves=workspace.recommendation_moves,
        due=workspace.due,
    )


@router.get("/engagements")
async def my_engagements(
    request: Request, person: SignedIn, chosen: Annotated[str | None, Query(alias="status", max_length=64)] = None
) -> Response:
    """A provider's engagements (staff: everyone's), overdue first, then open ones by how long they waited."""
    chosen = chosen or None
    provider_id = person.subject if person.role is Role.PROVIDER else None
    async with runtime_of(request).pool.acquire() as conn:
        rows = await PostgresStore(conn).workspace(provider_id, chosen)
    heading = "Engagements" if person.role is Role.STAFF else "My engagements"
    statuses = list(dict.fromkeys(m for stages in lifecycle.LIFECYCLES.values() for m in stages))
    return await web_of(request).render(
        request,
        "workspace.html",
        heading=heading,
        engagements=rows,
        statuses=[*statuses, lifecycle.Milestone.CLOSED],
        chosen=chosen,
    )


@router.get("/engagements/{engagement_id}")
async def engagement_page(engagement_id: UUID, request: Request, person: SignedIn) -> Response:
    done = _DONE.get(request.query_params.get("done", ""))
    return await _page(request, person, engagement_id, done=done)


@router.post("/engagements/{engagement_id}/milestones")
async def record_milestone(engagement_id: UUID, request: Request, person: SignedIn) -> Response:
    form = await _form(request, person, engagement_id)
    milestone = form.get("milestone", "")  # each button's form names its fields after its milestone
    ids = {"milestone": "milestone", "detail": f"{milestone}-detail", "note": f"{milestone}-note", **_VERSION}
    clock = request.app.state.deadline_clock
    return await _act(
        request,
        person,
        engagement_id,
        (form, RecordMilestone, ids),
        "milestone",
        lambda db, uow, body: commands.record_milestone(
            db, uow, clock, engagement_id, actor=person.actor, **body.model_dump()
        ),
    )


@router.post("/engagements/{engagement_id}/closure")
async def close(engagement_id: UUID, request: Request, person: SignedIn) -> Response:
    form = await _form(request, person, engagement_id)
    ids = {"outcome": "outcome", "note": "closure-note", **_VERSION}
    return await _act(
        request,
        person,
        engagement_id,
        (form, Closure, ids),
        "closed",
        lambda db, uow, body: commands.close(
            db, uow, engagement_id, actor=person.actor, **body.model_dump(mode="json")
        ),
    )


@router.post("/engagements/{engagement_id}/escalation")
async def escalate(engagement_id: UUID, request: Request, person: Staff) -> Response:
    form = await _form(request, person, engagement_id)
    ids = {"to_tier": "to_tier", "reason": "reason", **_VERSION}
    return await _act(
        request,
        person,
        engagement_id,
        (form, Escalation, ids),
        "escalated",
        lambda db, uow, body: commands.escalate(db, uow, engagement_id, actor=person.actor, **body.model_dump()),
    )


@router.post("/engagements/{engagement_id}/recommendations")
async def add_recommendation(engagement_id: UUID, request: Request, person: SignedIn) -> Response:
    form = await _form(request, person, engagement_id)
    return await _act(
        request,
        person,
        engagement_id,
        (form, NewRecommendation, {"text": "text"}),
        "recommendation",
        lambda db, _uow, body: commands.add_recommendation(db, engagement_id, actor=person.actor, **body.model_dump()),
    )


@router.post("/engagements/{engagement_id}/recommendations/{recommendation_id}")
async def change_recommendation(
    engagement_id: UUID, recommendation_id: UUID, request: Request, person: SignedIn
) -> Response:
    form = await _form(request, person, engagement_id)
    ids = {"status": "status", "note": f"note-{recommendation_id}"}  # one form per recommendation on the page
    return await _act(
        request,
        person,
        engagement_id,
        (form, RecommendationChange, ids),
        "moved",
        lambda db, _uow, body: commands.change_recommendation(
            db, engagement_id, recommendation_id, actor=person.actor, **body.model_dump()
        ),
    )


async def _engagement(request: Request, person: Person, engagement_id: UUID) -> EngagementRow:
    """The engagement, if this person may see it: 404 unknown, 403 another provider's."""
    async with runtime_of(request).pool.acquire() as conn:
        row = await PostgresStore(conn).load(engagement_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "There is no such engagement.")
    if person.role is Role.PROVIDER and row.provider.provider_id != person.subject:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "This engagement is another provider's. Ask program staff if it should be yours."
        )
    return row


async def _form(request: Request, person: Person, engagement_id: UUID) -> FormData:
    """The posted form of a person who may act on this engagement, its token checked."""
    form = await read_form(request)
    web_of(request).check_form(request, form)
    await _engagement(request, person, engagement_id)
    return form


def _optional(value: Any) -> str | None:
    """A form field as the API's body would carry it: absent when left empty."""
    return value.strip() or None if isinstance(value, str) else None


async def _act(
    request: Request,
    person: Person,
    engagement_id: UUID,
    posted: tuple[FormData, type[M], dict[str, str]],
    done: str,
    command: Callable[[PostgresStore, UnitOfWork, M], Awaitable[object]],
) -> Response:
    """Validate the posted fields (`ids`: each body field's form field) by the API's own model, then run the
    command in one unit of work and go back to the page saying what was `done`. A field the model refuses is shown
    beside it (422); a stale page or a refusal of the lifecycle is the engagement as it is now, saying so (409)."""
    form, model, ids = posted
    fields = {field: _optional(form.get(id_)) for field, id_ in ids.items()}
    try:
        body = model.model_validate(fields)
    except ValidationError as exc:
        errors = {ids.get(field, field): message for field, message in field_errors(exc).items()}
        return await _page(request, person, engagement_id, errors=errors, form=fields, status_code=422)
    try:
        async with unit_of_work(runtime_of(request).pool) as uow:
            await command(PostgresStore(uow.conn), uow, body)
    except commands.StaleVersion:
        return await _page(request, person, engagement_id, changed=True, status_code=status.HTTP_409_CONFLICT)
    except lifecycle.InvalidTransition as exc:
        allowed = ", ".join(workspace.words(a).lower() for a in exc.allowed)
        allowed = f" What can be done now: {allowed}." if allowed else ""
        refused = f"{exc.reason[:1].upper()}{exc.reason[1:]}.{allowed}"
        return await _page(request, person, engagement_id, refused=refused, status_code=status.HTTP_409_CONFLICT)
    except (commands.EngagementNotFound, commands.RecommendationNotFound) as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{str(exc)[:1].upper()}{str(exc)[1:]}.") from None
    return RedirectResponse(f"/engagements/{engagement_id}?done={done}#notice", status.HTTP_303_SEE_OTHER)


async def _page(
    request: Request,
    person: Person,
    engagement_id: UUID,
    *,
    status_code: int = 200,
    changed: bool = False,
    refused: str | None = None,
    done: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    row = await _engagement(request, person, engagement_id)
    async with runtime_of(request).pool.acquire() as conn:
        db = PostgresStore(conn)
        trail = await db.audit_trail(engagement_id)
        deadline = await db.pending_deadline(engagement_id)
        asked = await db.request_of(row.request_id)
        found = await db.recommendations(engagement_id) if row.tier is Tier.ORGANIZATIONAL_ASSESSMENT else None
    return await web_of(request).render(
        request,
        "engagement.html",
        status_code=status_code,
        **engagement_view(row, person, trail, deadline, asked, found, datetime.now(UTC)),
        changed=changed,
        refused=refused,
        done=done,
        errors=errors or {},
        form=form or {},
    )


def engagement_view(
    row: EngagementRow,
    person: Principal,
    trail: list[AuditEntry],
    deadline: Deadline | None,
    asked: AskedRequest | None,
    found: list[Recommendation] | None,
    now: datetime,
) -> dict[str, Any]:
    """What templates/engagement.html shows to `person`: the request only as they may read it, and only the
    actions the lifecycle allows them now."""
    tier, status = row.tier, row.status
    view = asked and readable_request(
        asked.request,
        asked.contact,
        reader=person.role,  # pages admit staff and providers only
        tier=tier,
        flagged_by_routing=row.confidential,
        engagement_open=lifecycle.is_open(status),
    )
    staff = person.role is Role.STAFF
    return {
        "e": row,
        "now": now,
        "trail": trail,
        "deadline": deadline,
        "request_view": view,
        "recommendations": found,
        "can_add_recommendation": can_add_recommendations(tier, status),
        "actions": workspace.milestone_actions(tier, status),
        "outcomes": [(outcome, workspace.words(outcome)) for outcome in workspace.closing_outcomes(tier, status)],
        "escalation_tiers": [(t, workspace.words(t)) for t in workspace.escalation_tiers(tier, status)]
        if staff
        else [],
        "assistance_kinds": [(kind, workspace.words(kind)) for kind in CriticalAssistance],
    }


def _day(at: Any) -> str:
    return f"{at:%b} {at.day}, {at.year}"


def _moment(at: Any) -> str:
    when = (datetime.fromisoformat(at) if isinstance(at, str) else at).astimezone(UTC)
    return f"{_day(when)}, {when:%H:%M} UTC"
