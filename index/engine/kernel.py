"""The n best documents' candidates, and their exact scores, in C (`_clippings_kernel`, built from
`_kernel.c`).

The engine's numpy path's pruned search, with its loops fused: terms rarest first into one scratch
accumulator; the threshold seeded from the full scores of a kept pool of the 64 best partial
scores; once the bounds of the terms left cannot lift an unseen document to it (and the next term's
postings are at least half the documents touched: reading fewer costs less than the candidates they
spare), the documents that can still reach it are finished one at a time in document order, each
taking the terms left while its own bound can still reach the threshold (common terms through their
dense tf arrays). It returns a small superset of the n best (every document within a relative
4 * MARGIN of the n-th score); `exact_scores` then scores those exactly as rank-bm25 does.
"""

from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from .segments import BLOCK_LEVELS, BLOCK_SHIFT, Segment
from .selection import Part

log = logging.getLogger(__name__)

MODULE = "_clippings_kernel"


@dataclass(frozen=True, slots=True)
class Found:
    """Candidate global document indexes (sorted), how many live documents the kernel touched, and
    whether it read every posting (then those are all the live documents holding a term)."""

    candidates: np.ndarray
    touched: int
    complete: bool


class Kernel:
    """The compiled module, loaded on first use. `available` is False when it is not built (a
    source checkout run without `pip install`); the engine then ranks in numpy."""

    def __init__(self, module: ModuleType | None = None) -> None:
        """With `module`, that loaded build instead of importing `_clippings_kernel` (a benchmark
        comparing two builds in one process)."""
        self._module: ModuleType | None = module
        self._tried = module is not None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        with self._lock:
            if not self._tried:
                self._tried = True
                try:
                    self._module = importlib.import_module(MODULE)
                except ImportError:
                    log.warning(
                        "the compiled ranking kernel is not built (pip install the project); ranking in numpy"
                    )
        return self._module is not None

    def top(
        self,
        parts: list[Part],
        terms: list[tuple[int, float, float]],
        slices: dict[int, list[tuple[Part, int, int]]],
        scratch: tuple[np.ndarray, np.ndarray],
        n: int,
        avgdl: float,
        k1: float,
        b: float,
        margin: float,
        threads: int = 1,
    ) -> Found:
        """Candidates for the n best documents (on two threads when `threads` > 1: one for each
        half of the documents, after the rarest term has set the bar for both). `terms` holds (term,
        weight, bound), rarest first: the weight is its idf times its count in the question, the
        bound at least the weight times its largest tf-part. `scratch` is a zeroed float64 and a
        zeroed bool array of a document each (left zeroed). A segment's common terms are looked up
        in their dense tf arrays (`Segment.dense_tf`)."""
        module = self._module
        if module is None:
            raise RuntimeError("the compiled ranking kernel is not built")
        acc, seen = scratch
        # Block bounds for a build that reads them in this layout (an older build, a benchmark's
        # baseline, takes postings without them).
        reads_blocks = (
            getattr(module, "BLOCK_SHIFT", None) == BLOCK_SHIFT
            and getattr(module, "BLOCK_LEVELS", None) == BLOCK_LEVELS
        )
        work = (
            _work_parts(parts),
            _work_terms(terms, slices, (avgdl, k1, b) if reads_blocks else None),
            acc,
            seen.view(np.uint8),
            n,
            avgdl,
            k1,
            b,
            margin,
        )
        # Threads only when more than one: a build from before the split search (a benchmark's
        # baseline) takes the arguments without it.
        out, touched, complete = (
            module.top_candidates(*work, threads) if threads > 1 else module.top_candidates(*work)
        )
        return Found(np.sort(np.frombuffer(out, dtype=np.int64)), touched, complete)

    def exact_scores(
        self,
        parts: list[Part],
        terms: list[tuple[int, float]],
        slices: dict[int, list[tuple[Part, int, int]]],
        candidates: np.ndarray,
        avgdl: float,
        k1: float,
        b: float,
    ) -> np.ndarray:
        """The candidates' (sorted global indexes) BM25 scores as rank-bm25 computes them, bit for
        bit: `terms` holds (term, idf) in the question's order, a repeated term repeated."""
        module = self._module
        if module is None:
            raise RuntimeError("the compiled ranking kernel is not built")
        work = _work_terms([(term, idf, 0.0) for term, idf in terms], slices)
        cand = np.ascontiguousarray(candidates, dtype=np.int64)
        out = module.exact_scores(_work_parts(parts), work, cand, avgdl, k1, b)
        return np.frombuffer(out, dtype=np.float64)


def _work_parts(parts: list[Part]) -> list[tuple]:
    return [
        (part.segment.doc_len, part.segment.alive if part.segment.dead else None, part.base) for part in parts
    ]


def _work_terms(
    terms: list[tuple[int, float, float]],
    slices: dict[int, list[tuple[Part, int, int]]],
    scoring: tuple[float, float, float] | None = None,
) -> list[tuple]:
    """The kernel's terms: (weight, bound, [(part number, docs, tfs, dense tfs or None)]); with
    `scoring` (avgdl, k1, b), each postings' block bounds too, or None where the segment has none
    for the term or they do not hold at these parameters."""
    return [
        (
            weight,
            bound,
            [
                (
                    part.number,
                    part.segment.docs[lo:hi],
                    part.segment.tfs[lo:hi],
                    part.segment.dense_tf(lo, hi) if part.segment.is_common(lo, hi) else None,
                )
                + (() if scoring is None else (_blocks(part.segment, lo, hi, scoring),))
                for part, lo, hi in slices[term]
            ],
        )
        for term, weight, bound in terms
    ]


def _blocks(segment: Segment, lo: int, hi: int, scoring: tuple[float, float, float]) -> np.ndarray | None:
    """The block bounds of the term whose postings are docs[lo:hi], where they hold: made at the
    segment's reference avgdl, k1 and b, they bound any smaller avgdl with the same k1 and b."""
    avgdl, k1, b = scoring
    ref = segment.ref
    if not segment.has_blocks(lo, hi) or avgdl > ref[0] or k1 != ref[1] or b != ref[2]:
        return None
    return segment.block_bounds(lo, hi)
