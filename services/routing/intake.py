"""Routing's edge to the intake service: the contact person of a request, for the staff member who opens it.
Routing decides without it and keeps none (it is not on the topics routing reads); intake, which keeps every
request as sent, answers over its HTTP API to routing's service key. A short timeout: when intake cannot be read
the page says so instead of waiting on it."""

import logging
from uuid import UUID

import httpx
from pydantic import ValidationError

from shared.contract.requests import Contact

log = logging.getLogger(__name__)


class Intake:
    def __init__(self, client: httpx.AsyncClient, api_key: str) -> None:
        self._client = client  # base_url = the intake service
        self._headers = {"Authorization": f"Bearer {api_key}"}

    async def contact_of(self, request_id: UUID) -> Contact | None:
        """The request's contact person; None when intake cannot be read now."""
        try:
            answer = await self._client.get(f"/v1/requests/{request_id}/contact", headers=self._headers)
            answer.raise_for_status()
            return Contact.model_validate(answer.json())
        except (httpx.HTTPError, ValueError, ValidationError) as exc:
            log.warning("contact person of request %s not read from intake: %r", request_id, exc)
            return None
