"""Does the library hold an answer? A decision for every question, from what the search has already.

A search always finds the passages closest to a question, even when the library says nothing about
it ("what is the capital of Australia" asked of a week of news). Showing those passages as an
answer is the worst thing the product can do, so each search also decides whether its best
passages could answer the question at all. The decision is a small logistic model (weights fitted
by benchmarks/answerability.py on the first half of the dev weeks, on standardised signals, and
written back as weights of the signals themselves) over signals that hold for any
library and any question:

- **reach**: BM25's best score against the best the question could reach, its own terms' idf mass
  (a term no passage holds counts at the idf of a term only one passage holds);
- **missing names**: its names and numbers that appear nowhere in the library (**missing**, the
  share of every absent term, is measured but off: see `Model.missing`);
- **rare sentence**: how much of the question's rarest terms one sentence of the shown passages
  holds (by stem), **sentence**: the same for all of its terms, **passage**: for the whole first
  passage, and **agreement**: the rare share averaged over the shown passages;
- **information**: how much the best sentence's matched terms say, in units of a term no passage
  holds; **rarest held**: the rarest term it holds; **answer type**: whether it holds a number, a
  date or a name when the question asks for one;
- **rarity**: how rare the question's words are in the library, on average (general questions are
  made of common words);
- beyond the shown sentences (`Candidates`, what the search found besides): **unshown names**, the
  share of the question's names and numbers that no shown passage (nor its article's title) holds;
  **split names**, the share of its names of two or more words ("First Republic Bank") not held as
  one phrase; **article**, how much of the question the first passage's article holds (its title
  and its passages among the first `SPREAD` ranked); **spread**, how many articles the first
  `SPREAD` passages come from (a question about one story finds one article's passages);
  **gap**, how far BM25's score falls from the first candidate to the tenth; **title**, the share
  the first article's title holds, is measured but off (see `Model.title`);
- about the question alone: **personal**, whether it speaks of the asker or the bot ("how do I ...",
  "can you ..."; questions about the news are in the third person), and **generic**, how many
  passages would hold all of its words if they fell independently (a question of words so common
  that hundreds of passages hold them all, "what time is it", asks about no story in particular);
- **topical**: how much more often the library uses the best sentence's matched terms than English
  does (a general question matches a news passage by words common everywhere, "sky" and "blue"; a
  question about the library's stories matches the words it is about).

Terms are weighed by their rareness, log((N + 1) / (df + 0.5)) over the N passages searched. The
same model decides in a library of any size, a new server's first article included: in libraries of
3 to 15 articles it keeps far more of the answers than a rule on the share of the question one
sentence holds, and holds back as much (`benchmarks/answerability.py --small-libraries`).

Greetings and questions about the bot itself ("hello", "what can you do") are never answerable:
`is_small_talk` recognises them from the phrasings in data/small_talk.txt.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, fields

from ..ingest.text import holds_unspaced_question_word, tokenize, tokenize_spans
from .features import (
    _CAPITAL,
    _SENTENCE_SPLIT,
    _YEAR,
    PassageAnalysis,
    _name_term,
    answer_types,
    named_terms,
)
from .stems import Stems
from .words import (
    ENGLISH_FLOOR,
    auxiliary_openers,
    english_frequency,
    interrogatives,
    number_words,
    personal_words,
    sentence_capitals,
    small_talk_fillers,
    small_talk_phrases,
    time_words,
)

RAREST = 3
"""The rare-sentence signal looks at the question's this many rarest terms."""
KEYWORD_LIBRARY = 200
"""Below this many passages a one-word question held by a shown sentence is answerable (`Model.answerable`)."""
SEARCH_TERMS = 3
"""A keyword search of two to this many terms that one shown sentence holds is answerable (`Model.answerable`)."""
_WHOLE = 1.0 - 1e-9
"""A share of the question that is all of it (the shares are float sums)."""
_DIGIT = re.compile(r"\d")


@dataclass(slots=True)
class Signals:
    """One question's answerability signals, by name; `Model` holds a weight of the same name for each."""

    reach: float = 0.0
    missing: float = 0.0
    missing_names: float = 0.0
    rare_sentence: float = 0.0
    sentence: float = 0.0
    passage: float = 0.0
    rarity: float = 0.0
    information: float = 0.0
    rarest_held: float = 0.0
    agreement: float = 0.0
    answer_type: float = 0.0
    unshown_names: float = 0.0
    split_names: float = 0.0
    article: float = 0.0
    title: float = 0.0
    """Off: it holds back +8 points more general questions, but also questions about a detail the
    article's title does not word (a seed question among 150 articles)."""
    spread: float = 0.0
    gap: float = 0.0
    personal: float = 0.0
    generic: float = 0.0
    topical: float = 0.0
    cosine: float = 0.0

    def vector(self) -> list[float]:
        return [getattr(self, name) for name in SIGNAL_NAMES]


SIGNAL_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Signals))


@dataclass(frozen=True, slots=True)
class Model:
    """A logistic model: answerable when bias + the weighted signals >= 0 (the cut is in the bias).

    Fitted by `python benchmarks/answerability.py` on the first half of the dev weeks."""

    bias: float = -7.44
    reach: float = 0.93
    missing: float = 0.0
    """Off: a verb the article words differently ("describe") sank short questions; missing names
    and numbers stay."""
    missing_names: float = -2.05
    rare_sentence: float = 0.0
    sentence: float = -3.16
    passage: float = 1.25
    rarity: float = -3.91
    information: float = 8.08
    rarest_held: float = -2.46
    agreement: float = 1.88
    answer_type: float = 0.02
    unshown_names: float = -0.52
    split_names: float = -0.59
    article: float = 4.28
    title: float = 0.0
    """Off: it holds back +8 points more general questions, but also questions about a detail the
    article's title does not word (a seed question among 150 articles)."""
    spread: float = -0.99
    gap: float = -0.21
    personal: float = -1.28
    generic: float = -20.12
    topical: float = 9.76
    cosine: float = 0.0
    """The learned stage's cosine (the `rerank` extra): `COSINE_MODEL` weighs it."""

    def logit(self, signals: Signals) -> float:
        return self.bias + sum(
            getattr(self, n) * x for n, x in zip(SIGNAL_NAMES, signals.vector(), strict=True)
        )

    def answerable(
        self, signals: Signals, passages: int = KEYWORD_LIBRARY, terms: int = 0, search: bool = False
    ) -> bool:
        """The decision for a question of `terms` distinct terms asked of `passages` passages. In a
        library of fewer than `KEYWORD_LIBRARY` passages (a server's first articles), a question of
        one term that a shown sentence holds ("Qin") asks for the passages that mention it. So does
        a `search` (`is_keyword_search`: "qin weapons") of up to `SEARCH_TERMS` terms, in a library of
        any size, when one shown sentence holds every one of them, no name or number is missing, and
        its words are rare enough that, falling independently, under one passage would hold them all
        (not generic: "time it" is no search for anything in particular)."""
        if terms == 1 and passages < KEYWORD_LIBRARY and signals.sentence > 0.0:
            return True
        if (
            search
            and 2 <= terms <= SEARCH_TERMS
            and signals.sentence >= _WHOLE
            and not signals.missing_names
            and not signals.personal
            and not signals.generic
        ):
            return True
        return self.logit(signals) >= 0.0


DEFAULT_MODEL = Model()
COSINE_MODEL = Model(
    bias=-9.75,
    reach=0.41,
    missing=0.0,
    missing_names=-1.06,
    rare_sentence=0.39,
    sentence=-0.88,
    passage=0.89,
    rarity=-2.42,
    information=5.01,
    rarest_held=-2.13,
    agreement=1.12,
    answer_type=-0.07,
    unshown_names=-0.56,
    split_names=-0.64,
    article=3.5,
    title=0.0,
    spread=-0.69,
    gap=-0.86,
    personal=-1.27,
    generic=-17.87,
    topical=6.69,
    cosine=8.94,
)
"""The model for a store with the learned stage's encoder (the `rerank` extra), which also weighs
the cosine of the question with the shown passages. Fitted by `benchmarks/answerability.py --learned`:
on the passages the learned stage shows, as a store with the encoder searches. Its `missing` and
`title` are off, as in `DEFAULT_MODEL`. Every weight is written out: one left to `Model`'s defaults
would be `DEFAULT_MODEL`'s, fitted without the cosine."""


@dataclass(frozen=True, slots=True)
class Candidates:
    """What the search found beyond the shown passages' texts (all optional)."""

    scores: tuple[float, ...] = ()
    """BM25's scores of its first candidates, best first (at most `SPREAD`)."""
    articles: tuple[str, ...] = ()
    """The article of each of the first ranked passages (at most `SPREAD`)."""
    title: str = ""
    """The title of the first passage's article."""
    same_article: tuple[str, ...] = ()
    """The texts of that article's other passages among the first `SPREAD` ranked."""
    cosine: float | None = None
    """The best cosine of the question's vector with a shown passage's (the learned stage's
    encoder, the `rerank` extra); None without it."""


SPREAD = 10
NO_CANDIDATES = Candidates()
_NAME_PHRASE = re.compile(r"\b[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)+")


def name_phrases(question: str) -> list[str]:
    """The question's names of two or more capitalised words ("First Republic Bank"), casefolded,
    without a first word that only starts the question ("Which", "The")."""
    found = []
    for m in _NAME_PHRASE.finditer(question):
        words = m.group().split()
        if m.start() == 0 or words[0] in sentence_capitals():
            words = words[1:]
        if len(words) >= 2:
            found.append(" ".join(_name_term(w) for w in words))
    return found


_APOSTROPHE = re.compile("['’]")


def speaks_of_asker_or_bot(question: str) -> bool:
    """Whether the question speaks of the asker or of the bot ("how do I ...", "can you ...", "can we
    ..."), by its personal pronouns; not "I" after a capitalised word ("Artemis I"), nor "us" written
    with a capital ("US", "Us Weekly")."""
    words = [question[start:end] for _, start, end in tokenize_spans(question)]  # as written
    for k, word in enumerate(words):
        base = _APOSTROPHE.split(word, maxsplit=1)[0]  # "I'm" -> "I"
        folded = base.casefold()
        if folded not in personal_words() or (folded == "us" and base != "us"):
            continue
        if base == "I" and k > 0 and words[k - 1][:1].isupper():
            continue
        return True
    return False


def rarest_idf(passages: int) -> float:
    """BM25Okapi's idf of a term that one passage of `passages` holds (0 for tiny libraries)."""
    return max(math.log(max(passages - 1, 0) + 0.5) - math.log(1.5), 0.0)


def rareness(df: int, passages: int) -> float:
    """How much a term says: log((N + 1) / (df + 0.5)), positive even in a library of one passage
    (where BM25Okapi's idf is not), largest for a term no passage holds."""
    return math.log((passages + 1) / (df + 0.5))


def signals(
    question: str,
    terms: list[str],
    idf: dict[str, float],
    df: dict[str, int],
    passages: int,
    top_score: float,
    shown: list[str],
    stems: Stems,
    found: Candidates = NO_CANDIDATES,
    analyses: Sequence[PassageAnalysis | None] = (),
) -> Signals:
    """The signals of one question: its `terms` (question_terms), each term's BM25 idf and document
    frequency in the searched libraries (df 0: no passage holds it), how many passages they hold,
    BM25's best score and the texts of the passages shown first, with the stored analyses of the
    shown passages and then of `found.same_article`'s, where known (the same words and stems, not
    made again). Pure but for the stem cache."""
    unique = list(dict.fromkeys(terms))
    if not unique or passages <= 0:
        return Signals()
    weight = {t: rareness(df.get(t, 0), passages) for t in unique}

    def weight_of(held: set[str]) -> float:
        # Added in question order: a set's own order follows the process's string hashes.
        return sum(weight[t] for t in unique if t in held)

    absent = {t for t in unique if df.get(t, 0) <= 0}
    total = sum(weight.values())
    # The best BM25 score the question could reach: each of its terms once, a term no passage
    # holds at the idf of a term one passage holds.
    rarest = rarest_idf(passages)
    mass = sum(rarest if t in absent else max(idf.get(t, 0.0), 0.0) for t in terms)
    names = named_terms(question) | {t for t in unique if _DIGIT.search(t)}
    # Stems, so that "rescued" is held by "rescue".
    stem_of = stems.stem_all(set(unique))
    wanted: dict[str, set[str]] = {}
    for t in unique:
        wanted.setdefault(stem_of[t], set()).add(t)
    rare = set(sorted(unique, key=lambda t: (-weight[t], t))[:RAREST])
    rare_total = weight_of(rare)
    most = rareness(0, passages)
    kinds = answer_types(question)
    asked = set(tokenize(question))
    best_rare = best_all = first = info = rarest_held = typed = 0.0
    best_held: set[str] = set()
    agreement = 0.0
    split, matches = _sentences(shown, analyses, stems, wanted)
    other_words, unstemmed = _other_words(found.same_article, analyses[len(shown) :], wanted, matches)
    for n, sentences in enumerate(split):
        in_passage: set[str] = set()
        passage_rare = 0.0
        for text, sentence in sentences:
            held = _held(sentence, matches)
            in_passage |= held
            share = weight_of(held & rare) / rare_total
            passage_rare = max(passage_rare, share)
            held_all = weight_of(held)
            if held_all / total > best_all or (held_all / total == best_all and share > best_rare):
                # The best sentence: what it holds, and whether it holds the kind of answer asked for.
                info = held_all / most
                best_held = held
                rarest_held = max((weight[t] for t in held), default=0.0) / most
                typed = float(_holds_answer_type(text, sentence, kinds, asked))
            best_rare = max(best_rare, share)
            best_all = max(best_all, held_all / total)
        agreement += passage_rare / max(len(shown), 1)
        if n == 0:
            first = weight_of(in_passage) / total
    # Beyond the shown sentences: the question's names the shown passages (and their first
    # article's title) do not hold, its names of several words not held as a phrase, how much of it
    # the first article holds (title and its passages among the first candidates), how many
    # articles the first candidates come from, and how fast BM25's scores fall.
    title_words = set(tokenize(found.title))
    shown_words = set().union(*(words for sentences in split for _, words in sentences))
    seen = shown_words | title_words
    named = {t for t in names if t in weight}
    phrases = name_phrases(question)
    # The shown passages' words have their matches already.
    matches.update(_matches(wanted, stems.stem_all((title_words | unstemmed) - shown_words)))
    title_held = _held(title_words, matches)
    article_held = title_held | _held(other_words, matches)
    if split:
        article_held |= _held(set().union(*(words for _, words in split[0])), matches)
    scores = sorted(found.scores, reverse=True)
    return Signals(
        unshown_names=len(named - seen) / len(named) if named else 0.0,
        split_names=_split_share(phrases, [*shown, found.title]),
        article=weight_of(article_held) / total,
        title=weight_of(title_held) / total,
        spread=(len(set(found.articles)) - 1) / (SPREAD - 1) if found.articles else 0.0,
        gap=1 - scores[-1] / scores[0] if len(scores) > 1 and scores[0] > 0 else 0.0,
        personal=float(speaks_of_asker_or_bot(question)),
        generic=_generic(unique, df, passages),
        topical=_topical([t for t in unique if t in best_held], df, passages),
        cosine=found.cosine or 0.0,
        reach=min(max(top_score, 0.0) / mass, 2.0) if mass > 0 else 0.0,
        missing=weight_of(absent) / total,
        missing_names=min(len(names & absent), 2) / 2,
        rare_sentence=best_rare,
        sentence=best_all,
        passage=first,
        rarity=min(total / len(unique) / most, 1.0),
        information=min(info, 3.0) / 3,
        rarest_held=rarest_held,
        agreement=agreement,
        answer_type=typed,
    )


def _sentences(
    shown: list[str], analyses: Sequence[PassageAnalysis | None], stems: Stems, wanted: dict[str, set[str]]
) -> tuple[list[list[tuple[str, set[str]]]], dict[str, set[str]]]:
    """Each shown text's sentences (`_SENTENCE_SPLIT` pieces) with their sets of words, and the
    question terms each of their words holds by stem (`_matches`): from a text's stored analysis
    when it has one with stems (made by the same tokenizer, split and stemmer when the passage was
    stored), else made here."""
    split: list[list[tuple[str, set[str]]]] = []
    matches: dict[str, set[str]] = {}
    unstemmed: set[str] = set()
    for n, text in enumerate(shown):
        pieces = _SENTENCE_SPLIT.split(text)
        analysis = analyses[n] if n < len(analyses) else None
        if analysis is not None and analysis.stems is not None and len(analysis.sequences) == len(pieces):
            words = [set(sequence) for sequence in analysis.sequences]
            matches.update(_stored_matches(analysis.stems, set().union(*words), wanted))
        else:
            words = [set(tokenize(piece)) for piece in pieces]
            unstemmed.update(*words)
        split.append(list(zip(pieces, words, strict=True)))
    if unstemmed:
        matches.update(_matches(wanted, stems.stem_all(unstemmed)))
    return split, matches


def _other_words(
    texts: Sequence[str],
    analyses: Sequence[PassageAnalysis | None],
    wanted: dict[str, set[str]],
    matches: dict[str, set[str]],
) -> tuple[set[str], set[str]]:
    """The words of these texts, and those of them not stemmed yet: a text with a stored analysis
    gives its words and their matches (into `matches`); the others are tokenized here."""
    words: set[str] = set()
    unstemmed: set[str] = set()
    for n, text in enumerate(texts):
        analysis = analyses[n] if n < len(analyses) else None
        if analysis is not None and analysis.stems is not None:
            stored = set().union(*analysis.sequences)
            matches.update(_stored_matches(analysis.stems, stored, wanted))
            words |= stored
        else:
            unstemmed.update(tokenize(text))
    return words | unstemmed, unstemmed


def _stored_matches(
    known: dict[str, str], words: set[str], wanted: dict[str, set[str]]
) -> dict[str, set[str]]:
    """`_matches` for a passage's words from its stored analysis, which holds the stems (`known`)
    only of the words that are not their own stem: those are looked up, and of the rest only the
    words that are a wanted stem themselves (a few set lookups, not one per word)."""
    found = {w: wanted[w] for w in words.intersection(wanted) if w not in known}
    for w, stem in known.items():
        terms = wanted.get(stem)
        if terms is not None:
            found[w] = terms
    return found


def _matches(wanted: dict[str, set[str]], stem_of: dict[str, str]) -> dict[str, set[str]]:
    """The question terms each word holds by its stem (`wanted`: the terms of each stem), for the
    words of `stem_of` that hold any: made once, so that each sentence looks up only its matches."""
    return {w: terms for w, stem in stem_of.items() if (terms := wanted.get(stem)) is not None}


def _generic(unique: list[str], df: dict[str, int], passages: int) -> float:
    """How many passages would hold every term of the question if its words fell independently:
    log(N * prod(df / N)) / log(N), 0 when under one passage. A question made of words so common
    that hundreds of passages hold them all asks about no story in particular."""
    if passages < 2:
        return 0.0
    expected = math.log(passages) + sum(math.log(max(df.get(t, 0), 1e-9) / passages) for t in unique)
    return max(expected, 0.0) / math.log(passages)


TOPICAL_CAP = 10.0
"""The natural-log ratio at which topical stops growing (a term 22,000 times more frequent)."""
_ENGLISH_LOOKING = re.compile("[a-z0-9]")
"""A term with a Latin letter or a digit: one that English's list can rate (terms are casefolded)."""


def _topical(held: list[str], df: dict[str, int], passages: int) -> float:
    """How much more often the library uses these terms than English does, on average: the log of a
    term's share of passages, (df + 0.5) / (N + 1), over its share of English words (a word English's
    list lacks counts at `ENGLISH_FLOOR`), capped at +-`TOPICAL_CAP` and scaled to +-1. High when the
    matched words are what the library is about ("qin", "ukraine" in a week of news); low when they
    are words any text uses ("sky", "blue", "letter"). Terms of other scripts are left out (English's
    list cannot say how common they are); with none left it is 0, as for everyday words, which leans
    towards not answering."""
    english = [t for t in held if _ENGLISH_LOOKING.search(t)]
    if not english or passages <= 0:
        return 0.0
    ratios = (
        math.log((df.get(t, 0) + 0.5) / (passages + 1)) - math.log(max(english_frequency(t), ENGLISH_FLOOR))
        for t in english
    )
    mean = sum(ratios) / len(english)
    return max(min(mean, TOPICAL_CAP), -TOPICAL_CAP) / TOPICAL_CAP


def _split_share(phrases: list[str], texts: list[str]) -> float:
    """The share of the names of several words (`name_phrases`) that no text holds as one phrase."""
    if not phrases:
        return 0.0
    flat = " " + " ".join(" ".join(_words(t)) for t in texts) + " "
    return sum(1 for p in phrases if f" {p} " not in flat) / len(phrases)


def _held(words: set[str], matches: dict[str, set[str]]) -> set[str]:
    """The question terms these words hold, by `matches` (`_matches`, `_stored_matches`: a word it
    lacks holds none)."""
    held: set[str] = set()
    for w in words.intersection(matches):  # iterates the few matching words, not the sentence
        held |= matches[w]
    return held


def _holds_answer_type(text: str, words: set[str], kinds: frozenset[str], asked: set[str]) -> bool:
    """Whether a sentence holds the kind of answer the question asks for (any, when it asks for none)."""
    if not kinds:
        return True
    novel = words - asked
    if "number" in kinds and any(_DIGIT.search(w) or w in number_words() for w in novel):
        return True
    if "time" in kinds and (bool(novel & time_words()) or bool(_YEAR.search(text))):
        return True
    if "name" in kinds or "title" in kinds:
        for w in _CAPITAL.findall(text):
            if w not in sentence_capitals() and _name_term(w) not in asked:
                return True
    return False


# -- small talk --------------------------------------------------------------------------------

_NOT_WORD = re.compile(r"[^\w\s']+")
_QUESTION_MARK = re.compile("[?\u037e\u061f\u2047-\u2049]")
"""Question marks: Latin (and the full-width one, after NFKC), Greek, Arabic, and the doubled ones."""
_MENTION = re.compile(r"<[@#][!&]?\d+>")


def _words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", _MENTION.sub(" ", text)).casefold().replace("’", "'")
    return _NOT_WORD.sub(" ", text).split()


def is_keyword_search(question: str) -> bool:
    """Whether the line is a few words typed as a search ("qin weapons", "ukraine grain deal") rather
    than a question: no question mark, no interrogative ("what", "how", or Chinese and Japanese
    ones: "什么", "いつ"), and no auxiliary verb opening it ("is", "did"). Such a line asks for the
    passages that hold its words."""
    return _keyword_search(question, _words(question))


def _keyword_search(question: str, words: list[str]) -> bool:
    normal = unicodedata.normalize("NFKC", question)
    return (
        bool(words)
        and not _QUESTION_MARK.search(normal)
        and not holds_unspaced_question_word(normal)
        and words[0] not in auxiliary_openers()
        and not any(w.split("'", 1)[0] in interrogatives() for w in words)  # "what's", "who'd"
    )


def is_small_talk(question: str) -> bool:
    """True for a greeting, thanks, or a question about the bot itself ("hello", "help",
    "what can you do"), in the phrasings of data/small_talk.txt, with or without filler words
    around them ("hi there", "thanks a lot clippings")."""
    return _small_talk(_words(question))


def _small_talk(words: list[str]) -> bool:
    kept = [w for w in words if w not in small_talk_fillers()]
    return bool(kept) and " ".join(kept) in small_talk_phrases()


class Answerability:
    """The decision a `Store` makes for every search; thread-safe (its stem cache is)."""

    def __init__(
        self, model: Model = DEFAULT_MODEL, stems: Stems | None = None, cosine_model: Model | None = None
    ) -> None:
        self.model = model
        self.cosine_model = cosine_model if cosine_model is not None else COSINE_MODEL
        """Decides instead when the search brings the learned stage's cosine."""
        self.stems = stems if stems is not None else Stems()

    def signals(
        self,
        question: str,
        terms: list[str],
        idf: dict[str, float],
        df: dict[str, int],
        passages: int,
        top_score: float,
        shown: list[str],
        found: Candidates = NO_CANDIDATES,
        analyses: Sequence[PassageAnalysis | None] = (),
    ) -> Signals:
        return signals(question, terms, idf, df, passages, top_score, shown, self.stems, found, analyses)

    def __call__(
        self,
        question: str,
        terms: list[str],
        idf: dict[str, float],
        df: dict[str, int],
        passages: int,
        top_score: float,
        shown: list[str],
        found: Candidates = NO_CANDIDATES,
        analyses: Sequence[PassageAnalysis | None] = (),
    ) -> bool:
        """Whether the `shown` passages could answer the question (see `signals` for the inputs)."""
        words = _words(question)  # read once for both is_small_talk and is_keyword_search
        if not shown or _small_talk(words):
            return False
        measured = self.signals(question, terms, idf, df, passages, top_score, shown, found, analyses)
        model = self.model if found.cosine is None else self.cosine_model
        return model.answerable(measured, passages, len(set(terms)), _keyword_search(question, words))
