"""Top-k selection over score arrays: pure functions, apart from the index that owns the arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .scoring import MARGIN
from .segments import Segment


@dataclass(slots=True)
class Part:
    """A segment searched, its documents numbered from `base` in the search's global numbering;
    `number` is its place among the parts searched."""

    segment: Segment
    base: int
    number: int = 0


def group_by_part(parts: list[Part], cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The global indexes `cand` reordered so that each part's are together, in part order (in any
    order within a part: a linear-time grouping, not a sort), and the cuts between the parts."""
    if len(parts) == 1:
        return cand, np.array([0, len(cand)])
    part_of = np.searchsorted([p.base for p in parts[1:]], cand, side="right").astype(np.uint16)
    counts = np.bincount(part_of, minlength=len(parts))
    return cand[np.argsort(part_of, kind="stable")], np.concatenate(([0], np.cumsum(counts)))


def part_cuts(parts: list[Part], cand: np.ndarray) -> np.ndarray:
    """Where each part's documents start and end in the sorted global indexes `cand`."""
    edges = [p.base for p in parts]
    edges.append(parts[-1].base + parts[-1].segment.size if parts else 0)
    return np.searchsorted(cand, edges)


def best_candidates(values_of: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    """The entries of `index` whose value may be among the n largest (ties and rounding kept)."""
    if len(index) <= n:
        return index
    values = values_of[index]
    th = float(np.partition(values, len(values) - n)[len(values) - n])
    return index[values >= th - abs(th) * MARGIN]


def passage_ids_of(parts: list[Part], cand: np.ndarray) -> np.ndarray:
    out = np.empty(len(cand), dtype=np.int64)
    for part in parts:
        a = int(np.searchsorted(cand, part.base))
        z = int(np.searchsorted(cand, part.base + part.segment.size))
        if a < z:
            out[a:z] = part.segment.passage_ids[cand[a:z] - part.base]
    return out
