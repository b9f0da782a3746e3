"""The recommendations of an Organizational Assessment: added during findings or monitoring, then moved
through their statuses, each move kept in their history and the engagement's audit trail."""

from uuid import UUID, uuid4

from services.engagements import store
from services.engagements.commands import EngagementNotFound
from services.engagements.domain.lifecycle import InvalidTransition
from services.engagements.domain.recommendations import (
    RecommendationStatus,
    change_recommendation,
    propose_recommendation,
)
from shared.contract.vocabulary import Tier
from shared.runtime.outbox import UnitOfWork


class RecommendationNotFound(LookupError):
    pass


async def add(uow: UnitOfWork, engagement_id: UUID, *, text: str, proposed_by: str) -> UUID:
    row = await store.load(uow.conn, engagement_id)
    if row is None:
        raise EngagementNotFound(f"no engagement {engagement_id}")
    status = propose_recommendation(Tier(row["tier"]), row["status"])
    recommendation_id = uuid4()
    await store.add_recommendation(uow.conn, engagement_id, recommendation_id, text, status, proposed_by)
    await store.audit(
        uow.conn, engagement_id, proposed_by, "recommendation_added", {"recommendation_id": str(recommendation_id)}
    )
    return recommendation_id


async def change(
    uow: UnitOfWork,
    engagement_id: UUID,
    recommendation_id: UUID,
    *,
    status: RecommendationStatus,
    changed_by: str,
    note: str | None,
) -> None:
    row = await store.load_recommendation(uow.conn, engagement_id, recommendation_id)
    if row is None:
        raise RecommendationNotFound(f"no recommendation {recommendation_id} in engagement {engagement_id}")
    new = change_recommendation(RecommendationStatus(row["status"]), status)
    if not await store.change_recommendation(uow.conn, recommendation_id, row["status"], new, changed_by, note):
        raise InvalidTransition("the recommendation changed status meanwhile: reload it and try again", [])
    detail = {"recommendation_id": str(recommendation_id), "from": row["status"], "to": new}
    await store.audit(uow.conn, engagement_id, changed_by, "recommendation_changed", detail, note)
