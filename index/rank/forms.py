"""Other word forms of a question's terms in the vocabulary ("flooding" and "floods" for "floods"),
by Snowball stem, so that BM25 can also find passages that say it in another form."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from .stems import Stems


class WordForms:
    """The vocabulary's term ids grouped by stem, fed incrementally as terms are created. Thread-safe."""

    def __init__(self, stems: Stems | None = None) -> None:
        self.stems = stems if stems is not None else Stems(irregular=True, limit=0)
        self._by_stem: dict[str, list[int]] = {}
        self._last_id = 0
        self._lock = threading.Lock()

    @property
    def last_id(self) -> int:
        """The largest term id taken in so far (terms are numbered in the order they are created)."""
        with self._lock:
            return self._last_id

    def take(self, terms: Iterable[tuple[int, str]]) -> None:
        """Take in (term id, term) pairs of ids above `last_id`."""
        rows = list(terms)
        if not rows:
            return
        stems = self.stems.stem_all({term for _, term in rows})
        with self._lock:
            for term_id, term in rows:
                if term_id > self._last_id:
                    self._by_stem.setdefault(stems[term], []).append(term_id)
            self._last_id = max(self._last_id, max(term_id for term_id, _ in rows))

    def other_forms(self, terms: list[str], term_ids: list[int], limit: int = 8) -> list[int]:
        """Ids of vocabulary terms that share a stem with a question term but are not one of the
        question's own terms (at most `limit` per question term)."""
        own = set(term_ids)
        stems = self.stems.stem_all(set(terms))
        found: list[int] = []
        with self._lock:
            for term in dict.fromkeys(terms):
                others = [t for t in self._by_stem.get(stems[term], ()) if t not in own]
                found += others[:limit]
        return found
