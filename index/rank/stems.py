"""Snowball stems of words, cached, safe to use from many threads at once."""

from __future__ import annotations

import threading
from collections.abc import Collection

import Stemmer

from .words import irregular_forms

STEM_CACHE = 200_000
"""At most this many words' stems are kept; the cache starts over beyond it."""


class Stems:
    """English Snowball stems, with irregular verbs mapped to their base first ("said" -> "say")
    when `irregular` is on. A PyStemmer Stemmer must not be called from two threads at once, so each
    thread has its own; the shared cache is guarded by a lock."""

    def __init__(self, irregular: bool = True, limit: int = STEM_CACHE) -> None:
        self.irregular = irregular
        self.limit = limit
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def _stemmer(self) -> Stemmer.Stemmer:
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            # No cache of PyStemmer's own (this class keeps one): its upkeep made each new word's
            # stem cost three times as much.
            stemmer = self._local.stemmer = Stemmer.Stemmer("english", 0)
        return stemmer

    def _base(self, word: str) -> str:
        return irregular_forms().get(word, word) if self.irregular else word

    def stem(self, word: str) -> str:
        with self._lock:
            found = self._cache.get(word)
        if found is not None:
            return found
        found = self._stemmer().stemWord(self._base(word))
        with self._lock:
            if len(self._cache) >= self.limit:
                self._cache.clear()
            self._cache[word] = found
        return found

    def stem_all(self, words: Collection[str]) -> dict[str, str]:
        """The stem of each word, the words not stemmed yet in one call to the stemmer."""
        ordered = list(words)
        with self._lock:
            cached = list(map(self._cache.get, ordered))  # one pass in C: most words are cached
        found: dict[str, str] = dict(zip(ordered, cached, strict=True))  # type: ignore[arg-type]
        if None in cached:
            new = [w for w, s in zip(ordered, cached, strict=True) if s is None]
            forms = irregular_forms() if self.irregular else {}
            bases = [forms.get(w, w) for w in new]
            fresh = dict(zip(new, self._stemmer().stemWords(bases), strict=True))
            found.update(fresh)
            with self._lock:
                if len(self._cache) + len(fresh) > self.limit:
                    self._cache.clear()
                self._cache.update(fresh)
        return found
