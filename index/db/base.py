"""What the search layer needs of a database: the interface a second backend implements."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..errors import NotFound
from ..ingest.text import without_joiners
from ..models import AddFailure, AddResult, Article, Passage, StoredArticle

PassageRow = tuple[int, int, int, bytes, bytes]
"""(passage id, article id, length, term ids, tfs) of a stored passage: what the engine indexes."""


class Busy(Exception):
    """Another process is writing and the caller asked not to wait (`put_vectors(wait=False)`)."""


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of the change log: an article added, or removed (with what the index subtracts)."""

    seq: int
    library: str
    article_id: int
    action: str
    first_passage: int | None
    term_ids: bytes | None
    doc_counts: bytes | None


@dataclass(slots=True)
class PreparedArticle:
    """An article split into passages and counted, ready to store (made outside any transaction)."""

    article: Article
    spans: list
    counts: list[Counter[str]]
    content_hash: str
    vectors: np.ndarray | None = None
    as_new: bool = False
    """Store it beside an article of the same identity (URL, else title) instead of updating that."""
    analyses: list[bytes] | None = None
    """Each passage's ranker analysis (`index.rank.features.encode_analysis`), stored with it."""
    unembedded: list[int] | None = None
    """Set by `store_articles` when a model was given but the passages it stored came without
    vectors (the text was stored already when the batch was encoded, and was replaced earlier in the
    same batch): their ids in passage order, for the store to give vectors after the transaction."""


@dataclass(slots=True)
class HitRows:
    """What a search reads of its passages, in one snapshot: each passage, and each of their
    articles with its whole text (read once per article, however many of its passages are hits)."""

    passages: dict[int, tuple[int, int, int, int, bytes, bytes | None]]
    """By passage id, for passages of the asked libraries still stored: (article id, index, start,
    end, term ids, the analysis stored with it or None)."""
    articles: dict[int, tuple[StoredArticle, str]]
    """By article id: the article and its text."""


CORRECTABLE = ("title", "url", "published", "author", "site")
"""The fields an article added again with the same text corrects in place (see `corrections`)."""


@dataclass(frozen=True, slots=True)
class StoredFields:
    """What `corrections` compares of the stored article that holds an added article's text."""

    title: str
    url: str | None
    published: str | None
    author: str | None
    site: str | None
    source: str | None


def corrections(stored: StoredFields, article: Article, link_taken: bool) -> dict[str, str | None] | None:
    """The fields to change in place when `article` brings the text of the `stored` one again:
    {} when nothing differs ("unchanged"), None when it is another article with that text (stored
    once, left as it is: "unchanged").

    It is the same article when the stored one has the link given, or when it was read from the same
    source (the same file, record id or line) and does not have another link than the one given,
    nor does another stored article have that one (`link_taken`). Then its title, link, date,
    author and site are corrected: a field left out (no date, no link) keeps its stored value, so
    adding a folder again never drops a date once given with --date."""
    same_link = stored.url is not None and stored.url == article.url
    same_source = (
        stored.source == article.source
        and (stored.source is not None or stored.title == article.title)  # else the title is its identity
        and (stored.url is None or article.url in (None, stored.url))
        and not (article.url and stored.url is None and link_taken)
    )
    if not same_link and not same_source:
        return None
    given = {
        "title": article.title or stored.title,
        "url": article.url or stored.url,
        "published": article.published or stored.published,
        "author": article.author or stored.author,
        "site": article.site or stored.site,
    }
    return {name: value for name, value in given.items() if value != getattr(stored, name)}


def content_hash(text: str) -> str:
    """A hash of the text that ignores case, spacing and zero-width (non-)joiners (articles stored
    before the text kept them have none), for finding duplicates."""
    folded = " ".join(
        without_joiners(text).casefold().split()
    )  # the same as re.sub(r"\s+", " ", ...).strip()
    return hashlib.sha256(folded.encode()).hexdigest()


_SHOWN_ID_CHARS = 60
"""A refused article id longer than this is named by its start."""


def article_number(value: str | int) -> int:
    """An article id as given by a person ("12", "#12"); NotFound for anything else."""
    digits = str(value).strip().lstrip("#")
    # ASCII digits only: int() would also take "1_000" and other scripts' digits ("١").
    number = int(digits) if digits.isascii() and digits.isdigit() else 0
    if not 0 < number < 2**63:
        shown = str(value)
        if len(shown) > _SHOWN_ID_CHARS:  # a title typed where an id goes: name its start only
            shown = shown[: _SHOWN_ID_CHARS - 1] + "…"
        raise NotFound(f"{shown!r} is not an article id")
    return number


class Database(Protocol):
    """Articles, passages, settings, passage vectors and the change log of one database.

    Implementations are thread-safe. Every add and remove is one transaction that also appends to
    the change log, which is what every process's in-memory index follows."""

    path: str

    def close(self) -> None: ...

    def read(self, transaction: bool = False) -> AbstractContextManager[Any]:
        """A context in which this thread's reads see one snapshot (with `transaction`)."""
        ...

    # identity and the change log
    def instance(self) -> str | None: ...
    def latest_change(self) -> int: ...
    def change_article(self, seq: int) -> int | None: ...
    def change_fingerprint(self, seq: int, tail: int = 32) -> str:
        """A hash of the change log's last `tail` entries up to `seq` (what an index cache made at
        `seq` is checked against)."""
        ...

    def count_changes_after(self, seq: int) -> int: ...
    def changes_after(self, seq: int) -> list[Change]: ...
    def libraries(self) -> list[str]: ...
    def library_passages(self, library: str, chunk: int) -> Iterator[list[PassageRow]]: ...
    def article_passages(self, article_ids: list[int]) -> list[PassageRow]: ...

    # articles
    def stored_hashes(self, library: str, hashes: list[str]) -> set[str]: ...
    def store_articles(
        self, prepared: list[PreparedArticle], library: str, model: str | None = None
    ) -> list[AddResult | AddFailure]: ...
    def remove(self, library: str, article_id: str | int) -> StoredArticle: ...
    def get_article(self, library: str | list[str], article_id: str | int) -> StoredArticle: ...
    def article_text(self, library: str | list[str], article_id: str | int) -> str: ...
    def list_articles(
        self, library: str, offset: int = 0, limit: int = 50, title_contains: str | None = None
    ) -> list[StoredArticle]: ...
    def count_articles(self, library: str) -> int: ...
    def passages(
        self, library: str | list[str], article_id: str | int, first: int = 0, last: int | None = None
    ) -> list[Passage]: ...

    # settings
    def get_setting(self, library: str, key: str) -> str | None: ...
    def set_setting(self, library: str, key: str, value: str | None) -> None: ...
    def settings(self, library: str, prefix: str) -> dict[str, str]: ...

    # what a search reads
    def known_term_ids(self, terms: list[str]) -> list[int]: ...
    def terms_after(self, last_id: int) -> list[tuple[int, str]]: ...
    def hit_rows(self, passage_ids: list[int], libraries: list[str]) -> HitRows: ...
    def passage_terms(self, passage_keys: list[tuple[str, int]]) -> dict[tuple[str, int], frozenset[str]]: ...
    def passage_extras(
        self, passage_keys: list[tuple[int, int]], before: int
    ) -> dict[tuple[int, int], tuple[bytes | None, str]]:
        """By (article id, passage index), for passages still stored: the analysis stored with the
        passage (`PreparedArticle.analyses`; None if it has none) and up to `before` characters of
        its article's text just before it. One query for the ranker's candidates."""
        ...

    # passage vectors (the learned stage)
    def put_vectors(
        self, passage_ids: list[int], vectors: Iterable[np.ndarray], model: str, wait: bool = True
    ) -> None: ...
    def passage_vector_rows(
        self, keys: list[tuple[int, int]], model: str
    ) -> dict[tuple[int, int], tuple[int, bytes | None, str]]: ...
    def count_missing_vectors(self, model: str, library: str | None = None) -> int: ...
    def passages_missing_vectors(
        self, model: str, library: str | None, limit: int, after: int = 0
    ) -> list[tuple[int, str]]: ...

    # statistics
    def library_counts(self) -> list[tuple[str, int, int]]: ...
    def size_bytes(self) -> int: ...
