"""The ranker's features: what it reads of a question, an article and a candidate passage.

Pure functions of their inputs (plus the thread-safe stem cache they are handed); see
`index.rank.ranker` for how the features are weighed.
"""

from __future__ import annotations

import datetime
import importlib
import math
import re
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeAlias, cast

from ..ingest.text import tokenize
from .stems import Stems
from .weights import Features, Weights
from .words import number_words, role_nouns, sentence_capitals, time_words

_CAPITAL = re.compile(r"\b[A-Z][\w'’-]*")
_DIGIT = re.compile(r"\d")
_ASK_TITLE = re.compile(
    r"\b(show|series|film|movie|song|single|album|book|novel|drama|comedy|sitcom|podcast|musical|play|game)\b"
)
_QUOTED = re.compile(r"[“\"]([^”\"]{2,80})[”\"]")
_YEAR = re.compile(r"\b(1[89]|20)\d\d\b")
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


_ASCII = bytes(range(128))


def casefold(text: str) -> str:
    """`text.casefold()`, several times faster for the usual news text: ASCII with a few non-ASCII
    characters that are their own casefold (curly quotes, dashes, accented small letters). Case
    folding is one character at a time, so lowering the ASCII bytes alone is then exact."""
    if text.isascii():
        return text.lower()
    try:
        encoded = text.encode()
    except UnicodeEncodeError:  # a lone surrogate (no stored text holds one)
        return text.casefold()
    others = encoded.translate(None, _ASCII).decode()
    if all(c.casefold() == c for c in set(others)):
        return encoded.lower().decode()
    return text.casefold()


ANALYSIS_VERSION = 1
"""Bump when the tokenizer, the sentence rule, the stemmer or the irregular verbs change: a stored
analysis of another version is ignored (the passage is analysed again when asked about)."""


@dataclass(frozen=True, slots=True)
class PassageAnalysis:
    """What the ranker reads of a passage whatever the question: made once, when it is stored."""

    sequences: list[list[str]]
    """The terms of each piece of `_SENTENCE_SPLIT` (empty pieces kept), in order."""
    capitals: list[str]
    """Capitalised words (`_CAPITAL`), in order."""
    quoted: list[str]
    """Quoted phrases (`_QUOTED`), in order."""
    year: bool
    """Whether the passage holds a year (`_YEAR`)."""
    stems: dict[str, str] | None = None
    """Each distinct term's stem with irregular verbs mapped, where it differs from the term;
    None when not made (then stems come from the stem cache)."""


def analyse(text: str, stems: Stems | None = None) -> PassageAnalysis:
    """The question-independent analysis of a passage; with `stems` (irregular verbs mapped), its
    terms' stems too."""
    sequences = [tokenize(s) for s in _SENTENCE_SPLIT.split(text)]
    stemmed = None
    if stems is not None:
        if not stems.irregular:
            raise ValueError("stored stems map irregular verbs; pass Stems(irregular=True)")
        words = {w for sequence in sequences for w in sequence}
        stemmed = {w: s for w, s in stems.stem_all(words).items() if s != w}
    return PassageAnalysis(
        sequences,
        _CAPITAL.findall(text),
        _QUOTED.findall(text),
        _YEAR.search(text) is not None,
        stemmed,
    )


_FIELD = "\x1e"
_ITEM = "\x1f"


def encode_analysis(analysis: PassageAnalysis) -> bytes:
    """The analysis as stored: its version and fields as plain separated text (terms hold no
    spaces or control characters; quoted phrases no quotes), compressed. Splitting it back is
    several times faster than JSON."""
    stems = analysis.stems
    fields = (
        str(ANALYSIS_VERSION),
        "\n".join(" ".join(sequence) for sequence in analysis.sequences),
        _ITEM.join(analysis.capitals),
        _ITEM.join(analysis.quoted),
        "1" if analysis.year else "",
        "-" if stems is None else " ".join(f"{w} {s}" for w, s in stems.items()),
    )
    return zlib.compress(_FIELD.join(fields).encode(), 1)


def _items(text: str, sep: str) -> list[str]:
    return text.split(sep) if text else []


def decode_analysis(blob: bytes | None) -> PassageAnalysis | None:
    """A stored analysis, or None when there is none or it is of another version."""
    if not blob:
        return None
    fields = zlib.decompress(blob).decode().split(_FIELD)
    if fields[0] != str(ANALYSIS_VERSION) or len(fields) != 6:
        return None
    _, sequences, capitals, quoted, year, stemmed = fields
    stems = None
    if stemmed != "-":
        pairs = _items(stemmed, " ")
        stems = dict(zip(pairs[::2], pairs[1::2], strict=True))
    return PassageAnalysis(
        [_items(line, " ") for line in sequences.split("\n")],
        _items(capitals, _ITEM),
        _items(quoted, _ITEM),
        year == "1",
        stems,
    )


class ArticleTerms:
    """What the ranker asks of one article: the terms of its title, and which role nouns stand beside
    a term. Answers are computed on demand and kept; the text
    itself is read on first need when a `load` function is given (most questions never need it)."""

    __slots__ = ("_folded", "_load", "_roles", "_text", "title")

    def __init__(self, title: str, text: str | None = None, load: Callable[[], str] | None = None) -> None:
        self.title = frozenset(tokenize(title))
        self._text = text
        self._load = load
        self._folded: str | None = None
        self._roles: dict[str, frozenset[str]] = {}

    def reload_with(self, load: Callable[[], str]) -> None:
        """Read the text through `load` if it has not been read yet (the store asking now)."""
        if self._text is None:
            self._load = load

    @property
    def text(self) -> str:
        """The article's text (read on first use when loaded lazily; "" when it is gone)."""
        if self._text is None:
            # Two threads may both read it: the same text either way.
            self._text = self._load() if self._load is not None else ""
        return self._text

    @property
    def folded(self) -> str:
        """The text casefolded, with curly apostrophes straightened (made on first use)."""
        if self._folded is None:
            self._folded = casefold(self.text).replace("’", "'")
        return self._folded

    def roles(self, term: str) -> frozenset[str]:
        """Role nouns within `ROLE_WINDOW` words of the term, in the same sentence (none when the
        text does not hold the term as a word)."""
        found = self._roles.get(term)
        if found is not None:
            return found
        near: set[str] = set()
        text = self.folded
        nouns = role_nouns()
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
            near.update(w for w in words if w in nouns and w != term)
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
    analysis: PassageAnalysis | None = None
    """The passage's stored analysis (made from `text` when None)."""


def _day(published: str | None, latest: int) -> int | None:
    """The day number (`date.toordinal`) of an ISO date (its first 10 characters), or None for no
    date, a malformed one, or one after `latest` (tomorrow: a wrong date must not make every other
    old)."""
    if not published:
        return None
    try:
        day = datetime.date.fromisoformat(published[:10]).toordinal()
    except ValueError:
        return None
    return day if day <= latest else None


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
    return sum(map(idf.__getitem__, terms)) / total


class _Shares(dict[int, float]):
    """`_share` of sets of question terms given as bit masks (one bit a term): `shares[mask]`, each
    mask's share computed once (a question asks for the same few unions many times; a dict lookup
    costs less than a call)."""

    def __init__(self, terms: set[str], idf: dict[str, float], total: float) -> None:
        super().__init__({0: 0.0})
        ordered = sorted(terms)
        self._bits = {t: 1 << k for k, t in enumerate(ordered)}
        self._weights = [(1 << k, idf[t]) for k, t in enumerate(ordered)]
        self._total = total

    def mask(self, terms: set[str]) -> int:
        mask = 0
        for t in terms:
            mask |= self._bits[t]
        return mask

    def __missing__(self, mask: int) -> float:
        share = self[mask] = sum([weight for bit, weight in self._weights if mask & bit]) / self._total
        return share


def _best_shares_python(
    sequences: list[list[str]],
    sentence_masks: dict[str, int],
    window_masks: dict[str, int] | None,
    attributed: int,
    shares: Mapping[int, float],
    proximity: int,
    want_sentence: bool,
    want_window: bool,
) -> tuple[float, float]:
    """The best share of question terms one sentence holds (with the `attributed` ones), and the
    best within `proximity` consecutive words of one sentence; words stand for the terms of their
    masks (`window_masks`, or `sentence_masks` when None, for windows). The reference for
    `_clippings_shares.best_shares`, which runs these loops in C."""
    where = sentence_masks if window_masks is None else window_masks
    sentence = near = 0.0
    for sequence in sequences:
        if want_sentence:
            here = sentence_masks.keys() & sequence
            if here:
                in_sentence = attributed
                for w in here:
                    in_sentence |= sentence_masks[w]
                share = shares[in_sentence]
                if share > sentence:
                    sentence = share
        if not want_window or where.keys().isdisjoint(sequence):  # most sentences: nothing to look for
            continue
        places = [i for i, w in enumerate(sequence) if w in where]
        masks = [where[sequence[i]] for i in places]
        # No window shares more than the whole sentence, and one window may hold it all.
        whole = 0
        for here_mask in masks:
            whole |= here_mask
        most = shares[whole]
        if most <= near:
            continue
        if places[-1] - places[0] < proximity:
            near = most
            continue
        end = 0
        count = len(places)
        for i, start in enumerate(places):
            # The window from hit i ends where the previous one did, or later; one that ends no
            # later holds a subset of the previous window's terms, and cannot share more.
            last = end
            while end < count and places[end] - start < proximity:
                end += 1
            if end > last:
                found = 0
                for here_mask in masks[i:end]:
                    found |= here_mask
                share = shares[found]
                if share > near:
                    near = share
    return sentence, near


BestShares: TypeAlias = Callable[
    [list[list[str]], dict[str, int], dict[str, int] | None, int, Mapping[int, float], int, bool, bool],
    tuple[float, float],
]
"""The signature of `_best_shares_python`, which the compiled loops share."""


def _compiled_best_shares() -> BestShares | None:
    """`best_shares` of the compiled `_clippings_shares` (built from _shares.c by pip install), or
    None in a source checkout without it (the Python loops then run: same results, slower)."""
    try:
        return cast(BestShares, importlib.import_module("_clippings_shares").best_shares)
    except ImportError:
        return None


COMPILED_BEST_SHARES = _compiled_best_shares()
MASK_BITS = 64
"""The compiled loops hold a mask in 64 bits: questions of more distinct terms take the Python ones."""


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
    roles = words & role_nouns()
    found: dict[str, set[str]] = {}
    if not roles:
        return found
    for term in (unique & named) - words:
        for role in article.roles(term) & roles:
            found.setdefault(role, set()).add(term)
    return found


def features(
    question: str,
    terms: list[str],
    idf: dict[str, float],
    candidates: list[Candidate],
    weights: Weights,
    stems: Stems,
) -> list[Features]:
    """The features of each candidate. `weights` says which ideas are on (its switches, and a zero
    proximity weight skips that feature's work); `stems` must stem as `weights.irregular` says."""
    unique = set(terms)
    idf = {t: max(idf.get(t, 0.0), 0.0) for t in unique}
    total = sum(idf.values()) or 1.0
    by_stem: dict[str, set[str]] = {}
    for t, s in stems.stem_all(unique).items():
        by_stem.setdefault(s, set()).add(t)
    kinds = answer_types(question)
    asked = set(tokenize(question))
    rows: list[Features] = []
    named = named_terms(question)
    in_article: dict[int, set[str]] = {}
    analyses = [c.analysis if c.analysis is not None else analyse(c.text) for c in candidates]
    analysed = [(a.sequences, set().union(*a.sequences)) for a in analyses]
    # Which question terms each word of the candidates stands for, by stem (each word stemmed once;
    # stored analyses carry their stems).
    matching: dict[str, set[str]] = {}
    every = set().union(*(words for _, words in analysed))
    stem_of: dict[str, str] = {}
    if weights.irregular and all(a.stems is not None for a in analyses):
        for a in analyses:
            stem_of.update(a.stems or {})
    else:
        stem_of = stems.stem_all(every)
    for w in every:
        same_stem = by_stem.get(stem_of.get(w, w))
        if same_stem:
            matching[w] = same_stem
    # Sets of question terms as bit masks, for the per-sentence and per-window unions.
    shares = _Shares(unique, idf, total)
    compiled = COMPILED_BEST_SHARES if len(unique) <= MASK_BITS else None
    mask_of = {w: shares.mask(terms_of) for w, terms_of in matching.items()}
    tomorrow = datetime.date.today().toordinal() + 1
    fresh = _freshness([_day(c.published, tomorrow) for c in candidates])
    for n, (c, a, (sequences, token_set)) in enumerate(zip(candidates, analyses, analysed, strict=True)):
        exact = unique & token_set
        attributed: set[str] = set()
        from_context: set[str] = set()
        stands_for: dict[str, set[str]] = {}  # role nouns of the passage -> the names they stand for
        if weights.attribution and len(exact) < len(unique):
            stands_for = role_attributions(unique, named, token_set, c.article)
            attributed = set().union(*stands_for.values())
            previous = c.previous.casefold().replace("’", "'") if c.previous else ""
            for term in unique - exact - attributed:
                if term in previous and next(_occurrences(previous, term), None) is not None:
                    attributed.add(term)
                    from_context.add(term)
        present = exact | attributed
        matched = {w: matching[w] for w in token_set & matching.keys()}
        stem_present = attributed.union(*matched.values())
        want_sentence = len(sequences) > 1 and bool(matched)
        want_window = bool(weights.proximity) and bool(matched)
        sentence = near = 0.0
        if want_sentence or want_window:
            # The passage's words in mask_of are the matched ones.
            window_masks = None  # the same as mask_of: no role noun stands for a name
            if stands_for:
                # A role noun counts as the name it stands for (in windows, not sentences).
                window_masks = {w: mask_of[w] for w in matched}
                for role, stood_for in stands_for.items():
                    window_masks[role] = window_masks.get(role, 0) | shares.mask(stood_for)
            sentence, near = (compiled or _best_shares_python)(
                sequences,
                mask_of,
                window_masks,
                shares.mask(attributed),
                shares,
                PROXIMITY,
                want_sentence,
                want_window,
            )
        if not want_sentence:
            sentence = _share(stem_present, idf, total)
        novel = token_set - asked
        names = 0
        if "name" in kinds:
            for w in a.capitals:
                if w not in sentence_capitals() and _name_term(w) not in asked:
                    names += 1
                    if names == 5:
                        break
        has_number = "number" in kinds and any(_DIGIT.search(t) or t in number_words() for t in novel)
        has_title = "title" in kinds and any(
            m[:1].isupper() and not asked.issuperset(tokenize(m)) for m in a.quoted
        )
        has_time = "time" in kinds and (bool(novel & time_words()) or a.year)
        cover = _share(present, idf, total)
        # A name the passage holds through a role noun counts in its BM25 score as one occurrence
        # would (about its idf): "the foreign minister" is Qin in Qin's own article.
        # Not for a name found only in the text before the passage: that cost XQuAD and strict dev R@1.
        score = c.score + sum(idf[t] for t in attributed - from_context)
        article = c.article
        in_article.setdefault(id(article), set(unique & article.title)).update(exact)
        rows.append(
            Features(
                bm25=math.log1p(max(score, 0.0)),
                relative=score,  # divided by the best candidate's below
                coverage=cover,
                coverage_squared=cover * cover,
                stem_coverage=_share(stem_present, idf, total),
                best_sentence=sentence,
                title=_share(unique & article.title, idf, total),
                position=1 / (1 + c.position),
                answer_number=float(has_number),
                answer_time=float(has_time),
                answer_name=names / 5,
                answer_title=float(has_title),
                context=_share(from_context, idf, total),
                proximity=near,
                fresh=fresh[n],
                semantic=c.similarity,
            )
        )
    best = max((row.relative for row in rows), default=1.0) or 1.0
    for c, row in zip(candidates, rows, strict=True):
        row.relative /= best
        # The article feature needs every candidate seen first: the terms its article's passages hold.
        row.article = _share(in_article[id(c.article)], idf, total)
    return rows
