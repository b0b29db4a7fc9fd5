"""One library's index: its segments, document frequencies and lengths, and the merge policy."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .segments import PassageTerms, Segment, in_id_order, merge_segments

if TYPE_CHECKING:
    from .search_index import SearchIndex


MERGE_FACTOR = 8
"""Merge the small segments once this many of about the same size have piled up."""
INLINE_MERGE_MAX = 10_000
"""Merges of up to this many passages run at once (about 25 ms; 32,000 took 74 ms on the 2-core
benchmark machine), holding the index lock; bigger ones run on a background thread."""


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
            owner = self.owner
            if size > INLINE_MERGE_MAX and owner is not None and owner.background_merges:
                self.merging.update(id(s) for s in run)
                owner.schedule_merge(self, run)
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
            ordered, snapshot = in_id_order(run, alive_at_merge)
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
