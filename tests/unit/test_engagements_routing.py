"""Engagements' edge to routing (services/engagements/routing.py): the registry read with the service key, kept a
few seconds, and None (capacity unavailable) rather than an error when routing cannot be read."""

import httpx

from services.engagements.routing import Routing

ENTRY = {
    "provider_id": "iacp",
    "name": "IACP",
    "tier": "cri_tac",
    "active": 1,
    "capacity": 4,
    "assigned_total": 9,
    "partner_today": True,
    "valid_from": "2026-01-01",
    "valid_to": None,
}


def routing(handler, ttl_s: float = 5.0) -> Routing:
    client = httpx.AsyncClient(base_url="http://routing.test", transport=httpx.MockTransport(handler))
    return Routing(client, "a-service-key-of-16", ttl_s)


async def test_the_registry_is_read_with_the_service_key_and_kept_a_few_seconds():
    asked = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(200, json=[ENTRY])

    edge = routing(handler)
    first, second = await edge.registry(), await edge.registry()
    assert first == second and [(p.provider_id, p.active, p.capacity) for p in first] == [("iacp", 1, 4)]
    assert len(asked) == 1 and asked[0].url.path == "/v1/providers"
    assert asked[0].headers["Authorization"] == "Bearer a-service-key-of-16"


async def test_unreachable_refused_or_garbled_is_unavailable_not_an_error():
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    assert await routing(down).registry() is None
    assert await routing(lambda request: httpx.Response(403, json={"detail": "no"})).registry() is None
    assert await routing(lambda request: httpx.Response(200, json=[{"name": "x"}])).registry() is None
    assert await Routing(None, "k").registry() is None


async def test_after_the_cache_routing_is_asked_again():
    answers = iter([httpx.Response(503), httpx.Response(200, json=[ENTRY])])
    edge = routing(lambda request: next(answers), ttl_s=0)
    assert await edge.registry() is None
    assert await edge.registry() is not None
