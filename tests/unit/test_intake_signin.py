"""Sign-in rules (pure): who an address is, and how many links an address or a client may ask for."""

from datetime import UTC, datetime, timedelta

import pytest

from services.intake.domain.signin import (
    AgencyContact,
    Limit,
    ProviderContact,
    Verdict,
    in_words,
    strictest,
    verdict,
    who_is,
)
from services.intake.settings import parse_staff_emails
from shared.runtime.auth import Role

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
STAFF = {"a.rivera@cops.example.gov": "A. Rivera"}
PROVIDER = ProviderContact("iacp", "International Association of Chiefs of Police")
AGENCY = AgencyContact("ori:IL0160000", "Jordan Lee")


def test_staff_come_first_then_providers_then_agency_contacts():
    staff = who_is(" A.Rivera@COPS.example.gov ", STAFF, PROVIDER, AGENCY)
    assert (staff.role, staff.subject, staff.email, staff.name) == (
        Role.STAFF,
        "a.rivera@cops.example.gov",
        "a.rivera@cops.example.gov",
        "A. Rivera",
    )
    provider = who_is("programs@theiacp.example.org", STAFF, PROVIDER, AGENCY)
    assert (provider.role, provider.subject) == (Role.PROVIDER, "iacp")
    agency = who_is("jlee@springfield.example.gov", STAFF, None, AGENCY)
    assert (agency.role, agency.subject, agency.name) == (Role.AGENCY, "ori:IL0160000", "Jordan Lee")


def test_an_unknown_address_is_no_one():
    assert who_is("nobody@example.com", STAFF, None, None) is None


LIMIT = Limit(count=3, window=timedelta(minutes=15))


def test_links_are_granted_until_the_window_is_full():
    granted = [NOW - timedelta(minutes=m) for m in (14, 5)]
    assert verdict(granted, NOW, LIMIT) == Verdict(True)
    assert verdict([*granted, NOW - timedelta(minutes=1)], NOW, LIMIT) == Verdict(False, timedelta(minutes=1))


def test_links_older_than_the_window_do_not_count():
    granted = [NOW - timedelta(minutes=m) for m in (16, 15, 2, 1)]
    assert verdict(granted, NOW, LIMIT) == Verdict(True)


def test_a_full_window_frees_when_its_oldest_counted_link_leaves_it():
    granted = [NOW - timedelta(minutes=m) for m in (1, 10, 4, 12)]  # unordered, one more than the limit
    assert verdict(granted, NOW, LIMIT) == Verdict(False, timedelta(minutes=5))


def test_the_strictest_limit_decides():
    assert strictest(Verdict(True), Verdict(True)) == Verdict(True)
    wait = strictest(Verdict(False, timedelta(minutes=2)), Verdict(True), Verdict(False, timedelta(minutes=9)))
    assert wait == Verdict(False, timedelta(minutes=9))


def test_waits_are_told_in_whole_minutes_rounded_up():
    assert in_words(timedelta(seconds=5)) == "1 minute"
    assert in_words(timedelta(minutes=1, seconds=1)) == "2 minutes"
    assert in_words(timedelta(minutes=15)) == "15 minutes"


def test_staff_addresses_come_from_json_and_none_is_nobody():
    assert parse_staff_emails('{"A.Rivera@COPS.example.gov": "A. Rivera"}') == {
        "a.rivera@cops.example.gov": "A. Rivera"
    }
    assert parse_staff_emails("") == {} and parse_staff_emails("  ") == {}
    for bad in ("[1]", '{"a@b.gov": 3}', "{bad"):
        with pytest.raises(ValueError, match="CRI_STAFF_EMAILS"):
            parse_staff_emails(bad)
