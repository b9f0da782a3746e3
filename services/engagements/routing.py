"""Engagements' edge to the routing service: its provider registry (capacity and load now), read over its HTTP
API with a service key for the staff dashboard; engagements keeps no capacity of its own. A short timeout and a
cache of a few seconds keep the dashboard (and its stream, which renders every second) from waiting on routing or
asking it at every render; when routing cannot be read, the dashboard says capacity is unavailable."""

import logging
import time

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

log = logging.getLogger(__name__)


class ProviderCapacity(BaseModel):
    """What the dashboard reads of a registry entry (routing's answer carries more)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    provider_id: str
    name: str
    active: int  # engagements reserved or open now
    capacity: int
    partner_today: bool = True


class Routing:
    def __init__(self, client: httpx.AsyncClient | None, api_key: str, ttl_s: float = 5.0) -> None:
        self._client = client  # base_url = the routing service; None: not configured, capacity unavailable
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._ttl_s = ttl_s
        self._cached: tuple[float, list[ProviderCapacity] | None] | None = None

    async def registry(self) -> list[ProviderCapacity] | None:
        """The registry, read at most once per `ttl_s` (a failure too is kept that long); None when unreadable."""
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < self._ttl_s:
            return self._cached[1]
        found = await self._read()
        self._cached = (time.monotonic(), found)
        return found

    async def _read(self) -> list[ProviderCapacity] | None:
        if self._client is None:
            return None
        try:
            answer = await self._client.get("/v1/providers", headers=self._headers)
            answer.raise_for_status()
            return [ProviderCapacity.model_validate(item) for item in answer.json()]
        except (httpx.HTTPError, ValueError, ValidationError) as exc:
            log.warning("routing's provider registry not read: %r", exc)
            return None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
