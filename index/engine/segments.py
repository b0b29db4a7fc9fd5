"""Segments: immutable compressed-sparse-row postings of a batch of passages, and merging them.

For each term, a segment holds the documents holding it (int32) and how often (uint16), plus
per-term upper bounds of a BM25 contribution for pruning. A removed passage is masked out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .scoring import K1, B

log = logging.getLogger(__name__)

MERGE_CHUNK = 4_000_000
"""Postings handled at a time while merging, so that temporaries stay small."""

DOC_DTYPE = np.dtype(np.int32)
TF_DTYPE = np.dtype(np.uint16)
LEN_DTYPE = np.dtype(np.int32)
DENSE_SHARE = 16
"""A term held by at least 1/DENSE_SHARE of a segment's passages is looked up in a dense tf array."""
BLOCK_SHIFT = 6
"""Block bounds cover 2**BLOCK_SHIFT consecutive passages each."""
BLOCK_SHARE = 64
"""A term held by at least 1/BLOCK_SHARE of a segment's passages has block bounds (the terms a
search leaves unread, whose global bound is far above what most passages can get from them)."""
BLOCK_LEVELS = 255
"""Block bounds are stored in a byte: in units of (k1 + 1) / BLOCK_LEVELS, rounded up."""


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
    blocks: dict[int, np.ndarray] = field(default_factory=dict, init=False, repr=False)
    """Block bounds of the terms held by at least 1/BLOCK_SHARE of the passages, keyed by the start
    of their postings; mapped from the index cache, or made on first use (see `block_bounds`)."""
    dense: dict[int, np.ndarray] = field(default_factory=dict, init=False, repr=False)
    """Dense tf arrays (one entry per passage) of the terms common enough to look up this way,
    keyed by the start of their postings; mapped from the index cache, or made on first use (see
    `dense_tf`)."""

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

    def is_common(self, lo: int, hi: int) -> bool:
        """Whether the term whose postings are docs[lo:hi] is looked up in a dense tf array."""
        return (hi - lo) * DENSE_SHARE >= self.size

    def common_terms(self) -> np.ndarray:
        """The postings starts of the common terms whose tfs fit one byte: the dense arrays the
        index cache keeps beside the segment (see `dense_tf`)."""
        counts = np.diff(self.term_starts)
        common = (counts * DENSE_SHARE >= self.size) & (counts > 0) & (self.max_tf <= 255)
        return self.term_starts[:-1][common].astype(np.int64)

    def dense_tf(self, lo: int, hi: int) -> np.ndarray:
        """The tf of the term whose postings are docs[lo:hi] in every passage (0: absent), so that
        many passages are looked up by indexing instead of a binary search each. Two threads may
        both build it the first time; they build the same array."""
        found = self.dense.get(lo)
        if found is None:
            found = self.dense[lo] = self.make_dense_tf(lo, hi)
        return found

    def make_dense_tf(self, lo: int, hi: int) -> np.ndarray:
        """A new dense tf array of the term whose postings are docs[lo:hi] (one byte a passage when
        its tfs fit; not kept: see `dense_tf`)."""
        tfs = self.tfs[lo:hi]
        dense = np.zeros(self.size, dtype=np.uint8 if int(tfs.max(initial=0)) <= 255 else TF_DTYPE)
        dense[self.docs[lo:hi]] = tfs
        return dense

    def has_blocks(self, lo: int, hi: int) -> bool:
        """Whether the term whose postings are docs[lo:hi] has block bounds."""
        return (hi - lo) * BLOCK_SHARE >= self.size and hi > lo

    def blocked_terms(self) -> np.ndarray:
        """The postings starts of the terms with block bounds (kept in the index cache)."""
        counts = np.diff(self.term_starts)
        return self.term_starts[:-1][(counts * BLOCK_SHARE >= self.size) & (counts > 0)].astype(np.int64)

    def block_bounds(self, lo: int, hi: int) -> np.ndarray:
        """For each block of 2**BLOCK_SHIFT passages, a bound of the tf-part the term whose postings
        are docs[lo:hi] can give a passage of the block (0 where none holds it), valid where `ub_ref`
        is (see `block_bounds_of`). Two threads may both make it the first time: the same array."""
        found = self.blocks.get(lo)
        if found is None:
            found = self.blocks[lo] = block_bounds_of(
                self.docs[lo:hi], self.tfs[lo:hi], self.doc_len, self.ref, self.size
            )
        return found

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


def block_count(size: int) -> int:
    """How many blocks of 2**BLOCK_SHIFT passages cover `size` passages."""
    return (size + (1 << BLOCK_SHIFT) - 1) >> BLOCK_SHIFT


def block_bounds_of(
    docs: np.ndarray, tfs: np.ndarray, doc_len: np.ndarray, ref: np.ndarray, size: int
) -> np.ndarray:
    """Per block of 2**BLOCK_SHIFT passages, the largest tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / A))
    of these postings there, at the reference A, k1, b of `ref`, as a byte in units of
    (k1 + 1) / BLOCK_LEVELS rounded up, so that the byte times the unit is never below it. Valid for
    any avgdl up to A with the same k1 and b, as `ub_ref` is."""
    avgdl, k1, b = float(ref[0]), float(ref[1]), float(ref[2])
    out = np.zeros(block_count(size), dtype=np.uint8)
    if len(docs) == 0 or k1 <= 0:
        return out
    tf = tfs.astype(np.float64)
    part = tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len[docs] / avgdl))
    blocks = docs >> BLOCK_SHIFT
    starts = np.flatnonzero(np.r_[True, blocks[1:] != blocks[:-1]])  # postings are in document order
    most = np.maximum.reduceat(part, starts)
    unit = (k1 + 1) / BLOCK_LEVELS
    levels = np.ceil(most / unit)
    levels[levels * unit < most] += 1  # rounding: the stored bound must not fall below the largest
    out[blocks[starts]] = np.minimum(levels, BLOCK_LEVELS).astype(np.uint8)
    return out


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
    segments, alive = in_id_order(segments, alive)
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


def in_id_order(segments: list[Segment], alive: list[np.ndarray]) -> tuple[list[Segment], list[np.ndarray]]:
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
