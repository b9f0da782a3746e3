"""Routing's domain: pure, no I/O (the database is `store`'s); the policy (with its lexicon) and registry files
are read by `load_policy` and `load_providers`, called once at start.

policy.py      the policy as data: each tier's rule settings, precedence, review pairs, what words and history may
               do, provider choice, scoring weights; its file
lexicon.py     the program's language found in what the agency wrote; its file
profiles.py    the kinds of agency a provider serves best, derived from a request
providers.py   the provider registry: dated partnerships, and each provider's load; its file
tier_rules.py  which tier: one rule per tier, each telling what it found in a request
history.py     an agency's history with the program, and what the policy's history rules read in it
scoring.py     which provider: the tier's partners who may take the request (specialists), scored and ranked
decision.py    the decision: `decide` (tier, weighed with words and history, then provider) and `assign_in_tier`
               (provider of a given tier)
queue.py       the order of the waiting queue, and its longest wait
override.py    what staff may assign by hand
what_if.py     a candidate policy replayed over past decisions as they were made, and its report
triage.py      what the staff pages say: codes and rules in words, waits, providers' room
"""

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Immutable, and a field it does not know is an error (a typo in a data file is refused, not ignored)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
