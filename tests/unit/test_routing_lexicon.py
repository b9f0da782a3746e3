"""The lexicon, as a specification: the program's phrases are found in what an agency wrote whatever the case,
the hyphens and the inflected endings, never inside other words, never after a negation in the same clause; the
shipped file and bad files. Pure."""

import re
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from services.routing.domain.lexicon import Lexicon, LexiconError, find_terms, forms, load_lexicon
from services.routing.domain.policy import PolicyError, load_policy
from services.routing.settings import POLICY_FILE

LEXICON = load_lexicon(POLICY_FILE.parent / "lexicon.yaml")
PHRASES = [(term.id, phrase) for term in LEXICON.terms for phrase in term.phrases]
PROPERTY = settings(max_examples=300, deadline=None, database=None)


def found(text: str, lexicon: Lexicon = LEXICON) -> list[str]:
    return [match.term.id for match in find_terms(text, "description", lexicon)]


# --- examples -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("Protests followed for three nights.", ["protests"]),
        ("An OFFICER-INVOLVED SHOOTING on Main Street.", ["officer_involved_shooting"]),
        ("Two officer involved shootings this year.", ["officer_involved_shooting"]),
        ("A man died in custody on May 2.", ["in_custody_death"]),
        ("Inmate dying in custody after a struggle.", ["in_custody_death"]),
        ("The deaths in custody of two detainees.", ["in_custody_death"]),
        ("We need an independent after-action review.", ["after_action_review"]),
        ("Our consent decree's monitor asked us to write.", ["consent_decree"]),
        ("DOJ opened a pattern-or-practice investigation.", ["pattern_or_practice"]),
        ("Building an early intervention system.", ["early_intervention"]),
        ("Restoring community trust.", ["community_trust"]),
        ("Officers were demonstrating a new tactic.", []),  # another word than "demonstration", not inflected
    ],
)
def test_phrases_are_found_in_any_case_with_hyphens_or_spaces_and_inflected(text: str, terms: list[str]) -> None:
    assert found(text) == terms


@pytest.mark.parametrize(
    "text",
    [
        "There were no protests.",
        "It was not a shooting.",
        "This was not an officer-involved shooting",
        "No in-custody death has occurred here.",
        "The chief wasn't asking for an after-action review.",
        "A quiet year without protests or unrest.",
        "We have never had a consent decree.",
    ],
)
def test_a_negated_phrase_is_not_found(text: str) -> None:
    assert found(text) == []


def test_a_negation_reaches_only_its_own_clause_and_a_few_words() -> None:
    assert found("No injuries, but protests grew.") == ["protests"]
    assert found("No one was hurt. Protests followed.") == ["protests"]
    assert found("No injuries were reported during the protests.") == ["protests"]  # "No": 6 words back


@pytest.mark.parametrize("text", ["A patriot parade.", "Protestant chaplains.", "The rioter fled.", "Deathly quiet."])
def test_a_phrase_is_never_found_inside_another_word(text: str) -> None:
    assert found(text) == []


def test_words_a_longer_phrase_took_are_not_found_again_by_a_shorter_one() -> None:
    assert found("An officer-involved shooting.") == ["officer_involved_shooting"]
    assert found("An officer-involved shooting, then a shooting at the mall.") == [
        "officer_involved_shooting",
        "shooting",
    ]


def test_a_match_names_the_lexicon_phrase_and_the_field_it_was_found_in() -> None:
    [match] = find_terms("Two men DIED IN CUSTODY.", "incident summary", LEXICON)
    assert match.rule == 'text.in_custody_death: "die in custody" in the incident summary'


@pytest.mark.parametrize(
    ("base", "inflected"),
    [
        ("protest", {"protests", "protested", "protesting", "protest's"}),
        ("die", {"died", "dies", "dying"}),
        ("custody", {"custodies"}),
        ("stop", {"stopped", "stopping"}),
        ("review", {"reviews", "reviewed", "reviewing"}),
    ],
)
def test_inflected_forms(base: str, inflected: set[str]) -> None:
    assert inflected <= forms(base)


# --- properties ---------------------------------------------------------------------------------------------

# Filler: words no phrase is made of, so whatever is found comes from the phrase put in.
LEXICON_WORDS = {word for _, phrase in PHRASES for word in re.findall(r"[a-z0-9']+", phrase)}
FILLER = [
    w for w in ("the", "agency", "asks", "help", "with", "training", "for", "patrol", "staff") if w not in LEXICON_WORDS
]
filler = st.lists(st.sampled_from(FILLER), max_size=6).map(" ".join)
phrases = st.sampled_from(PHRASES)


def spelled(phrase: str, draw: st.DrawFn) -> str:
    """The phrase as someone might type it: any case per letter, words joined by a space or a hyphen."""
    words = re.findall(r"[a-z0-9']+", phrase)
    joined = words[0]
    for word in words[1:]:
        joined += draw(st.sampled_from([" ", "-", "  "])) + word
    return "".join(draw(st.sampled_from([c.lower(), c.upper()])) for c in joined)


@PROPERTY
@given(data=st.data(), term_phrase=phrases, before=filler, after=filler)
def test_every_phrase_is_found_in_any_case_and_spelling_wherever_it_stands(data, term_phrase, before, after) -> None:
    term, phrase = term_phrase
    text = f"{before} {spelled(phrase, data.draw)} {after}."
    assert term in found(text)


@PROPERTY
@given(term_phrase=phrases, ending=st.sampled_from(["s", "ed", "ing", "'s"]))
def test_every_phrase_is_found_with_an_inflected_last_word(term_phrase, ending) -> None:
    _, phrase = term_phrase
    inflected = phrase + ending if not (phrase.endswith("e") and ending in ("ed", "ing")) else phrase[:-1] + ending
    assert found(f"Our {inflected} this spring.") != []


@PROPERTY
@given(
    term_phrase=phrases,
    negation=st.sampled_from(["no", "not", "never", "without", "wasn't", "didn't", "No", "NOT"]),
    gap=st.lists(st.sampled_from(["a", "any", "an", "recent"]), max_size=2).map(" ".join),
    before=filler,
)
def test_no_phrase_is_found_after_a_negation_in_its_clause(term_phrase, negation, gap, before) -> None:
    _, phrase = term_phrase
    assert found(f"{before}. {negation} {gap} {phrase}.") == []


@PROPERTY
@given(
    term_phrase=phrases,
    prefix=st.text("bcdfghjkmpqvwxz", min_size=1, max_size=3),
    suffix=st.text("bcfhkmpqvwxz", min_size=1, max_size=3),
    glued=st.sampled_from(["prefix", "suffix"]),
)
def test_no_phrase_is_found_inside_another_word(term_phrase, prefix, suffix, glued) -> None:
    """Letters glued before or after a phrase (never an inflected ending: no s, d, e, g) make another word."""
    _, phrase = term_phrase
    text = prefix + phrase if glued == "prefix" else phrase + suffix
    assume(text not in {p for _, p in PHRASES})
    # Only words of the phrase that stay whole may still be found on their own (a shorter phrase inside it).
    whole = text.split(" ")[1:] if glued == "prefix" else text.split(" ")[:-1]
    assert set(found(text)) <= set(found(" ".join(whole))) if whole else found(text) == []


@PROPERTY
@given(text=st.text(max_size=300))
def test_any_text_reads_without_error_and_the_same_twice(text: str) -> None:
    assert found(text) == found(text)


# --- the file -----------------------------------------------------------------------------------------------


def test_the_shipped_lexicon_is_the_version_the_policy_names_and_holds_the_program_language() -> None:
    policy = load_policy(POLICY_FILE)
    assert policy.lexicon == LEXICON
    assert policy.text_signals.lexicon_version == LEXICON.version
    ids = {term.id for term in LEXICON.terms}
    assert {"after_action_review", "officer_involved_shooting", "in_custody_death", "mass_shooting", "protests"} <= ids
    assert {"consent_decree", "pattern_or_practice", "early_intervention", "community_trust"} <= ids


def test_a_lexicon_of_another_version_than_the_policy_names_is_refused(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY_FILE.read_text())
    lexicon = (POLICY_FILE.parent / "lexicon.yaml").read_text()
    (tmp_path / "lexicon.yaml").write_text(lexicon.replace(f'version: "{LEXICON.version}"', 'version: "next"'))
    with pytest.raises(PolicyError, match="text_signals.lexicon_version: .*lexicon.yaml is version 'next'"):
        load_policy(tmp_path / "policy.yaml")


def test_a_policy_written_elsewhere_reads_the_lexicon_beside_it_else_the_services(tmp_path: Path) -> None:
    (tmp_path / "candidate.yaml").write_text(POLICY_FILE.read_text())
    with pytest.raises(PolicyError, match="lexicon.yaml: cannot read"):
        load_policy(tmp_path / "candidate.yaml")
    assert load_policy(tmp_path / "candidate.yaml", POLICY_FILE.parent).lexicon == LEXICON


@pytest.mark.parametrize(
    ("shipped", "edited", "problem"),
    [
        ("negation_window: 4", "negation_window: 0", "negation_window: Input should be greater than 0"),
        ("  - id: shooting\n", "  - id: mass_shooting\n", "terms: a term is named twice: mass_shooting"),
        ("tier: cri_tac", "tier: training", "terms.10.tier: Input should be"),
        ("phrases: [shooting]", "phrases: []", "terms.4.phrases: List should have at least 1 item"),
    ],
    ids=["window", "twice", "tier", "no-phrase"],
)
def test_an_invalid_lexicon_is_refused_naming_file_line_and_problem(tmp_path, shipped, edited, problem) -> None:
    text = (POLICY_FILE.parent / "lexicon.yaml").read_text()
    assert text.count(shipped) == 1
    (tmp_path / "lexicon.yaml").write_text(text.replace(shipped, edited))
    with pytest.raises(LexiconError) as refused:
        load_lexicon(tmp_path / "lexicon.yaml")
    assert re.match(rf"{re.escape(str(tmp_path / 'lexicon.yaml'))}:\d+: {re.escape(problem)}", str(refused.value))
