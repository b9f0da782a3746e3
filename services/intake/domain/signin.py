"""Signing people in by emailed link (pure): who an address belongs to, how long links and sessions live, and
how many links one address or one client may ask for.

A link is asked for with an address; it is sent only when the address is a person the system knows, and the
page says the same either way. Links live minutes and open one session; sessions end at a fixed time or when
the person signs out.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.runtime.auth import Role
from shared.runtime.web.session import Person


def normalized(email: str) -> str:
    """How addresses are compared: trimmed, lower case (mail systems treat addresses without regard to case)."""
    return email.strip().lower()


@dataclass(frozen=True, slots=True)
class ProviderContact:
    provider_id: str
    name: str


@dataclass(frozen=True, slots=True)
class AgencyContact:
    agency_key: str
    contact_name: str


def who_is(
    email: str, staff: Mapping[str, str], provider: ProviderContact | None, agency: AgencyContact | None
) -> Person | None:
    """The person an address signs in as: program staff (configured) first, then a provider's program mailbox,
    then the contact of an agency's latest request; None for an address the system does not know."""
    email = normalized(email)
    if email in staff:
        return Person(role=Role.STAFF, subject=email, email=email, name=staff[email] or email)
    if provider is not None:
        return Person(role=Role.PROVIDER, subject=provider.provider_id, email=email, name=provider.name)
    if agency is not None:
        return Person(role=Role.AGENCY, subject=agency.agency_key, email=email, name=agency.contact_name)
    return None


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `count` links per `window` for one address, or for one client."""

    count: int
    window: timedelta


@dataclass(frozen=True, slots=True)
class SignInLimits:
    per_address: Limit
    per_client: Limit


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after: timedelta = timedelta(0)


def verdict(granted: Sequence[datetime], now: datetime, limit: Limit) -> Verdict:
    """Whether one more link may be granted, given when the earlier ones were (a sliding window); when not,
    how long until the oldest one in the window leaves it."""
    recent = sorted(at for at in granted if at > now - limit.window)
    if len(recent) < limit.count:
        return Verdict(True)
    return Verdict(False, recent[len(recent) - limit.count] + limit.window - now)


def strictest(*verdicts: Verdict) -> Verdict:
    """Allowed only when every limit allows; then wait for the one that frees last."""
    refused = [v for v in verdicts if not v.allowed]
    return max(refused, key=lambda v: v.retry_after) if refused else Verdict(True)


def in_words(wait: timedelta) -> str:
    """'1 minute', '12 minutes': how long to wait, rounded up to whole minutes."""
    minutes = max(1, -(-int(wait.total_seconds()) // 60))
    return f"{minutes} minute{'s' if minutes > 1 else ''}"
