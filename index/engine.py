"""BM25 over numpy postings, scoring exactly as rank-bm25's `BM25Okapi` does.

The index is a set of immutable segments per library (compressed-sparse-row postings: for each
term, the documents holding it, as int32, and how often, as uint16). A new article becomes a small
segment at once; small segments are merged as they pile up (big merges run on a background thread
and are swapped in, so searches never wait for them). A removed passage is masked out. Document
frequencies and lengths are kept per library, so a search over several libraries scores them as one
corpus.

Exactness. rank-bm25 scores a query as

    score = 0
    for q in query:                 # in query order, repeats included
        score += idf[q] * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len / avgdl)))

in float64. Every score returned here is computed with that expression, term by term in query
order, for the passages that are returned. `top` finds those passages with MaxScore-style dynamic
pruning: each term has an upper bound per segment (from its largest tf and the shortest passage
holding it, valid for any avgdl), rare terms are scored first, and once the bounds of the remaining
terms cannot lift an unseen passage to the current n-th score, only the passages that can still
reach it are scored further. Pruning decisions keep a relative margin of 1e-9 so that rounding can
never drop a passage that belongs in the top n; the top n (ties broken by passage id) is the same
as a full exact scoring's.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

K1 = 1.5
B = 0.75
EPSILON = 0.25
"""rank-bm25's BM25Okapi defaults: idf below zero is floored at EPSILON times the mean idf."""

MERGE_FACTOR = 8
"""Merge the small segments once this many of about the same size have piled up."""
INLINE_MERGE_MAX = 10_000
"""Merges of up to this many passages run at once (about 25 ms; 32,000 took 74 ms on the 2-core
benchmark machine), holding the index lock; bigger ones run on a background thread."""
MERGE_CHUNK = 4_000_000
"""Postings handled at a time while merging, so that temporaries stay small."""
MARGIN = 1e-9
"""Relative safety margin of pruning decisions (float64 rounding is about 1e-16)."""

DOC_DTYPE = np.dtype(np.int32)
TF_DTYPE = np.dtype(np.uint16)
LEN_DTYPE = np.dtype(np.int32)


@dataclass(slots=True)
class PassageTerms:
    """The terms of a batch of passages, flattened: passage i owns terms[offsets[i]:offsets[i+1]]."""

    passage_ids: np.ndarray  # int64, ascending
    lengths: np.ndarray  # int64 token counts
    offsets: np.ndarray  # int64, len(passage_ids) + 1
    terms: np.ndarray  # int64 term ids, unique within a passage
    tfs: np.ndarray  # int64 counts


@dataclass(slots=True, eq=False)
class Segment:
    """Immutable postings of some passages (only `alive` changes, when passages are removed)."""

    passage_ids: np.ndarray  # int64, ascending
    article_ids: np.ndarray  # int64, per passage
    doc_len: np.ndarray  # int32 token counts
    term_ids: np.ndarray  # int64, sorted unique
    term_starts: np.ndarray  # int64, len(term_ids) + 1
    docs: np.ndarray  # int32 local document index per posting, ascending within a term
    tfs: np.ndarray  # uint16 per posting
    max_tf: np.ndarray  # uint16 per term: the largest tf of the term here
    min_dl: np.ndarray  # int32 per term: the shortest passage holding the term here
    ub_ref: np.ndarray  # float64 per term: its largest tf-part at avgdl = ref[0] (see term_bounds)
    ref: np.ndarray  # float64 [reference avgdl, k1, b]
    alive: np.ndarray  # bool per passage (writable)
    dead: int = 0
    name: str | None = None
    """The file this segment is persisted in, once it is."""

    @classmethod
    def build(cls, batch: PassageTerms, article_ids: np.ndarray) -> Segment:
        counts = np.diff(batch.offsets)
        local = np.repeat(np.arange(len(batch.passage_ids), dtype=DOC_DTYPE), counts)
        order = np.argsort(batch.terms, kind="stable")
        sorted_terms = batch.terms[order]
        if len(sorted_terms):
            first = np.flatnonzero(np.r_[True, sorted_terms[1:] != sorted_terms[:-1]])
        else:
            first = np.zeros(0, dtype=np.int64)
        term_ids = sorted_terms[first].astype(np.int64)
        term_starts = np.append(first, len(sorted_terms)).astype(np.int64)
        docs = local[order]
        tfs = np.minimum(batch.tfs[order], 65535).astype(TF_DTYPE)
        doc_len = batch.lengths.astype(LEN_DTYPE)
        return cls.from_postings(
            batch.passage_ids.astype(np.int64),
            np.asarray(article_ids, dtype=np.int64),
            doc_len,
            term_ids,
            term_starts,
            docs,
            tfs,
        )

    @classmethod
    def from_postings(
        cls,
        passage_ids: np.ndarray,
        article_ids: np.ndarray,
        doc_len: np.ndarray,
        term_ids: np.ndarray,
        term_starts: np.ndarray,
        docs: np.ndarray,
        tfs: np.ndarray,
        alive: np.ndarray | None = None,
    ) -> Segment:
        max_tf, min_dl, ub_ref, ref = term_bounds(term_starts, docs, tfs, doc_len)
        if alive is None:
            alive = np.ones(len(passage_ids), dtype=bool)
        return cls(
            passage_ids=passage_ids,
            article_ids=article_ids,
            doc_len=doc_len,
            term_ids=term_ids,
            term_starts=term_starts,
            docs=docs,
            tfs=tfs,
            max_tf=max_tf,
            min_dl=min_dl,
            ub_ref=ub_ref,
            ref=ref,
            alive=alive,
            dead=int(len(alive) - np.count_nonzero(alive)),
        )

    @property
    def size(self) -> int:
        return len(self.passage_ids)

    @property
    def live(self) -> int:
        return self.size - self.dead

    def postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray] | None:
        i = int(np.searchsorted(self.term_ids, term_id))
        if i == len(self.term_ids) or self.term_ids[i] != term_id:
            return None
        lo, hi = self.term_starts[i], self.term_starts[i + 1]
        return self.docs[lo:hi], self.tfs[lo:hi]

    def kill(self, first_passage: int, last_passage: int) -> int:
        """Mark passages first..last (ids) removed; returns how many were alive."""
        lo = int(np.searchsorted(self.passage_ids, first_passage))
        hi = int(np.searchsorted(self.passage_ids, last_passage, side="right"))
        if hi <= lo:
            return 0
        killed = int(np.count_nonzero(self.alive[lo:hi]))
        self.alive[lo:hi] = False
        self.dead += killed
        return killed

    def nbytes(self) -> int:
        return sum(
            a.nbytes
            for a in (
                self.passage_ids,
                self.article_ids,
                self.doc_len,
                self.term_ids,
                self.term_starts,
                self.docs,
                self.tfs,
                self.max_tf,
                self.min_dl,
                self.ub_ref,
                self.alive,
            )
        )


REF_SLACK = 1.05
"""Per-term bounds are computed at this many times the segment's own average passage length; they
stay valid (if a little loose) for any smaller avgdl, since a term's contribution grows with avgdl."""


def term_bounds(
    term_starts: np.ndarray, docs: np.ndarray, tfs: np.ndarray, doc_len: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per term: the largest tf, the shortest document length among its postings, and the largest
    tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / A)) at A = REF_SLACK * this segment's avgdl."""
    n_terms = len(term_starts) - 1
    max_tf = np.zeros(n_terms, dtype=TF_DTYPE)
    min_dl = np.zeros(n_terms, dtype=LEN_DTYPE)
    ub_ref = np.zeros(n_terms, dtype=np.float64)
    avg = float(doc_len.astype(np.float64).mean()) if len(doc_len) else 1.0
    ref = np.array([max(avg, 1e-9) * REF_SLACK, K1, B], dtype=np.float64)
    if n_terms == 0:
        return max_tf, min_dl, ub_ref, ref
    starts = term_starts[:-1]
    # reduceat over chunks of terms, so that the gathered lengths stay small.
    done = 0
    while done < n_terms:
        end = int(np.searchsorted(term_starts, term_starts[done] + MERGE_CHUNK, side="right")) - 1
        end = min(max(end, done + 1), n_terms)
        lo, hi = int(term_starts[done]), int(term_starts[end])
        local_starts = starts[done:end] - lo
        tf = tfs[lo:hi]
        dl = doc_len[docs[lo:hi]]
        max_tf[done:end] = np.maximum.reduceat(tf, local_starts)
        min_dl[done:end] = np.minimum.reduceat(dl, local_starts)
        part = tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / ref[0]))
        ub_ref[done:end] = np.maximum.reduceat(part, local_starts)
        done = end
    return max_tf, min_dl, ub_ref, ref


def merge_segments(segments: list[Segment], alive: list[np.ndarray] | None = None) -> Segment:
    """One segment holding the live passages of `segments` (in passage id order), built without
    sorting all postings: each term's postings are copied, segment by segment, into place."""
    if alive is None:
        alive = [s.alive.copy() for s in segments]
    segments, alive = _in_id_order(segments, alive)
    keep_counts = [int(np.count_nonzero(a)) for a in alive]
    bases = np.cumsum([0, *keep_counts])
    passage_ids = np.concatenate([s.passage_ids[a] for s, a in zip(segments, alive, strict=True)])
    if len(passage_ids) > 1 and not bool(np.all(passage_ids[1:] > passage_ids[:-1])):
        return _rebuild(segments, alive)
    article_ids = np.concatenate([s.article_ids[a] for s, a in zip(segments, alive, strict=True)])
    doc_len = np.concatenate([s.doc_len[a] for s, a in zip(segments, alive, strict=True)]).astype(LEN_DTYPE)
    vocab = np.unique(np.concatenate([s.term_ids for s in segments]))
    maps = [np.searchsorted(vocab, s.term_ids) for s in segments]
    # Kept postings per segment and vocabulary term.
    counts = np.zeros(len(vocab), dtype=np.int64)
    per_segment = []
    for s, a, m in zip(segments, alive, maps, strict=True):
        if s.dead == 0 and a.all():
            c = np.zeros(len(vocab), dtype=np.int64)
            c[m] = np.diff(s.term_starts)
        else:
            c = np.zeros(len(vocab), dtype=np.int64)
            for lo, hi, t0, t1 in _posting_chunks(s):
                kept = a[s.docs[lo:hi]]
                term_of = np.repeat(np.arange(t0, t1), np.diff(s.term_starts[t0 : t1 + 1]))
                c += np.bincount(m[term_of[kept]], minlength=len(vocab))
        per_segment.append(c)
        counts += c
    present = counts > 0
    starts = np.zeros(len(vocab) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    total = int(starts[-1])
    out_docs = np.empty(total, dtype=DOC_DTYPE)
    out_tfs = np.empty(total, dtype=TF_DTYPE)
    write = starts[:-1].copy()
    for s, a, m, base, c in zip(segments, alive, maps, bases[:-1], per_segment, strict=True):
        renumber = (np.cumsum(a, dtype=np.int64) - 1 + base).astype(DOC_DTYPE)
        for lo, hi, t0, t1 in _posting_chunks(s):
            docs = s.docs[lo:hi]
            tfs = s.tfs[lo:hi]
            term_of = m[np.repeat(np.arange(t0, t1), np.diff(s.term_starts[t0 : t1 + 1]))]
            if s.dead or not a.all():
                kept = a[docs]
                docs, tfs, term_of = docs[kept], tfs[kept], term_of[kept]
            if not len(docs):
                continue
            # term_of is non-decreasing: the rank of a posting within its term is its distance from
            # the first posting of that term in this chunk.
            first = np.flatnonzero(np.r_[True, term_of[1:] != term_of[:-1]])
            group_len = np.diff(np.r_[first, len(term_of)])
            rank = np.arange(len(term_of)) - np.repeat(first, group_len)
            dest = write[term_of] + rank
            out_docs[dest] = renumber[docs]
            out_tfs[dest] = tfs
            np.add.at(write, term_of[first], group_len)
        del c
    term_ids = vocab[present].astype(np.int64)
    term_starts = np.append(starts[:-1][present], total).astype(np.int64)
    return Segment.from_postings(
        passage_ids.astype(np.int64), article_ids, doc_len, term_ids, term_starts, out_docs, out_tfs
    )


def _in_id_order(segments: list[Segment], alive: list[np.ndarray]) -> tuple[list[Segment], list[np.ndarray]]:
    firsts = [int(s.passage_ids[0]) if s.size else 0 for s in segments]
    order = sorted(range(len(segments)), key=firsts.__getitem__)
    return [segments[i] for i in order], [alive[i] for i in order]


def _posting_chunks(segment: Segment) -> Iterable[tuple[int, int, int, int]]:
    """(posting lo, posting hi, term lo, term hi) in whole terms of about MERGE_CHUNK postings."""
    starts = segment.term_starts
    n_terms = len(starts) - 1
    t0 = 0
    while t0 < n_terms:
        t1 = int(np.searchsorted(starts, starts[t0] + MERGE_CHUNK, side="right")) - 1
        t1 = min(max(t1, t0 + 1), n_terms)
        yield int(starts[t0]), int(starts[t1]), t0, t1
        t0 = t1


def _rebuild(segments: list[Segment], alive: list[np.ndarray]) -> Segment:
    """Slow path for passage ids out of order: through a flat batch, sorted by passage id."""
    batches, articles = [], []
    for s, a in zip(segments, alive, strict=True):
        term_of = np.repeat(s.term_ids, np.diff(s.term_starts))
        kept = a[s.docs]
        docs, terms, tfs = s.docs[kept].astype(np.int64), term_of[kept], s.tfs[kept].astype(np.int64)
        new_index = np.cumsum(a) - 1
        docs = new_index[docs]
        order = np.lexsort((terms, docs))
        counts = np.bincount(docs, minlength=int(a.sum()))
        batches.append(
            PassageTerms(
                passage_ids=s.passage_ids[a],
                lengths=s.doc_len[a].astype(np.int64),
                offsets=np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
                terms=terms[order],
                tfs=tfs[order],
            )
        )
        articles.append(s.article_ids[a])
    batch = concat_batches(batches)
    article_ids = np.concatenate(articles)
    order = np.argsort(batch.passage_ids, kind="stable")
    if not np.array_equal(order, np.arange(len(order))):
        sizes = np.diff(batch.offsets)[order]
        pieces = [batch.offsets[i] + np.arange(sizes[j]) for j, i in enumerate(order.tolist())]
        take = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
        batch = PassageTerms(
            passage_ids=batch.passage_ids[order],
            lengths=batch.lengths[order],
            offsets=np.concatenate(([0], np.cumsum(sizes))).astype(np.int64),
            terms=batch.terms[take],
            tfs=batch.tfs[take],
        )
        article_ids = article_ids[order]
    return Segment.build(batch, article_ids)


def concat_batches(batches: list[PassageTerms]) -> PassageTerms:
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


_concat = concat_batches


@dataclass(slots=True)
class ArticleEntry:
    first_passage: int
    last_passage: int
    passages: int
    total_len: int


@dataclass(slots=True, eq=False)
class LibraryIndex:
    name: str
    segments: list[Segment] = field(default_factory=list)
    df: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    docs: int = 0
    total_len: int = 0
    articles: dict[int, ArticleEntry] = field(default_factory=dict)
    version: int = 0
    owner: SearchIndex | None = None
    merging: set[int] = field(default_factory=set)
    """ids of segments that a background merge is rewriting."""

    def _grow(self, size: int) -> None:
        if size > len(self.df):
            grown = np.zeros(max(size, len(self.df) * 2, 1024), dtype=np.int64)
            grown[: len(self.df)] = self.df
            self.df = grown

    def _lock(self) -> threading.RLock:
        return self.owner.lock if self.owner is not None else _NO_OWNER_LOCK

    def _changed(self) -> None:
        if self.owner is not None:
            self.owner.generation += 1

    def add_articles(self, batch: PassageTerms, article_of_passage: np.ndarray) -> None:
        """Add the passages of one or more whole articles (in passage id order)."""
        if len(batch.passage_ids) == 0:
            return
        segment = Segment.build(batch, article_of_passage)
        self.add_segment(segment, batch.terms)

    def add_segment(self, segment: Segment, terms: np.ndarray | None = None) -> None:
        """Add a freshly built segment (all of its passages alive)."""
        if segment.size == 0:
            return
        with self._lock():
            if terms is not None:
                self._grow(int(terms.max(initial=-1)) + 1)
                np.add.at(self.df, terms, 1)
            else:
                self._grow(int(segment.term_ids.max(initial=-1)) + 1)
                self.df[segment.term_ids] += np.diff(segment.term_starts)
            self.docs += segment.size
            lengths = segment.doc_len.astype(np.int64)
            self.total_len += int(lengths.sum())
            self._add_entries(segment.article_ids, segment.passage_ids, lengths)
            self.segments.append(segment)
            self.version += 1
            self._changed()
            self._maybe_merge()

    def _add_entries(self, article_ids: np.ndarray, passage_ids: np.ndarray, lengths: np.ndarray) -> None:
        if not len(article_ids):
            return
        starts = np.flatnonzero(np.r_[True, article_ids[1:] != article_ids[:-1]])
        ends = np.r_[starts[1:], len(article_ids)]
        totals = np.add.reduceat(lengths, starts)
        for lo, hi, total in zip(starts.tolist(), ends.tolist(), totals.tolist(), strict=True):
            self.articles[int(article_ids[lo])] = ArticleEntry(
                first_passage=int(passage_ids[lo]),
                last_passage=int(passage_ids[hi - 1]),
                passages=hi - lo,
                total_len=int(total),
            )

    def remove_article(
        self, article_id: int, first_passage: int, term_ids: np.ndarray, doc_counts: np.ndarray
    ) -> bool:
        """Remove an article's passages; term_ids and doc_counts say how many of its passages held
        each term. An entry of another version of the article (other passage ids) is left alone."""
        with self._lock():
            entry = self.articles.get(article_id)
            if entry is None or entry.first_passage != first_passage:
                return False
            del self.articles[article_id]
            for segment in self.segments:
                if segment.size and (
                    segment.passage_ids[0] <= entry.last_passage
                    and segment.passage_ids[-1] >= entry.first_passage
                ):
                    segment.kill(entry.first_passage, entry.last_passage)
            if len(term_ids):
                self._grow(int(term_ids.max()) + 1)
                np.subtract.at(self.df, term_ids, doc_counts)
            self.docs -= entry.passages
            self.total_len -= entry.total_len
            self.segments = [s for s in self.segments if s.live > 0 or id(s) in self.merging]
            self.version += 1
            self._changed()
            return True

    def _maybe_merge(self) -> None:
        """Size-tiered merging: once MERGE_FACTOR trailing segments are no larger than the level
        of the newest one, merge them. Each passage is rewritten O(log n) times. Small merges run
        here; big ones go to the owner's background merger (or run here if there is none)."""
        while True:
            run = self._pick_run()
            if run is None:
                return
            size = sum(s.live for s in run)
            background = self.owner is not None and self.owner.background_merges
            if size > INLINE_MERGE_MAX and background:
                self.merging.update(id(s) for s in run)
                self.owner.schedule_merge(self, run)
                return
            merged = merge_segments(run)
            self._swap(run, merged)

    def _pick_run(self) -> list[Segment] | None:
        candidates = [s for s in self.segments if id(s) not in self.merging]
        if len(candidates) < MERGE_FACTOR:
            return None
        level = _level(candidates[-1].live)
        run = 0
        for segment in reversed(candidates):
            if _level(segment.live) > level:
                break
            run += 1
        if run < MERGE_FACTOR:
            return None
        return candidates[-run:]

    def _swap(
        self, run: list[Segment], merged: Segment, alive_at_merge: list[np.ndarray] | None = None
    ) -> None:
        """Replace `run` by `merged`. Passages removed while the merge ran are marked dead in it."""
        if alive_at_merge is not None:
            ordered, snapshot = _in_id_order(run, alive_at_merge)
            now = np.concatenate([s.alive[a] for s, a in zip(ordered, snapshot, strict=True)])
            pids = np.concatenate([s.passage_ids[a] for s, a in zip(ordered, snapshot, strict=True)])
            if not np.array_equal(pids, merged.passage_ids):
                now = now[np.argsort(pids, kind="stable")]
            if not now.all():
                merged.alive = now.copy()
                merged.dead = int(len(now) - np.count_nonzero(now))
        ids = {id(s) for s in run}
        position = next((i for i, s in enumerate(self.segments) if id(s) in ids), len(self.segments))
        rest = [s for s in self.segments if id(s) not in ids]
        position = min(position, len(rest))
        if merged.live > 0:
            rest.insert(position, merged)
        self.segments = rest
        self.merging.difference_update(ids)
        self._changed()

    def article_rows(self) -> np.ndarray:
        """The article table as an int64 array (id, first, last, passages, total_len) per row."""
        rows = np.array(
            [(k, e.first_passage, e.last_passage, e.passages, e.total_len) for k, e in self.articles.items()],
            dtype=np.int64,
        )
        return rows.reshape(-1, 5)

    def set_article_rows(self, rows: np.ndarray) -> None:
        self.articles = {
            int(r[0]): ArticleEntry(int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows.tolist()
        }


_NO_OWNER_LOCK = threading.RLock()


def _level(size: int) -> int:
    return int(math.log(max(size, 1), MERGE_FACTOR))


@dataclass(slots=True)
class _Idf:
    values: np.ndarray
    df: np.ndarray
    avgdl: float
    docs: int
    any_negative: bool


@dataclass(slots=True)
class _Part:
    segment: Segment
    base: int


class SearchIndex:
    """All libraries' postings, and BM25Okapi scoring over any set of them."""

    def __init__(
        self, k1: float = K1, b: float = B, epsilon: float = EPSILON, background_merges: bool = False
    ) -> None:
        self.k1, self.b, self.epsilon = k1, b, epsilon
        self.libraries: dict[str, LibraryIndex] = {}
        self._idf_cache: OrderedDict[tuple, _Idf] = OrderedDict()
        self.lock = threading.RLock()
        self.background_merges = background_merges
        self._merge_queue: queue.Queue = queue.Queue()
        self._merger: threading.Thread | None = None
        self._acc = np.zeros(0)
        self._seen = np.zeros(0, dtype=bool)
        self.generation = 0
        """Bumped by every change of any library's segments (adds, removals, merges)."""
        self.on_merge = None
        """Called (outside the lock) after a background merge was swapped in."""

    def library(self, name: str) -> LibraryIndex:
        with self.lock:
            if name not in self.libraries:
                self.libraries[name] = LibraryIndex(name, owner=self)
            return self.libraries[name]

    def article_count(self, libraries: list[str]) -> int:
        with self.lock:
            return sum(len(self.libraries[n].articles) for n in libraries if n in self.libraries)

    # -- background merging ----------------------------------------------------------------

    def schedule_merge(self, library: LibraryIndex, run: list[Segment]) -> None:
        alive = [s.alive.copy() for s in run]
        self._merge_queue.put((library, run, alive))
        if self._merger is None or not self._merger.is_alive():
            self._merger = threading.Thread(target=self._merge_worker, name="clippings-merge", daemon=True)
            self._merger.start()

    def _merge_worker(self) -> None:
        while True:
            try:
                library, run, alive = self._merge_queue.get(timeout=5)
            except queue.Empty:
                return
            try:
                merged = merge_segments(run, alive)
                with self.lock:
                    library._swap(run, merged, alive)
                    library._maybe_merge()
                if self.on_merge is not None:
                    self.on_merge()
            except Exception:
                log.exception("background merge failed; the segments stay as they were")
                with self.lock:
                    library.merging.difference_update(id(s) for s in run)
            finally:
                self._merge_queue.task_done()

    def wait_for_merges(self) -> None:
        """Block until queued background merges are done (for tests and benchmarks)."""
        self._merge_queue.join()

    def merge_all(self, name: str) -> None:
        """Merge a library's segments into one (used after a full load)."""
        with self.lock:
            lib = self.libraries.get(name)
            if lib is None or len(lib.segments) <= 1 or lib.merging:
                return
            run = list(lib.segments)
            merged = merge_segments(run)
            lib._swap(run, merged)

    # -- statistics ------------------------------------------------------------------------

    def _idf(self, libs: list[LibraryIndex]) -> _Idf:
        key = tuple((lib.name, lib.version) for lib in libs)
        cached = self._idf_cache.get(key)
        if cached is not None:
            self._idf_cache.move_to_end(key)
            return cached
        size = max(len(lib.df) for lib in libs)
        if len(libs) == 1:
            df = libs[0].df
        else:
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
        result = _Idf(idf, df.copy(), sum(lib.total_len for lib in libs) / docs, docs, bool((idf < 0).any()))
        self._idf_cache[key] = result
        if len(self._idf_cache) > 16:
            self._idf_cache.popitem(last=False)
        return result

    def _prepare(self, libraries: list[str]) -> tuple[_Idf | None, list[_Part], int]:
        libs = [self.libraries[n] for n in dict.fromkeys(libraries) if n in self.libraries]
        libs = [lib for lib in libs if lib.docs > 0]
        if not libs:
            return None, [], 0
        parts, base = [], 0
        for lib in libs:
            for segment in lib.segments:
                if segment.live:
                    parts.append(_Part(segment, base))
                    base += segment.size
        return self._idf(libs), parts, base

    def _contribution(self, idf: float, tf: np.ndarray, dl: np.ndarray, avgdl: float) -> np.ndarray:
        k1, b = self.k1, self.b
        # Exactly rank-bm25's expression and operation order.
        return idf * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)))

    # -- exhaustive scoring (a reference, and what the tests compare with rank-bm25) --------

    def scores(self, libraries: list[str], terms: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(passage ids, BM25Okapi scores) of every live passage holding at least one term."""
        with self.lock:
            stats, parts, _ = self._prepare(libraries)
            if stats is None or not terms:
                return np.zeros(0, dtype=np.int64), np.zeros(0)
            ids, scores = [], []
            for part in parts:
                segment = part.segment
                score = np.zeros(segment.size)
                touched = np.zeros(segment.size, dtype=bool)
                for term in terms:
                    if term < 0 or term >= len(stats.values) or stats.df[term] <= 0:
                        continue
                    found = segment.postings(term)
                    if found is None:
                        continue
                    docs, tf = found
                    score[docs] += self._contribution(
                        stats.values[term], tf, segment.doc_len[docs], stats.avgdl
                    )
                    touched[docs] = True
                keep = np.flatnonzero(touched & segment.alive)
                ids.append(segment.passage_ids[keep])
                scores.append(score[keep])
            if not ids:
                return np.zeros(0, dtype=np.int64), np.zeros(0)
            return np.concatenate(ids), np.concatenate(scores)

    # -- top n with dynamic pruning ----------------------------------------------------------

    def top(
        self, libraries: list[str], terms: list[int], n: int, prune: bool = True
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """The n best passages by score, ties broken by passage id; and how many matched at all
        (exact when every posting was read; otherwise a lower bound, at least the largest
        document frequency of a query term)."""
        empty = np.zeros(0, dtype=np.int64), np.zeros(0), 0
        with self.lock:
            stats, parts, total = self._prepare(libraries)
            if stats is None or not terms or n <= 0:
                return empty
            return self._top(stats, parts, total, terms, n, prune)

    def _top(
        self, stats: _Idf, parts: list[_Part], total: int, terms: list[int], n: int, prune: bool
    ) -> tuple[np.ndarray, np.ndarray, int]:
        known = [t for t in terms if 0 <= t < len(stats.values) and stats.df[t] > 0]
        if not known:
            return np.zeros(0, dtype=np.int64), np.zeros(0), 0
        multiplicity: dict[int, int] = {}
        for t in known:
            multiplicity[t] = multiplicity.get(t, 0) + 1
        unique = list(multiplicity)
        avgdl = stats.avgdl
        # Per term: the posting slice of each part, and an upper bound of its contribution.
        query = np.array(unique, dtype=np.int64)
        slices: dict[int, list[tuple[_Part, int, int]]] = {t: [] for t in unique}
        bound = dict.fromkeys(unique, 0.0)
        k1, b = self.k1, self.b
        for part in parts:
            seg = part.segment
            pos = np.searchsorted(seg.term_ids, query)
            pos_c = np.minimum(pos, len(seg.term_ids) - 1)
            if not len(seg.term_ids):
                continue
            hit = seg.term_ids[pos_c] == query
            for j in np.flatnonzero(hit).tolist():
                t, i = unique[j], int(pos_c[j])
                lo, hi = int(seg.term_starts[i]), int(seg.term_starts[i + 1])
                slices[t].append((part, lo, hi))
                if avgdl <= seg.ref[0] and k1 == seg.ref[1] and b == seg.ref[2]:
                    ub = float(seg.ub_ref[i])
                else:
                    tf, dl = float(seg.max_tf[i]), float(seg.min_dl[i])
                    ub = tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
                bound[t] = max(bound[t], ub)
        upper = {t: float(stats.values[t]) * multiplicity[t] * bound[t] * (1 + MARGIN) for t in unique}
        # Rare (short, high-idf) terms first.
        order = sorted(unique, key=lambda t: sum(hi - lo for _, lo, hi in slices[t]))
        can_prune = prune and not stats.any_negative and n > 0
        if len(self._acc) < total:
            self._acc = np.zeros(max(total, int(len(self._acc) * 1.5)))
            self._seen = np.zeros(len(self._acc), dtype=bool)
        acc, seen = self._acc, self._seen
        touched_parts: list[np.ndarray] = []
        try:
            remaining = sum(upper.values())
            done = 0
            threshold = 0.0
            for t in order:
                if can_prune and done and remaining * (1 + MARGIN) < threshold * (1 - MARGIN):
                    break
                idf = stats.values[t] * multiplicity[t]
                for part, lo, hi in slices[t]:
                    seg = part.segment
                    docs = seg.docs[lo:hi]
                    tf = seg.tfs[lo:hi]
                    if seg.dead:
                        keep = seg.alive[docs]
                        docs, tf = docs[keep], tf[keep]
                    c = self._contribution(idf, tf, seg.doc_len[docs], avgdl)
                    g = docs.astype(np.int64)
                    g += part.base
                    acc[g] += c
                    new = g[~seen[g]]
                    seen[new] = True
                    touched_parts.append(new)
                remaining -= upper[t]
                done += 1
                # Seed the threshold with full scores after the first term, then only when the
                # remaining bound comes near it, or every fourth term (each seed looks up every
                # remaining term, which long questions would otherwise pay after every term).
                if (
                    can_prune
                    and done < len(order)
                    and (done == 1 or remaining < 1.25 * threshold or done % 4 == 0)
                ):
                    threshold = max(
                        threshold,
                        self._seed_threshold(
                            acc, touched_parts, n, order[done:], slices, stats, multiplicity
                        ),
                    )
            touched = np.concatenate(touched_parts) if touched_parts else np.zeros(0, dtype=np.int64)
            complete = done == len(order)
            matched = len(touched) if complete else max(len(touched), int(stats.df[unique].max()))
            if complete:
                cand = _best(acc, touched, n)
            else:
                # Only passages that can still reach the threshold, scored on the remaining terms.
                cand = touched[acc[touched] + remaining * (1 + MARGIN) >= threshold * (1 - MARGIN)]
                cand.sort()
                partial = acc[cand]
                # Biggest bounds first: the remaining slack shrinks fastest.
                for t in sorted(order[done:], key=upper.__getitem__, reverse=True):
                    found = self._lookup(slices[t], cand, stats.values[t] * multiplicity[t], avgdl)
                    partial = partial + found
                    remaining -= upper[t]
                    if len(cand) > n:
                        th = max(threshold, float(np.partition(partial, len(partial) - n)[len(partial) - n]))
                        keep = partial + max(remaining, 0.0) * (1 + MARGIN) >= th * (1 - MARGIN)
                        cand, partial = cand[keep], partial[keep]
                cand = cand[_best(partial, np.arange(len(cand)), n)]
            cand = np.sort(cand)
        finally:
            for touched_part in touched_parts:
                acc[touched_part] = 0.0
                seen[touched_part] = False
        # Exact scores of the survivors: rank-bm25's expression, term by term in query order.
        score = np.zeros(len(cand))
        for t in known:
            score = score + self._lookup(slices[t], cand, stats.values[t], avgdl)
        pids = _passage_ids(parts, cand)
        best = np.lexsort((pids, -score))[:n]
        return pids[best], score[best], matched

    def _seed_threshold(
        self,
        acc: np.ndarray,
        touched_parts: list[np.ndarray],
        n: int,
        rest: list[int],
        slices: dict,
        stats: _Idf,
        multiplicity: dict[int, int],
    ) -> float:
        """A lower bound of the final n-th score: the n-th best full score among the passages with
        the best partial scores so far (their remaining terms looked up, not bounded)."""
        count = sum(len(p) for p in touched_parts)
        if count < n:
            return 0.0
        touched = np.concatenate(touched_parts)
        values = acc[touched]
        pick = max(4 * n, 64)
        if count > pick:
            top = np.argpartition(values, count - pick)[count - pick :]
            touched, values = touched[top], values[top]
        order = np.argsort(touched)
        touched, full = touched[order], values[order]
        for t in rest:
            full = full + self._lookup(slices[t], touched, stats.values[t] * multiplicity[t], stats.avgdl)
        th = float(np.partition(full, len(full) - n)[len(full) - n])
        return th - abs(th) * MARGIN * 4

    def _lookup(
        self, slices: list[tuple[_Part, int, int]], cand: np.ndarray, idf: float, avgdl: float
    ) -> np.ndarray:
        """Contributions of one term to the sorted global document indexes `cand` (0 where absent)."""
        out = np.zeros(len(cand))
        for part, lo, hi in slices:
            seg = part.segment
            a = int(np.searchsorted(cand, part.base))
            z = int(np.searchsorted(cand, part.base + seg.size))
            if a == z:
                continue
            local = (cand[a:z] - part.base).astype(DOC_DTYPE)
            docs = seg.docs[lo:hi]
            pos = np.searchsorted(docs, local)
            pos_c = np.minimum(pos, len(docs) - 1)
            found = docs[pos_c] == local
            if not found.any():
                continue
            where = np.flatnonzero(found) + a
            take = pos_c[found]
            tf = seg.tfs[lo:hi][take]
            out[where] = self._contribution(idf, tf, seg.doc_len[local[found]], avgdl)
        return out


def _nth_largest(acc: np.ndarray, touched_parts: list[np.ndarray], n: int) -> float:
    count = sum(len(p) for p in touched_parts)
    if count < n:
        return 0.0
    values = acc[np.concatenate(touched_parts)]
    return float(np.partition(values, count - n)[count - n])


def _best(values_of: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    """The entries of `index` whose value may be among the n largest (ties and rounding kept)."""
    if len(index) <= n:
        return index
    values = values_of[index]
    th = float(np.partition(values, len(values) - n)[len(values) - n])
    return index[values >= th - abs(th) * MARGIN]


def _passage_ids(parts: list[_Part], cand: np.ndarray) -> np.ndarray:
    out = np.empty(len(cand), dtype=np.int64)
    for part in parts:
        a = int(np.searchsorted(cand, part.base))
        z = int(np.searchsorted(cand, part.base + part.segment.size))
        if a < z:
            out[a:z] = part.segment.passage_ids[cand[a:z] - part.base]
    return out


# -- segment files -----------------------------------------------------------------------------

SEGMENT_ARRAYS = (
    "passage_ids",
    "article_ids",
    "doc_len",
    "term_ids",
    "term_starts",
    "docs",
    "tfs",
    "max_tf",
    "min_dl",
    "ub_ref",
    "ref",
)
_ALIGN = 64


def write_segment(segment: Segment, path: Path) -> dict:
    """Write a segment's arrays to one file (atomically: a temporary file, fsync, rename) and
    return its layout: {"bytes", "crc", "arrays": {name: [offset, dtype, length]}}."""
    tmp = path.with_name(path.name + ".tmp")
    layout: dict[str, list] = {}
    offset = 0
    crc = 0
    with open(tmp, "wb") as f:
        for name in SEGMENT_ARRAYS:
            array = np.ascontiguousarray(getattr(segment, name))
            pad = b"\0" * ((-offset) % _ALIGN)
            f.write(pad)
            crc = zlib.crc32(pad, crc)
            offset += len(pad)
            layout[name] = [offset, array.dtype.str, len(array)]
            view = memoryview(array).cast("B") if array.nbytes else b""
            f.write(view)
            crc = zlib.crc32(view, crc)
            offset += array.nbytes
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return {"bytes": offset, "crc": crc, "arrays": layout}


def file_crc(path: Path, chunk: int = 8 << 20) -> int:
    """CRC-32 of a file, read through the page cache (so it does not add to this process's RSS)."""
    crc = 0
    with open(path, "rb") as f:
        while block := f.read(chunk):
            crc = zlib.crc32(block, crc)
    return crc


def read_segment(path: Path, layout: dict, alive: np.ndarray, verify: bool = True) -> Segment:
    """Memory-map a segment file written by `write_segment`. Raises ValueError if the file does not
    match its layout (size, checksum, array shapes)."""
    size = path.stat().st_size
    if size != layout["bytes"]:
        raise ValueError(f"{path.name}: {size} bytes, expected {layout['bytes']}")
    if verify and file_crc(path) != layout["crc"]:
        raise ValueError(f"{path.name}: checksum mismatch")
    raw = np.memmap(path, dtype=np.uint8, mode="r") if size else np.zeros(0, dtype=np.uint8)
    arrays = {}
    for name in SEGMENT_ARRAYS:
        offset, dtype, length = layout["arrays"][name]
        dtype = np.dtype(dtype)
        end = offset + dtype.itemsize * length
        if offset % _ALIGN or (end > size and length):
            raise ValueError(f"{path.name}: array {name} out of bounds")
        arrays[name] = raw[offset:end].view(np.ndarray).view(dtype) if length else np.zeros(0, dtype=dtype)
    n, n_terms = len(arrays["passage_ids"]), len(arrays["term_ids"])
    if (
        len(arrays["article_ids"]) != n
        or len(arrays["doc_len"]) != n
        or len(alive) != n
        or len(arrays["term_starts"]) != n_terms + 1
        or len(arrays["max_tf"]) != n_terms
        or len(arrays["min_dl"]) != n_terms
        or len(arrays["ub_ref"]) != n_terms
        or len(arrays["ref"]) != 3
        or int(arrays["term_starts"][0]) != 0
        or int(arrays["term_starts"][-1]) != len(arrays["docs"])
        or len(arrays["tfs"]) != len(arrays["docs"])
        or arrays["docs"].dtype != DOC_DTYPE
        or arrays["tfs"].dtype != TF_DTYPE
    ):
        raise ValueError(f"{path.name}: inconsistent arrays")
    alive = np.array(alive, dtype=bool)
    return Segment(
        **arrays,
        alive=alive,
        dead=int(n - np.count_nonzero(alive)),
        name=path.name,
    )
