"""The ranker's word lists, read from the data files beside this module on first use."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from ..ingest.wordlists import data_lines


def _lines(name: str) -> list[str]:
    return data_lines("index.rank", name)


@cache
def role_nouns() -> frozenset[str]:
    """Role nouns that stand in for a named person or body later in an article ("the minister")."""
    return frozenset(_lines("role_nouns.txt"))


@cache
def number_words() -> frozenset[str]:
    """Words that answer "how many" as a number would ("dozen", "million")."""
    return frozenset(_lines("number_words.txt"))


@cache
def time_words() -> frozenset[str]:
    """Words that answer "when" as a date would ("monday", "yesterday")."""
    return frozenset(_lines("time_words.txt"))


@cache
def sentence_capitals() -> frozenset[str]:
    """Capitalised words that are not names (sentence openers, days, months)."""
    return frozenset(_lines("sentence_capitals.txt"))


@cache
def role_phrase_stops() -> frozenset[str]:
    """Determiners and possessives that end the words describing a role noun."""
    return frozenset(_lines("role_phrase_stops.txt"))


@cache
def irregular_forms() -> dict[str, str]:
    """Irregular verb forms that Snowball leaves apart from their base, each mapped to its base."""
    forms: dict[str, str] = {}
    for line in _lines("irregular_verbs.txt"):
        base, *others = line.split()
        forms.update(dict.fromkeys(others, base))
    return forms


@cache
def personal_words() -> frozenset[str]:
    """Pronouns by which a question speaks of the asker or the bot ("i", "you"), lowercase."""
    return frozenset(_lines("personal_words.txt"))


@cache
def small_talk_fillers() -> frozenset[str]:
    """Words around a greeting that change nothing ("there" in "hi there")."""
    return frozenset(_lines("small_talk_fillers.txt"))


@cache
def small_talk_phrases() -> frozenset[str]:
    """Greetings, thanks and questions about the bot, lowercase, filler words dropped."""
    fillers = small_talk_fillers()
    return frozenset(
        " ".join(w for w in line.split() if w not in fillers) for line in _lines("small_talk.txt")
    )


@cache
def interrogatives() -> frozenset[str]:
    """Words that make a line a question wherever they stand ("what", "how"), lowercase."""
    return frozenset(_lines("interrogatives.txt"))


@cache
def auxiliary_openers() -> frozenset[str]:
    """Auxiliary verbs that make a line a question when it opens with one ("is", "did"), lowercase."""
    return frozenset(_lines("auxiliary_openers.txt"))


ENGLISH_FLOOR = 1e-7
"""The frequency given to a word English's list does not hold (the list stops at one in a million)."""
_PLAIN_WORD = re.compile(r"[a-z']+")
"""A word wordfreq's tokenizer keeps whole: off the list, its frequency is 0."""


def english_frequency(word: str) -> float:
    """How often English uses a word: its share of all words written, from wordfreq's "small" list
    (its 29,000 commonest English words, from many sources); a number ("1969") by wordfreq's
    estimate for numbers of its length and shape; 0 for a plain word not on the list. Safe under
    threads: the list is only read, and wordfreq caches its own estimates."""
    found = _english_list().get(word)
    if found is not None:
        return found
    if _PLAIN_WORD.fullmatch(word):
        return 0.0  # the list's own answer for it, without wordfreq's tokenizer (most names)
    return float(_word_frequency()(word, "en", wordlist="small"))


@cache
def _english_list() -> dict[str, float]:
    # Imported on first use: wordfreq takes a quarter of a second to import.
    from wordfreq import get_frequency_dict

    return get_frequency_dict("en", "small")


@cache
def _word_frequency() -> Callable[..., float]:
    from wordfreq import word_frequency

    return word_frequency
