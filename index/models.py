"""Plain data passed between the readers, the store and the front ends."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    """"added", "updated" (same URL, new text) or "unchanged" (the same text was already stored)."""


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
