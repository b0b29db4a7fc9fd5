"""The ranking stage after BM25: reorders BM25's best candidates for a question.

`rerank` is the default ranker of every `Store`. It never changes what BM25 finds, only the order
of BM25's best `CANDIDATES` passages, and it never adds text. Each candidate gets a linear score of
features (weights fitted by benchmarks/tune.py; see `Weights`):

- **bm25**: log(1 + BM25 score), and the score relative to the best candidate's. A name the
  passage holds through a role noun (see attribution) adds its idf, as one occurrence would.
- **coverage**: the idf-weighted share of the question's terms the passage holds (and its square).
- **stem coverage** and **best sentence**: the same share with Snowball stems (BM25 itself stays
  unstemmed and exact), over the whole passage and over its best single sentence.
- **attribution**: a question term missing from the passage counts as present when it is a name
  (capitalised in the question) that the article writes next to a role noun ("Qin Gang, China's
  Foreign Minister") and the passage holds that role noun ("The foreign minister went on to say
  ..."). It also counts, for less (**context**), when the article's text just before the passage
  holds it (the subject of "he said" sits in the sentences before).
- **title** and **article**: the share of question terms in the article's title, and in the title
  and that article's passages among the candidates.
- **position**: early passages of an article (the news lead) are favoured.
- **answer type**: "how many" wants a number the question does not hold, "when" a date, "who"
  a name, "which show/film/song" a quoted title.
- **irregular verbs**: "said" counts for "say", "won" for "win" (Snowball keeps them apart).
- **duplicates**: a passage whose text is already shown (syndicated copies) is dropped.
- **proximity**: the best share of question terms within a few consecutive words of one sentence
  (a role noun counts as the name it stands for).
- **fresh**: how recent the passage's article is beside the newest candidate article (by the
  published date; an undated article gets the dated candidates' mean). Questions about the news are mostly about this week's news, and
  among passages that match about as well, the newer story wins. Age is measured from the newest
  candidate, not from today, so a question about an old story whose articles are all old is not
  pushed aside.

It costs a few milliseconds for 40 candidates: only the candidate passages are tokenized (and split
into sentences with a cheap rule); each distinct word is stemmed once (stems are cached); the
article's text is fetched once (kept per article in a small LRU cache) for the text before each
passage, and searched (plain string search on the casefolded text) only for the names in the
question.
"""

from __future__ import annotations

import datetime
import logging
import math
import re
from collections import OrderedDict
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

import Stemmer

from .text import question_terms, tokenize

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from .models import Hit
    from .store import Store

log = logging.getLogger(__name__)

CANDIDATES = 40
"""How many BM25 candidates the ranker sees."""


@dataclass(frozen=True, slots=True)
class Weights:
    """Feature weights of the linear score; 0 switches a feature off.

    The defaults are fitted by `python benchmarks/tune.py` on the first half of the dev weeks and
    of XQuAD (a listwise softmax loss), so the second halves stay unseen checks."""

    bm25: float = 1.70
    relative: float = 1.54
    coverage: float = 0.59
    coverage_squared: float = -0.23
    stem_coverage: float = 2.86
    best_sentence: float = 1.49
    title: float = 1.28
    article: float = 2.11
    position: float = 0.93
    answer_number: float = 1.66
    answer_time: float = 1.32
    answer_name: float = 0.92
    answer_title: float = 0.98
    context: float = -0.65
    proximity: float = 1.73
    fresh: float = 2.57
    semantic: float = 0.0
    attribution: bool = True
    irregular: bool = True
    dedupe: bool = True


DEFAULT = Weights()

LEARNED = Weights(
    bm25=1.07,
    relative=1.00,
    coverage=0.52,
    coverage_squared=0.20,
    stem_coverage=2.18,
    best_sentence=1.25,
    title=0.95,
    article=1.12,
    position=0.83,
    answer_number=1.55,
    answer_time=1.32,
    answer_name=0.96,
    answer_title=1.04,
    context=-0.90,
    proximity=1.51,
    fresh=2.59,
    semantic=4.67,
)
"""The weights of the learned stage (a Store opened with an encoder, the `rerank` extra): the same
features plus **semantic**, the cosine of all-MiniLM-L6-v2 vectors of the question and the passage,
fitted together by benchmarks/tune.py."""

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
_ASK_TITLE = re.compile(
    r"\b(show|series|film|movie|song|single|album|book|novel|drama|comedy|sitcom|podcast|musical|play|game)\b"
)
_QUOTED = re.compile(r"[“\"]([^”\"]{2,80})[”\"]")
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
    if _ASK_TITLE.search(q) and re.search(r"\b(which|what|name)\b", q):
        kinds.add("title")
    return frozenset(kinds)


# -- what the ranker knows of an article ------------------------------------------------------

ROLE_WINDOW = 4
"""A role noun stands for a term when it sits within this many words of it in one sentence."""
FRESH_DAYS = 14
"""Freshness is exp(-age / FRESH_DAYS): it halves about every 10 days behind the newest candidate."""
PREVIOUS_CHARS = 300
"""How much of the article's text just before a passage counts as its context ("he said")."""
PROXIMITY = 8
"""The proximity feature is the best share of question terms within this many consecutive words."""
_WINDOW_CHARS = 80
_OCCURRENCES = 8
"""At most this many occurrences of a term are looked at for role nouns (long articles)."""
_LAST_STOP = re.compile(r".*[.!?][\"”’')]*\s", re.DOTALL)
_FIRST_STOP = re.compile(r"[.!?][\"”’')]*\s")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_SENTENCE_SPLIT = re.compile(r"[.!?][\"”’')]*(?:\s+|(?=[“\"]))|\n+")


def _occurrences(text: str, term: str, tries: int = 100) -> Iterator[int]:
    """Start offsets of the term as a whole word of casefolded text (the tokenizer's idea of a word).

    Looks at no more than `tries` places where the term's letters occur (inside other words too), so
    that a short, common term costs little in a long article."""
    if not term:
        return
    size = len(text)
    at = text.find(term)
    while at >= 0 and tries > 0:
        tries -= 1
        end = at + len(term)
        if (at == 0 or not text[at - 1].isalnum()) and (end == size or not text[end].isalnum()):
            yield at
        at = text.find(term, at + 1)


class ArticleTerms:
    """What the ranker asks of one article: the terms of its title, whether its text holds a term,
    and which role nouns stand beside a term. Answers are computed on demand and kept."""

    __slots__ = ("_folded", "_found", "_roles", "text", "title")

    def __init__(self, title: str, text: str) -> None:
        self.title = frozenset(tokenize(title))
        self.text = text
        self._folded: str | None = None
        self._found: dict[str, bool] = {}
        self._roles: dict[str, frozenset[str]] = {}

    @property
    def folded(self) -> str:
        """The text casefolded, with curly apostrophes straightened (made on first use)."""
        if self._folded is None:
            self._folded = self.text.casefold().replace("’", "'")
        return self._folded

    def has(self, term: str) -> bool:
        """Whether the article's text holds the term as a word."""
        found = self._found.get(term)
        if found is None:
            found = self._found[term] = next(_occurrences(self.folded, term), None) is not None
        return found

    def roles(self, term: str) -> frozenset[str]:
        """Role nouns within `ROLE_WINDOW` words of the term, in the same sentence."""
        found = self._roles.get(term)
        if found is not None:
            return found
        near: set[str] = set()
        text = self.folded
        for n, start in enumerate(_occurrences(text, term)):
            if n == _OCCURRENCES:
                break
            end = start + len(term)
            before = text[max(0, start - _WINDOW_CHARS) : start]
            stop = _LAST_STOP.match(before)
            if stop:
                before = before[stop.end() :]
            after = text[end : end + _WINDOW_CHARS]
            stop = _FIRST_STOP.search(after)
            if stop:
                after = after[: stop.start()]
            words = _WORD.findall(before)[-ROLE_WINDOW:] + _WORD.findall(after)[:ROLE_WINDOW]
            near.update(w for w in words if w in ROLE_NOUNS and w != term)
        found = self._roles[term] = frozenset(near)
        return found

    def before(self, start: int, chars: int = PREVIOUS_CHARS) -> str:
        """The text just before a passage that starts at `start`: what "he" and "the minister" refer to."""
        return self.text[max(0, start - chars) : start]


def article_terms(title: str, text: str) -> ArticleTerms:
    """What the ranker needs of an article with this title and text."""
    return ArticleTerms(title, text)


@dataclass(slots=True)
class Candidate:
    """One BM25 candidate as the ranker sees it."""

    text: str
    score: float
    position: int
    article: ArticleTerms
    previous: str = ""
    """The article's text just before the passage ("" for the first)."""
    published: str | None = None
    similarity: float = 0.0
    """Cosine of the question's and the passage's vectors (the learned ranker only)."""


# -- features ---------------------------------------------------------------------------------

_STEMS: dict[str, str] = {}


# Irregular forms that Snowball leaves apart from their base ("said" and "say").
_IRREGULAR = {
    form: base
    for base, forms in {
        "say": "said",
        "tell": "told",
        "win": "won",
        "lose": "lost",
        "begin": "began begun",
        "buy": "bought",
        "sell": "sold",
        "leave": "left",
        "hold": "held",
        "find": "found",
        "give": "gave given",
        "take": "took taken",
        "make": "made",
        "go": "went gone",
        "come": "came",
        "see": "saw seen",
        "get": "got gotten",
        "pay": "paid",
        "meet": "met",
        "lead": "led",
        "run": "ran",
        "bring": "brought",
        "think": "thought",
        "fight": "fought",
        "teach": "taught",
        "catch": "caught",
        "write": "wrote written",
        "speak": "spoke spoken",
        "break": "broke broken",
        "choose": "chose chosen",
        "drive": "drove driven",
        "fall": "fell fallen",
        "fly": "flew flown",
        "grow": "grew grown",
        "know": "knew known",
        "rise": "rose risen",
        "steal": "stole stolen",
        "strike": "struck",
        "shoot": "shot",
        "build": "built",
        "send": "sent",
        "spend": "spent",
        "feel": "felt",
        "keep": "kept",
        "sleep": "slept",
        "die": "died dead",
        "sing": "sang sung",
        "swim": "swam swum",
        "eat": "ate eaten",
        "wear": "wore worn",
        "hide": "hid hidden",
        "bear": "bore born",
        "sit": "sat",
        "stand": "stood",
        "understand": "understood",
        "hear": "heard",
        "become": "became",
        "forbid": "forbade forbidden",
        "freeze": "froze frozen",
        "shake": "shook shaken",
        "sink": "sank sunk",
        "seek": "sought",
        "swear": "swore sworn",
    }.items()
    for form in forms.split()
}


def _stem(term: str) -> str:
    stem = _STEMS.get(term)
    if stem is None:
        if len(_STEMS) > 200_000:
            _STEMS.clear()
        stem = _STEMS[term] = _STEMMER.stemWord(_IRREGULAR.get(term, term))
    return stem


def _stem_all(words: set[str]) -> None:
    """Stem the words not stemmed yet, in one call to the stemmer."""
    new = [w for w in words if w not in _STEMS]
    if new:
        if len(_STEMS) > 200_000:
            _STEMS.clear()
            new = list(words)
        _STEMS.update(zip(new, _STEMMER.stemWords([_IRREGULAR.get(w, w) for w in new]), strict=True))


def _day(published: str | None) -> int | None:
    """The day number (`date.toordinal`) of an ISO date (its first 10 characters), or None for no
    date, a malformed one, or one after tomorrow (a wrong date must not make every other old)."""
    if not published:
        return None
    try:
        day = datetime.date.fromisoformat(published[:10]).toordinal()
    except ValueError:
        return None
    return day if day <= datetime.date.today().toordinal() + 1 else None


def _freshness(days: list[int | None]) -> list[float]:
    """exp(-age / FRESH_DAYS), the age counted from the newest dated candidate. An undated article
    gets the dated candidates' mean: neither favoured nor pushed aside."""
    dated = [d for d in days if d is not None]
    if not dated:
        return [0.0] * len(days)
    newest = max(dated)
    values = {d: math.exp(-(newest - d) / FRESH_DAYS) for d in set(dated)}
    neutral = sum(values[d] for d in dated) / len(dated)
    return [neutral if d is None else values[d] for d in days]


def _share(terms: set[str], idf: dict[str, float], total: float) -> float:
    return sum(idf[t] for t in terms) / total


def _name_term(word: str) -> str:
    word = word.casefold()
    return word[:-2] if word.endswith(("'s", "’s")) else word


def named_terms(question: str) -> set[str]:
    """The terms of the question's capitalised words after the first: the names asked about."""
    return {_name_term(m.group()) for m in _CAPITAL.finditer(question) if m.start() > 0}


def role_attributions(
    unique: set[str], named: set[str], words: set[str], article: ArticleTerms
) -> dict[str, set[str]]:
    """The role nouns among a passage's `words` that stand for a name asked about and missing from
    the passage, each with the names it stands for: "minister" for "qin" in Qin's own article."""
    roles = words & ROLE_NOUNS
    found: dict[str, set[str]] = {}
    if not roles:
        return found
    for term in (unique & named) - words:
        if article.has(term):
            for role in article.roles(term) & roles:
                found.setdefault(role, set()).add(term)
    return found


def features(
    question: str, terms: list[str], idf: dict[str, float], candidates: list[Candidate], weights: Weights
) -> list[list[float]]:
    """The feature vector of each candidate, in `Weights` order (without the switches)."""
    unique = set(terms)
    idf = {t: max(idf.get(t, 0.0), 0.0) for t in unique}
    total = sum(idf.values()) or 1.0
    stem = _stem if weights.irregular else _STEMMER.stemWord
    stems = {t: stem(t) for t in unique}
    by_stem: dict[str, set[str]] = {}
    for t, s in stems.items():
        by_stem.setdefault(s, set()).add(t)
    kinds = answer_types(question)
    asked = set(tokenize(question))
    rows = []
    named = named_terms(question)
    in_article: dict[int, set[str]] = {}
    analysed = []
    for c in candidates:
        sequences = [tokenize(s) for s in _SENTENCE_SPLIT.split(c.text)]
        sentences = [set(words) for words in sequences]
        analysed.append((sequences, sentences, set().union(*sentences)))
    # Which question terms each word of the candidates stands for, by stem (each word stemmed once).
    matching: dict[str, set[str]] = {}
    every = set().union(*(words for _, _, words in analysed))
    if weights.irregular:
        _stem_all(every)
        stem_of = _STEMS.__getitem__
    else:
        stem_of = _STEMMER.stemWord
    for w in every:
        found = by_stem.get(stem_of(w))
        if found:
            matching[w] = found
    fresh = _freshness([_day(c.published) for c in candidates])
    for n, (c, (sequences, sentences, token_set)) in enumerate(zip(candidates, analysed, strict=True)):
        exact = unique & token_set
        attributed: set[str] = set()
        from_context: set[str] = set()
        stands_for: dict[str, set[str]] = {}  # role nouns of the passage -> the names they stand for
        if weights.attribution and len(exact) < len(unique):
            stands_for = role_attributions(unique, named, token_set, c.article)
            attributed = set().union(*stands_for.values())
            previous = c.previous.casefold().replace("’", "'") if c.previous else ""
            for term in unique - exact - attributed:
                if previous and next(_occurrences(previous, term), None) is not None:
                    attributed.add(term)
                    from_context.add(term)
        present = exact | attributed
        matched = {w: matching[w] for w in token_set & matching.keys()}
        stem_present = attributed.union(*matched.values())
        if len(sentences) > 1 and matched:
            sentence = 0.0
            keys = matched.keys()
            for words in sentences:
                here = words & keys
                if here:
                    found = attributed.union(*(matched[w] for w in here))
                    sentence = max(sentence, _share(found, idf, total))
        else:
            sentence = _share(stem_present, idf, total)
        near = 0.0
        if weights.proximity and matched:
            # Within one sentence only; a role noun counts where it stands for a name.
            where = {
                w: stands_for.get(w, set()) | matched.get(w, set())
                for w in stands_for.keys() | matched.keys()
            }
            for words in sequences:
                hits = [(i, where[w]) for i, w in enumerate(words) if w in where]
                for i, (start, _) in enumerate(hits):
                    found = set()
                    for at, terms_here in hits[i:]:
                        if at - start >= PROXIMITY:
                            break
                        found |= terms_here
                    near = max(near, _share(found, idf, total))
        novel = token_set - asked
        names = 0
        if "name" in kinds:
            for w in _CAPITAL.findall(c.text):
                if w not in _SENTENCE_CAPITALS and _name_term(w) not in asked:
                    names += 1
                    if names == 5:
                        break
        has_number = "number" in kinds and any(_DIGIT.search(t) or t in _NUMBER_WORDS for t in novel)
        has_title = "title" in kinds and any(
            m[:1].isupper() and not asked.issuperset(tokenize(m)) for m in _QUOTED.findall(c.text)
        )
        has_time = "time" in kinds and (bool(novel & _TIME_WORDS) or bool(_YEAR.search(c.text)))
        cover = _share(present, idf, total)
        # A name the passage holds through a role noun counts in its BM25 score as one occurrence
        # would (about its idf): "the foreign minister" is Qin in Qin's own article.
        # Not for a name found only in the text before the passage: that cost XQuAD and strict dev R@1.
        score = c.score + sum(idf[t] for t in attributed - from_context)
        article = c.article
        in_article.setdefault(id(article), set(unique & article.title)).update(exact)
        rows.append(
            [
                math.log1p(max(score, 0.0)),
                score,  # divided by the best candidate's below
                cover,
                cover * cover,
                _share(stem_present, idf, total),
                sentence,
                _share(unique & article.title, idf, total),
                0.0,
                1 / (1 + c.position),
                float(has_number),
                float(has_time),
                names / 5,
                float(has_title),
                _share(from_context, idf, total),
                near,
                fresh[n],
                c.similarity,
            ]
        )
    relative_column = _WEIGHT_NAMES.index("relative")
    best = max((row[relative_column] for row in rows), default=1.0) or 1.0
    for row in rows:
        row[relative_column] /= best
    article_column = _WEIGHT_NAMES.index("article")
    for c, row in zip(candidates, rows, strict=True):
        row[article_column] = _share(in_article[id(c.article)], idf, total)
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
_ARTICLE_CACHE = 256
"""At most this many articles are kept for the next questions ..."""
_ARTICLE_CACHE_CHARS = 16_000_000
"""... and at most this many characters of their text (and as many again once casefolded)."""
_cached_chars = 0


def _article(store: Store, libraries: list[str], hit: Hit) -> ArticleTerms:
    global _cached_chars
    a = hit.article
    key = (store.path, a.id, a.added_at, a.chars)
    cached = _ARTICLES.get(key)
    if cached is not None:
        _ARTICLES.move_to_end(key)
        return cached
    terms = ArticleTerms(a.title, store.article_text(libraries, a.id))
    _ARTICLES[key] = terms
    _cached_chars += len(terms.text)
    while len(_ARTICLES) > 1 and (len(_ARTICLES) > _ARTICLE_CACHE or _cached_chars > _ARTICLE_CACHE_CHARS):
        _cached_chars -= len(_ARTICLES.popitem(last=False)[1].text)
    return terms


def _dedupe(hits: list[Hit]) -> list[Hit]:
    seen: set[str] = set()
    kept = []
    for hit in hits:
        key = " ".join(hit.passage.text.casefold().split())
        if key not in seen:
            seen.add(key)
            kept.append(hit)
    return kept


def prepare(
    store: Store, question: str, libraries: list[str], hits: list[Hit]
) -> tuple[list[str], dict[str, float], list[Candidate]]:
    """The question's terms, their idf in the libraries, and each hit as a `Candidate`."""
    terms = question_terms(question)
    idf = store.term_idf(libraries, sorted(set(terms)))
    candidates = []
    for hit in hits:
        article = _article(store, libraries, hit)
        p = hit.passage
        candidates.append(
            Candidate(p.text, hit.score, p.index, article, article.before(p.start), hit.article.published)
        )
    return terms, idf, candidates


RESTATEMENTS = 8
"""At most this many restatements of one question are encoded (one batch, a few ms each)."""
_NAME_RUN = re.compile(r"\b[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*")
_ROLE_PHRASE_STOP = frozenset(
    ["the", "a", "an", "his", "her", "its", "their", "our", "this", "that", "and", "of"]
)


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
        if folded in _ROLE_PHRASE_STOP or folded.endswith(("'s", "’s")):
            return " ".join([*kept, role])
        if len(kept) == 2 or not word.isalpha():
            return role
        kept.insert(0, folded)
    return role


def restate(question: str, names: set[str], phrase: str) -> str:
    """The question with the name (the capitalised words holding `names`, as terms, and a title
    just before them) said as "the <phrase>" instead, a possessive kept: "what did Qin say" ->
    "what did the foreign minister say"."""
    titles = set(phrase.split()) | ROLE_NOUNS

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
    store: Store,
    question: str,
    hits: list[Hit],
    terms: list[str],
    candidates: list[Candidate],
    attribution: bool = True,
) -> None:
    """Fill each candidate's similarity (the learned stage): the cosine of the question's vector
    with its passage's (the store's encoder; 0 when a passage has no vector). With `attribution`,
    where a passage calls a name asked about by its role, the better of that and the cosine with the
    question restated in those words. `candidates` are the `hits`, one for one."""
    if len(hits) != len(candidates):
        raise ValueError(f"{len(hits)} hits but {len(candidates)} candidates")
    vectors = store.passage_vectors([h.passage for h in hits])
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
    encoded = dict(zip(texts, store.encode_questions(texts), strict=True))
    for candidate, vector, found in zip(candidates, vectors, alternatives, strict=True):
        candidate.similarity = max(float(vector @ encoded[t]) for t in [question, *found] if t in encoded)


def make_ranker(
    weights: Weights = DEFAULT, learned: Weights | None = None
) -> Callable[[Store, str, list[str], list[Hit]], list[Hit]]:
    """A ranker for `Store(path, ranker=...)` with the given weights, and with the `learned`
    weights (which use the similarity feature) when the store has an encoder."""

    def ranker(store: Store, question: str, libraries: list[str], hits: list[Hit]) -> list[Hit]:
        use = weights
        if learned is not None and getattr(store, "encoder", None) is not None:
            use = learned
        if use.dedupe:
            hits = _dedupe(hits)
        if len(hits) < 2:
            return hits
        terms, idf, candidates = prepare(store, question, libraries, hits)
        if use.semantic:
            try:
                add_similarities(store, question, hits, terms, candidates, use.attribution)
            except Exception:  # the learned stage is optional: answer with the lexical weights
                log.exception("the learned stage failed; ranking this question without it")
                use = weights
        values = scores(question, terms, idf, candidates, use)
        order = sorted(range(len(hits)), key=lambda i: (-values[i], i))
        return [replace(hits[i], score=values[i]) for i in order]

    return ranker


rerank = make_ranker(DEFAULT, LEARNED)
"""The default ranker: `make_ranker(DEFAULT, LEARNED)`."""


ABLATIONS: dict[str, dict[str, float | bool]] = {
    "dedupe": {"dedupe": False},
    "attribution": {"attribution": False},
    "coverage": {"coverage": 0.0, "coverage_squared": 0.0},
    "stem coverage and best sentence": {"stem_coverage": 0.0, "best_sentence": 0.0},
    "title and article": {"title": 0.0, "article": 0.0},
    "position": {"position": 0.0},
    "answer type": {"answer_number": 0.0, "answer_time": 0.0, "answer_name": 0.0, "answer_title": 0.0},
    "irregular verbs": {"irregular": False},
    "less weight for the text before a passage": {"context": 0.0},
    "proximity": {"proximity": 0.0},
    "freshness": {"fresh": 0.0},
}
"""Each ranking idea, by name, and the weights that switch it off."""


def ablations() -> dict[str, Callable]:
    """The default ranker with one idea switched off, by the idea's name (for benchmarks)."""
    return {name: make_ranker(replace(DEFAULT, **change)) for name, change in ABLATIONS.items()}
