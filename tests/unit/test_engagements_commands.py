"""Engagements' commands against an in-memory store: what each one writes, what it refuses, and which events go
out in which order. The SQL itself (optimistic updates, SKIP LOCKED claims, the dashboard's figures) is proved
on PostgreSQL by tests/integration/test_engagements_api.py and tests/e2e/test_engagements_events.py."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.engagements import commands
from services.engagements.commands import EngagementNotFound, RecommendationNotFound, StaleVersion
from services.engagements.domain.deadlines import DeadlineClock, load_deadlines
from services.engagements.domain.lifecycle import InvalidTransition
from services.engagements.domain.recommendations import RecommendationStatus
from services.engagements.settings import DEFAULT_DEADLINES
from services.engagements.store import EngagementRow, MissedDeadline
from shared.contract.envelope import Envelope
from shared.contract.events import (
    AgencySummary,
    ProviderRef,
    RequestNeedsReview,
    RequestQueued,
    RequestRouted,
    RequestSubmitted,
)
from shared.contract.requests import EXAMPLE_REQUEST, RequestForAssistance
from shared.contract.vocabulary import AgencyType, Tier, Urgency

ROUTED_AT = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # long past: every first deadline has fallen due
PROVIDER = ProviderRef(provider_id="iacp", name="IACP", contact_email="cri@iacp.example")
AGENCY = AgencySummary(
    name="Springfield PD", type=AgencyType.LOCAL, state="IL", sworn_officers=120, population_served=1
)


class MemoryStore:
    """Engagements' tables as dictionaries, with the same optimistic updates as the SQL."""

    def __init__(self) -> None:
        self.engagements: dict[UUID, EngagementRow] = {}
        self.trail: list[tuple[UUID, str, str, dict, str | None]] = []
        self.pending: dict[UUID, tuple[str, datetime]] = {}
        self.recommendations: dict[UUID, tuple[UUID, str]] = {}  # id -> (engagement id, status)
        self.requests: dict[UUID, RequestForAssistance] = {}
        self.queues: dict[UUID, tuple[str, datetime, str]] = {}  # request id -> (queue, since, reason)

    async def remember_request(self, request_id: UUID, submitted_at: datetime, request: RequestForAssistance) -> None:
        self.requests.setdefault(request_id, request)

    async def set_queue(self, request_id: UUID, queue: str | None, since: datetime | None, reason: str | None):
        if request_id not in self.requests:
            return
        if queue is None:
            self.queues.pop(request_id, None)
        else:
            self.queues[request_id] = (queue, since, reason)

    async def open_engagement(
        self,
        *,
        opened_at: datetime,
        opened_by: str,
        audit_detail: dict,
        deadline: tuple[str, datetime] | None,
        **fields: Any,
    ) -> EngagementRow | None:
        await self.set_queue(fields["request_id"], None, None, None)
        if any(e.request_id == fields["request_id"] and e.closed_at is None for e in self.engagements.values()):
            return None
        opened = EngagementRow(
            **fields,
            opened_at=opened_at,
            status_since=opened_at,
            milestones=[],
            closed_at=None,
            outcome=None,
            overdue=False,
            version=1,
        )
        self.engagements[opened.engagement_id] = opened
        await self.audit(opened.engagement_id, opened_by, "opened", audit_detail)
        await self.set_deadline(opened.engagement_id, deadline)
        return opened

    async def load(self, engagement_id: UUID) -> EngagementRow | None:
        return self.engagements.get(engagement_id)

    async def record_milestone(
        self, engagement_id: UUID, expected_version: int, *, status: str, entry: dict, at: datetime, first_contact: bool
    ) -> EngagementRow | None:
        engagement = self.engagements[engagement_id]
        first_contact_at = engagement.first_contact_at or (at if first_contact else None)
        milestones = [*engagement.milestones, entry]
        return self._update(
            engagement_id,
            expected_version,
            status=status,
            milestones=milestones,
            status_since=at,
            first_contact_at=first_contact_at,
        )

    async def close(
        self, engagement_id: UUID, expected_version: int, *, status: str, outcome: str, at: datetime
    ) -> EngagementRow | None:
        return self._update(
            engagement_id, expected_version, status=status, outcome=outcome, closed_at=at, status_since=at
        )

    def _update(self, engagement_id: UUID, expected_version: int, **changes: Any) -> EngagementRow | None:
        engagement = self.engagements[engagement_id]
        if engagement.version != expected_version:
            return None
        changes |= {"overdue": False, "version": engagement.version + 1}
        self.engagements[engagement_id] = engagement.model_copy(update=changes)
        return self.engagements[engagement_id]

    async def audit(self, engagement_id: UUID, actor: str, action: str, detail: dict, reason: str | None = None):
        self.trail.append((engagement_id, actor, action, detail, reason))

    async def set_deadline(self, engagement_id: UUID, deadline: tuple[str, datetime] | None) -> None:
        self.pending.pop(engagement_id, None)
        if deadline is not None:
            self.pending[engagement_id] = deadline

    async def claim_missed_deadlines(self, limit: int) -> list[MissedDeadline]:
        now = datetime.now(UTC)
        due = sorted((at, e, milestone) for e, (milestone, at) in self.pending.items() if at <= now)[:limit]
        for _, engagement_id, _ in due:
            del self.pending[engagement_id]
        return [MissedDeadline(engagement_id=e, milestone=m, due_at=at, fired_at=now) for at, e, m in due]

    async def mark_overdue(self, engagement_ids: list[UUID]) -> list[EngagementRow]:
        for engagement_id in engagement_ids:
            self.engagements[engagement_id] = self.engagements[engagement_id].model_copy(update={"overdue": True})
        return [self.engagements[engagement_id] for engagement_id in engagement_ids]

    async def add_recommendation(
        self, engagement_id: UUID, recommendation_id: UUID, text: str, status: str, by: str
    ) -> None:
        self.recommendations[recommendation_id] = (engagement_id, status)

    async def recommendation_status(self, engagement_id: UUID, recommendation_id: UUID) -> str | None:
        found = self.recommendations.get(recommendation_id)
        return found[1] if found and found[0] == engagement_id else None

    async def change_recommendation(
        self, recommendation_id: UUID, current: str, new: str, by: str, note: str | None
    ) -> bool:
        engagement_id, status = self.recommendations[recommendation_id]
        if status != current:
            return False
        self.recommendations[recommendation_id] = (engagement_id, new)
        return True


class RacingStore(MemoryStore):
    """Another writer commits between each command's read and its write."""

    async def load(self, engagement_id: UUID) -> EngagementRow | None:
        read = self.engagements.get(engagement_id)
        self.engagements[engagement_id] = read.model_copy(update={"version": read.version + 1})
        return read


class MovedFirstStore(MemoryStore):
    """Someone else moves every recommendation between the command's read and its write."""

    async def change_recommendation(self, *args: Any) -> bool:
        return False


class Outbox(list):
    def publish(self, envelope: Envelope) -> None:
        self.append(envelope)

    def types(self) -> list[str]:
        return [envelope.type for envelope in self]

    def data(self, event_type: str) -> dict:
        [data] = [envelope.data for envelope in self if envelope.type == event_type]
        return data


@pytest.fixture(scope="module")
def clock() -> DeadlineClock:
    return DeadlineClock(load_deadlines(DEFAULT_DEADLINES))


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def routed(tier: Tier = Tier.CRI_TAC, request_id: UUID | None = None, confidential: bool = False) -> Envelope:
    event = RequestRouted(
        request_id=request_id or uuid4(),
        confidential=confidential,
        tier=tier,
        provider=PROVIDER,
        decided_by="policy",
        agency=AGENCY,
        urgency=Urgency.PRIORITY,
        routed_at=ROUTED_AT,
    )
    return Envelope.wrap(event, source="routing", correlation_id=f"corr-{event.request_id}")


async def opened(store: MemoryStore, clock: DeadlineClock, tier: Tier = Tier.CRI_TAC) -> EngagementRow:
    envelope = routed(tier)
    await commands.open_engagement(store, Outbox(), clock, RequestRouted(**envelope.data), cause=envelope)
    [engagement] = [e for e in store.engagements.values() if str(e.request_id) == envelope.data["request_id"]]
    return engagement


async def moved(store: MemoryStore, clock: DeadlineClock, engagement: EngagementRow, *milestones: str, **detail):
    """`engagement` after recording `milestones` one after the other."""
    for milestone in milestones:
        engagement = await commands.record_milestone(
            store,
            Outbox(),
            clock,
            engagement.engagement_id,
            milestone=milestone,
            detail=detail.get(milestone),
            note=None,
            actor="iacp:a.rivera",
            expected_version=engagement.version,
        )
    return engagement


# Opening


async def test_a_routed_request_opens_one_engagement_with_its_first_deadline_and_events(store, clock):
    envelope, outbox = routed(), Outbox()
    await commands.open_engagement(store, outbox, clock, RequestRouted(**envelope.data), cause=envelope)
    [engagement] = store.engagements.values()
    assert (engagement.status, engagement.version, engagement.correlation_id) == (
        "accepted",
        1,
        envelope.correlation_id,
    )
    assert store.pending[engagement.engagement_id] == ("scoping", ROUTED_AT + timedelta(days=14))
    assert [action for _, _, action, _, _ in store.trail] == ["opened"]
    assert outbox.types() == ["EngagementOpened", "EngagementSnapshot"]
    assert {(e.causation_id, e.correlation_id, e.source) for e in outbox} == {
        (envelope.event_id, envelope.correlation_id, "engagements")
    }


async def test_a_redelivered_routing_opens_nothing_more(store, clock):
    envelope, again = routed(), Outbox()
    await commands.open_engagement(store, Outbox(), clock, RequestRouted(**envelope.data), cause=envelope)
    await commands.open_engagement(store, again, clock, RequestRouted(**envelope.data), cause=envelope)
    assert len(store.engagements) == 1
    assert again == []


async def test_an_assessment_opens_with_its_kickoff_as_first_contact(store, clock):
    engagement = await opened(store, clock, Tier.ORGANIZATIONAL_ASSESSMENT)
    assert (engagement.status, engagement.first_contact_at) == ("kickoff", ROUTED_AT)


# Milestones


async def test_a_milestone_publishes_reached_status_changed_and_a_snapshot(store, clock):
    engagement = await opened(store, clock)
    outbox = Outbox()
    updated = await commands.record_milestone(
        store,
        outbox,
        clock,
        engagement.engagement_id,
        milestone="scoping",
        detail=None,
        note="call",
        actor="iacp:a.rivera",
        expected_version=1,
    )
    assert (updated.status, updated.version) == ("scoping", 2)
    assert updated.first_contact_at is not None  # scoping is CRI-TAC's first contact
    assert outbox.types() == ["MilestoneReached", "EngagementStatusChanged", "EngagementSnapshot"]
    assert (outbox.data("EngagementStatusChanged")["from_status"], outbox.data("EngagementSnapshot")["version"]) == (
        "accepted",
        2,
    )
    assert store.pending[engagement.engagement_id][0] == "delivery"


async def test_a_progress_report_keeps_the_status_and_publishes_no_status_change(store, clock):
    engagement = await opened(store, clock, Tier.ORGANIZATIONAL_ASSESSMENT)
    engagement = await moved(store, clock, engagement, "assessment", "findings_and_recommendations")
    engagement = await moved(store, clock, engagement, "implementation_monitoring")
    outbox = Outbox()
    updated = await commands.record_milestone(
        store,
        outbox,
        clock,
        engagement.engagement_id,
        milestone="progress_report",
        detail="Q1",
        note=None,
        actor="assessor",
        expected_version=engagement.version,
    )
    assert updated.status == "implementation_monitoring"
    assert outbox.types() == ["MilestoneReached", "EngagementSnapshot"]


async def test_a_refused_milestone_writes_and_publishes_nothing(store, clock):
    engagement = await opened(store, clock)
    outbox = Outbox()
    with pytest.raises(InvalidTransition, match="delivery would skip scoping"):
        await commands.record_milestone(
            store,
            outbox,
            clock,
            engagement.engagement_id,
            milestone="delivery",
            detail=None,
            note=None,
            actor="iacp:a.rivera",
            expected_version=1,
        )
    assert store.engagements[engagement.engagement_id] == engagement
    assert (len(store.trail), outbox) == (1, [])


async def test_a_stale_version_is_refused(store, clock):
    engagement = await opened(store, clock)
    await moved(store, clock, engagement, "scoping")
    with pytest.raises(StaleVersion, match="no longer at version 1"):
        await moved(store, clock, engagement, "delivery")


async def test_a_change_that_loses_the_race_after_the_read_is_refused_as_stale(clock):
    store = RacingStore()
    engagement = await opened(store, clock)
    with pytest.raises(StaleVersion):
        await moved(store, clock, engagement, "scoping")


async def test_an_unknown_engagement_is_not_found(store, clock):
    with pytest.raises(EngagementNotFound):
        await commands.close(store, Outbox(), uuid4(), outcome="withdrawn", note="", actor="staff", expected_version=1)


# Closing and escalating


async def test_closing_publishes_status_changed_closed_and_a_snapshot_and_drops_the_deadline(store, clock):
    engagement = await opened(store, clock)
    outbox = Outbox()
    closed = await commands.close(
        store,
        outbox,
        engagement.engagement_id,
        outcome="withdrawn",
        note="the agency withdrew",
        actor="staff",
        expected_version=1,
    )
    assert (closed.status, closed.outcome, closed.version) == ("closed", "withdrawn", 2)
    assert outbox.types() == ["EngagementStatusChanged", "EngagementClosed", "EngagementSnapshot"]
    assert outbox.data("EngagementClosed")["outcome"] == "withdrawn"
    assert outbox.data("EngagementStatusChanged")["to_status"] == "closed"
    assert engagement.engagement_id not in store.pending


async def test_escalating_closes_as_escalated_and_tells_routing_last_before_the_snapshot(store, clock):
    engagement = await opened(store, clock)
    outbox = Outbox()
    await commands.escalate(
        store,
        outbox,
        engagement.engagement_id,
        to_tier=Tier.ORGANIZATIONAL_ASSESSMENT,
        reason="systemic",
        actor="staff:k.ng",
        expected_version=1,
    )
    assert outbox.types() == [
        "EngagementStatusChanged",
        "EngagementClosed",
        "EngagementEscalated",
        "EngagementSnapshot",
    ]
    escalated = outbox.data("EngagementEscalated")
    assert (escalated["from_tier"], escalated["to_tier"], escalated["urgency"]) == (
        "cri_tac",
        "organizational_assessment",
        "priority",
    )
    assert outbox.data("EngagementClosed")["outcome"] == "escalated"


async def test_a_snapshot_shows_the_provider_but_not_its_mailbox(store, clock):
    engagement = await opened(store, clock)
    outbox = Outbox()
    await commands.close(
        store, outbox, engagement.engagement_id, outcome="declined", note="n", actor="s", expected_version=1
    )
    snapshot = outbox.data("EngagementSnapshot")
    assert snapshot["provider"] == {"provider_id": "iacp", "name": "IACP", "contact_email": None}
    assert outbox.data("EngagementClosed")["provider"]["contact_email"] == "cri@iacp.example"


# Missed deadlines


async def test_a_missed_deadline_flags_the_engagement_overdue_without_a_new_version(store, clock):
    engagement = await opened(store, clock)
    outbox = Outbox()
    assert await commands.fire_missed_deadlines(store, outbox, batch=10) == 1
    assert outbox.types() == ["DeadlineMissed", "EngagementSnapshot"]
    assert outbox.data("DeadlineMissed")["milestone"] == "scoping"
    assert (outbox.data("EngagementSnapshot")["overdue"], outbox.data("EngagementSnapshot")["version"]) == (True, 1)
    assert await commands.fire_missed_deadlines(store, Outbox(), batch=10) == 0
    assert (await moved(store, clock, engagement, "scoping")).overdue is False


# Recommendations


async def test_a_recommendation_is_proposed_in_findings_and_moved_with_an_audit_entry_each(store, clock):
    engagement = await opened(store, clock, Tier.ORGANIZATIONAL_ASSESSMENT)
    engagement = await moved(store, clock, engagement, "assessment", "findings_and_recommendations")
    added = await commands.add_recommendation(store, engagement.engagement_id, text="Publish data", actor="a")
    await commands.change_recommendation(
        store, engagement.engagement_id, added, status=RecommendationStatus.ACCEPTED, actor="chief", note=None
    )
    assert store.recommendations[added] == (engagement.engagement_id, "accepted")
    assert [action for _, _, action, _, _ in store.trail][-2:] == ["recommendation_added", "recommendation_changed"]


async def test_a_recommendation_outside_an_assessments_findings_or_monitoring_is_refused(store, clock):
    engagement = await opened(store, clock)
    with pytest.raises(InvalidTransition) as refused:
        await commands.add_recommendation(store, engagement.engagement_id, text="t", actor="a")
    assert refused.value.allowed == ["scoping"]


async def test_an_unknown_recommendation_is_not_found(store, clock):
    engagement = await opened(store, clock)
    with pytest.raises(RecommendationNotFound):
        await commands.change_recommendation(
            store, engagement.engagement_id, uuid4(), status=RecommendationStatus.ACCEPTED, actor="c", note=None
        )


async def test_a_recommendation_moved_by_someone_else_first_is_refused(clock):
    store = MovedFirstStore()
    engagement = await opened(store, clock, Tier.ORGANIZATIONAL_ASSESSMENT)
    engagement = await moved(store, clock, engagement, "assessment", "findings_and_recommendations")
    added = await commands.add_recommendation(store, engagement.engagement_id, text="t", actor="a")
    with pytest.raises(InvalidTransition, match="changed status meanwhile"):
        await commands.change_recommendation(
            store, engagement.engagement_id, added, status=RecommendationStatus.WITHDRAWN, actor="c", note=None
        )


async def test_a_submitted_request_is_kept_once_and_waits_in_review_or_for_room_until_routed(store, clock):
    request = RequestForAssistance.model_validate(EXAMPLE_REQUEST)
    submitted = RequestSubmitted(request_id=uuid4(), submitted_at=ROUTED_AT, channel="http", request=request)
    await commands.remember_request(store, submitted)
    await commands.remember_request(store, submitted)  # a redelivery
    assert store.requests == {submitted.request_id: request}

    review = RequestNeedsReview(
        request_id=submitted.request_id, reasons=["conflicting", "thin"], policy_version="1", agency=AGENCY
    )
    await commands.hold_for_review(store, review, ROUTED_AT)
    assert store.queues[submitted.request_id] == ("review", ROUTED_AT, "conflicting; thin")
    later = ROUTED_AT + timedelta(hours=1)
    queued = RequestQueued(request_id=submitted.request_id, tier=Tier.CRI_TAC, reason="no room", queued_at=later)
    await commands.hold_for_room(store, queued)
    assert store.queues[submitted.request_id] == ("waiting", later, "no room")

    envelope = routed(request_id=submitted.request_id, confidential=True)
    await commands.open_engagement(store, Outbox(), clock, RequestRouted(**envelope.data), cause=envelope)
    assert store.queues == {}
    [engagement] = store.engagements.values()
    assert engagement.confidential  # routing's flag, kept for what the provider may read


async def test_every_change_is_recorded_in_the_actors_name(store, clock):
    engagement = await moved(store, clock, await opened(store, clock), "scoping")
    await commands.close(
        store, Outbox(), engagement.engagement_id, outcome="withdrawn", note="n", actor="staff:k.ng", expected_version=2
    )
    actors = [(actor, action) for _, actor, action, _, _ in store.trail]
    assert actors == [("routing", "opened"), ("iacp:a.rivera", "milestone"), ("staff:k.ng", "closed")]
    closed = store.engagements[engagement.engagement_id]
    assert closed.milestones[-1]["recorded_by"] == "iacp:a.rivera"
