"""The learned stage: the cosine of sentence vectors of the question and each candidate, with the
question restated in a passage's own words where it calls a name asked about by its role."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..ingest.text import tokenize
from .features import Candidate, _name_term, named_terms, role_attributions
from .words import role_nouns, role_phrase_stops

if TYPE_CHECKING:
    from ..models import Hit
    from .ranker import RankingSource

RESTATEMENTS = 8
"""At most this many restatements of one question are encoded (one batch, a few ms each)."""
_NAME_RUN = re.compile(r"\b[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*")


def role_phrase(text: str, role: str) -> str:
    """The role noun as the passage first says it, with the words that describe it: up to two
    between it and a determiner or possessive ("foreign minister" from "The foreign minister went
    on" or "China's Foreign Minister"); else the bare role ("minister" from "was appointed
    minister")."""
    match = re.search(rf"((?:[^\W\d_][\w'’-]*\s+){{0,3}})\b{re.escape(role)}\b", text, re.IGNORECASE)
    if match is None:
        return role
    before = match.group(1).split()
    kept: list[str] = []
    for word in reversed(before):
        folded = word.casefold()
        if folded in role_phrase_stops() or folded.endswith(("'s", "’s")):
            return " ".join([*kept, role])
        if len(kept) == 2 or not word.isalpha():
            return role
        kept.insert(0, folded)
    return role


def restate(question: str, names: set[str], phrase: str) -> str:
    """The question with the name (the capitalised words holding `names`, as terms, and a title
    just before them) said as "the <phrase>" instead, a possessive kept: "what did Qin say" ->
    "what did the foreign minister say"."""
    titles = set(phrase.split()) | role_nouns()

    def replace_run(match: re.Match[str]) -> str:
        words = match.group().split()
        at = [i for i, w in enumerate(words) if _name_term(w) in names]
        if not at:
            return match.group()
        first, last = at[0], at[-1]
        while first > 0 and words[first - 1].casefold() in titles:  # "Foreign Minister Qin Gang"
            first -= 1
        possessive = "'s" if words[last].endswith(("'s", "’s")) else ""
        return " ".join([*words[:first], f"the {phrase}{possessive}", *words[last + 1 :]])

    return _NAME_RUN.sub(replace_run, question)


def restatements(question: str, terms: list[str], candidates: list[Candidate]) -> list[list[str]]:
    """For each candidate, the question asked in the passage's own words where the passage calls a
    name asked about by its role (the attribution of the lexical features, for the learned stage:
    the encoder cannot know that "the foreign minister" is Qin)."""
    unique = set(terms)
    named = named_terms(question) & unique
    found: list[list[str]] = []
    for c in candidates:
        alternatives: list[str] = []
        if named:
            words = set(tokenize(c.text))
            for role, names in sorted(role_attributions(unique, named, words, c.article).items()):
                text = restate(question, names, role_phrase(c.text, role))
                if text != question and text not in alternatives:
                    alternatives.append(text)
        found.append(alternatives)
    return found


def add_similarities(
    source: RankingSource,
    question: str,
    hits: list[Hit],
    terms: list[str],
    candidates: list[Candidate],
    attribution: bool = True,
) -> None:
    """Fill each candidate's similarity (the learned stage): the cosine of the question's vector
    with its passage's (the source's encoder; 0 when a passage has no vector). With `attribution`,
    where a passage calls a name asked about by its role, the better of that and the cosine with the
    question restated in those words. `candidates` are the `hits`, one for one."""
    if len(hits) != len(candidates):
        raise ValueError(f"{len(hits)} hits but {len(candidates)} candidates")
    vectors = source.passage_vectors([h.passage for h in hits])
    if vectors.shape[1] == 0:
        for candidate in candidates:
            candidate.similarity = 0.0
        return
    alternatives = restatements(question, terms, candidates) if attribution else [[] for _ in hits]
    texts = [question]
    for found in alternatives:
        for text in found:
            if text not in texts and len(texts) <= RESTATEMENTS:
                texts.append(text)
    encoded = dict(zip(texts, source.encode_questions(texts), strict=True))
    for candidate, vector, found in zip(candidates, vectors, alternatives, strict=True):
        candidate.similarity = max(float(vector @ encoded[t]) for t in [question, *found] if t in encoded)
