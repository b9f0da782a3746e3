"""The message kinds: one per audience of an event in the planning table (`planning`). Each kind has its templates,
named after it, in `templates/` (`<kind>.subject.txt`, `<kind>.txt`, `<kind>.html`)."""

from typing import Literal, get_args

Kind = Literal[
    "request_received",
    "request_routed_agency",
    "assignment_provider",
    "review_needed_staff",
    "request_queued_agency",
    "engagement_opened_agency",
    "deadline_missed_staff",
    "deadline_missed_provider",
    "engagement_escalated",
    "engagement_closed_agency",
    "sign_in_link",
    "submission_confirmation",
    "request_withdrawn_agency",
    "request_withdrawn_provider",
]
KINDS: frozenset[str] = frozenset(get_args(Kind))
# Links emailed to the one person who asked for them: by email whatever the preferences say (a webhook is no place
# for a link that signs someone in or sends a request, and opting out would lock the person out).
PERSONAL_LINKS: frozenset[str] = frozenset({"sign_in_link", "submission_confirmation"})
