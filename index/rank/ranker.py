"""The ranking stage after BM25: reorders BM25's best candidates for a question.

A `Ranker` is what every `Store` reorders with by default. It never changes what BM25 finds, only
the order of BM25's best `candidates` passages, and it never adds text. Each candidate gets a linear score of
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

It costs a few milliseconds for 40 candidates: each candidate's sentences, words and stems come from
its analysis stored when it was added (a passage without one is tokenized and split then); the text
before each passage comes with the search's own reads (`passage_extras`); an article's text is read
only when a feature needs it (a name asked about, missing from a passage), is kept per article in the
ranker's small LRU cache, and is searched (plain string search on the casefolded text) only for the
names in the question.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..errors import NotFound
from ..ingest.text import question_terms
from ..models import Hit
from .features import PREVIOUS_CHARS, ArticleTerms, Candidate, PassageAnalysis, features
from .learned import add_similarities
from .stems import Stems
from .weights import DEFAULT, LEARNED, Weights

if TYPE_CHECKING:
    from ..models import Passage, Stages

log = logging.getLogger(__name__)

CANDIDATES = 40
"""How many BM25 candidates the ranker sees."""
ARTICLE_CACHE = 256
"""At most this many articles are kept for the next questions ..."""
ARTICLE_CACHE_CHARS = 16_000_000
"""... and at most this many characters of their text (and as many again once casefolded)."""


class RankingSource(Protocol):
    """What the ranker reads, and nothing more (a `Store` is one)."""

    @property
    def path(self) -> str: ...

    @property
    def has_encoder(self) -> bool: ...

    def term_idf(self, libraries: list[str], terms: list[str]) -> dict[str, float]: ...

    def article_text(self, library: str | list[str], article_id: str | int) -> str: ...

    def passage_vectors(self, passages: list[Passage]) -> np.ndarray: ...

    def encode_questions(self, questions: list[str]) -> np.ndarray: ...

    def passage_extras(self, hits: list[Hit], before: int) -> list[tuple[PassageAnalysis | None, str]]: ...


class ArticleCache:
    """Recently used articles as the ranker sees them, bounded in count and characters; thread-safe."""

    def __init__(self, limit: int = ARTICLE_CACHE, chars: int = ARTICLE_CACHE_CHARS) -> None:
        self.limit = limit
        self.max_chars = chars
        self._items: OrderedDict[tuple, tuple[ArticleTerms, int]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def get(self, source: RankingSource, libraries: list[str], hit: Hit) -> ArticleTerms:
        a = hit.article

        def load() -> str:
            try:
                return source.article_text(libraries, a.id)
            except NotFound:  # removed since the search read it: rank it on its passage alone
                return ""

        # The title too: adding an article again with the same text corrects its title in place.
        key = (source.path, a.id, a.added_at, a.chars, a.title)
        with self._lock:
            cached = self._items.get(key)
            if cached is not None:
                self._items.move_to_end(key)
                cached[0].reload_with(load)  # not read yet: read it through this question's source
                return cached[0]
        # The text is read only if a feature needs it (a name asked about, missing from the passage).
        terms = ArticleTerms(a.title, load=load)
        with self._lock:
            if key not in self._items:
                self._items[key] = (terms, a.chars)
                self._chars += a.chars
            while len(self._items) > 1 and (len(self._items) > self.limit or self._chars > self.max_chars):
                self._chars -= self._items.popitem(last=False)[1][1]
        return terms

    @property
    def chars(self) -> int:
        """Characters of article text held now."""
        with self._lock:
            return self._chars

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def dedupe(hits: list[Hit]) -> list[Hit]:
    """The hits without passages whose text (ignoring case and spacing) an earlier one shows."""
    seen: set[str] = set()
    kept = []
    for hit in hits:
        key = " ".join(hit.passage.text.casefold().split())
        if key not in seen:
            seen.add(key)
            kept.append(hit)
    return kept


class Ranker:
    """Reorders BM25's best `candidates` hits by the linear score of their features.

    It owns its weights (`learned` ones are used when the source has an encoder), its candidate
    count and its caches (articles, stems), and is safe to call from many threads at once."""

    def __init__(
        self,
        weights: Weights = DEFAULT,
        learned: Weights | None = LEARNED,
        candidates: int = CANDIDATES,
        articles: ArticleCache | None = None,
        stems: Stems | None = None,
    ) -> None:
        """`stems`: a stem cache to share (irregular verbs mapped), such as its store's."""
        self.weights = weights
        self.learned = learned
        self.candidates = candidates
        self.articles = articles if articles is not None else ArticleCache()
        mapped = stems if stems is not None and stems.irregular else Stems(irregular=True)
        self._stems = {True: mapped, False: Stems(irregular=False)}

    def stems(self, weights: Weights) -> Stems:
        """The stem cache that stems as these weights say (irregular verbs mapped or not)."""
        return self._stems[weights.irregular]

    def weights_for(self, source: RankingSource) -> Weights:
        if self.learned is not None and source.has_encoder:
            return self.learned
        return self.weights

    def prepare(
        self, source: RankingSource, question: str, libraries: list[str], hits: list[Hit]
    ) -> tuple[list[str], dict[str, float], list[Candidate]]:
        """The question's terms, their idf in the libraries, and each hit as a `Candidate`."""
        terms = question_terms(question)
        idf = source.term_idf(libraries, sorted(set(terms)))
        extras = source.passage_extras(hits, PREVIOUS_CHARS)
        candidates = []
        # One object per article for the whole question: the article feature groups candidates by it,
        # however the shared cache changes meanwhile (other threads, a small cache).
        seen: dict[tuple[str | int, str], ArticleTerms] = {}
        for hit, (stored, previous) in zip(hits, extras, strict=True):
            same = (hit.article.id, hit.article.added_at)
            article = seen.get(same)
            if article is None:
                article = seen[same] = self.articles.get(source, libraries, hit)
            p = hit.passage
            candidates.append(
                Candidate(
                    p.text,
                    hit.score,
                    p.index,
                    article,
                    previous,
                    hit.article.published,
                    analysis=stored,
                )
            )
        return terms, idf, candidates

    def __call__(
        self,
        source: RankingSource,
        question: str,
        libraries: list[str],
        hits: list[Hit],
        stages: Stages | None = None,
    ) -> list[Hit]:
        """The hits reordered, best first, each with its ranker score. With `stages`, the time of
        fetching what the features read, the learned stage and the features is added to it."""
        use = self.weights_for(source)
        if use.dedupe:
            hits = dedupe(hits)
        if len(hits) < 2:
            return hits
        terms, idf, candidates = self.prepare(source, question, libraries, hits)
        if stages is not None:
            stages.lap("fetch")
        if use.semantic:
            try:
                add_similarities(source, question, hits, terms, candidates, use.attribution)
            except Exception:  # the learned stage is optional: answer with the lexical weights
                log.exception("the learned stage failed; ranking this question without it")
                use = self.weights
            if stages is not None:
                stages.lap("learned")
        rows = features(question, terms, idf, candidates, use, self.stems(use))
        values = [use.score(row) for row in rows]
        order = sorted(range(len(hits)), key=lambda i: (-values[i], i))
        # The constructor, not dataclasses.replace: a tenth of the cost, forty times a question.
        ranked = [
            Hit(hits[i].rank, values[i], hits[i].article, hits[i].passage, hits[i].matched_terms)
            for i in order
        ]
        if stages is not None:
            stages.lap("features")
        return ranked


def scores(
    question: str,
    terms: list[str],
    idf: dict[str, float],
    candidates: list[Candidate],
    weights: Weights,
    stems: Stems | None = None,
) -> list[float]:
    """Each candidate's linear score under `weights` (a pure function of its inputs)."""
    stems = stems if stems is not None else Stems(irregular=weights.irregular)
    return [weights.score(row) for row in features(question, terms, idf, candidates, weights, stems)]
