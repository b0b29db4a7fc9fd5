"""The SQLite store (through sqlite-utils) and the search over it.

One file holds articles, their passages (as offsets into the article text, with their terms),
the vocabulary, per-library settings and a change log. Every process that opens the file keeps an
in-memory BM25 index and brings it up to date from the change log before each search, so a bot and
a CLI can share one database.

The index is also cached beside the database (`<db>.index/`): segment files that are memory-mapped
at start, and a manifest naming the change-log position they reflect. The SQLite file stays the
source of truth: a cache that is missing, stale beyond the change log, from another database or
corrupt (checked by size and CRC-32) is ignored and rebuilt from the stored term ids.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np
import sqlite_utils

from .engine import PassageTerms, SearchIndex, Segment, merge_segments, read_segment, write_segment
from .errors import DatabaseError, NoSearchableWords, NotFound
from .models import AddResult, Article, Hit, Passage, SearchResponse, StoredArticle
from .passages import PASSAGE_BUDGET, PASSAGE_CAP, make_passages
from .rerank import CANDIDATES, rerank
from .text import question_terms, tokenize

log = logging.getLogger(__name__)

APPLICATION = "clippings"
SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 30_000
UNSAVED_VECTORS = 20_000
"""Passage vectors made for a question but not saved (a read-only file, or another process
writing) are kept in memory, up to this many (float16, about 15 MB), and saved by a later question."""
TERM_DTYPE = np.dtype("<u4")
TF_DTYPE = np.dtype("<u2")
SQL_VARIABLES = 900
LOAD_CHUNK = 200_000
"""Passages read from SQLite per segment while building the index from scratch."""
CACHE_FORMAT = 2
TERM_CACHE_MAX = 2_000_000
"""Term ids kept in memory for adding articles (about 100 bytes each)."""
CACHE_MIN_PASSAGES = 20_000
"""Smaller indexes build from SQLite in well under a second and are not cached."""
CACHE_SAVE_INTERVAL = 60.0
"""Seconds between background saves of the index cache after merges."""
REPLAY_SAVE_CHANGES = 500
"""Save the cache at start when at least this many changes had to be replayed from the log."""

Ranker = Callable[["Store", str, list[str], list[Hit]], list[Hit]]
VECTOR_DTYPE = np.dtype("<f2")


class TextEncoder(Protocol):
    """What the store needs of the learned ranker's encoder (index.semantic.Encoder)."""

    model_name: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


def _migrate_1(db: sqlite_utils.Database) -> None:
    # AUTOINCREMENT: ids are never reused, so a change log entry names one version of an article.
    db.execute(
        """CREATE TABLE articles (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            library TEXT NOT NULL,
            title TEXT NOT NULL,
            url TEXT,
            published TEXT,
            author TEXT,
            site TEXT,
            source TEXT,
            content_hash TEXT NOT NULL,
            text TEXT NOT NULL,
            passage_count INTEGER NOT NULL,
            added_at TEXT NOT NULL
        )"""
    )
    db["articles"].create_index(["library", "id"], index_name="articles_by_library")
    db["articles"].create_index(["library", "content_hash"], index_name="articles_by_hash", unique=True)
    db["articles"].create_index(["library", "url"], index_name="articles_by_url")
    db.execute(
        """CREATE TABLE passages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            seq INTEGER NOT NULL,
            start INTEGER NOT NULL,
            end INTEGER NOT NULL,
            length INTEGER NOT NULL,
            terms BLOB NOT NULL,
            tfs BLOB NOT NULL
        )"""
    )
    db["passages"].create_index(["article_id", "seq"], index_name="passages_by_article", unique=True)
    db["terms"].create({"id": int, "term": str}, pk="id", not_null={"term"})
    db["terms"].create_index(["term"], index_name="terms_by_term", unique=True)
    db["settings"].create(
        {"library": str, "key": str, "value": str}, pk=("library", "key"), not_null={"value"}
    )
    db["changes"].create(
        {
            "seq": int,
            "library": str,
            "article_id": int,
            "action": str,
            "passages": int,
            "total_len": int,
            "first_passage": int,
            "last_passage": int,
            "term_ids": bytes,
            "doc_counts": bytes,
        },
        pk="seq",
        not_null={"library", "article_id", "action"},
    )


def _migrate_2(db: sqlite_utils.Database) -> None:
    # Vectors of the learned ranker (the `rerank` extra), one per passage, float16, made by `model`.
    db.execute(
        """CREATE TABLE passage_vectors (
            passage_id INTEGER PRIMARY KEY,
            model TEXT NOT NULL,
            vector BLOB NOT NULL
        )"""
    )


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_migrate_1, _migrate_2]
"""MIGRATIONS[i] takes a database from schema version i to i + 1."""


def content_hash(text: str) -> str:
    """A hash of the text that ignores case and spacing, for finding duplicates."""
    folded = " ".join(text.casefold().split())  # the same as re.sub(r"\s+", " ", ...).strip()
    return hashlib.sha256(folded.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _article_id(value: str | int) -> int:
    try:
        number = int(str(value).strip().lstrip("#"))
    except ValueError:
        number = 0
    if not 0 < number < 2**63:
        raise NotFound(f"{value!r} is not an article id; use `list` to see the ids.")
    return number


class Store:
    """Articles, passages and settings in one SQLite file, and BM25 search over them.

    Thread-safe: one connection, used under a lock, so the bot can call it from worker threads.
    """

    def __init__(
        self, path: str | Path, ranker: Ranker | None = rerank, encoder: TextEncoder | None = None
    ) -> None:
        """Open (or create) a database. `ranker=None` gives plain BM25 order. With an `encoder`
        (index.semantic.Encoder, the `rerank` extra) passages get vectors as they are added, and
        the default ranker uses them."""
        self.path = str(path)
        self.encoder = encoder
        self._lock = threading.RLock()
        self._seq = 0
        self.index = SearchIndex(background_merges=True)
        self.index.on_merge = self._merged
        self.ranker = ranker
        self._saved: tuple[int, int] = (-1, -1)
        """(change-log seq, index generation) of the cache on disk."""
        self._saved_at = 0.0
        self._saving = threading.Lock()
        self._closed = False
        self._terms: dict[str, int] = {}
        self._terms_pending: dict[str, int] = {}
        self._unsaved_vectors: OrderedDict[tuple[int, bytes], np.ndarray] = OrderedDict()
        self._warned_unsaved = False
        self.cache_dir = None if self.path == ":memory:" else Path(self.path + ".index")
        self.conn = self._connect()
        self.db = sqlite_utils.Database(self.conn)
        try:
            self._prepare()
            self._load_index()
        except sqlite3.OperationalError as exc:
            self.conn.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise DatabaseError(
                    f"{self.path} is busy in another process; try again in a moment."
                ) from None
            if "readonly" in str(exc):
                raise DatabaseError(
                    f"{self.path} is read-only and needs one write to upgrade it to this Clippings'"
                    " schema; open it once with write access."
                ) from None
            raise DatabaseError(
                f"{self.path} is not a readable Clippings database ({exc}); "
                "point --db or CLIPPINGS_DB at another file."
            ) from None
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise DatabaseError(
                f"{self.path} is not a readable Clippings database ({exc}); "
                "point --db or CLIPPINGS_DB at another file."
            ) from None

    # -- opening ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            parent = Path(self.path).parent
            if not parent.exists():
                raise DatabaseError(f"The folder {parent} does not exist; create it or choose another --db.")
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except sqlite3.Error as exc:
            raise DatabaseError(f"{self.path} cannot be opened ({exc}); check the path.") from None
        return conn

    def _prepare(self) -> None:
        tables = set(self.db.table_names())
        if tables and "meta" not in tables:
            raise DatabaseError(
                f"{self.path} is a database of another program; point --db at a new file instead."
            )
        if "meta" in tables:
            marker = self.conn.execute("SELECT value FROM meta WHERE key = 'application'").fetchone()
            if not marker or marker[0] != APPLICATION:
                raise DatabaseError(
                    f"{self.path} is a database of another program; point --db at a new file instead."
                )
        if self.path != ":memory:":
            mode = self._enable_wal()
            if mode.lower() != "wal":
                log.warning("WAL mode is not available for %s (journal mode %s)", self.path, mode)
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("PRAGMA foreign_keys = ON")
        with self._write():
            version = 0
            if "meta" not in set(self.db.table_names()):
                self.db["meta"].create({"key": str, "value": str}, pk="key")
                self.db["meta"].insert({"key": "application", "value": APPLICATION})
            else:
                row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise DatabaseError(
                    f"{self.path} was made by a newer Clippings (schema {version}); upgrade Clippings."
                )
            for step in range(version, SCHEMA_VERSION):
                log.info("migrating %s to schema %d", self.path, step + 1)
                MIGRATIONS[step](self.db)
            if version != SCHEMA_VERSION:  # opening an up-to-date file writes nothing to it
                self.db["meta"].upsert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key")
            if not self.conn.execute("SELECT 1 FROM meta WHERE key = 'instance'").fetchone():
                self.db["meta"].insert({"key": "instance", "value": uuid.uuid4().hex})

    def _enable_wal(self) -> str:
        """Switch to WAL; the switch ignores the busy timeout, so wait for another opener here."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                return self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @contextmanager
    def _write(self, wait: bool = True) -> Iterator[None]:
        """One write transaction, taken at once so it never fails half-way on a lock upgrade.
        `wait=False` fails at once (sqlite3.OperationalError) when another connection is writing."""
        with self._lock:
            if wait:
                self.conn.execute("BEGIN IMMEDIATE")
            else:
                self.conn.execute("PRAGMA busy_timeout = 0")
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                finally:
                    self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._terms_pending = {}
            try:
                yield
            except BaseException:
                self._terms_pending = {}
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
            if self._terms_pending:
                if len(self._terms) > TERM_CACHE_MAX:
                    self._terms.clear()
                self._terms.update(self._terms_pending)
                self._terms_pending = {}

    def close(self) -> None:
        # Save before taking the store lock: a background save takes the locks in the order
        # saving -> store -> index, so holding the store lock while waiting for it could deadlock.
        if self._closed:
            return
        with suppress(sqlite3.Error):
            self._save_on_close()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with suppress(sqlite3.Error):
                self.conn.execute("PRAGMA optimize")
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- adding and removing ---------------------------------------------------------------

    def add(self, article: Article, library: str) -> AddResult:
        """Store one article whole (or not at all) and return what was stored."""
        return next(iter(self.add_many([article], library)))

    def add_many(self, articles: Iterable[Article], library: str, batch: int = 100) -> Iterator[AddResult]:
        """Store many articles, committing every `batch` articles. Each article is whole or absent."""
        pending: list[tuple[Article, list, list[Counter[str]]]] = []
        if self.encoder is not None:
            batch = min(batch, 10)  # encoding is slow: commit (and show progress) more often
        for article in articles:
            spans = make_passages(article.text, PASSAGE_BUDGET, PASSAGE_CAP)
            counts = [Counter(tokenize(article.text[s.start : s.end])) for s in spans]
            pending.append((article, spans, counts))
            if len(pending) >= batch:
                yield from self._store_batch(pending, library)
                pending = []
        if pending:
            yield from self._store_batch(pending, library)

    def _store_batch(self, pending: list, library: str) -> list[AddResult]:
        vectors: list[np.ndarray | None] = [None] * len(pending)
        if self.encoder is not None:
            # Encoded before the write transaction: it is slow and must not hold the lock. Articles
            # stored already with the same text are skipped ("unchanged"; a passage left without a
            # vector by a race gets one when it is first a candidate).
            hashes = [content_hash(a.text) for a, _, _ in pending]
            with self._lock:
                stored = {
                    h
                    for i in range(0, len(hashes), SQL_VARIABLES)
                    for (h,) in self.conn.execute(
                        "SELECT content_hash FROM articles WHERE library = ? AND content_hash IN"
                        f" ({','.join('?' * len(hashes[i : i + SQL_VARIABLES]))})",
                        [library, *hashes[i : i + SQL_VARIABLES]],
                    )
                }
            todo = [i for i, h in enumerate(hashes) if h not in stored]
            texts = [pending[i][0].text[s.start : s.end] for i in todo for s in pending[i][1]]
            encoded = self._encode(texts) if texts else np.zeros((0, 0), dtype=VECTOR_DTYPE)
            at = 0
            for i in todo:
                vectors[i] = encoded[at : at + len(pending[i][1])]
                at += len(pending[i][1])
        results = []
        with self._write():
            for (article, spans, counts), vector in zip(pending, vectors, strict=True):
                results.append(self._store_one(article, spans, counts, library, vector))
        return results

    def _encode(self, texts: list[str]) -> np.ndarray:
        assert self.encoder is not None
        return np.asarray(self.encoder.encode(texts), dtype=np.float32).astype(VECTOR_DTYPE)

    def _put_vectors(self, passage_ids: list[int], vectors: Iterable[np.ndarray]) -> None:
        """Store passages' vectors (inside a write transaction), replacing any of another model.
        A passage removed while its vector was being made gets none."""
        assert self.encoder is not None
        model = self.encoder.model_name
        self.conn.executemany(
            "INSERT OR REPLACE INTO passage_vectors (passage_id, model, vector)"
            " SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM passages WHERE id = ?)",
            [(pid, model, v.tobytes(), pid) for pid, v in zip(passage_ids, vectors, strict=True)],
        )

    def _store_one(
        self,
        article: Article,
        spans: list,
        counts: list[Counter[str]],
        library: str,
        vectors: np.ndarray | None = None,
    ) -> AddResult:
        digest = content_hash(article.text)
        same = self.conn.execute(
            "SELECT id FROM articles WHERE library = ? AND content_hash = ?", (library, digest)
        ).fetchone()
        if same:
            return AddResult(self._article(same[0]), "unchanged")
        previous = None
        if article.url:
            previous = self.conn.execute(
                "SELECT id FROM articles WHERE library = ? AND url = ?", (library, article.url)
            ).fetchone()
        if previous:
            self._delete(previous[0], library)
        term_ids = self._term_ids({t for c in counts for t in c})
        row = {
            "library": library,
            "title": article.title,
            "url": article.url,
            "published": article.published,
            "author": article.author,
            "site": article.site,
            "source": article.source,
            "content_hash": digest,
            "text": article.text,
            "passage_count": len(spans),
            "added_at": _now(),
        }
        if previous:
            row["id"] = previous[0]
        article_id = self.db["articles"].insert(row).last_pk
        passage_rows = []
        for seq, (span, count) in enumerate(zip(spans, counts, strict=True)):
            ids = np.array([term_ids[t] for t in count], dtype=TERM_DTYPE)
            tfs = np.minimum(np.array(list(count.values()), dtype=np.int64), 65535).astype(TF_DTYPE)
            order = np.argsort(ids)
            passage_rows.append(
                (
                    article_id,
                    seq,
                    span.start,
                    span.end,
                    sum(count.values()),
                    ids[order].tobytes(),
                    tfs[order].tobytes(),
                )
            )
        self.conn.executemany(
            "INSERT INTO passages (article_id, seq, start, end, length, terms, tfs) VALUES (?,?,?,?,?,?,?)",
            passage_rows,
        )
        if vectors is not None:
            ids = self.conn.execute(
                "SELECT id FROM passages WHERE article_id = ? ORDER BY seq", (article_id,)
            ).fetchall()
            self._put_vectors([pid for (pid,) in ids], vectors)
        self.conn.execute(
            "INSERT INTO changes (library, article_id, action) VALUES (?, ?, 'add')",
            (library, article_id),
        )
        return AddResult(self._article(article_id), "updated" if previous else "added")

    def _term_ids(self, terms: set[str]) -> dict[str, int]:
        """Ids of terms, created as needed. Ids never change once committed, so they are cached
        (new ones only after their transaction commits)."""
        known, pending = self._terms, self._terms_pending
        ids: dict[str, int] = {}
        missing = []
        for term in terms:
            found = known.get(term)
            if found is None:
                found = pending.get(term)
            if found is None:
                missing.append(term)
            else:
                ids[term] = found
        if missing:
            fresh = self._term_ids_sql(set(missing))
            pending.update(fresh)
            ids.update(fresh)
        return ids

    def _term_ids_sql(self, terms: set[str]) -> dict[str, int]:
        ids: dict[str, int] = {}
        ordered = sorted(terms)
        for i in range(0, len(ordered), SQL_VARIABLES):
            chunk = ordered[i : i + SQL_VARIABLES]
            self.conn.executemany("INSERT OR IGNORE INTO terms (term) VALUES (?)", [(t,) for t in chunk])
            marks = ",".join("?" * len(chunk))
            ids.update(
                (term, term_id)
                for term_id, term in self.conn.execute(
                    f"SELECT id, term FROM terms WHERE term IN ({marks})", chunk
                )
            )
        return ids

    def _delete(self, article_id: int, library: str) -> None:
        """Delete an article and its passages, and log what the indexes must subtract."""
        rows = self.conn.execute(
            "SELECT id, length, terms FROM passages WHERE article_id = ? ORDER BY id", (article_id,)
        ).fetchall()
        doc_terms = Counter[int]()
        for _, _, blob in rows:
            doc_terms.update(np.frombuffer(blob, dtype=TERM_DTYPE).tolist())
        terms = np.array(sorted(doc_terms), dtype=TERM_DTYPE)
        self.conn.execute(
            "INSERT INTO changes (library, article_id, action, passages, total_len, first_passage,"
            " last_passage, term_ids, doc_counts) VALUES (?, ?, 'remove', ?, ?, ?, ?, ?, ?)",
            (
                library,
                article_id,
                len(rows),
                sum(r[1] for r in rows),
                rows[0][0] if rows else None,
                rows[-1][0] if rows else None,
                terms.tobytes(),
                np.array([doc_terms[t] for t in terms.tolist()], dtype=np.int64).tobytes(),
            ),
        )
        self.conn.execute(
            "DELETE FROM passage_vectors WHERE passage_id IN (SELECT id FROM passages WHERE article_id = ?)",
            (article_id,),
        )
        self.conn.execute("DELETE FROM passages WHERE article_id = ?", (article_id,))
        self.conn.execute("DELETE FROM articles WHERE id = ?", (article_id,))

    def remove(self, library: str, article_id: str | int) -> StoredArticle:
        """Remove one article of a library. Raises NotFound for an id of another library."""
        with self._write():
            article = self.get_article(library, article_id)
            self._delete(int(article.id), library)
        return article

    # -- reading ---------------------------------------------------------------------------

    _ARTICLE_COLUMNS = (
        "a.id, a.library, a.title, a.url, a.published, a.author, a.site, a.passage_count,"
        " length(a.text), a.added_at"
    )

    def _article(self, article_id: int) -> StoredArticle:
        row = self.conn.execute(
            f"SELECT {self._ARTICLE_COLUMNS} FROM articles a WHERE a.id = ?", (article_id,)
        ).fetchone()
        return self._stored(row)

    @staticmethod
    def _stored(row: tuple) -> StoredArticle:
        return StoredArticle(str(row[0]), *row[1:])

    def get_article(self, library: str | list[str], article_id: str | int) -> StoredArticle:
        """An article by id, only if it belongs to one of the given libraries."""
        libraries = [library] if isinstance(library, str) else list(library)
        marks = ",".join("?" * len(libraries))
        with self._lock:
            row = self.conn.execute(
                f"SELECT {self._ARTICLE_COLUMNS} FROM articles a WHERE a.id = ? AND a.library IN ({marks})",
                (_article_id(article_id), *libraries),
            ).fetchone()
        if row is None:
            raise NotFound(f"There is no article {article_id} here; use `list` to see the ids.")
        return self._stored(row)

    def article_text(self, library: str | list[str], article_id: str | int) -> str:
        article = self.get_article(library, article_id)
        with self._lock:
            return self.conn.execute("SELECT text FROM articles WHERE id = ?", (int(article.id),)).fetchone()[
                0
            ]

    def list_articles(
        self, library: str, offset: int = 0, limit: int = 50, title_contains: str | None = None
    ) -> list[StoredArticle]:
        """Articles of a library, newest first; optionally only titles containing a string."""
        sql = f"SELECT {self._ARTICLE_COLUMNS} FROM articles a WHERE a.library = ?"
        params: list = [library]
        if title_contains:
            sql += " AND a.title LIKE ? ESCAPE '\\'"
            escaped = title_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(f"%{escaped}%")
        sql += " ORDER BY a.id DESC LIMIT ? OFFSET ?"
        params += [limit, offset]
        with self._lock:
            return [self._stored(r) for r in self.conn.execute(sql, params)]

    def count_articles(self, library: str) -> int:
        with self._lock:
            return self.conn.execute(
                "SELECT count(*) FROM articles WHERE library = ?", (library,)
            ).fetchone()[0]

    def passages(
        self,
        library: str | list[str],
        article_id: str | int,
        first: int = 0,
        last: int | None = None,
    ) -> list[Passage]:
        """Passages of an article, by position (0-based, inclusive), as exact slices of its text."""
        article = self.get_article(library, article_id)
        last = article.passage_count - 1 if last is None else last
        with self._lock:
            rows = self.conn.execute(
                "SELECT p.seq, p.start, p.end, substr(a.text, p.start + 1, p.end - p.start)"
                " FROM passages p JOIN articles a ON a.id = p.article_id"
                " WHERE p.article_id = ? AND p.seq BETWEEN ? AND ? ORDER BY p.seq",
                (int(article.id), max(first, 0), last),
            ).fetchall()
        return [Passage(article.id, seq, start, end, text) for seq, start, end, text in rows]

    # -- settings --------------------------------------------------------------------------

    def get_setting(self, library: str, key: str) -> str | None:
        with self._lock:
            row = self.conn.execute(
                "SELECT value FROM settings WHERE library = ? AND key = ?", (library, key)
            ).fetchone()
        return row[0] if row else None

    def set_setting(self, library: str, key: str, value: str | None) -> None:
        with self._write():
            if value is None:
                self.conn.execute("DELETE FROM settings WHERE library = ? AND key = ?", (library, key))
            else:
                self.db["settings"].upsert(
                    {"library": library, "key": key, "value": value}, pk=("library", "key")
                )

    # -- the in-memory index ---------------------------------------------------------------

    def _load_index(self) -> None:
        """Bring up the in-memory index: from the cache if it is valid, else from every stored
        passage (no re-tokenizing); then apply what the change log holds beyond it."""
        with self._lock:
            cached = self._load_cache()
            if cached is None:
                self._build_index()
                self._save_cache()
                return
            self._seq = cached
            self._saved = (cached, self.index.generation)
            behind = self.conn.execute("SELECT count(*) FROM changes WHERE seq > ?", (cached,)).fetchone()[0]
            self.refresh()
            if behind >= REPLAY_SAVE_CHANGES:
                self._save_cache()

    def _build_index(self) -> None:
        """Build every library's index from SQLite in chunks of LOAD_CHUNK passages, merged into
        one segment per library (merging never sorts all postings, so memory stays bounded)."""
        self.conn.execute("BEGIN")
        try:
            self._seq = self.conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0]
            libraries = [r[0] for r in self.conn.execute("SELECT DISTINCT library FROM articles")]
            for library in libraries:
                cursor = self.conn.execute(
                    "SELECT p.id, p.article_id, p.length, p.terms, p.tfs FROM passages p"
                    " JOIN articles a ON a.id = p.article_id WHERE a.library = ? ORDER BY p.id",
                    (library,),
                )
                segments = []
                while rows := cursor.fetchmany(LOAD_CHUNK):
                    batch, articles = _batch(rows)
                    segments.append(Segment.build(batch, articles))
                    del rows, batch, articles
                if segments:
                    whole = merge_segments(segments) if len(segments) > 1 else segments[0]
                    del segments
                    self.index.library(library).add_segment(whole)
        finally:
            self.conn.execute("COMMIT")

    def _load_passages(self, library: str, where: str, params: list) -> None:
        rows = self.conn.execute(
            "SELECT p.id, p.article_id, p.length, p.terms, p.tfs FROM passages p"
            f" JOIN articles a ON a.id = p.article_id WHERE {where} ORDER BY p.id",
            params,
        ).fetchall()
        present = self.index.library(library).articles
        rows = [r for r in rows if r[1] not in present]
        if not rows:
            return
        batch, articles = _batch(rows)
        self.index.library(library).add_articles(batch, articles)

    # -- the index cache ---------------------------------------------------------------------

    def _instance(self) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()
        return row[0] if row else None

    @contextlib.contextmanager
    def _cache_lock(self, exclusive: bool) -> Iterator[None]:
        """An advisory file lock, so processes sharing the database never read a half-swapped cache."""
        assert self.cache_dir is not None
        self.cache_dir.mkdir(exist_ok=True)
        with open(self.cache_dir / "lock", "a+b") as handle:
            try:
                import fcntl

                fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            except (ImportError, OSError):  # no flock here: rename-based swaps are still atomic
                pass
            yield

    def _load_cache(self) -> int | None:
        """Load the cached index; its change-log position, or None if it cannot be trusted."""
        if self.cache_dir is None or not (self.cache_dir / "manifest.json").exists():
            return None
        try:
            with self._cache_lock(exclusive=False):
                return self._read_cache()
        except Exception as exc:  # a bad cache must never stop the store: rebuild instead
            log.warning(
                "ignoring the index cache in %s (%s); rebuilding from the database", self.cache_dir, exc
            )
            self.index.libraries.clear()
            self.index._idf_cache.clear()
            return None

    def _read_cache(self) -> int | None:
        manifest = json.loads((self.cache_dir / "manifest.json").read_text())
        if manifest.get("format") != CACHE_FORMAT or manifest.get("instance") != self._instance():
            raise ValueError("the cache belongs to another database or format")
        seq = int(manifest["seq"])
        latest = self.conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0]
        if seq > latest:
            raise ValueError("the cache is newer than the database")
        if seq:
            row = self.conn.execute("SELECT article_id FROM changes WHERE seq = ?", (seq,)).fetchone()
            if row is None or row[0] != manifest["seq_article"]:
                raise ValueError("the cache does not match the change log")
        for name, entry in manifest["libraries"].items():
            state_path = self.cache_dir / entry["state"]
            if (
                state_path.stat().st_size != entry["state_bytes"]
                or _file_crc(state_path) != entry["state_crc"]
            ):
                raise ValueError(f"{entry['state']} is damaged")
            with np.load(state_path, allow_pickle=False) as state:
                df = np.array(state["df"], dtype=np.int64)
                articles = np.array(state["articles"], dtype=np.int64).reshape(-1, 5)
                alive = np.array(state["alive"], dtype=bool)
                counts = np.array(state["counts"], dtype=np.int64)
                docs, total_len = (int(x) for x in state["totals"])
            if len(counts) != len(entry["segments"]) or counts.sum() != len(alive):
                raise ValueError(f"{entry['state']} does not match its segments")
            segments = []
            bounds = np.concatenate(([0], np.cumsum(counts)))
            for i, layout in enumerate(entry["segments"]):
                segments.append(
                    read_segment(self.cache_dir / layout["file"], layout, alive[bounds[i] : bounds[i + 1]])
                )
            if sum(s.live for s in segments) != docs or (len(articles) and articles[:, 3].sum() != docs):
                raise ValueError(f"{entry['state']}: passage counts disagree")
            lib = self.index.library(name)
            lib.segments, lib.df, lib.docs, lib.total_len = segments, df, docs, total_len
            lib.set_article_rows(articles)
            lib.version += 1
        return seq

    def _snapshot(self) -> dict | None:
        """What the cache should hold now (under the locks; the files are written outside them)."""
        with self._lock, self.index.lock:
            if self._closed:
                return None
            if sum(lib.docs for lib in self.index.libraries.values()) < CACHE_MIN_PASSAGES:
                return None
            seq = self._seq
            row = self.conn.execute("SELECT article_id FROM changes WHERE seq = ?", (seq,)).fetchone()
            libraries = {}
            for name, lib in self.index.libraries.items():
                libraries[name] = {
                    "segments": list(lib.segments),
                    "alive": [s.alive.copy() for s in lib.segments],
                    "df": lib.df.copy(),
                    "articles": lib.article_rows(),
                    "totals": np.array([lib.docs, lib.total_len], dtype=np.int64),
                }
            return {
                "seq": seq,
                "generation": self.index.generation,
                "seq_article": row[0] if row else None,
                "instance": self._instance(),
                "libraries": libraries,
            }

    def _save_cache(self) -> None:
        """Write the index cache: new segment files, per-library state, then the manifest (each
        by rename, so a reader sees the old cache or the new one, never half of one). The snapshot
        is taken under the store and index locks; the files are written outside them."""
        if self.cache_dir is None or self._closed:
            return
        try:
            snapshot = self._snapshot()
            if snapshot is None or (snapshot["seq"], snapshot["generation"]) == self._saved:
                return
            with self._saving:
                if (snapshot["seq"], snapshot["generation"]) == self._saved:
                    return
                with self._cache_lock(exclusive=True):
                    self._write_cache(snapshot)
                self._saved = (snapshot["seq"], snapshot["generation"])
                self._saved_at = time.monotonic()
        except (OSError, ValueError, sqlite3.Error) as exc:
            log.warning("could not save the index cache in %s (%s)", self.cache_dir, exc)

    def _write_cache(self, snapshot: dict) -> None:
        directory = self.cache_dir
        manifest = {
            "format": CACHE_FORMAT,
            "instance": snapshot["instance"],
            "seq": snapshot["seq"],
            "seq_article": snapshot["seq_article"],
            "libraries": {},
        }
        previous = {}
        with contextlib.suppress(OSError, ValueError, KeyError):
            old = json.loads((directory / "manifest.json").read_text())
            for entry in old["libraries"].values():
                for layout in entry["segments"]:
                    previous[layout["file"]] = layout
        mapped = []
        for name, lib in snapshot["libraries"].items():
            layouts = []
            for segment in lib["segments"]:
                layout = previous.get(segment.name) if segment.name else None
                path = directory / segment.name if segment.name else None
                if (
                    layout is None
                    or path is None
                    or not path.exists()
                    or path.stat().st_size != layout["bytes"]
                ):
                    file = f"seg-{uuid.uuid4().hex}.bin"
                    layout = {"file": file, **write_segment(segment, directory / file)}
                    mapped.append((segment, layout))
                layouts.append(layout)
            state_file = f"state-{uuid.uuid4().hex}.npz"
            tmp = directory / (state_file + ".tmp")
            with open(tmp, "wb") as f:
                np.savez(
                    f,
                    df=lib["df"],
                    articles=lib["articles"],
                    alive=np.concatenate(lib["alive"]) if lib["alive"] else np.zeros(0, dtype=bool),
                    counts=np.array([len(a) for a in lib["alive"]], dtype=np.int64),
                    totals=lib["totals"],
                )
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, directory / state_file)
            manifest["libraries"][name] = {
                "state": state_file,
                "state_bytes": (directory / state_file).stat().st_size,
                "state_crc": _file_crc(directory / state_file),
                "segments": layouts,
            }
        tmp = directory / "manifest.json.tmp"
        tmp.write_text(json.dumps(manifest))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, directory / "manifest.json")
        # Serve the written segments from the files (memory-mapped) instead of the heap.
        with self.index.lock:
            for segment, layout in mapped:
                segment.name = layout["file"]
                with contextlib.suppress(OSError, ValueError):
                    fresh = read_segment(directory / layout["file"], layout, segment.alive, verify=False)
                    for field_name in ("passage_ids", "article_ids", "doc_len", "term_ids", "term_starts"):
                        setattr(segment, field_name, getattr(fresh, field_name))
                    for field_name in ("docs", "tfs", "max_tf", "min_dl", "ub_ref", "ref"):
                        setattr(segment, field_name, getattr(fresh, field_name))
        keep = (
            {"manifest.json", "lock"}
            | {e["state"] for e in manifest["libraries"].values()}
            | {layout["file"] for e in manifest["libraries"].values() for layout in e["segments"]}
        )
        for path in directory.iterdir():
            if path.name not in keep:
                with contextlib.suppress(OSError):
                    path.unlink()

    def _merged(self) -> None:
        """After a background merge: save the cache now and then (never more than once a minute)."""
        if time.monotonic() - self._saved_at >= CACHE_SAVE_INTERVAL and not self._saving.locked():
            self._save_cache()

    def _save_on_close(self) -> None:
        if self.cache_dir is None:
            return
        with self._lock:
            if self._closed:
                return
            latest = self.conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0]
            if latest - self._seq <= REPLAY_SAVE_CHANGES:
                self.refresh()
        self._save_cache()

    def refresh(self) -> None:
        """Apply changes made since the last look, by this process or another one."""
        with self._lock:
            latest = self.conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0]
            if latest <= self._seq:
                return
            self.conn.execute("BEGIN")
            try:
                changes = self.conn.execute(
                    "SELECT seq, library, article_id, action, passages, total_len, first_passage,"
                    " last_passage, term_ids, doc_counts FROM changes WHERE seq > ? ORDER BY seq",
                    (self._seq,),
                ).fetchall()
                pending: dict[str, list[int]] = {}
                # The position moves only past changes already applied, so an interrupted refresh
                # replays them (adds skip articles present; removes check the passage ids).
                for seq, library, article_id, action, _, _, first, _, terms, counts in changes:
                    if action == "add":
                        pending.setdefault(library, []).append(article_id)
                        continue
                    self._flush_adds(pending)
                    if first is not None:
                        self.index.library(library).remove_article(
                            article_id,
                            first,
                            np.frombuffer(terms, dtype=TERM_DTYPE).astype(np.int64),
                            np.frombuffer(counts, dtype=np.int64),
                        )
                    self._seq = seq
                self._flush_adds(pending)
                if changes:
                    self._seq = changes[-1][0]
            finally:
                self.conn.execute("COMMIT")

    def _flush_adds(self, pending: dict[str, list[int]]) -> None:
        for library, article_ids in pending.items():
            for i in range(0, len(article_ids), SQL_VARIABLES):
                chunk = article_ids[i : i + SQL_VARIABLES]
                marks = ",".join("?" * len(chunk))
                self._load_passages(library, f"p.article_id IN ({marks})", chunk)
        pending.clear()

    # -- searching -------------------------------------------------------------------------

    def search(self, question: str, libraries: list[str], k: int = 3, offset: int = 0) -> SearchResponse:
        """The best passages for a question, from the given libraries only."""
        terms = question_terms(question)
        if not terms:
            raise NoSearchableWords()
        libraries = list(dict.fromkeys(libraries))
        with self._lock:
            self.refresh()
            term_ids = self._known_term_ids(terms)
            wanted = offset + k
            depth = max(wanted, CANDIDATES) if self.ranker else wanted
            pids, scores, matched = self.index.top(libraries, term_ids, depth)
            hits = self._hits(pids.tolist(), scores.tolist(), libraries, terms, term_ids)
            searched = self.index.article_count(libraries)
        if self.ranker:
            # Only BM25's first CANDIDATES are reordered, so every page (More) reads one order.
            hits = self.ranker(self, question, libraries, hits[:CANDIDATES]) + hits[CANDIDATES:]
        hits = [
            Hit(rank, h.score, h.article, h.passage, h.matched_terms)
            for rank, h in enumerate(hits[offset:wanted], start=offset + 1)
        ]
        return SearchResponse(question, tuple(terms), hits, searched, matched, tuple(libraries))

    def term_idf(self, libraries: list[str], terms: list[str]) -> dict[str, float]:
        """BM25Okapi's idf of each term over the given libraries (0 for unknown terms)."""
        if not terms:
            return {}
        with self._lock:
            self.refresh()
            ids = self._known_term_ids(terms)
            libs = [self.index.libraries[n] for n in libraries if n in self.index.libraries]
            libs = [lib for lib in libs if lib.docs]
            if not libs:
                return dict.fromkeys(terms, 0.0)
            values = self.index._idf(libs).values
        return {t: float(values[i]) if 0 <= i < len(values) else 0.0 for t, i in zip(terms, ids, strict=True)}

    def passage_vectors(self, passages: list[Passage]) -> np.ndarray:
        """The learned ranker's unit vectors of these passages (float32, one row each), in order.

        A passage stored before the encoder was on gets its vector now, and keeps it."""
        if self.encoder is None:
            raise ValueError("passage_vectors needs a Store opened with an encoder")
        model = self.encoder.model_name
        keys = [(int(p.article_id), p.index) for p in passages]
        found: dict[tuple[int, int], tuple[int, bytes | None, str]] = {}
        with self._lock:
            for i in range(0, len(keys), SQL_VARIABLES // 2):
                chunk = keys[i : i + SQL_VARIABLES // 2]
                where = " OR ".join("(p.article_id = ? AND p.seq = ?)" for _ in chunk)
                params = [v for key in chunk for v in key]
                for article_id, seq, pid, vector, text in self.conn.execute(
                    "SELECT p.article_id, p.seq, p.id, v.vector, substr(a.text, p.start + 1, p.end - p.start)"
                    " FROM passages p JOIN articles a ON a.id = p.article_id"
                    f" LEFT JOIN passage_vectors v ON v.passage_id = p.id AND v.model = ? WHERE {where}",
                    [model, *params],
                ):
                    found[(article_id, seq)] = (pid, vector, text)
        # A passage whose text changed since the search read it (its article was updated) counts as
        # removed: no similarity now, and no vector made from the old text.
        for i, key in enumerate(keys):
            if key in found and found[key][2] != passages[i].text:
                del found[key]
        missing = [i for i, key in enumerate(keys) if key in found and found[key][1] is None]
        made: dict[int, np.ndarray] = {}
        if missing:
            made = self._make_vectors({i: (found[keys[i]][0], passages[i].text) for i in missing})
        rows = []
        for i, key in enumerate(keys):
            if i in made:
                rows.append(made[i])
            elif key in found:
                rows.append(np.frombuffer(found[key][1], dtype=VECTOR_DTYPE))
            else:  # removed meanwhile: no similarity
                rows.append(None)
        dims = next((len(r) for r in rows if r is not None), 0)
        vectors = np.zeros((len(rows), dims), dtype=np.float32)
        for i, r in enumerate(rows):
            if r is not None:
                vectors[i] = r
        return vectors

    def _make_vectors(self, wanted: dict[int, tuple[int, str]]) -> dict[int, np.ndarray]:
        """Vectors for passages stored without one ({position: (passage id, text)}), saved when the
        file can take them at once: a question never waits on another writer, and a vector that
        could not be saved is kept in memory instead of being made again."""
        keys = {
            i: (pid, hashlib.blake2b(text.encode(), digest_size=16).digest())
            for i, (pid, text) in wanted.items()
        }
        with self._lock:  # other questions' threads add and drop kept vectors
            made = {i: self._unsaved_vectors[k] for i, k in keys.items() if k in self._unsaved_vectors}
        fresh = [i for i in wanted if i not in made]
        if fresh:
            made.update(zip(fresh, self._encode([wanted[i][1] for i in fresh]), strict=True))
        try:
            with self._write(wait=False):
                self._put_vectors([wanted[i][0] for i in wanted], [made[i] for i in wanted])
        except sqlite3.OperationalError as exc:  # a read-only file, or another process writing
            with self._lock:
                for i, key in keys.items():
                    self._unsaved_vectors[key] = made[i]
                    self._unsaved_vectors.move_to_end(key)
                while len(self._unsaved_vectors) > UNSAVED_VECTORS:
                    self._unsaved_vectors.popitem(last=False)
            level = logging.DEBUG if self._warned_unsaved else logging.WARNING
            self._warned_unsaved = True
            log.log(level, "could not save %d passage vectors now (%s); kept in memory", len(wanted), exc)
        else:
            with self._lock:
                for key in keys.values():
                    self._unsaved_vectors.pop(key, None)
        return made

    def _missing_vectors_sql(self, library: str | None) -> tuple[str, list]:
        assert self.encoder is not None
        sql = (
            " FROM passages p JOIN articles a ON a.id = p.article_id"
            " LEFT JOIN passage_vectors v ON v.passage_id = p.id AND v.model = ?"
            " WHERE v.passage_id IS NULL"
        )
        params: list = [self.encoder.model_name]
        if library is not None:
            sql += " AND a.library = ?"
            params.append(library)
        return sql, params

    def count_missing_vectors(self, library: str | None = None) -> int:
        """How many stored passages (of one library, or all) have no vector from this encoder."""
        if self.encoder is None:
            raise ValueError("count_missing_vectors needs a Store opened with an encoder")
        sql, params = self._missing_vectors_sql(library)
        with self._lock:
            return self.conn.execute("SELECT count(*)" + sql, params).fetchone()[0]

    def embed_missing(self, library: str | None = None, batch: int = 64) -> Iterator[int]:
        """Give every stored passage (of one library, or all) its vector, `batch` at a time, each
        batch committed; yields how many each batch did. Searches go on meanwhile."""
        if self.encoder is None:
            raise ValueError("embed_missing needs a Store opened with an encoder")
        sql, params = self._missing_vectors_sql(library)
        while True:
            with self._lock:
                rows = self.conn.execute(
                    "SELECT p.id, substr(a.text, p.start + 1, p.end - p.start)"
                    + sql
                    + " ORDER BY p.id LIMIT ?",
                    [*params, batch],
                ).fetchall()
            if not rows:
                return
            vectors = self._encode([text for _, text in rows])  # outside the lock: it is slow
            with self._write():
                self._put_vectors([pid for pid, _ in rows], vectors)
            yield len(rows)

    def encode_questions(self, questions: list[str]) -> np.ndarray:
        """The learned ranker's unit vectors of some questions, one row each, in one batch."""
        if self.encoder is None:
            raise ValueError("encoding a question needs a Store opened with an encoder")
        return np.asarray(self.encoder.encode(questions), dtype=np.float32)

    def passage_terms(self, passage_keys: list[tuple[str, int]]) -> dict[tuple[str, int], frozenset[str]]:
        """The distinct terms of passages named by (article id, passage index), from what is stored."""
        if not passage_keys:
            return {}
        found: dict[tuple[str, int], list[int]] = {}
        with self._lock:
            for i in range(0, len(passage_keys), SQL_VARIABLES // 2):
                chunk = passage_keys[i : i + SQL_VARIABLES // 2]
                where = " OR ".join("(article_id = ? AND seq = ?)" for _ in chunk)
                params = [v for article_id, seq in chunk for v in (int(article_id), seq)]
                for article_id, seq, blob in self.conn.execute(
                    f"SELECT article_id, seq, terms FROM passages WHERE {where}", params
                ):
                    found[(str(article_id), seq)] = np.frombuffer(blob, dtype=TERM_DTYPE).tolist()
            ids = sorted({t for terms in found.values() for t in terms})
            names: dict[int, str] = {}
            for i in range(0, len(ids), SQL_VARIABLES):
                chunk = ids[i : i + SQL_VARIABLES]
                marks = ",".join("?" * len(chunk))
                names.update(self.conn.execute(f"SELECT id, term FROM terms WHERE id IN ({marks})", chunk))
        return {key: frozenset(names[t] for t in terms) for key, terms in found.items()}

    def _known_term_ids(self, terms: list[str]) -> list[int]:
        unique = sorted(set(terms))
        marks = ",".join("?" * len(unique))
        known = dict(self.conn.execute(f"SELECT term, id FROM terms WHERE term IN ({marks})", unique))
        return [known.get(t, -1) for t in terms]

    def _hits(
        self,
        pids: list[int],
        scores: list[float],
        libraries: list[str],
        terms: list[str],
        term_ids: list[int],
    ) -> list[Hit]:
        if not pids:
            return []
        marks = ",".join("?" * len(pids))
        lib_marks = ",".join("?" * len(libraries))
        rows = self.conn.execute(
            f"SELECT p.id, p.seq, p.start, p.end, p.terms, substr(a.text, p.start + 1, p.end - p.start),"
            f" {self._ARTICLE_COLUMNS}"
            f" FROM passages p JOIN articles a ON a.id = p.article_id"
            f" WHERE p.id IN ({marks}) AND a.library IN ({lib_marks})",
            (*pids, *libraries),
        ).fetchall()
        by_id = {r[0]: r for r in rows}
        id_to_term = {}
        for term, term_id in zip(terms, term_ids, strict=True):
            id_to_term.setdefault(term_id, term)
        hits = []
        for pid, score in zip(pids, scores, strict=True):
            row = by_id.get(pid)
            if row is None:  # removed since the index was read
                continue
            _, seq, start, end, blob, text, *article_row = row
            article = self._stored(tuple(article_row))
            present = set(np.frombuffer(blob, dtype=TERM_DTYPE).tolist())
            matched = tuple(id_to_term[t] for t in id_to_term if t in present)
            hits.append(Hit(0, score, article, Passage(article.id, seq, start, end, text), matched))
        return hits

    # -- statistics ------------------------------------------------------------------------

    def stats(self) -> dict:
        """Articles, passages and distinct terms per library, and the database size."""
        with self._lock:
            self.refresh()
            rows = self.conn.execute(
                "SELECT a.library, count(DISTINCT a.id), count(p.id) FROM articles a"
                " LEFT JOIN passages p ON p.article_id = a.id GROUP BY a.library ORDER BY a.library"
            ).fetchall()
            libraries = {}
            for library, articles, passages in rows:
                lib = self.index.libraries.get(library)
                terms = int((lib.df > 0).sum()) if lib else 0
                libraries[library] = {"articles": articles, "passages": passages, "terms": terms}
            size = 0
            if self.path != ":memory:":
                size = sum(
                    Path(self.path + suffix).stat().st_size
                    for suffix in ("", "-wal")
                    if Path(self.path + suffix).exists()
                )
        return {"libraries": libraries, "database_bytes": size, "path": self.path}


def _batch(rows: list[tuple]) -> tuple[PassageTerms, np.ndarray]:
    """(passage terms, article id per passage) from rows of (id, article_id, length, terms, tfs)."""
    ids, articles, lengths, term_blobs, tf_blobs = zip(*rows, strict=True)
    sizes = np.fromiter((len(b) // TERM_DTYPE.itemsize for b in term_blobs), dtype=np.int64, count=len(rows))
    batch = PassageTerms(
        passage_ids=np.array(ids, dtype=np.int64),
        lengths=np.array(lengths, dtype=np.int64),
        offsets=np.concatenate(([0], np.cumsum(sizes))).astype(np.int64),
        terms=np.frombuffer(b"".join(term_blobs), dtype=TERM_DTYPE).astype(np.int64),
        tfs=np.frombuffer(b"".join(tf_blobs), dtype=TF_DTYPE).astype(np.int64),
    )
    return batch, np.array(articles, dtype=np.int64)


def _file_crc(path: Path) -> int:
    from .engine import file_crc

    return file_crc(path)


def open_store(path: str | Path, encoder: TextEncoder | None = None) -> Store:
    return Store(path, encoder=encoder)
