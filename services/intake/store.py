"""Intake's PostgreSQL edge, SQL only: the requests table, its timeline and the idempotency keys; requests of
the public form waiting for confirmation; people's sign-in links, sessions, rate-limit grants and provider
mailboxes. Rows come back as the typed records below; the
events are built by the commands."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from services.intake.domain.signin import AgencyContact, ProviderContact
from services.intake.domain.status import StatusChange
from shared.contract.events import RequestReceived
from shared.contract.requests import Contact, RequestForAssistance
from shared.runtime.web.session import Person


@dataclass(frozen=True, slots=True)
class KeyUse:
    """An idempotency key in use: the digest of the body it came with and the request it answers."""

    body_sha256: bytes
    request_id: UUID


@dataclass(frozen=True, slots=True)
class NewRequest:
    """A submitted request to record: its RequestReceived, the request itself (with its contact), the event's id,
    its agency (`agency_key`), and the idempotency key it came with, if any, with the digest of its body."""

    received: RequestReceived
    request: RequestForAssistance
    event_id: UUID
    agency_key: str
    key: str | None
    body_sha256: bytes | None


@dataclass(frozen=True, slots=True)
class TimelineRow:
    at: datetime
    status: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StatusRow:
    """Where a request is, with the agency it belongs to (`agency_key`, for deciding who may read it)."""

    request_id: UUID
    status: str
    agency_name: str
    agency_key: str
    channel: str
    submitted_at: datetime
    updated_at: datetime
    tier: str | None
    provider_id: str | None
    provider_name: str | None
    engagement_id: UUID | None
    timeline: tuple[TimelineRow, ...]


@dataclass(frozen=True, slots=True)
class Waiting:
    """Requests of the public form waiting for confirmation since a time: with one contact address, from one
    client."""

    by_address: int
    by_client: int


@dataclass(frozen=True, slots=True)
class HeldSubmission:
    """A request of the public form to keep until its contact confirms it: the digest of its link's token, and the
    contact address (lower case) and client it counts against."""

    pending_id: UUID
    token_sha256: bytes
    request: RequestForAssistance
    email: str
    client: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PendingRow:
    """A request of the public form waiting for its contact to confirm it (`request_id` once confirmed)."""

    pending_id: UUID
    request: RequestForAssistance
    expires_at: datetime
    request_id: UUID | None


class PostgresStore:
    """Intake's tables through one connection: the caller's transaction, when it has one."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def record_requests(self, new: Sequence[NewRequest], key_ttl: timedelta) -> list[UUID | KeyUse]:
        """Record the submitted requests (their keys all different) in one statement: each takes its idempotency
        key, if it has one, and is inserted with the first line of its timeline only when it took it. Answers, for
        each: the id recorded for it (its own, or the request its agency recorded before under the same client
        reference, which its key then names), or the use of its key when the key was in use within `key_ttl`
        (nothing of it recorded)."""
        if not new:
            return []
        # Keys are taken, and requests inserted, in one order (key; agency and client reference), so two groups
        # never wait for each other's rows in opposite orders. An expired key is taken over, as if new. Of two
        # submissions of one agency's client reference (in this statement or another transaction's), the first
        # is inserted (ON CONFLICT DO NOTHING) and the second finds it below.
        row = await self._conn.fetchrow(
            "WITH incoming AS (SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[],"
            " $5::text[], $6::text[], $7::uuid[], $8::text[], $9::bytea[]) WITH ORDINALITY"
            " AS i(request_id, submitted_at, channel, agency_key, client_reference, body, event_id, key, body_sha256,"
            " n)),"
            " claimed AS (INSERT INTO idempotency_keys (key, body_sha256, request_id)"
            " SELECT key, body_sha256, request_id FROM incoming WHERE key IS NOT NULL ORDER BY key"
            " ON CONFLICT (key) DO UPDATE SET body_sha256 = EXCLUDED.body_sha256,"
            " request_id = EXCLUDED.request_id, created_at = now()"
            " WHERE idempotency_keys.created_at < now() - $10::interval RETURNING request_id),"
            " accepted AS (INSERT INTO requests (request_id, submitted_at, channel, agency_key, client_reference,"
            " body, status, updated_at) SELECT request_id, submitted_at, channel, agency_key, client_reference,"
            " body::jsonb, 'submitted', submitted_at FROM incoming"
            " WHERE key IS NULL OR request_id IN (SELECT request_id FROM claimed)"
            " ORDER BY agency_key, client_reference, n"
            " ON CONFLICT (agency_key, client_reference) WHERE client_reference IS NOT NULL DO NOTHING"
            " RETURNING request_id),"
            " timeline AS (INSERT INTO request_timeline (event_id, request_id, at, status, detail)"
            " SELECT i.event_id, i.request_id, i.submitted_at, 'submitted', jsonb_build_object('channel', i.channel)"
            " FROM incoming i JOIN accepted USING (request_id))"
            " SELECT ARRAY(SELECT request_id FROM claimed), ARRAY(SELECT request_id FROM accepted)",
            [n.received.request_id for n in new],
            [n.received.submitted_at for n in new],
            [n.received.channel for n in new],
            [n.agency_key for n in new],
            [n.request.client_reference for n in new],
            [n.request.model_dump_json() for n in new],
            [n.event_id for n in new],
            [n.key for n in new],
            [n.body_sha256 for n in new],
            key_ttl,
        )
        taken, inserted = set(row[0]), set(row[1])
        lost = {n.key for n in new if n.key is not None and n.received.request_id not in taken}
        known = [n for n in new if n.received.request_id not in inserted and n.key not in lost]
        # Read by statements of their own, whose snapshot sees what another transaction committed while this
        # one waited for its rows.
        in_use = await self._key_uses(sorted(lost))
        earlier = await self._earlier_requests(known)
        recorded: list[UUID | KeyUse] = []
        pointed: list[tuple[str, UUID]] = []
        for n in new:
            if n.key is not None and n.key in lost:
                recorded.append(in_use[n.key])
            elif n.received.request_id in inserted:
                recorded.append(n.received.request_id)
            else:
                recorded.append(found := earlier[(n.agency_key, n.request.client_reference)])
                if n.key is not None:
                    pointed.append((n.key, found))
        if pointed:
            await self._conn.executemany("UPDATE idempotency_keys SET request_id = $2 WHERE key = $1", pointed)
        return recorded

    async def _key_uses(self, keys: list[str]) -> dict[str, KeyUse]:
        if not keys:
            return {}
        rows = await self._conn.fetch(
            "SELECT key, body_sha256, request_id FROM idempotency_keys WHERE key = ANY($1::text[])", keys
        )
        return {row["key"]: KeyUse(row["body_sha256"], row["request_id"]) for row in rows}

    async def _earlier_requests(self, new: list[NewRequest]) -> dict[tuple[str, str | None], UUID]:
        if not new:
            return {}
        rows = await self._conn.fetch(
            "SELECT agency_key, client_reference, request_id FROM requests"
            " WHERE (agency_key, client_reference) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
            [n.agency_key for n in new],
            [n.request.client_reference for n in new],
        )
        return {(row["agency_key"], row["client_reference"]): row["request_id"] for row in rows}

    async def record_status(self, request_id: UUID, event_id: UUID, at: datetime, change: StatusChange) -> None:
        """Append a downstream event (`event_id`, occurred `at`) to the request's timeline and move its status."""
        assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(change.columns, start=4))
        event, detail = f"${4 + len(change.columns)}", f"${5 + len(change.columns)}"
        # One statement (one round trip) for both. Events from two topics can arrive out of order: the latest by
        # occurrence decides the status, but the columns an event sets (tier, provider, engagement) are kept
        # whichever arrives first.
        await self._conn.execute(
            "WITH moved AS (UPDATE requests SET status = CASE WHEN updated_at <= $3 THEN $2 ELSE status END,"
            f" updated_at = greatest(updated_at, $3){', ' if assignments else ''}{assignments}"
            " WHERE request_id = $1)"
            " INSERT INTO request_timeline (event_id, request_id, at, status, detail)"
            f" VALUES ({event}, $1, $3, $2, {detail}) ON CONFLICT (event_id) DO NOTHING",
            request_id,
            change.status,
            at,
            *change.columns.values(),
            event_id,
            change.detail,
        )

    async def load_status(self, request_id: UUID, *, lock: bool = False) -> StatusRow | None:
        """Where a request is; `lock` holds its row until the transaction ends (to change it knowing its state)."""
        rows = await self._statuses("request_id = $1" + (" FOR UPDATE" if lock else ""), request_id)
        return rows[0] if rows else None

    async def contact_of(self, request_id: UUID) -> tuple[str, Contact] | None:
        """The agency key and contact person of a request."""
        row = await self._conn.fetchrow(
            "SELECT agency_key, body->'contact' AS contact FROM requests WHERE request_id = $1", request_id
        )
        return None if row is None else (row["agency_key"], Contact.model_validate(row["contact"]))

    async def agency_requests(self, agency_key: str) -> list[StatusRow]:
        """Every request of an agency, newest first, each with its timeline."""
        return await self._statuses("agency_key = $1 ORDER BY submitted_at DESC", agency_key)

    async def _statuses(self, where: str, value: object) -> list[StatusRow]:
        rows = await self._conn.fetch(
            "SELECT request_id, status, submitted_at, updated_at, tier, provider_id, provider_name, engagement_id,"
            f" channel, agency_key, body->'agency'->>'name' AS agency_name FROM requests WHERE {where}",
            value,
        )
        timelines: dict[UUID, list[TimelineRow]] = {row["request_id"]: [] for row in rows}
        for entry in await self._conn.fetch(
            "SELECT request_id, at, status, detail FROM request_timeline WHERE request_id = ANY($1::uuid[])"
            " ORDER BY at, status",
            list(timelines),
        ):
            timelines[entry["request_id"]].append(TimelineRow(entry["at"], entry["status"], entry["detail"]))
        return [StatusRow(**row, timeline=tuple(timelines[row["request_id"]])) for row in rows]

    async def waiting_since(self, since: datetime, *, email: str, client: str) -> Waiting:
        row = await self._conn.fetchrow(
            "SELECT count(*) FILTER (WHERE email = $2) AS by_address, count(*) FILTER (WHERE client = $3) AS by_client"
            " FROM pending_submissions WHERE created_at > $1 AND (email = $2 OR client = $3)",
            since,
            email,
            client,
        )
        return Waiting(row["by_address"], row["by_client"])

    async def hold_pending(self, held: HeldSubmission) -> None:
        await self._conn.execute(
            "INSERT INTO pending_submissions (pending_id, token_sha256, body, email, client, created_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            held.pending_id,
            held.token_sha256,
            held.request.model_dump(mode="json"),
            held.email,
            held.client,
            held.created_at,
            held.expires_at,
        )

    async def pending(self, token_sha256: bytes, *, lock: bool = False) -> PendingRow | None:
        """The request waiting under a link; `lock` holds it until the transaction ends, so two clicks on one
        link send it once."""
        row = await self._conn.fetchrow(
            "SELECT pending_id, body, expires_at, request_id FROM pending_submissions WHERE token_sha256 = $1"
            + (" FOR UPDATE" if lock else ""),
            token_sha256,
        )
        if row is None:
            return None
        return PendingRow(
            row["pending_id"], RequestForAssistance.model_validate(row["body"]), row["expires_at"], row["request_id"]
        )

    async def confirm_pending(self, pending_id: UUID, request_id: UUID) -> None:
        await self._conn.execute(
            "UPDATE pending_submissions SET request_id = $2 WHERE pending_id = $1", pending_id, request_id
        )

    async def purge_expired_pending(self) -> int:
        """Requests of the form whose link expired, confirmed or not (a confirmed one is a request by then)."""
        result = await self._conn.execute("DELETE FROM pending_submissions WHERE expires_at < now()")
        return int(result.split()[-1])

    async def purge_expired_keys(self, ttl: timedelta) -> int:
        result = await self._conn.execute("DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval", ttl)
        return int(result.split()[-1])


@dataclass(frozen=True, slots=True)
class LinkRow:
    """A sign-in link that can still be used: who asked, and where to go once signed in."""

    link_id: UUID
    email: str
    next_path: str


@dataclass(frozen=True, slots=True)
class SessionRow:
    person: Person
    expires_at: datetime


class PostgresSignIn:
    """People's sign-in tables through one connection: links and sessions (found by their token's digest), the
    links granted for the rate limits, and what tells who an address is (provider mailboxes, agency contacts)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def lock_grants(
        self, keys: Sequence[tuple[str, str]], since: datetime
    ) -> dict[tuple[str, str], list[datetime]]:
        """When links were granted to each (scope, key) since `since`, holding each key's lock until the
        transaction ends, so two intake processes never both grant the last allowed link."""
        found: dict[tuple[str, str], list[datetime]] = {}
        for scope, key in sorted(keys):  # one order everywhere: two asks never wait for each other's lock
            await self._conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"signin:{scope}:{key}")
            found[(scope, key)] = await self._conn.fetchval(
                "SELECT coalesce(array_agg(at), '{}') FROM signin_grants WHERE scope = $1 AND key = $2 AND at > $3",
                scope,
                key,
                since,
            )
        return found

    async def record_grants(self, keys: Sequence[tuple[str, str]], at: datetime) -> None:
        await self._conn.executemany(
            "INSERT INTO signin_grants (scope, key, at) VALUES ($1, $2, $3)", [(s, k, at) for s, k in keys]
        )

    async def provider_of(self, email: str) -> ProviderContact | None:
        row = await self._conn.fetchrow(
            "SELECT provider_id, name FROM provider_contacts WHERE email = $1 ORDER BY updated_at DESC LIMIT 1",
            email,
        )
        return ProviderContact(row["provider_id"], row["name"]) if row else None

    async def agency_of(self, email: str) -> AgencyContact | None:
        """The agency whose latest request names this address as its contact."""
        row = await self._conn.fetchrow(
            "SELECT agency_key, body->'contact'->>'name' AS name FROM requests"
            " WHERE lower(body->'contact'->>'email') = $1 ORDER BY submitted_at DESC LIMIT 1",
            email,
        )
        return AgencyContact(row["agency_key"], row["name"]) if row else None

    async def remember_provider(self, provider_id: str, name: str, email: str, at: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO provider_contacts (provider_id, name, email, updated_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (provider_id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email,"
            " updated_at = EXCLUDED.updated_at WHERE provider_contacts.updated_at <= EXCLUDED.updated_at",
            provider_id,
            name,
            email,
            at,
        )

    async def record_link(
        self, digest: bytes, link_id: UUID, email: str, next_path: str, created_at: datetime, expires_at: datetime
    ) -> None:
        await self._conn.execute(
            "INSERT INTO signin_links (token_sha256, link_id, email, next_path, created_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            digest,
            link_id,
            email,
            next_path,
            created_at,
            expires_at,
        )

    async def usable_link(self, digest: bytes, now: datetime) -> LinkRow | None:
        row = await self._conn.fetchrow(
            "SELECT link_id, email, next_path FROM signin_links"
            " WHERE token_sha256 = $1 AND used_at IS NULL AND expires_at > $2",
            digest,
            now,
        )
        return LinkRow(**row) if row else None

    async def use_link(self, digest: bytes, now: datetime) -> LinkRow | None:
        """Mark the link used and answer it, if it was usable: one statement, so two clicks open one session."""
        row = await self._conn.fetchrow(
            "UPDATE signin_links SET used_at = $2 WHERE token_sha256 = $1 AND used_at IS NULL AND expires_at > $2"
            " RETURNING link_id, email, next_path",
            digest,
            now,
        )
        return LinkRow(**row) if row else None

    async def record_session(self, digest: bytes, person: Person, created_at: datetime, expires_at: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO sessions (token_sha256, role, subject, email, name, created_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            digest,
            person.role.value,
            person.subject,
            person.email,
            person.name,
            created_at,
            expires_at,
        )

    async def live_session(self, digest: bytes, now: datetime) -> SessionRow | None:
        row = await self._conn.fetchrow(
            "SELECT role, subject, email, name, expires_at FROM sessions WHERE token_sha256 = $1 AND expires_at > $2",
            digest,
            now,
        )
        if row is None:
            return None
        person = Person(role=row["role"], subject=row["subject"], email=row["email"], name=row["name"])
        return SessionRow(person, row["expires_at"])

    async def end_session(self, digest: bytes) -> None:
        await self._conn.execute("DELETE FROM sessions WHERE token_sha256 = $1", digest)

    async def purge_signin(self, now: datetime, grants_kept: timedelta) -> int:
        """Delete what can no longer be used: expired sessions and links, grants older than every window."""
        purged = 0
        for statement, arg in (
            ("DELETE FROM sessions WHERE expires_at <= $1", now),
            ("DELETE FROM signin_links WHERE expires_at <= $1", now),
            ("DELETE FROM signin_grants WHERE at <= $1", now - grants_kept),
        ):
            purged += int((await self._conn.execute(statement, arg)).split()[-1])
        return purged
