"""Plain data passed between the readers, the store and the front ends."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

INDEX_MARKER = "CLIPPINGS-INDEX"
"""The file that marks a folder as a Clippings index cache: engine/cache.py makes it with the folder,
and the readers never read a folder that holds it as articles."""


@dataclass(slots=True)
class Article:
    """An article as read from a source, before it is stored."""

    title: str
    text: str
    url: str | None = None
    published: str | None = None
    author: str | None = None
    site: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """What the store holds about an article (its text is fetched separately)."""

    id: str
    library: str
    title: str
    url: str | None
    published: str | None
    author: str | None
    site: str | None
    passage_count: int
    chars: int
    added_at: str


@dataclass(frozen=True, slots=True)
class AddResult:
    article: StoredArticle
    status: str
    """"added", "updated" (the same article with new text, or with the same text and a corrected
    title, link, date, author or site) or "unchanged" (the same text was already stored)."""


@dataclass(frozen=True, slots=True)
class AddFailure:
    """An article the database refused (a value PostgreSQL cannot hold, a rule its administrator
    set) or failed to store (a statement timeout, a full disk): nothing of it was stored, and the
    other articles of its batch were."""

    title: str
    url: str | None
    cause: str
    """The database's own words, one line."""
    status: str = "failed"
    refused: bool = True
    """The database refused the article's own values; False: storing it failed for another reason,
    which the article may pass once that is fixed."""


@dataclass(frozen=True, slots=True)
class Passage:
    article_id: str
    index: int
    """0-based position of the passage in its article."""
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked passage: the quote, where it sits in the article, and the article it quotes."""

    rank: int
    score: float
    article: StoredArticle
    passage: Passage
    matched_terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SearchResponse:
    question: str
    terms: tuple[str, ...]
    hits: list[Hit]
    searched_articles: int
    total_hits: int = 0
    """How many passages matched at least one term (before the top-k cut)."""
    libraries: tuple[str, ...] = field(default=())
    answerable: bool = True
    """Whether the hits could answer the question (index.rank.answerable). When False they are
    only the closest passages, and must not be shown as an answer."""


class Stages:
    """Milliseconds one answer spent in each stage, for benchmarks/speed.py's breakdown.

    Used by one thread for one answer: `lap(name)` adds the time since the previous lap (or since
    it was made) to `name`."""

    __slots__ = ("_last", "ms")

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.ms[name] = self.ms.get(name, 0.0) + (now - self._last) * 1000
        self._last = now
