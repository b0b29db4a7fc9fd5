"""BM25 over numpy postings, scoring exactly as rank-bm25's `BM25Okapi` does.

The index is a set of immutable segments per library (compressed-sparse-row postings: for each
term, the documents holding it and how often). A new article becomes a small segment at once;
small segments are merged as they pile up. A removed passage is masked out. Document frequencies
and lengths are kept per library, so a search over several libraries scores them as one corpus.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

K1 = 1.5
B = 0.75
EPSILON = 0.25
"""rank-bm25's BM25Okapi defaults: idf below zero is floored at EPSILON times the mean idf."""

MERGE_FACTOR = 8
"""Merge the small segments once this many of about the same size have piled up."""


@dataclass(slots=True)
class PassageTerms:
    """The terms of a batch of passages, flattened: passage i owns terms[offsets[i]:offsets[i+1]]."""

    passage_ids: np.ndarray  # int64, ascending
    lengths: np.ndarray  # int64 token counts
    offsets: np.ndarray  # int64, len(passage_ids) + 1
    terms: np.ndarray  # int64 term ids, unique within a passage
    tfs: np.ndarray  # int64 counts


@dataclass(slots=True)
class Segment:
    passage_ids: np.ndarray
    doc_len: np.ndarray  # float64
    alive: np.ndarray  # bool
    term_ids: np.ndarray  # int64, sorted unique
    term_starts: np.ndarray  # int64, len(term_ids) + 1
    docs: np.ndarray  # int32 local document index, per posting
    tfs: np.ndarray  # float64, per posting

    @classmethod
    def build(cls, batch: PassageTerms) -> Segment:
        counts = np.diff(batch.offsets)
        local = np.repeat(np.arange(len(batch.passage_ids), dtype=np.int32), counts)
        order = np.argsort(batch.terms, kind="stable")
        sorted_terms = batch.terms[order]
        term_ids, first = np.unique(sorted_terms, return_index=True)
        term_starts = np.append(first, len(sorted_terms)).astype(np.int64)
        return cls(
            passage_ids=batch.passage_ids.astype(np.int64),
            doc_len=batch.lengths.astype(np.float64),
            alive=np.ones(len(batch.passage_ids), dtype=bool),
            term_ids=term_ids.astype(np.int64),
            term_starts=term_starts,
            docs=local[order],
            tfs=batch.tfs[order].astype(np.float64),
        )

    @property
    def size(self) -> int:
        return len(self.passage_ids)

    def postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray] | None:
        i = int(np.searchsorted(self.term_ids, term_id))
        if i == len(self.term_ids) or self.term_ids[i] != term_id:
            return None
        lo, hi = self.term_starts[i], self.term_starts[i + 1]
        return self.docs[lo:hi], self.tfs[lo:hi]

    def to_batch(self) -> PassageTerms:
        """The live passages of this segment, as a batch again (for merging)."""
        keep = self.alive
        term_of_posting = np.repeat(self.term_ids, np.diff(self.term_starts))
        posting_keep = keep[self.docs]
        docs = self.docs[posting_keep]
        terms = term_of_posting[posting_keep]
        tfs = self.tfs[posting_keep].astype(np.int64)
        new_index = np.cumsum(keep) - 1
        docs = new_index[docs]
        order = np.lexsort((terms, docs))
        counts = np.bincount(docs, minlength=int(keep.sum()))
        return PassageTerms(
            passage_ids=self.passage_ids[keep],
            lengths=self.doc_len[keep].astype(np.int64),
            offsets=np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
            terms=terms[order],
            tfs=tfs[order],
        )


def _concat(batches: list[PassageTerms]) -> PassageTerms:
    offsets = [np.zeros(1, dtype=np.int64)]
    base = 0
    for batch in batches:
        offsets.append(batch.offsets[1:] + base)
        base += int(batch.offsets[-1])
    return PassageTerms(
        passage_ids=np.concatenate([b.passage_ids for b in batches]),
        lengths=np.concatenate([b.lengths for b in batches]),
        offsets=np.concatenate(offsets),
        terms=np.concatenate([b.terms for b in batches]),
        tfs=np.concatenate([b.tfs for b in batches]),
    )


@dataclass(slots=True)
class ArticleEntry:
    first_passage: int
    last_passage: int
    passages: int
    total_len: int


@dataclass(slots=True)
class LibraryIndex:
    name: str
    segments: list[Segment] = field(default_factory=list)
    df: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    docs: int = 0
    total_len: int = 0
    articles: dict[int, ArticleEntry] = field(default_factory=dict)
    version: int = 0

    def _grow(self, size: int) -> None:
        if size > len(self.df):
            grown = np.zeros(max(size, len(self.df) * 2, 1024), dtype=np.int64)
            grown[: len(self.df)] = self.df
            self.df = grown

    def add_articles(self, batch: PassageTerms, article_of_passage: np.ndarray) -> None:
        """Add the passages of one or more whole articles (in passage id order)."""
        if len(batch.passage_ids) == 0:
            return
        self._grow(int(batch.terms.max(initial=-1)) + 1)
        np.add.at(self.df, batch.terms, 1)
        self.docs += len(batch.passage_ids)
        self.total_len += int(batch.lengths.sum())
        starts = np.flatnonzero(np.r_[True, article_of_passage[1:] != article_of_passage[:-1]])
        ends = np.r_[starts[1:], len(article_of_passage)]
        for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
            self.articles[int(article_of_passage[lo])] = ArticleEntry(
                first_passage=int(batch.passage_ids[lo]),
                last_passage=int(batch.passage_ids[hi - 1]),
                passages=hi - lo,
                total_len=int(batch.lengths[lo:hi].sum()),
            )
        self.segments.append(Segment.build(batch))
        self._maybe_merge()
        self.version += 1

    def remove_article(
        self, article_id: int, first_passage: int, term_ids: np.ndarray, doc_counts: np.ndarray
    ) -> bool:
        """Remove an article's passages; term_ids and doc_counts say how many of its passages held
        each term. An entry of another version of the article (other passage ids) is left alone."""
        entry = self.articles.get(article_id)
        if entry is None or entry.first_passage != first_passage:
            return False
        del self.articles[article_id]
        for segment in self.segments:
            lo = np.searchsorted(segment.passage_ids, entry.first_passage)
            hi = np.searchsorted(segment.passage_ids, entry.last_passage, side="right")
            segment.alive[lo:hi] = False
        np.subtract.at(self.df, term_ids, doc_counts)
        self.docs -= entry.passages
        self.total_len -= entry.total_len
        self.segments = [s for s in self.segments if s.alive.any()]
        self.version += 1
        return True

    def _maybe_merge(self) -> None:
        """Size-tiered merging: once MERGE_FACTOR trailing segments are no larger than the level
        of the newest one, merge them. Each passage is rewritten O(log n) times."""
        while len(self.segments) >= MERGE_FACTOR:
            level = _level(self.segments[-1].size)
            run = 0
            for segment in reversed(self.segments):
                if _level(segment.size) > level:
                    break
                run += 1
            if run < MERGE_FACTOR:
                return
            tail = self.segments[-run:]
            self.segments[-run:] = [Segment.build(_concat([s.to_batch() for s in tail]))]


def _level(size: int) -> int:
    return int(math.log(max(size, 1), MERGE_FACTOR))


@dataclass(slots=True)
class _Idf:
    values: np.ndarray
    avgdl: float
    docs: int


class SearchIndex:
    """All libraries' postings, and BM25Okapi scoring over any set of them."""

    def __init__(self, k1: float = K1, b: float = B, epsilon: float = EPSILON) -> None:
        self.k1, self.b, self.epsilon = k1, b, epsilon
        self.libraries: dict[str, LibraryIndex] = {}
        self._idf_cache: OrderedDict[tuple, _Idf] = OrderedDict()

    def library(self, name: str) -> LibraryIndex:
        if name not in self.libraries:
            self.libraries[name] = LibraryIndex(name)
        return self.libraries[name]

    def article_count(self, libraries: list[str]) -> int:
        return sum(len(self.libraries[n].articles) for n in libraries if n in self.libraries)

    def _idf(self, libs: list[LibraryIndex]) -> _Idf:
        key = tuple((lib.name, lib.version) for lib in libs)
        cached = self._idf_cache.get(key)
        if cached is not None:
            self._idf_cache.move_to_end(key)
            return cached
        size = max(len(lib.df) for lib in libs)
        df = np.zeros(size, dtype=np.int64)
        for lib in libs:
            df[: len(lib.df)] += lib.df
        docs = sum(lib.docs for lib in libs)
        present = df > 0
        idf = np.zeros(size, dtype=np.float64)
        idf[present] = np.log(docs - df[present] + 0.5) - np.log(df[present] + 0.5)
        average = float(idf[present].mean()) if present.any() else 0.0
        negative = present & (idf < 0)
        idf[negative] = self.epsilon * average
        result = _Idf(idf, sum(lib.total_len for lib in libs) / docs, docs)
        self._idf_cache[key] = result
        if len(self._idf_cache) > 64:
            self._idf_cache.popitem(last=False)
        return result

    def scores(self, libraries: list[str], terms: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(passage ids, BM25Okapi scores) of every live passage holding at least one term."""
        libs = [self.libraries[n] for n in libraries if n in self.libraries]
        libs = [lib for lib in libs if lib.docs > 0]
        if not libs or not terms:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        stats = self._idf(libs)
        k1, b = self.k1, self.b
        ids, scores = [], []
        for lib in libs:
            for segment in lib.segments:
                score = np.zeros(segment.size)
                touched = np.zeros(segment.size, dtype=bool)
                for term in terms:
                    if term < 0 or term >= len(stats.values):
                        continue
                    found = segment.postings(term)
                    if found is None:
                        continue
                    docs, tf = found
                    norm = k1 * (1 - b + b * segment.doc_len[docs] / stats.avgdl)
                    score[docs] += stats.values[term] * (tf * (k1 + 1) / (tf + norm))
                    touched[docs] = True
                keep = np.flatnonzero(touched & segment.alive)
                ids.append(segment.passage_ids[keep])
                scores.append(score[keep])
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return np.concatenate(ids), np.concatenate(scores)

    def top(self, libraries: list[str], terms: list[int], n: int) -> tuple[np.ndarray, np.ndarray, int]:
        """The n best passages by score, ties broken by passage id; and how many matched at all."""
        ids, scores = self.scores(libraries, terms)
        matched = len(ids)
        if matched > n * 4 and n > 0:
            # Keep everything tied with the n-th score so the tie-break stays exact.
            threshold = np.partition(scores, matched - n)[matched - n]
            keep = scores >= threshold
            ids, scores = ids[keep], scores[keep]
        order = np.lexsort((ids, -scores))[:n]
        return ids[order], scores[order], matched
