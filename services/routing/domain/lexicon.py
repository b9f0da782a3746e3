"""The program's language in what an agency wrote: a versioned lexicon (`data/lexicon.yaml`) of terms, each a few
phrases that point to a tier, found in the request's description and incident summary.

A phrase is found as whole words (never inside another word: "riot" is not in "patriot"), in any case, its words
joined by spaces or hyphens ("after-action review" is "after action review"), each word with or without an
inflected ending ("protest" is also found as "protests", "protested", "protesting"). A phrase is not found when a
negation ("no", "not", "without", a word ending in "n't", ...) stands within `negation_window` words before it in
the same clause ("there were no protests", "it was not a shooting"); a clause ends at . , ; : ! ? ( ) and at
"but", "however", "although", "though", "yet".

Pure, except `load_lexicon`, which reads the file when called."""

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, StringConstraints, field_validator, model_validator

from services.routing.domain import Strict
from shared.contract.requests import AssistanceRequested
from shared.contract.vocabulary import Tier
from shared.runtime.datafiles import DataFileError, load_model

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")
_JOINER = re.compile(r"[\s\-]+")  # what may stand between two words of a phrase
_CLAUSE_WORDS = frozenset({"but", "however", "although", "though", "yet"})
# Endings that inflect a word without making another one: plural, possessive, past, participle.
_ENDINGS = ("", "s", "es", "'s", "s'", "d", "ed", "ing")


class LexiconError(DataFileError):
    """The lexicon file cannot be used; the message names the file, the line, the key and the problem."""


Phrase = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[a-z0-9' \-]*[a-z0-9]$")]


class Term(Strict):
    """Words that point to a tier, under one name that the decision records."""

    id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
    tier: Tier = Field(description="The tier these words point to.")
    phrases: list[Phrase] = Field(min_length=1)
    raises_review: bool = Field(
        default=True,
        description="Found in a request that asks nothing of the tier, the term sends it to staff (when the policy "
        "lets text raise that tier); false: the term only adds weight to the tier, recorded in the decision.",
    )


class Lexicon(Strict):
    version: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    negations: list[Annotated[str, StringConstraints(pattern=r"^[a-z']+$")]] = Field(min_length=1)
    negation_window: int = Field(gt=0, description="How many words before a phrase a negation is looked for.")
    terms: list[Term]

    @field_validator("terms")
    @classmethod
    def _each_term_once(cls, terms: list[Term]) -> list[Term]:
        seen = [term.id for term in terms]
        twice = sorted({term for term in seen if seen.count(term) > 1})
        if twice:
            raise ValueError(f"a term is named twice: {', '.join(twice)}")
        return terms

    @model_validator(mode="after")
    def _phrases_have_words(self) -> Self:
        empty = [phrase for term in self.terms for phrase in term.phrases if not _WORD.search(phrase)]
        if empty:
            raise ValueError(f"phrases without a word: {empty}")
        return self


def load_lexicon(path: Path) -> Lexicon:
    return load_model(path, Lexicon, LexiconError)


@dataclass(frozen=True)
class TextMatch:
    """One term found in a request: which, the lexicon's phrase that found it, and where."""

    term: Term
    phrase: str
    field: str  # "description" or "incident summary"

    @property
    def rule(self) -> str:
        """As the decision records it: `text.<term>: "<phrase>" in the <field>`."""
        return f'text.{self.term.id}: "{self.phrase}" in the {self.field}'


@dataclass(frozen=True)
class _Word:
    text: str
    clause: int
    joined: bool  # only spaces or hyphens stand between it and the word before


def _words(text: str) -> list[_Word]:
    words: list[_Word] = []
    clause, end = 0, 0
    lowered = text.lower().replace("\u2019", "'")
    for found in _WORD.finditer(lowered):
        between = lowered[end : found.start()]
        if any(mark in between for mark in ".,;:!?()") or found.group() in _CLAUSE_WORDS:
            clause += 1
        words.append(_Word(found.group(), clause, bool(words) and bool(_JOINER.fullmatch(between))))
        end = found.end()
    return words


@cache
def forms(base: str) -> frozenset[str]:
    """`base` and `base` with an inflected ending: protest(s|ed|ing), review's, die(d|s), dying, use -> using,
    custody -> custodies, stop -> stopped."""
    stem, last = base[:-1], base[-1:]
    found = {base + ending for ending in _ENDINGS} | {f"{base}{last}ed", f"{base}{last}ing"}
    if last == "e":
        found.add(f"{stem}ing")
    if base.endswith("ie"):
        found.add(f"{base[:-2]}ying")
    if last == "y":
        found |= {f"{stem}ies", f"{stem}ied"}
    return frozenset(found)


@cache
def _phrase_forms(phrase: str) -> tuple[frozenset[str], ...]:
    return tuple(forms(base) for base in _WORD.findall(phrase))


def _negated(words: list[_Word], start: int, lexicon: Lexicon) -> bool:
    before = words[max(start - lexicon.negation_window, 0) : start]
    return any(
        word.clause == words[start].clause and (word.text in lexicon.negations or word.text.endswith("n't"))
        for word in before
    )


def _find(words: list[_Word], phrase: str, lexicon: Lexicon, claimed: set[int]) -> range | None:
    """Where `phrase` first stands, not negated and not inside words an earlier term already took. A negated
    occurrence takes its words too: "not an officer-involved shooting" is no "shooting" either."""
    wanted = _phrase_forms(phrase)
    for start in range(len(words) - len(wanted) + 1):
        if words[start].text not in wanted[0]:
            continue
        window = words[start : start + len(wanted)]
        span = range(start, start + len(wanted))
        if (
            all(word.text in inflected for word, inflected in zip(window, wanted, strict=True))
            and all(word.joined for word in window[1:])
            and not set(span) <= claimed
        ):
            if not _negated(words, start, lexicon):
                return span
            claimed.update(span)
    return None


def find_terms(text: str, field: str, lexicon: Lexicon) -> list[TextMatch]:
    """The lexicon's terms found in `text`, each once, by the first of its phrases found, in the lexicon's order;
    words a term took are not found again by a later one ("shooting" in "officer-involved shooting")."""
    words = _words(text)
    claimed: set[int] = set()
    matches = []
    for term in lexicon.terms:
        for phrase in term.phrases:
            span = _find(words, phrase, lexicon, claimed)
            if span is not None:
                claimed.update(span)
                matches.append(TextMatch(term, phrase, field))
                break
    return matches


def read_request(request: AssistanceRequested, lexicon: Lexicon) -> list[TextMatch]:
    """The terms found in the description, then in the incident summary (a term found in both is named once,
    where it is found first)."""
    fields = [("description", request.assistance.description)]
    if request.incident is not None:
        fields.append(("incident summary", request.incident.summary))
    matches: dict[str, TextMatch] = {}
    for field, text in fields:
        for match in find_terms(text, field, lexicon):
            matches.setdefault(match.term.id, match)
    return list(matches.values())
