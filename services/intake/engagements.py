"""Intake's edge to the engagements service: the recommendations of an assessment, read over its HTTP API with a
service key, for an agency's "my requests" page (engagements publishes no event for them)."""

import asyncio
import logging
from datetime import datetime
from uuid import UUID

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

log = logging.getLogger(__name__)


class Recommendation(BaseModel):
    """What the agency reads of a recommendation (engagements' answer carries more: its history)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    recommendation_id: UUID
    text: str
    status: str
    created_at: datetime


class Engagements:
    def __init__(self, client: httpx.AsyncClient, api_key: str) -> None:
        self._client = client  # base_url = the engagements service; one for the life of the process
        self._headers = {"Authorization": f"Bearer {api_key}"}

    async def recommendations(self, engagement_ids: list[UUID]) -> dict[UUID, list[Recommendation] | None]:
        """Each engagement's recommendations, oldest first; None for one that could not be read now (the page says
        so rather than failing: the rest of it comes from intake's own tables)."""
        found = await asyncio.gather(*(self._of(engagement_id) for engagement_id in engagement_ids))
        return dict(zip(engagement_ids, found, strict=True))

    async def _of(self, engagement_id: UUID) -> list[Recommendation] | None:
        try:
            answer = await self._client.get(f"/v1/engagements/{engagement_id}/recommendations", headers=self._headers)
            answer.raise_for_status()
            return [Recommendation.model_validate(item) for item in answer.json()]
        except (httpx.HTTPError, ValueError, ValidationError) as exc:
            log.warning("recommendations of engagement %s not read: %r", engagement_id, exc)
            return None
