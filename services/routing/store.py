"""Routing's PostgreSQL edge: provider registry and load, requests and their decisions, the waiting queue. SQL
only; rows come back typed."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.routing.domain.decision import Decision
from services.routing.domain.history import NO_HISTORY, AgencyHistory, PastDecision, PastEngagement
from services.routing.domain.providers import ProviderLoad, ProviderRecord
from services.routing.domain.what_if import Outcome, PastRequest
from shared.contract.requests import AssistanceRequested
from shared.contract.vocabulary import Tier


@dataclass(frozen=True)
class RequestRow:
    """A request as routing keeps it, with its current decision."""

    request_id: UUID
    correlation_id: str
    request: AssistanceRequested
    outcome: str = "pending"  # until the first decision; then routed, queued or needs_review
    provider_id: str | None = None
    escalated_from: UUID | None = None  # the engagement it was escalated from
    tier: Tier | None = None  # the tier of its current decision


@dataclass(frozen=True)
class DecisionRow:
    """One decision of a request's history."""

    decided_at: datetime
    decided_by: str
    staff_member: str | None
    reason: str | None
    outcome: str
    tier: str | None
    provider_id: str | None
    policy_version: str | None
    rules_fired: list[str]
    candidates: list[dict[str, Any]]
    review_reasons: list[str]


@dataclass(frozen=True)
class SubmittedRequest:
    """A request as staff judge it: what the agency sent, when, and where it stands now."""

    request_id: UUID
    submitted_at: datetime
    request: AssistanceRequested
    outcome: str
    tier: str | None
    provider_id: str | None


@dataclass(frozen=True)
class WaitingRequest:
    """A request in staff's queue (in review, or waiting for a place), with what its latest decision found."""

    request_id: UUID
    submitted_at: datetime
    since: datetime  # when its latest decision put it there
    outcome: str  # needs_review or queued
    tier: str | None  # the tier it waits for (queued)
    urgency: str
    agency: str
    state: str
    review_reasons: list[str]


async def seed_providers(conn: asyncpg.Connection, records: Sequence[ProviderRecord]) -> None:
    """Upsert the registry from the data file; load counters are kept."""
    await conn.executemany(
        "INSERT INTO providers (provider_id, tier, record) VALUES ($1, $2, $3)"
        " ON CONFLICT (provider_id) DO UPDATE SET tier = EXCLUDED.tier, record = EXCLUDED.record, updated_at = now()",
        [(r.provider_id, r.tier.value, r.model_dump(mode="json")) for r in records],
    )


_LOADS = "SELECT record, active, assigned_total, last_assigned_at FROM providers"


def _loads(rows: Sequence[asyncpg.Record]) -> list[ProviderLoad]:
    return [
        ProviderLoad(
            ProviderRecord.model_validate(r["record"]), r["active"], r["assigned_total"], r["last_assigned_at"]
        )
        for r in rows
    ]


def _snapshot(loads: Sequence[ProviderLoad]) -> list[dict[str, Any]]:
    """The loads a decision was made against, as the decision row keeps them."""
    return [
        {
            "provider_id": load.record.provider_id,
            "active": load.active,
            "assigned_total": load.assigned_total,
            "last_assigned_at": load.last_assigned_at.isoformat() if load.last_assigned_at else None,
        }
        for load in loads
    ]


def _loads_then(snapshot: list[dict[str, Any]], registry: Sequence[ProviderLoad]) -> list[ProviderLoad]:
    """The registry's providers with the loads a decision recorded (a provider it did not know carried none)."""
    then = {entry["provider_id"]: entry for entry in snapshot}
    loads = []
    for load in registry:
        entry = then.get(load.record.provider_id, {})
        last = entry.get("last_assigned_at")
        loads.append(
            ProviderLoad(
                load.record,
                entry.get("active", 0),
                entry.get("assigned_total", 0),
                datetime.fromisoformat(last) if last else None,
            )
        )
    return loads


async def lock_loads(conn: asyncpg.Connection) -> list[ProviderLoad]:
    """Every provider with its load, locked until the transaction ends: replicas deciding at the same time
    take turns, so a provider's capacity can never be exceeded. The registry is small; the lock is brief."""
    return _loads(await conn.fetch(f"{_LOADS} ORDER BY provider_id FOR UPDATE"))


async def current_loads(conn: asyncpg.Connection) -> list[ProviderLoad]:
    """Every provider with its load, unlocked: for reading, never for deciding."""
    return _loads(await conn.fetch(f"{_LOADS} ORDER BY provider_id"))


async def registry(conn: asyncpg.Connection) -> list[ProviderLoad]:
    """Every provider with its load, by tier: for reading."""
    return _loads(await conn.fetch(f"{_LOADS} ORDER BY tier, provider_id"))


# A provider's place given back (an engagement closed, or a decision moved the request elsewhere); `$n` names it.
_RELEASE_PLACE = "UPDATE providers SET active = greatest(active - 1, 0), updated_at = now() WHERE provider_id = ${}"


async def release_place(conn: asyncpg.Connection, provider_id: str) -> None:
    await conn.execute(_RELEASE_PLACE.format(1), provider_id)


async def record_request(
    conn: asyncpg.Connection, row: RequestRow, submitted_at: datetime, priority: int, agency_key: str
) -> bool:
    """Remember a submitted request; False when it was already known (then nothing is decided twice)."""
    inserted = await conn.fetchval(
        "INSERT INTO requests (request_id, submitted_at, correlation_id, request, priority, outcome, updated_at,"
        " agency_key) VALUES ($1, $2, $3, $4, $5, 'pending', now(), $6) ON CONFLICT (request_id) DO NOTHING"
        " RETURNING true",
        row.request_id,
        submitted_at,
        row.correlation_id,
        row.request.model_dump(mode="json"),
        priority,
        agency_key,
    )
    return bool(inserted)


async def record_decision(
    conn: asyncpg.Connection,
    request_id: UUID,
    decision: Decision,
    *,
    decided_by: str,
    released: str | None = None,
    reserved: str | None = None,
    reason: str | None = None,
    staff_member: str | None = None,
    loads: Sequence[ProviderLoad] | None = None,
) -> None:
    """The decision joins the request's history, with the loads it was made against, and the request's place
    moves from the provider `released` to the provider `reserved` (either may be None): one statement, since
    routing decides every request."""
    provider_id = decision.provider.provider_id if decision.provider else None
    tier = decision.tier.value if decision.tier else None
    await conn.execute(
        f"WITH released AS ({_RELEASE_PLACE.format(13)}),"
        " reserved AS (UPDATE providers SET active = active + 1, assigned_total = assigned_total + 1,"
        " last_assigned_at = now(), updated_at = now() WHERE provider_id = $14),"
        " decided AS (UPDATE requests SET outcome = $3, tier = $4, provider_id = $5, updated_at = now()"
        " WHERE request_id = $1)"
        " INSERT INTO decisions (request_id, decided_by, outcome, tier, provider_id, policy_version, rules_fired,"
        " candidates, review_reasons, reason, staff_member, loads)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        request_id,
        decided_by,
        decision.outcome,
        tier,
        provider_id,
        decision.policy_version,
        decision.rules_fired,
        [c.model_dump(mode="json") for c in decision.candidates],
        decision.review_reasons,
        reason,
        staff_member,
        _snapshot(loads) if loads is not None else None,
        released,
        reserved,
    )


async def record_withdrawal(conn: asyncpg.Connection, request_id: UUID, *, reason: str | None) -> None:
    """The request leaves the queue; its history gains the agency's withdrawal."""
    await conn.execute(
        "WITH withdrawn AS (UPDATE requests SET outcome = 'withdrawn', updated_at = now() WHERE request_id = $1)"
        " INSERT INTO decisions (request_id, decided_by, outcome, reason) VALUES ($1, 'agency', 'withdrawn', $2)",
        request_id,
        reason,
    )


_REQUESTS = "SELECT request_id, correlation_id, request, outcome, provider_id, escalated_from, tier FROM requests"


def _request(row: asyncpg.Record) -> RequestRow:
    return RequestRow(
        request_id=row["request_id"],
        correlation_id=row["correlation_id"],
        request=AssistanceRequested.model_validate(row["request"]),
        outcome=row["outcome"],
        provider_id=row["provider_id"],
        escalated_from=row["escalated_from"],
        tier=Tier(row["tier"]) if row["tier"] else None,
    )


async def queued_requests(conn: asyncpg.Connection, tier: Tier, limit: int) -> list[RequestRow]:
    """Waiting requests of a tier, in arrival order within priority; rows another replica holds are skipped."""
    rows = await conn.fetch(
        f"{_REQUESTS} WHERE outcome = 'queued' AND tier = $1 ORDER BY priority, submitted_at LIMIT $2"
        " FOR UPDATE SKIP LOCKED",
        tier.value,
        limit,
    )
    return [_request(row) for row in rows]


async def lock_request(conn: asyncpg.Connection, request_id: UUID) -> RequestRow | None:
    """A request with its current decision, locked so a concurrent decision about it waits."""
    row = await conn.fetchrow(f"{_REQUESTS} WHERE request_id = $1 FOR UPDATE", request_id)
    return _request(row) if row else None


async def queued_since_before(conn: asyncpg.Connection, days: int) -> list[RequestRow]:
    """Requests waiting for a place since a decision more than `days` days old, oldest first; rows another
    replica holds are skipped."""
    rows = await conn.fetch(
        f"{_REQUESTS} r WHERE r.outcome = 'queued'"
        " AND (SELECT max(decided_at) FROM decisions d WHERE d.request_id = r.request_id)"
        " < now() - make_interval(days => $1) ORDER BY r.priority, r.submitted_at FOR UPDATE OF r SKIP LOCKED",
        days,
    )
    return [_request(row) for row in rows]


async def mark_escalated(
    conn: asyncpg.Connection, request_id: UUID, engagement_id: UUID, to_tier: Tier, escalated_at: datetime
) -> None:
    """The request follows its escalation; the engagement it came from keeps when and to which tier."""
    await conn.execute("UPDATE requests SET escalated_from = $2 WHERE request_id = $1", request_id, engagement_id)
    await conn.execute(
        "UPDATE engagement_places SET escalated_at = $2, escalated_to = $3 WHERE engagement_id = $1",
        engagement_id,
        escalated_at,
        to_tier.value,
    )


async def hold_place(
    conn: asyncpg.Connection, engagement_id: UUID, request_id: UUID, provider_id: str, tier: Tier, opened_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO engagement_places (engagement_id, request_id, provider_id, tier, opened_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (engagement_id) DO NOTHING",
        engagement_id,
        request_id,
        provider_id,
        tier.value,
        opened_at,
    )


async def free_place(conn: asyncpg.Connection, engagement_id: UUID, closed_at: datetime, outcome: str) -> str | None:
    """Release the engagement's place once, keeping when and how it closed; returns the provider whose place
    was freed."""
    return await conn.fetchval(
        "UPDATE engagement_places SET released_at = now(), closed_at = $2, outcome = $3"
        " WHERE engagement_id = $1 AND released_at IS NULL RETURNING provider_id",
        engagement_id,
        closed_at,
        outcome,
    )


# An agency's history is its requests that reached Critical Response or Organizational Assessment (their current
# tier: an escalation moves a request there too), with their decisions and engagements: all the policy's history
# rules read, and few rows however many training requests the agency sends.
_CONTINUUM = "r.tier IN ('critical_response', 'organizational_assessment')"
_HISTORY_DECISIONS = (
    "SELECT r.agency_key, d.request_id, d.decided_at, d.outcome, d.tier FROM requests r"
    f" JOIN decisions d USING (request_id) WHERE {_CONTINUUM}"
)
_HISTORY_ENGAGEMENTS = (
    "SELECT r.agency_key, e.engagement_id, e.request_id, e.tier, e.opened_at, e.closed_at, e.outcome,"
    " e.escalated_at, e.escalated_to FROM requests r JOIN engagement_places e USING (request_id)"
    f" WHERE {_CONTINUUM} AND e.opened_at IS NOT NULL"
)


def _histories(decisions: Sequence[asyncpg.Record], engagements: Sequence[asyncpg.Record]) -> dict[str, AgencyHistory]:
    found: dict[str, tuple[list[PastDecision], list[PastEngagement]]] = {}
    for row in decisions:
        found.setdefault(row["agency_key"], ([], []))[0].append(
            PastDecision(row["request_id"], row["decided_at"], row["outcome"], row["tier"])
        )
    for row in engagements:
        fields = {key: value for key, value in row.items() if key != "agency_key"}
        found.setdefault(row["agency_key"], ([], []))[1].append(PastEngagement(**fields))
    return {key: AgencyHistory(tuple(d), tuple(e)) for key, (d, e) in found.items()}


async def agency_history(conn: asyncpg.Connection, agency_key: str, request_id: UUID) -> AgencyHistory:
    """What routing has seen of the agency before this request: its other requests along the continuum, with
    their decisions and engagements."""
    decisions = await conn.fetch(
        f"{_HISTORY_DECISIONS} AND r.agency_key = $1 AND d.request_id <> $2 ORDER BY d.id", agency_key, request_id
    )
    engagements = await conn.fetch(
        f"{_HISTORY_ENGAGEMENTS} AND r.agency_key = $1 AND e.request_id <> $2", agency_key, request_id
    )
    return _histories(decisions, engagements).get(agency_key, NO_HISTORY)


async def has_engagement(conn: asyncpg.Connection, request_id: UUID) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM engagement_places WHERE request_id = $1)", request_id)


async def decisions_of(conn: asyncpg.Connection, request_id: UUID) -> list[DecisionRow]:
    """A request's decision history, oldest first."""
    rows = await conn.fetch(
        "SELECT decided_at, decided_by, staff_member, reason, outcome, tier, provider_id, policy_version, rules_fired,"
        " candidates, review_reasons FROM decisions WHERE request_id = $1 ORDER BY id",
        request_id,
    )
    return [DecisionRow(**row) for row in rows]


async def request_exists(conn: asyncpg.Connection, request_id: UUID) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM requests WHERE request_id = $1)", request_id)


async def policy_decided_requests(conn: asyncpg.Connection) -> list[PastRequest]:
    """Every request with the latest decision the policy made about it, in arrival order, each as it was
    decided: on the day it was submitted, against the loads recorded with the decision (over the registry as it
    is now), with its agency's history as it stood then (for the what-if replay)."""
    rows = await conn.fetch(
        "SELECT r.request_id, r.submitted_at, r.request, r.agency_key, d.decided_at, d.outcome, d.tier,"
        " d.provider_id, d.rules_fired, d.loads FROM requests r JOIN LATERAL (SELECT decided_at, outcome, tier,"
        " provider_id, rules_fired, loads FROM decisions WHERE request_id = r.request_id AND decided_by = 'policy'"
        " ORDER BY id DESC LIMIT 1) d ON true ORDER BY r.submitted_at, r.request_id"
    )
    registry = await current_loads(conn)
    histories = _histories(await conn.fetch(_HISTORY_DECISIONS), await conn.fetch(_HISTORY_ENGAGEMENTS))
    return [
        PastRequest(
            row["request_id"],
            row["submitted_at"].date(),
            AssistanceRequested.model_validate(row["request"]),
            Outcome(row["outcome"], row["tier"], row["provider_id"]),
            tuple(row["rules_fired"]),
            _loads_then(row["loads"], registry) if row["loads"] is not None else None,
            histories.get(row["agency_key"], NO_HISTORY).as_of(row["decided_at"], row["request_id"]),
        )
        for row in rows
    ]


async def submitted_request(conn: asyncpg.Connection, request_id: UUID) -> SubmittedRequest | None:
    row = await conn.fetchrow(
        "SELECT request_id, submitted_at, request, outcome, tier, provider_id FROM requests WHERE request_id = $1",
        request_id,
    )
    if row is None:
        return None
    return SubmittedRequest(**{**row, "request": AssistanceRequested.model_validate(row["request"])})


async def decision_count(conn: asyncpg.Connection, request_id: UUID) -> int:
    return await conn.fetchval("SELECT count(*) FROM decisions WHERE request_id = $1", request_id)


async def waiting_for_staff(conn: asyncpg.Connection) -> list[WaitingRequest]:
    """Requests in review or waiting for a place, most urgent first, then oldest, each with its latest decision."""
    rows = await conn.fetch(
        "SELECT r.request_id, r.submitted_at, d.decided_at AS since, r.outcome, r.tier,"
        " r.request->>'urgency' AS urgency, r.request->'agency'->>'name' AS agency,"
        " r.request->'agency'->>'state' AS state, d.review_reasons"
        " FROM requests r JOIN LATERAL (SELECT decided_at, review_reasons FROM decisions"
        "  WHERE request_id = r.request_id ORDER BY id DESC LIMIT 1) d ON true"
        " WHERE r.outcome IN ('needs_review', 'queued') ORDER BY r.priority, r.submitted_at, r.request_id"
    )
    return [WaitingRequest(**row) for row in rows]
