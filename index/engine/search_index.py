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
import os
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from .kernel import Kernel
from .library import LibraryIndex
from .scoring import EPSILON, K1, MARGIN, B, Idf, contribution, idf_table, length_norm, normed_contribution
from .segments import DOC_DTYPE, Segment, merge_segments
from .selection import Part, best_candidates, group_by_part, part_cuts, passage_ids_of

log = logging.getLogger(__name__)

IDF_CACHE = 16
"""Idf tables kept for the latest library sets and versions."""
SPLIT_PASSAGES = 200_000
"""With two rank threads, the kernel ranks a search of at least this many passages in two halves at
once (below it, starting a thread costs about what it saves)."""


def default_rank_threads() -> int:
    """2 where this process may run on two cores or more, else 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return 2 if cores >= 2 else 1


class SearchIndex:
    """All libraries' postings, and BM25Okapi scoring over any set of them."""

    def __init__(
        self,
        k1: float = K1,
        b: float = B,
        epsilon: float = EPSILON,
        background_merges: bool = False,
        compiled: bool = True,
        rank_threads: int = 1,
        split_passages: int = SPLIT_PASSAGES,
    ) -> None:
        self.k1, self.b, self.epsilon = k1, b, epsilon
        self.rank_threads = rank_threads
        """2: the kernel ranks a search of at least `split_passages` passages in two halves at once,
        one answer on two cores (the same results)."""
        self.split_passages = split_passages
        self.kernel = Kernel() if compiled else None
        """Finds the top candidates in C when built (`compiled=False`: always in numpy)."""
        self.libraries: dict[str, LibraryIndex] = {}
        self._idf_cache: OrderedDict[tuple, Idf] = OrderedDict()
        self.lock = threading.RLock()
        """Held while libraries change and while a search takes its snapshot, never while it scores."""
        self.background_merges = background_merges
        self._merge_queue: queue.Queue = queue.Queue()
        self._merger: threading.Thread | None = None
        self._scratch = threading.local()
        """Each thread's score accumulator, so searches run in parallel without sharing one."""
        self.generation = 0
        """Bumped by every change of any library's segments (adds, removals, merges)."""
        self.on_merge: Callable[[], None] | None = None
        """Called (outside the lock) after a background merge was swapped in."""

    def library(self, name: str) -> LibraryIndex:
        with self.lock:
            if name not in self.libraries:
                self.libraries[name] = LibraryIndex(name, owner=self)
            return self.libraries[name]

    def article_count(self, libraries: list[str]) -> int:
        with self.lock:
            return sum(len(self.libraries[n].articles) for n in libraries if n in self.libraries)

    def term_stats(self, libraries: list[str], term_ids: list[int]) -> tuple[list[float], list[int], int]:
        """BM25Okapi's idf and the document frequency of each term id over the given libraries (0
        and 0 for unknown terms), and how many passages they hold."""
        with self.lock:
            libs = [self.libraries[n] for n in dict.fromkeys(libraries) if n in self.libraries]
            libs = [lib for lib in libs if lib.docs]
            if not libs:
                return [0.0] * len(term_ids), [0] * len(term_ids), 0
            stats = self.idf(libs)
        known = [0 <= i < len(stats.values) for i in term_ids]
        return (
            [float(stats.values[i]) if k else 0.0 for i, k in zip(term_ids, known, strict=True)],
            [int(stats.df[i]) if k else 0 for i, k in zip(term_ids, known, strict=True)],
            stats.docs,
        )

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
                item = self._merge_queue.get(timeout=5)
            except queue.Empty:
                return
            if item is None:  # stop_merges
                self._merge_queue.task_done()
                return
            library, run, alive = item
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

    def merge_due(self) -> None:
        """Start the merges that the size-tiered policy says are due in any library (an index
        loaded from a cache saved before they ran)."""
        with self.lock:
            for library in self.libraries.values():
                library._maybe_merge()

    def wait_for_merges(self) -> None:
        """Block until queued background merges are done (for tests and benchmarks)."""
        self._merge_queue.join()

    def stop_merges(self) -> None:
        """Finish the queued background merges and end the merging thread (before the process
        exits: a thread still inside numpy at exit can abort the interpreter)."""
        self._merge_queue.join()
        merger = self._merger
        if merger is not None and merger.is_alive():
            self._merge_queue.put(None)
            merger.join()

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

    def idf(self, libs: list[LibraryIndex]) -> Idf:
        """The idf table of these libraries scored as one corpus (cached per library versions)."""
        key = tuple((lib.name, lib.version) for lib in libs)
        with self.lock:
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
            result = idf_table(
                df, sum(lib.docs for lib in libs), sum(lib.total_len for lib in libs), self.epsilon
            )
            self._idf_cache[key] = result
            if len(self._idf_cache) > IDF_CACHE:
                self._idf_cache.popitem(last=False)
            return result

    def term_idf(self, libraries: list[str], term_ids: list[int]) -> list[float]:
        """BM25Okapi's idf of each term id over the given libraries (0 for unknown terms)."""
        with self.lock:
            # A library named twice is one corpus, as in term_stats and the search itself.
            libs = [self.libraries[n] for n in dict.fromkeys(libraries) if n in self.libraries]
            libs = [lib for lib in libs if lib.docs]
            if not libs:
                return [0.0] * len(term_ids)
            values = self.idf(libs).values
        return [float(values[i]) if 0 <= i < len(values) else 0.0 for i in term_ids]

    def clear(self) -> None:
        """Forget every library (a cache that could not be trusted is dropped this way)."""
        with self.lock:
            self.libraries.clear()
            self._idf_cache.clear()

    def _prepare(self, libraries: list[str]) -> tuple[Idf | None, list[Part], int]:
        """A snapshot of what a search reads: idf and the live segments (taken under the lock)."""
        libs = [self.libraries[n] for n in dict.fromkeys(libraries) if n in self.libraries]
        libs = [lib for lib in libs if lib.docs > 0]
        if not libs:
            return None, [], 0
        parts: list[Part] = []
        base = 0
        for lib in libs:
            for segment in lib.segments:
                if segment.live:
                    parts.append(Part(segment, base, len(parts)))
                    base += segment.size
        return self.idf(libs), parts, base

    def _contribution(self, idf: float, tf: np.ndarray, dl: np.ndarray, avgdl: float) -> np.ndarray:
        return contribution(idf, tf, dl, avgdl, self.k1, self.b)

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
                score[docs] += self._contribution(stats.values[term], tf, segment.doc_len[docs], stats.avgdl)
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
        # Segments are immutable (but for their alive masks), so the snapshot is scored unlocked.
        return self._top(stats, parts, total, terms, n, prune)

    def _top(
        self, stats: Idf, parts: list[Part], total: int, terms: list[int], n: int, prune: bool
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
        slices: dict[int, list[tuple[Part, int, int]]] = {t: [] for t in unique}
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
                    most, shortest = float(seg.max_tf[i]), float(seg.min_dl[i])
                    ub = most * (k1 + 1) / (most + k1 * (1 - b + b * shortest / avgdl))
                bound[t] = max(bound[t], ub)
        upper = {t: float(stats.values[t]) * multiplicity[t] * bound[t] * (1 + MARGIN) for t in unique}
        # Rare (short, high-idf) terms first.
        order = sorted(unique, key=lambda t: sum(hi - lo for _, lo, hi in slices[t]))
        can_prune = prune and not stats.any_negative and n > 0
        if (
            can_prune
            and k1 > 0
            and 0 <= b <= 1
            and avgdl > 0
            and self.kernel is not None
            and self.kernel.available
        ):
            weighted = [(t, float(stats.values[t]) * multiplicity[t], upper[t]) for t in order]
            threads = self.rank_threads if total >= self.split_passages else 1
            found = self.kernel.top(
                parts, weighted, slices, self._accumulator(total), n, avgdl, k1, b, MARGIN, threads
            )
            matched = found.touched if found.complete else max(found.touched, int(stats.df[unique].max()))
            exact = self.kernel.exact_scores(
                parts, [(t, float(stats.values[t])) for t in known], slices, found.candidates, avgdl, k1, b
            )
            return self._best(parts, found.candidates, exact, n, matched)
        acc, seen = self._accumulator(total)
        touched_parts: list[np.ndarray] = []
        try:
            remaining = sum(upper.values())
            done = 0
            # The passages whose full scores seed the threshold: the best partial scores, kept
            # from seed to seed and renewed from the postings read since.
            pool = np.zeros(0, dtype=np.int64)
            since_seed: list[np.ndarray] = []
            threshold = 0.0
            for t in order:
                if can_prune and done and remaining * (1 + MARGIN) < threshold * (1 - MARGIN):
                    break
                weight = stats.values[t] * multiplicity[t]
                for part, lo, hi in slices[t]:
                    seg = part.segment
                    docs = seg.docs[lo:hi]
                    tf = seg.tfs[lo:hi]
                    if seg.dead:
                        keep = seg.alive[docs]
                        docs, tf = docs[keep], tf[keep]
                    c = self._contribution(weight, tf, seg.doc_len[docs], avgdl)
                    g = docs.astype(np.int64)
                    g += part.base
                    acc[g] += c
                    new = g[~seen[g]]
                    seen[new] = True
                    touched_parts.append(new)
                    since_seed.append(g)
                # Never below 0: a rounding residue under 0 would stop before a term of idf 0,
                # whose passages are matches at score 0 all the same.
                remaining = max(remaining - upper[t], 0.0)
                done += 1
                # Seed the threshold with full scores after the first term, then only when the
                # remaining bound comes near it, or every fourth term (each seed looks up every
                # remaining term, which long questions would otherwise pay after every term).
                if (
                    can_prune
                    and done < len(order)
                    and (done == 1 or remaining < 1.25 * threshold or done % 4 == 0)
                ):
                    pool = self._seed_pool(acc, pool, since_seed, n)
                    since_seed = []
                    threshold = max(
                        threshold,
                        self._seed_threshold(acc, pool, n, order[done:], slices, stats, multiplicity, parts),
                    )
            touched = np.concatenate(touched_parts) if touched_parts else np.zeros(0, dtype=np.int64)
            complete = done == len(order)
            matched = len(touched) if complete else max(len(touched), int(stats.df[unique].max()))
            if complete:
                cand = best_candidates(acc, touched, n)
            else:
                # Only passages that can still reach the threshold, scored on the remaining terms,
                # grouped by part: part p's are cand[cuts[p]:cuts[p + 1]].
                cand = touched[acc[touched] + remaining * (1 + MARGIN) >= threshold * (1 - MARGIN)]
                cand, cuts = group_by_part(parts, cand)
                partial = acc[cand]
                # Each candidate's length norm, once: common terms are then looked up in their dense
                # tf arrays for every candidate at once (norm > 0 when k1 > 0 and b < 1, so a term a
                # passage lacks adds 0).
                norm = self._norms(parts, cand, cuts, avgdl) if k1 > 0 and 0 <= b < 1 else None
                # Biggest bounds first: the remaining slack shrinks fastest.
                for t in sorted(order[done:], key=upper.__getitem__, reverse=True):
                    weight = stats.values[t] * multiplicity[t]
                    partial = partial + self._lookup(slices[t], cand, weight, avgdl, cuts, norm)
                    remaining = max(remaining - upper[t], 0.0)
                    if len(cand) > n:
                        th = max(threshold, float(np.partition(partial, len(partial) - n)[len(partial) - n]))
                        keep = partial + max(remaining, 0.0) * (1 + MARGIN) >= th * (1 - MARGIN)
                        cuts = np.concatenate(([0], np.cumsum(keep)))[cuts]
                        cand, partial = cand[keep], partial[keep]
                        if norm is not None:
                            norm = norm[keep]
                cand = cand[best_candidates(partial, np.arange(len(cand)), n)]
            cand = np.sort(cand)
        finally:
            for touched_part in touched_parts:
                acc[touched_part] = 0.0
                seen[touched_part] = False
        return self._exact_top(parts, slices, stats, known, cand, n, matched)

    def _exact_top(
        self,
        parts: list[Part],
        slices: dict[int, list[tuple[Part, int, int]]],
        stats: Idf,
        known: list[int],
        cand: np.ndarray,
        n: int,
        matched: int,
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """The n best of the candidates (sorted global indexes) by their exact scores: rank-bm25's
        expression, term by term in query order; ties broken by passage id."""
        avgdl = stats.avgdl
        score = np.zeros(len(cand))
        cuts = part_cuts(parts, cand)
        for t in known:
            score = score + self._lookup(slices[t], cand, stats.values[t], avgdl, cuts)
        return self._best(parts, cand, score, n, matched)

    @staticmethod
    def _best(
        parts: list[Part], cand: np.ndarray, score: np.ndarray, n: int, matched: int
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """The n best candidates by score, ties broken by passage id."""
        pids = passage_ids_of(parts, cand)
        best = np.lexsort((pids, -score))[:n]
        return pids[best], score[best], matched

    def _norms(self, parts: list[Part], cand: np.ndarray, cuts: np.ndarray, avgdl: float) -> np.ndarray:
        """`length_norm` of each candidate (grouped by part, as `cuts` says)."""
        norm = np.empty(len(cand))
        for part in parts:
            a, z = int(cuts[part.number]), int(cuts[part.number + 1])
            if a < z:
                dl = part.segment.doc_len[cand[a:z] - part.base]
                norm[a:z] = length_norm(dl, avgdl, self.k1, self.b)
        return norm

    def _accumulator(self, total: int) -> tuple[np.ndarray, np.ndarray]:
        """This thread's zeroed score and seen arrays, of at least `total` entries."""
        scratch = self._scratch
        acc = getattr(scratch, "acc", None)
        if acc is None or len(acc) < total:
            size = max(total, int(len(acc) * 1.5) if acc is not None else 0)
            scratch.acc = np.zeros(size)
            scratch.seen = np.zeros(size, dtype=bool)
        return scratch.acc, scratch.seen

    @staticmethod
    def _seed_pool(acc: np.ndarray, pool: np.ndarray, since: list[np.ndarray], n: int) -> np.ndarray:
        """The passages with the best partial scores: the last pool, and the best of the passages
        whose scores grew since (a passage outside both has not grown, and was not better than the
        pool). Any passages would give a valid bound; these give a tight one."""
        pick = max(4 * n, 64)
        grown = np.concatenate(since) if since else np.zeros(0, dtype=np.int64)
        if len(pool) >= pick:
            # Only a passage now above the pool's lowest can displace one of the pool.
            grown = grown[acc[grown] > acc[pool].min()]
        if len(grown) > pick:
            grown = grown[np.argpartition(acc[grown], len(grown) - pick)[len(grown) - pick :]]
        both = np.union1d(pool, grown)
        if len(both) > pick:
            both = np.sort(both[np.argpartition(acc[both], len(both) - pick)[len(both) - pick :]])
        return both

    def _seed_threshold(
        self,
        acc: np.ndarray,
        pool: np.ndarray,
        n: int,
        rest: list[int],
        slices: dict,
        stats: Idf,
        multiplicity: dict[int, int],
        parts: list[Part],
    ) -> float:
        """A lower bound of the final n-th score: the n-th best full score among the passages of
        `pool` (sorted; their remaining terms looked up, not bounded)."""
        if len(pool) < n:
            return 0.0
        full = acc[pool]
        cuts = part_cuts(parts, pool)
        for t in rest:
            full = full + self._lookup(slices[t], pool, stats.values[t] * multiplicity[t], stats.avgdl, cuts)
        th = float(np.partition(full, len(full) - n)[len(full) - n])
        return th - abs(th) * MARGIN * 4

    def _lookup(
        self,
        slices: list[tuple[Part, int, int]],
        cand: np.ndarray,
        idf: float,
        avgdl: float,
        cuts: np.ndarray,
        norm: np.ndarray | None = None,
    ) -> np.ndarray:
        """Contributions of one term to the global document indexes `cand` (0 where absent), whose
        documents of part p are cand[cuts[p]:cuts[p + 1]] (`part_cuts` of sorted indexes, or
        `group_by_part`); with `norm`, the candidates' `length_norm` (k1 > 0, b < 1)."""
        out = np.zeros(len(cand))
        for part, lo, hi in slices:
            seg = part.segment
            a, z = int(cuts[part.number]), int(cuts[part.number + 1])
            if a == z:
                continue
            if seg.is_common(lo, hi):
                local = cand[a:z] - part.base
                tf = seg.dense_tf(lo, hi)[local]
                if norm is not None:
                    out[a:z] = normed_contribution(idf, tf, norm[a:z], self.k1)
                    continue
                found = tf > 0
                where = np.flatnonzero(found)
                out[where + a] = self._contribution(idf, tf[where], seg.doc_len[local[where]], avgdl)
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
