"""The ranking stage after BM25: reorders BM25's best candidates for a question.

`rerank` is the default ranker of every `Store`. It never changes what BM25 finds, only the order
of BM25's best `CANDIDATES` passages, and it never adds text. Each candidate gets a linear score of
lexical features (weights chosen on the first half of the dev weeks of benchmarks/quality.py):

- **bm25**: log(1 + BM25 score), and the score relative to the best candidate's.
- **coverage**: the idf-weighted share of the question's terms the passage holds (and its square).
- **stem coverage** and **best sentence**: the same share with Snowball stems (BM25 itself stays
  unstemmed and exact), over the whole passage and over its best single sentence.
- **attribution**: a question term missing from the passage counts as present when the article
  names it next to a role noun ("Qin Gang, China's Foreign Minister") and the passage holds that
  role noun ("The foreign minister went on to say ..."). It also counts when the passage just
  before it in the article holds it (the subject of "he said" sits in the previous passage).
- **title** and **article**: the share of question terms in the article's title and in its text.
- **position**: early passages of an article (the news lead) are favoured.
- **answer type**: "how many" wants a number the question does not hold, "when" a date, "who"
  a name.
- **duplicates**: a passage whose text is already shown (syndicated copies) is dropped.
"""

from __future__ import annotations

import logging
import math
import re
from collections import OrderedDict
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

import Stemmer

from .passages import split_sentences
from .text import tokenize

if TYPE_CHECKING:
    from collections.abc import Callable

    from .models import Hit
    from .store import Store

log = logging.getLogger(__name__)

CANDIDATES = 40
"""How many BM25 candidates the ranker sees."""


@dataclass(frozen=True, slots=True)
class Weights:
    """Feature weights of the linear score; 0 switches a feature off."""

    bm25: float = 1.0
    relative: float = 0.1
    coverage: float = -0.8
    coverage_squared: float = 0.6
    stem_coverage: float = 1.45
    best_sentence: float = 1.15
    title: float = 1.95
    article: float = 0.55
    position: float = 0.65
    answer_number: float = 0.9
    answer_time: float = 0.55
    answer_name: float = 1.1
    attribution: bool = True
    dedupe: bool = True


DEFAULT = Weights()

_STEMMER = Stemmer.Stemmer("english")

# Role nouns that stand in for a named person or body later in an article.
ROLE_NOUNS = frozenset(
    [
        "minister",
        "president",
        "premier",
        "chancellor",
        "secretary",
        "senator",
        "governor",
        "mayor",
        "spokesperson",
        "spokesman",
        "spokeswoman",
        "ambassador",
        "general",
        "commander",
        "chief",
        "ceo",
        "founder",
        "chairman",
        "chairwoman",
        "chair",
        "director",
        "leader",
        "king",
        "queen",
        "prince",
        "princess",
        "pope",
        "judge",
        "justice",
        "prosecutor",
        "attorney",
        "lawyer",
        "official",
        "officials",
        "representative",
        "congressman",
        "congresswoman",
        "lawmaker",
        "candidate",
        "nominee",
        "coach",
        "player",
        "captain",
        "actor",
        "actress",
        "singer",
        "rapper",
        "star",
        "artist",
        "author",
        "writer",
        "director",
        "producer",
        "host",
        "company",
        "firm",
        "group",
        "agency",
        "department",
        "ministry",
        "government",
        "administration",
        "court",
        "team",
        "club",
        "band",
        "network",
        "startup",
        "airline",
        "carmaker",
        "retailer",
        "bank",
        "regulator",
    ]
)

_CAPITAL = re.compile(r"\b[A-Z][\w'’-]*")
_DIGIT = re.compile(r"\d")
_YEAR = re.compile(r"\b(1[89]|20)\d\d\b")
_NUMBER_WORDS = frozenset(
    [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "twenty",
        "thirty",
        "forty",
        "fifty",
        "hundred",
        "thousand",
        "million",
        "billion",
        "trillion",
        "dozen",
        "dozens",
        "half",
        "percent",
    ]
)
_TIME_WORDS = frozenset(
    [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
)
_SENTENCE_CAPITALS = frozenset(
    [
        "The",
        "A",
        "An",
        "In",
        "On",
        "At",
        "It",
        "He",
        "She",
        "They",
        "We",
        "I",
        "But",
        "And",
        "Or",
        "This",
        "That",
        "These",
        "Those",
        "His",
        "Her",
        "Their",
        "Its",
        "As",
        "For",
        "If",
        "When",
        "While",
        "After",
        "Before",
        "What",
        "Who",
        "Which",
        "Where",
        "Why",
        "How",
    ]
)
_ASK_NUMBER = re.compile(
    r"\bhow (many|much|old|long|far|big|tall|high)\b|\bwhat (percentage|percent|number|amount|age)\b"
)
_ASK_TIME = re.compile(r"\b(when|what year|which year|what month|which month|what date|what day|which day)\b")
_ASK_NAME = re.compile(
    r"\bwho(m|se)?\b|\bwhich (person|man|woman|player|actor|actress|singer|company|country|state|city|team)\b"
)


def answer_types(question: str) -> frozenset[str]:
    """What kind of answer a question asks for: "number", "time" and/or "name"."""
    q = question.casefold()
    kinds = set()
    if _ASK_NUMBER.search(q):
        kinds.add("number")
    if _ASK_TIME.search(q):
        kinds.add("time")
    if _ASK_NAME.search(q):
        kinds.add("name")
    return frozenset(kinds)


@dataclass(slots=True)
class ArticleTerms:
    """What the ranker needs of one article: its title's and text's terms, and role nouns per term."""

    title: frozenset[str]
    text: frozenset[str]
    roles: dict[str, frozenset[str]]
    passages: tuple[str, ...] = ()
    """The article's passage texts, in order."""


def article_terms(title: str, text: str, window: int = 4) -> ArticleTerms:
    """Terms of an article, and for each term the role nouns within `window` words of it in a sentence."""
    roles: dict[str, set[str]] = {}
    words: set[str] = set()
    for span in split_sentences(text):
        tokens = tokenize(text[span.start : span.end])
        words.update(tokens)
        for i, token in enumerate(tokens):
            if token in ROLE_NOUNS:
                for other in tokens[max(0, i - window) : i + window + 1]:
                    if other != token:
                        roles.setdefault(other, set()).add(token)
    return ArticleTerms(
        frozenset(tokenize(title)), frozenset(words), {t: frozenset(r) for t, r in roles.items()}
    )


@dataclass(slots=True)
class Candidate:
    """One BM25 candidate as the ranker sees it."""

    text: str
    score: float
    position: int
    article: ArticleTerms
    previous: str = ""
    """The text of the passage before it in its article ("" for the first)."""


def _share(terms: set[str], idf: dict[str, float], total: float) -> float:
    return sum(idf[t] for t in terms) / total


def features(
    question: str, terms: list[str], idf: dict[str, float], candidates: list[Candidate], weights: Weights
) -> list[list[float]]:
    """The feature vector of each candidate, in `Weights` order (without the switches)."""
    unique = set(terms)
    idf = {t: max(idf.get(t, 0.0), 0.0) for t in unique}
    total = sum(idf.values()) or 1.0
    stems = {t: _STEMMER.stemWord(t) for t in unique}
    kinds = answer_types(question)
    asked = set(tokenize(question))
    best = max((c.score for c in candidates), default=1.0) or 1.0
    rows = []
    for c in candidates:
        tokens = tokenize(c.text)
        present = unique.intersection(tokens)
        if weights.attribution:
            missing = unique - present
            if missing:
                token_set = set(tokens)
                previous = set(tokenize(c.previous)) if c.previous else set()
                for term in missing:
                    if c.article.roles.get(term, frozenset()) & token_set or term in previous:
                        present.add(term)
        stemmed = set(_STEMMER.stemWords(tokens)) | {stems[t] for t in present}
        stem_present = {t for t in unique if stems[t] in stemmed}
        sentence = 0.0
        for span in split_sentences(c.text):
            words = set(_STEMMER.stemWords(tokenize(c.text[span.start : span.end])))
            words |= {stems[t] for t in present - unique.intersection(tokens)}
            sentence = max(sentence, _share({t for t in unique if stems[t] in words}, idf, total))
        novel = set(tokens) - asked
        names = {w for w in _CAPITAL.findall(c.text) if w not in _SENTENCE_CAPITALS}
        names = {n for n in names if tokenize(n) and tokenize(n)[0] not in asked}
        has_number = any(_DIGIT.search(t) or t in _NUMBER_WORDS for t in novel)
        has_time = bool(novel & _TIME_WORDS) or bool(_YEAR.search(c.text))
        cover = _share(present, idf, total)
        rows.append(
            [
                math.log1p(max(c.score, 0.0)),
                c.score / best,
                cover,
                cover * cover,
                _share(stem_present, idf, total),
                sentence,
                _share(unique & c.article.title, idf, total),
                _share(unique & c.article.text, idf, total),
                1 / (1 + c.position),
                float("number" in kinds and has_number),
                float("time" in kinds and has_time),
                ("name" in kinds) * min(len(names), 5) / 5,
            ]
        )
    return rows


_WEIGHT_NAMES = [f.name for f in fields(Weights) if f.type in ("float", float)]


def scores(
    question: str, terms: list[str], idf: dict[str, float], candidates: list[Candidate], weights: Weights
) -> list[float]:
    vector = [getattr(weights, name) for name in _WEIGHT_NAMES]
    return [
        sum(w * x for w, x in zip(vector, row, strict=True))
        for row in features(question, terms, idf, candidates, weights)
    ]


# -- reading what the ranker needs from the store ---------------------------------------------

_ARTICLES: OrderedDict[tuple, ArticleTerms] = OrderedDict()
_ARTICLE_CACHE = 2048


def _article(store: Store, libraries: list[str], hit: Hit) -> ArticleTerms:
    a = hit.article
    key = (store.path, a.id, a.added_at, a.chars)
    cached = _ARTICLES.get(key)
    if cached is not None:
        _ARTICLES.move_to_end(key)
        return cached
    terms = article_terms(a.title, store.article_text(libraries, a.id))
    terms.passages = tuple(p.text for p in store.passages(libraries, a.id))
    _ARTICLES[key] = terms
    if len(_ARTICLES) > _ARTICLE_CACHE:
        _ARTICLES.popitem(last=False)
    return terms


def _idf(store: Store, libraries: list[str], terms: list[str]) -> dict[str, float]:
    """BM25's own idf of each term over the searched libraries (0 for unknown terms)."""
    unique = sorted(set(terms))
    with store._lock:
        marks = ",".join("?" * len(unique))
        known = dict(store.conn.execute(f"SELECT term, id FROM terms WHERE term IN ({marks})", unique))
        libs = [store.index.libraries[n] for n in libraries if n in store.index.libraries]
        libs = [lib for lib in libs if lib.docs > 0]
        if not libs:
            return dict.fromkeys(unique, 0.0)
        values = store.index._idf(libs).values
    return {t: float(values[known[t]]) if known.get(t, len(values)) < len(values) else 0.0 for t in unique}


def _dedupe(hits: list[Hit]) -> list[Hit]:
    seen: set[str] = set()
    kept = []
    for hit in hits:
        key = " ".join(hit.passage.text.casefold().split())
        if key not in seen:
            seen.add(key)
            kept.append(hit)
    return kept


def make_ranker(weights: Weights = DEFAULT) -> Callable[[Store, str, list[str], list[Hit]], list[Hit]]:
    """A ranker for `Store(path, ranker=...)` with the given weights."""

    def ranker(store: Store, question: str, libraries: list[str], hits: list[Hit]) -> list[Hit]:
        from .text import question_terms

        if weights.dedupe:
            hits = _dedupe(hits)
        if len(hits) < 2:
            return hits
        terms = question_terms(question)
        idf = _idf(store, libraries, terms)
        candidates = []
        for hit in hits:
            article = _article(store, libraries, hit)
            seq = hit.passage.index
            previous = article.passages[seq - 1] if 0 < seq <= len(article.passages) else ""
            candidates.append(Candidate(hit.passage.text, hit.score, seq, article, previous))
        values = scores(question, terms, idf, candidates, weights)
        order = sorted(range(len(hits)), key=lambda i: (-values[i], i))
        return [replace(hits[i], score=values[i]) for i in order]

    return ranker


rerank = make_ranker(DEFAULT)
"""The default ranker: `make_ranker(DEFAULT)`."""


def ablations() -> dict[str, Callable]:
    """The default ranker with one idea switched off, by the idea's name (for benchmarks)."""
    groups = {
        "dedupe": {"dedupe": False},
        "attribution": {"attribution": False},
        "coverage": {"coverage": 0.0, "coverage_squared": 0.0},
        "stem coverage and best sentence": {"stem_coverage": 0.0, "best_sentence": 0.0},
        "title and article": {"title": 0.0, "article": 0.0},
        "position": {"position": 0.0},
        "answer type": {"answer_number": 0.0, "answer_time": 0.0, "answer_name": 0.0},
    }
    return {name: make_ranker(replace(DEFAULT, **change)) for name, change in groups.items()}
