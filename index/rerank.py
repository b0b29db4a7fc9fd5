"""The ranking stage after BM25: reorders BM25's best candidates for a question.

`rerank` is the default ranker of every `Store`. For now it keeps BM25's order; the answer-quality
work (benchmarks/quality.py) decides what it adds.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from .models import Hit
    from .store import Store

log = logging.getLogger(__name__)

CANDIDATES = 40
"""How many BM25 candidates the ranker sees."""


def rerank(store: Store, question: str, libraries: list[str], hits: list[Hit]) -> list[Hit]:
    """Reorder BM25's candidates (best first). Must return a subset of `hits`, never new text."""
    return hits


def ablations() -> dict[str, Callable]:
    """The default ranker with one idea switched off, by the idea's name (for benchmarks)."""
    return {}
