"""The SQLite database (through sqlite-utils): articles, passages, terms, settings, passage vectors and
the change log, in one file that several processes can share (WAL mode, a busy timeout).

Writes go through one connection under a lock; each thread reads through its own connection, so
searches never wait on each other or on a writer.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sqlite_utils

from ..errors import DatabaseError, NotFound, database_error_message
from ..models import AddFailure, AddResult, Article, Passage, StoredArticle
from . import migrations
from .base import (
    Change,
    HitRows,
    PassageRow,
    PreparedArticle,
    StoredFields,
    article_number,
    corrections,
)

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
READ_MMAP_BYTES = 1 << 30
"""Reading connections map up to this much of the database file into memory: an answer's passages
and articles are then read without a system call per page (half the time of fetching them)."""
TERM_DTYPE = np.dtype("<u4")
TF_DTYPE = np.dtype("<u2")
VECTOR_DTYPE = np.dtype("<f2")
SQL_VARIABLES = migrations.SQL_VARIABLES
TERM_CACHE_MAX = 2_000_000
"""Term ids kept in memory for adding articles (about 100 bytes each)."""


def casefold(text: str | None) -> str | None:
    """str.casefold as an SQL function (clippings_casefold), for matching titles."""
    return None if text is None else text.casefold()


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


ARTICLE_COLUMNS = (
    "a.id, a.library, a.title, a.url, a.published, a.author, a.site, a.passage_count,"
    " length(a.text), a.added_at"
)


def stored_article(row: tuple) -> StoredArticle:
    return StoredArticle(str(row[0]), *row[1:])


def opening_error(path: str, exc: sqlite3.DatabaseError) -> DatabaseError:
    """What to tell a person whose database could not be opened or read at start."""
    if isinstance(exc, sqlite3.OperationalError):
        if "locked" in str(exc) or "busy" in str(exc):
            return DatabaseError(f"{path} is busy in another process; try again in a moment.")
        if "readonly" in str(exc):
            return DatabaseError(
                f"{path} is read-only and needs one write to upgrade it to this Clippings'"
                " schema; open it once with write access."
            )
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):  # the disk, not the file, is at fault
        return DatabaseError(database_error_message(path, exc))
    return DatabaseError(
        f"{path} is not a readable Clippings database ({exc}); point --db or CLIPPINGS_DB at another file."
    )


COPY_MARK = "copy"
"""The recorded file of a copy made on purpose (a backup): wherever it is opened, it gets an id of its
own, so an index cache of the file it was copied from is never taken for it."""


def file_id(path: str | Path) -> str:
    info = Path(path).stat()
    return f"{info.st_dev}:{info.st_ino}"


def mark_as_copy(conn: sqlite3.Connection) -> None:
    """Mark the Clippings database of `conn` (a backup being written) as a copy."""
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('instance_file', ?)", (COPY_MARK,))
    conn.commit()


def keep_identity(copy: str | Path, source: str | Path) -> None:
    """Give a copy the identity of the database it was copied from, as if that file were opened
    here (for a check that must load the original's index cache beside the copy)."""
    conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()
    finally:
        conn.close()
    if row is None:
        return
    conn = sqlite3.connect(copy)
    try:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('instance', ?)", (row[0],))
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('instance_file', ?)", (file_id(copy),))
        conn.commit()
    finally:
        conn.close()


class SqliteDatabase:
    """One Clippings SQLite file. Thread-safe: writes are serialised on one connection, and each
    thread reads through a connection of its own (one shared connection for ":memory:")."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.memory = self.path == ":memory:"
        self.lock = threading.RLock()
        """Held for every write transaction (and every use of the connection of ":memory:")."""
        self._terms: dict[str, int] = {}
        self._terms_pending: dict[str, int] = {}
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self.conn = self._connect()
        self.db = sqlite_utils.Database(self.conn)
        try:
            self._prepare()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise opening_error(self.path, exc) from None

    # -- connections and transactions ------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if not self.memory:
            parent = Path(self.path).parent
            if not parent.exists():
                raise DatabaseError(f"The folder {parent} does not exist; create it or choose another --db.")
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.create_function("clippings_casefold", 1, casefold, deterministic=True)
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
            if not marker or marker[0] != migrations.APPLICATION:
                raise DatabaseError(
                    f"{self.path} is a database of another program; point --db at a new file instead."
                )
        if not self.memory:
            mode = self._enable_wal()
            if mode.lower() != "wal":
                log.warning("WAL mode is not available for %s (journal mode %s)", self.path, mode)
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("PRAGMA foreign_keys = ON")
        with self.write():
            version = 0
            meta = self.db.table("meta")
            if "meta" not in set(self.db.table_names()):
                meta.create({"key": str, "value": str}, pk="key")
                meta.insert({"key": "application", "value": migrations.APPLICATION})
            else:
                row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = int(row[0]) if row else 0
            if version > migrations.SCHEMA_VERSION:
                raise DatabaseError(
                    f"{self.path} was made by a newer Clippings (schema {version}); upgrade Clippings."
                )
            for step in range(version, migrations.SCHEMA_VERSION):
                log.info("migrating %s to schema %d", self.path, step + 1)
                migrations.MIGRATIONS[step](self.db)
            if version != migrations.SCHEMA_VERSION:  # opening an up-to-date file writes nothing to it
                meta.upsert({"key": "schema_version", "value": str(migrations.SCHEMA_VERSION)}, pk="key")
            if not self.conn.execute("SELECT 1 FROM meta WHERE key = 'instance'").fetchone():
                meta.insert({"key": "instance", "value": uuid.uuid4().hex})
            self._renew_instance_of_a_copy()

    def _file_id(self) -> str | None:
        return None if self.memory else file_id(self.path)

    def _renew_instance_of_a_copy(self) -> None:
        """A copy of the file (another inode) gets an id of its own when it is first opened, so
        that the copies can never take each other's index cache once they diverge."""
        file_id = self._file_id()
        if file_id is None:
            return
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'instance_file'").fetchone()
        if row and row[0] == file_id:
            return
        try:
            if row:  # opened before as another file, or a backup: this is a copy (or was replaced)
                self.conn.execute("UPDATE meta SET value = ? WHERE key = 'instance'", (uuid.uuid4().hex,))
            self.conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('instance_file', ?)", (file_id,)
            )
        except sqlite3.OperationalError as exc:  # a read-only file: identity() adds the file's id
            log.debug("cannot record the identity of %s (%s)", self.path, exc)

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
    def write(self, wait: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once so it never fails half-way on a lock upgrade.
        `wait=False` fails at once (sqlite3.OperationalError) when another connection is writing."""
        with self.lock:
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
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                self._terms_pending = {}
                # SQLite has already rolled back after some errors (a full disk): no second error.
                if self.conn.in_transaction:
                    with suppress(sqlite3.Error):
                        self.conn.execute("ROLLBACK")
                raise
            if self._terms_pending:
                if len(self._terms) > TERM_CACHE_MAX:
                    self._terms.clear()
                self._terms.update(self._terms_pending)
                self._terms_pending = {}

    @contextmanager
    def read(self, transaction: bool = False) -> Iterator[sqlite3.Connection]:
        """This thread's reading connection; with `transaction`, every query inside sees one snapshot."""
        if self.memory:
            with self.lock:
                yield from self._in_transaction(self.conn, transaction)
            return
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise DatabaseError(f"{self.path} is closed (Clippings is stopping); try again in a moment.")
            conn = self._connect()
            conn.execute("PRAGMA query_only = ON")
            conn.execute(f"PRAGMA mmap_size = {READ_MMAP_BYTES}")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        yield from self._in_transaction(conn, transaction)

    @staticmethod
    def _in_transaction(conn: sqlite3.Connection, transaction: bool) -> Iterator[sqlite3.Connection]:
        if not transaction or conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            if self._closed:
                return
            self._closed = True
            with self._readers_lock:
                readers, self._readers = self._readers, []
            for conn in readers:
                with suppress(sqlite3.Error):
                    conn.close()
            with suppress(sqlite3.Error):
                self.conn.execute("PRAGMA optimize")
            self.conn.close()

    # -- identity and the change log -------------------------------------------------------

    def instance(self) -> str | None:
        """The database's random id (a copy of the file gets its own when first opened); with the
        file's id added when it could not be recorded (a read-only copy)."""
        with self.read() as conn:
            rows = dict(
                conn.execute("SELECT key, value FROM meta WHERE key IN ('instance', 'instance_file')")
            )
        instance = rows.get("instance")
        file_id = self._file_id()
        if instance is not None and file_id is not None and rows.get("instance_file") != file_id:
            return f"{instance}@{file_id}"
        return instance

    def change_fingerprint(self, seq: int, tail: int = 32) -> str:
        """A hash of the change log's last `tail` entries up to `seq`: what an index cache made at
        `seq` must match (with the instance, it tells diverged copies apart)."""
        digest = hashlib.blake2b(digest_size=16)
        with self.read() as conn:
            for row in conn.execute(
                "SELECT seq, library, article_id, action, first_passage, term_ids, doc_counts"
                " FROM changes WHERE seq <= ? AND seq > ? ORDER BY seq",
                (seq, seq - tail),
            ):
                digest.update(repr(row).encode("utf-8", "surrogatepass"))
        return digest.hexdigest()

    def latest_change(self) -> int:
        with self.read() as conn:
            return conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0]

    def change_article(self, seq: int) -> int | None:
        """The article id the change `seq` names (None if there is no such change)."""
        with self.read() as conn:
            row = conn.execute("SELECT article_id FROM changes WHERE seq = ?", (seq,)).fetchone()
        return row[0] if row else None

    def count_changes_after(self, seq: int) -> int:
        with self.read() as conn:
            return conn.execute("SELECT count(*) FROM changes WHERE seq > ?", (seq,)).fetchone()[0]

    def changes_after(self, seq: int) -> list[Change]:
        with self.read() as conn:
            rows = conn.execute(
                "SELECT seq, library, article_id, action, first_passage, term_ids, doc_counts"
                " FROM changes WHERE seq > ? ORDER BY seq",
                (seq,),
            ).fetchall()
        return [Change(*row) for row in rows]

    def libraries(self) -> list[str]:
        with self.read() as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT library FROM articles")]

    def library_passages(self, library: str, chunk: int) -> Iterator[list[PassageRow]]:
        """Every stored passage of a library in passage id order, `chunk` rows at a time (inside
        the caller's read transaction, for one snapshot)."""
        with self.read() as conn:
            cursor = conn.execute(
                "SELECT p.id, p.article_id, p.length, p.terms, p.tfs FROM passages p"
                " JOIN articles a ON a.id = p.article_id WHERE a.library = ? ORDER BY p.id",
                (library,),
            )
            while rows := cursor.fetchmany(chunk):
                yield rows

    def article_passages(self, article_ids: list[int]) -> list[PassageRow]:
        """The stored passages of these articles, in passage id order."""
        found: list[PassageRow] = []
        with self.read() as conn:
            for i in range(0, len(article_ids), SQL_VARIABLES):
                chunk = article_ids[i : i + SQL_VARIABLES]
                marks = ",".join("?" * len(chunk))
                found += conn.execute(
                    "SELECT id, article_id, length, terms, tfs FROM passages"
                    f" WHERE article_id IN ({marks}) ORDER BY id",
                    chunk,
                ).fetchall()
        found.sort()
        return found

    # -- adding and removing ---------------------------------------------------------------

    def stored_hashes(self, library: str, hashes: list[str]) -> set[str]:
        """Those of `hashes` whose text the library already holds."""
        with self.read() as conn:
            return {
                h
                for i in range(0, len(hashes), SQL_VARIABLES)
                for (h,) in conn.execute(
                    "SELECT content_hash FROM articles WHERE library = ? AND content_hash IN"
                    f" ({','.join('?' * len(hashes[i : i + SQL_VARIABLES]))})",
                    [library, *hashes[i : i + SQL_VARIABLES]],
                )
            }

    def store_articles(
        self, prepared: list[PreparedArticle], library: str, model: str | None = None
    ) -> list[AddResult | AddFailure]:
        """Store prepared articles in one transaction: each is added, updates the article of the
        same identity, or is "unchanged" when the library holds its text already (or "updated" when
        that is the same article with corrected fields, see `corrections`)."""
        with self.write():
            return [self._store_one(p, library, model) for p in prepared]

    def _store_one(self, prepared: PreparedArticle, library: str, model: str | None) -> AddResult:
        article, spans, counts = prepared.article, prepared.spans, prepared.counts
        same = self.conn.execute(
            "SELECT id, title, url, published, author, site, source FROM articles"
            " WHERE library = ? AND content_hash = ?",
            (library, prepared.content_hash),
        ).fetchone()
        if same:
            return self._correct(same, prepared, library)
        previous = None if prepared.as_new else self._same_identity(article, library)
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
            "content_hash": prepared.content_hash,
            "text": article.text,
            "passage_count": len(spans),
            "added_at": _now(),
        }
        if previous:
            row["id"] = previous[0]
        article_id = int(self.db.table("articles").insert(row).last_pk or 0)
        passage_rows = []
        analyses: list[bytes | None] = [None] * len(spans)
        if prepared.analyses is not None:
            analyses = list(prepared.analyses)
        for seq, (span, count, analysis) in enumerate(zip(spans, counts, analyses, strict=True)):
            passage_rows.append(
                (article_id, seq, span.start, span.end, *migrations.stored_terms(count, term_ids), analysis)
            )
        self.conn.executemany(
            "INSERT INTO passages (article_id, seq, start, end, length, terms, tfs, analysis)"
            " VALUES (?,?,?,?,?,?,?,?)",
            passage_rows,
        )
        if model is not None:
            passage_ids = [
                pid
                for (pid,) in self.conn.execute(
                    "SELECT id FROM passages WHERE article_id = ? ORDER BY seq", (article_id,)
                )
            ]
            if prepared.vectors is not None:
                self._put_vectors(passage_ids, prepared.vectors, model)
            else:
                prepared.unembedded = passage_ids
        self.conn.execute(
            "INSERT INTO changes (library, article_id, action) VALUES (?, ?, 'add')", (library, article_id)
        )
        return AddResult(self._article(article_id), "updated" if previous else "added")

    def _correct(self, same: tuple, prepared: PreparedArticle, library: str) -> AddResult:
        """An article whose text the library holds already: "unchanged", or "updated" when it is the
        same article with another title, link, date, author or site (see `corrections`). Those are
        changed in place: its passages, their ids and vectors, and so the index, stay as they are,
        and nothing is logged; every process reads titles and dates from the database per search."""
        stored = StoredFields(*same[1:])
        article = prepared.article
        changed = None
        if not prepared.as_new:
            taken = bool(article.url and stored.url is None and self._same_identity(article, library))
            changed = corrections(stored, article, taken)
        if not changed:
            return AddResult(self._article(same[0]), "unchanged")
        self.conn.execute(
            f"UPDATE articles SET {', '.join(f'{name} = ?' for name in changed)} WHERE id = ?",
            (*changed.values(), same[0]),
        )
        return AddResult(self._article(same[0]), "updated")

    def _same_identity(self, article: Article, library: str) -> tuple[int] | None:
        """The stored article this one is a new version of: the same URL, or with no URL the same
        title read from the same source (the newest, if copies were stored before identities were
        kept). Two articles of one headline from different files stay two articles: an update must
        never replace another story."""
        if article.url:
            return self.conn.execute(
                "SELECT id FROM articles WHERE library = ? AND url = ? ORDER BY id DESC LIMIT 1",
                (library, article.url),
            ).fetchone()
        return self.conn.execute(
            "SELECT id FROM articles WHERE library = ? AND url IS NULL AND title = ? AND source IS ?"
            " ORDER BY id DESC LIMIT 1",
            (library, article.title, article.source),
        ).fetchone()

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
            fresh = migrations.term_ids(self.conn, set(missing))
            pending.update(fresh)
            ids.update(fresh)
        return ids

    def _delete(self, article_id: int, library: str) -> None:
        """Delete an article and its passages, and log what the indexes must subtract."""
        rows = self.conn.execute(
            "SELECT id, length, terms FROM passages WHERE article_id = ? ORDER BY id", (article_id,)
        ).fetchall()
        self.conn.execute(
            "INSERT INTO changes (library, article_id, action, passages, total_len, first_passage,"
            " last_passage, term_ids, doc_counts) VALUES (?, ?, 'remove', ?, ?, ?, ?, ?, ?)",
            (library, article_id, *migrations.removal(rows)),
        )
        self.conn.execute(
            "DELETE FROM passage_vectors WHERE passage_id IN (SELECT id FROM passages WHERE article_id = ?)",
            (article_id,),
        )
        self.conn.execute("DELETE FROM passages WHERE article_id = ?", (article_id,))
        self.conn.execute("DELETE FROM articles WHERE id = ?", (article_id,))

    def remove(self, library: str, article_id: str | int) -> StoredArticle:
        """Remove one article of a library. Raises NotFound for an id of another library."""
        with self.write():
            article = self.get_article(library, article_id)
            self._delete(int(article.id), library)
        return article

    # -- reading articles --------------------------------------------------------------------

    def _article(self, article_id: int) -> StoredArticle:
        row = self.conn.execute(
            f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.id = ?", (article_id,)
        ).fetchone()
        return stored_article(row)

    def get_article(self, library: str | list[str], article_id: str | int) -> StoredArticle:
        """An article by id, only if it belongs to one of the given libraries."""
        libraries = [library] if isinstance(library, str) else list(library)
        marks = ",".join("?" * len(libraries))
        number = article_number(article_id)
        with self.read() as conn:
            row = conn.execute(
                f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.id = ? AND a.library IN ({marks})",
                (number, *libraries),
            ).fetchone()
        if row is None:
            raise NotFound(f"There is no article {article_id} here")
        return stored_article(row)

    def article_text(self, library: str | list[str], article_id: str | int) -> str:
        libraries = [library] if isinstance(library, str) else list(library)
        marks = ",".join("?" * len(libraries))
        with self.read() as conn:
            row = conn.execute(
                f"SELECT text FROM articles WHERE id = ? AND library IN ({marks})",
                (article_number(article_id), *libraries),
            ).fetchone()
        if row is None:
            raise NotFound(f"There is no article {article_id} here")
        return row[0]

    def list_articles(
        self, library: str, offset: int = 0, limit: int = 50, title_contains: str | None = None
    ) -> list[StoredArticle]:
        """Articles of a library, newest first; optionally only titles containing a string, as
        Python's str.casefold compares them (ÉLAN finds Élan, STRASSE finds Straße; % and _ are
        plain characters). PostgresDatabase.list_articles follows the same rule."""
        sql = f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.library = ?"
        params: list = [library]
        if title_contains:
            sql += " AND instr(clippings_casefold(a.title), ?) > 0"
            params.append(title_contains.casefold())
        sql += " ORDER BY a.id DESC LIMIT ? OFFSET ?"
        params += [limit, offset]
        with self.read() as conn:
            return [stored_article(r) for r in conn.execute(sql, params)]

    def count_articles(self, library: str) -> int:
        with self.read() as conn:
            return conn.execute("SELECT count(*) FROM articles WHERE library = ?", (library,)).fetchone()[0]

    def passages(
        self, library: str | list[str], article_id: str | int, first: int = 0, last: int | None = None
    ) -> list[Passage]:
        """Passages of an article, by position (0-based, inclusive), as exact slices of its text."""
        with self.read(transaction=True) as conn:
            article = self.get_article(library, article_id)
            last = article.passage_count - 1 if last is None else last
            rows = conn.execute(
                "SELECT p.seq, p.start, p.end, substr(a.text, p.start + 1, p.end - p.start)"
                " FROM passages p JOIN articles a ON a.id = p.article_id"
                " WHERE p.article_id = ? AND p.seq BETWEEN ? AND ? ORDER BY p.seq",
                (int(article.id), max(first, 0), last),
            ).fetchall()
        return [Passage(article.id, seq, start, end, text) for seq, start, end, text in rows]

    # -- settings ------------------------------------------------------------------------------

    def get_setting(self, library: str, key: str) -> str | None:
        with self.read() as conn:
            row = conn.execute(
                "SELECT value FROM settings WHERE library = ? AND key = ?", (library, key)
            ).fetchone()
        return row[0] if row else None

    def set_setting(self, library: str, key: str, value: str | None) -> None:
        with self.write():
            if value is None:
                self.conn.execute("DELETE FROM settings WHERE library = ? AND key = ?", (library, key))
            else:
                self.db.table("settings").upsert(
                    {"library": library, "key": key, "value": value}, pk=("library", "key")
                )

    def settings(self, library: str, prefix: str) -> dict[str, str]:
        with self.read() as conn:
            rows = conn.execute(
                "SELECT key, value FROM settings WHERE library = ? AND substr(key, 1, ?) = ? ORDER BY key",
                (library, len(prefix), prefix),
            ).fetchall()
        return dict(rows)

    # -- what a search reads ---------------------------------------------------------------------

    def terms_after(self, last_id: int) -> list[tuple[int, str]]:
        """(id, term) of every term created after the term `last_id`, by id."""
        with self.read() as conn:
            return conn.execute("SELECT id, term FROM terms WHERE id > ? ORDER BY id", (last_id,)).fetchall()

    def known_term_ids(self, terms: list[str]) -> list[int]:
        """The id of each term, -1 for a term no article holds."""
        unique = sorted(set(terms))
        marks = ",".join("?" * len(unique))
        with self.read() as conn:
            known = dict(conn.execute(f"SELECT term, id FROM terms WHERE term IN ({marks})", unique))
        return [known.get(t, -1) for t in terms]

    def hit_rows(self, passage_ids: list[int], libraries: list[str]) -> HitRows:
        if not passage_ids:
            return HitRows({}, {})
        marks = ",".join("?" * len(passage_ids))
        with self.read(transaction=True) as conn:
            passages = {
                r[0]: r[1:]
                for r in conn.execute(
                    f"SELECT id, article_id, seq, start, end, terms, analysis FROM passages WHERE id IN ({marks})",
                    passage_ids,
                )
            }
            # Each article's text once (not a substring per passage): SQLite reads a whole text
            # value, and every column stored after it, through the text's overflow pages.
            article_ids = sorted({row[0] for row in passages.values()})
            id_marks = ",".join("?" * len(article_ids))
            lib_marks = ",".join("?" * len(libraries))
            rows = conn.execute(
                "SELECT id, library, title, url, published, author, site, passage_count, added_at, text"
                f" FROM articles WHERE id IN ({id_marks}) AND library IN ({lib_marks})",
                (*article_ids, *libraries),
            ).fetchall()
        # The article columns in ARTICLE_COLUMNS' order, its length(text) from the text read.
        articles = {row[0]: (stored_article((*row[:8], len(row[9]), row[8])), row[9]) for row in rows}
        return HitRows({pid: row for pid, row in passages.items() if row[0] in articles}, articles)

    def passage_terms(self, passage_keys: list[tuple[str, int]]) -> dict[tuple[str, int], frozenset[str]]:
        """The distinct terms of passages named by (article id, passage index), from what is stored."""
        if not passage_keys:
            return {}
        found: dict[tuple[str, int], list[int]] = {}
        with self.read(transaction=True) as conn:
            for i in range(0, len(passage_keys), SQL_VARIABLES // 2):
                chunk = passage_keys[i : i + SQL_VARIABLES // 2]
                where = " OR ".join("(article_id = ? AND seq = ?)" for _ in chunk)
                params = [v for article_id, seq in chunk for v in (int(article_id), seq)]
                for article_id, seq, blob in conn.execute(
                    f"SELECT article_id, seq, terms FROM passages WHERE {where}", params
                ):
                    found[(str(article_id), seq)] = np.frombuffer(blob, dtype=TERM_DTYPE).tolist()
            term_ids = sorted({t for terms in found.values() for t in terms})
            names: dict[int, str] = {}
            for i in range(0, len(term_ids), SQL_VARIABLES):
                id_chunk = term_ids[i : i + SQL_VARIABLES]
                marks = ",".join("?" * len(id_chunk))
                names.update(conn.execute(f"SELECT id, term FROM terms WHERE id IN ({marks})", id_chunk))
        return {key: frozenset(names[t] for t in terms) for key, terms in found.items()}

    def passage_extras(
        self, passage_keys: list[tuple[int, int]], before: int
    ) -> dict[tuple[int, int], tuple[bytes | None, str]]:
        if not passage_keys:
            return {}
        found: dict[tuple[int, int], tuple[bytes | None, str]] = {}
        with self.read(transaction=True) as conn:
            for i in range(0, len(passage_keys), SQL_VARIABLES // 2):
                chunk = passage_keys[i : i + SQL_VARIABLES // 2]
                where = " OR ".join("(p.article_id = ? AND p.seq = ?)" for _ in chunk)
                params = [v for article_id, seq in chunk for v in (int(article_id), seq)]
                for article_id, seq, analysis, previous in conn.execute(
                    "SELECT p.article_id, p.seq, p.analysis,"
                    " substr(a.text, max(p.start - ?, 0) + 1, p.start - max(p.start - ?, 0))"
                    f" FROM passages p JOIN articles a ON a.id = p.article_id WHERE {where}",
                    (before, before, *params),
                ):
                    found[(article_id, seq)] = (analysis, previous)
        return found

    # -- passage vectors (the learned stage) ---------------------------------------------------

    def _put_vectors(self, passage_ids: list[int], vectors: Iterable[np.ndarray], model: str) -> None:
        """Store passages' vectors (inside a write transaction), replacing any of another model.
        A passage removed while its vector was being made gets none."""
        self.conn.executemany(
            "INSERT OR REPLACE INTO passage_vectors (passage_id, model, vector)"
            " SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM passages WHERE id = ?)",
            [(pid, model, v.tobytes(), pid) for pid, v in zip(passage_ids, vectors, strict=True)],
        )

    def put_vectors(
        self, passage_ids: list[int], vectors: Iterable[np.ndarray], model: str, wait: bool = True
    ) -> None:
        """Store passages' vectors in one transaction (`wait=False`: fail at once if another writes)."""
        with self.write(wait=wait):
            self._put_vectors(passage_ids, vectors, model)

    def passage_vector_rows(
        self, keys: list[tuple[int, int]], model: str
    ) -> dict[tuple[int, int], tuple[int, bytes | None, str]]:
        """By (article id, passage index): (passage id, its vector of `model` or None, its text)."""
        found: dict[tuple[int, int], tuple[int, bytes | None, str]] = {}
        with self.read(transaction=True) as conn:
            for i in range(0, len(keys), SQL_VARIABLES // 2):
                chunk = keys[i : i + SQL_VARIABLES // 2]
                where = " OR ".join("(p.article_id = ? AND p.seq = ?)" for _ in chunk)
                params = [v for key in chunk for v in key]
                for article_id, seq, pid, vector, text in conn.execute(
                    "SELECT p.article_id, p.seq, p.id, v.vector, substr(a.text, p.start + 1, p.end - p.start)"
                    " FROM passages p JOIN articles a ON a.id = p.article_id"
                    f" LEFT JOIN passage_vectors v ON v.passage_id = p.id AND v.model = ? WHERE {where}",
                    [model, *params],
                ):
                    found[(article_id, seq)] = (pid, vector, text)
        return found

    def _missing_vectors_sql(self, model: str, library: str | None) -> tuple[str, list]:
        sql = (
            " FROM passages p JOIN articles a ON a.id = p.article_id"
            " LEFT JOIN passage_vectors v ON v.passage_id = p.id AND v.model = ?"
            " WHERE v.passage_id IS NULL"
        )
        params: list = [model]
        if library is not None:
            sql += " AND a.library = ?"
            params.append(library)
        return sql, params

    def count_missing_vectors(self, model: str, library: str | None = None) -> int:
        sql, params = self._missing_vectors_sql(model, library)
        with self.read() as conn:
            return conn.execute("SELECT count(*)" + sql, params).fetchone()[0]

    def passages_missing_vectors(
        self, model: str, library: str | None, limit: int, after: int = 0
    ) -> list[tuple[int, str]]:
        """Up to `limit` (passage id, text) of passages with no vector of `model` and an id above
        `after`, by passage id."""
        sql, params = self._missing_vectors_sql(model, library)
        with self.read() as conn:
            return conn.execute(
                "SELECT p.id, substr(a.text, p.start + 1, p.end - p.start)"
                + sql
                + " AND p.id > ? ORDER BY p.id LIMIT ?",
                [*params, after, limit],
            ).fetchall()

    # -- statistics --------------------------------------------------------------------------

    def library_counts(self) -> list[tuple[str, int, int]]:
        """(library, articles, passages) of every library, by name."""
        with self.read() as conn:
            return conn.execute(
                "SELECT a.library, count(DISTINCT a.id), count(p.id) FROM articles a"
                " LEFT JOIN passages p ON p.article_id = a.id GROUP BY a.library ORDER BY a.library"
            ).fetchall()

    def size_bytes(self) -> int:
        if self.memory:
            return 0
        return sum(
            Path(self.path + suffix).stat().st_size
            for suffix in ("", "-wal")
            if Path(self.path + suffix).exists()
        )
