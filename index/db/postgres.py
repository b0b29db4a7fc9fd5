"""The PostgreSQL database (psycopg 3 with a connection pool): the same tables, dedupe and change log
as the SQLite file, shared by processes on several machines.

Reads take a pooled connection for the length of one `read()` (a REPEATABLE READ snapshot with
`transaction`). Writes are serialised across every process by a transaction-level advisory lock,
so change-log sequence numbers are committed in order and a follower that has read up to `seq` has
missed nothing below it. Every write that logs a change also sends a NOTIFY, which wakes the other
processes' followers (see `ChangeWatch`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import numpy as np
import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import DatabaseError, NotFound
from ..models import AddFailure, AddResult, Article, Passage, StoredArticle
from . import postgres_migrations as migrations
from .base import (
    Busy,
    Change,
    HitRows,
    PassageRow,
    PreparedArticle,
    StoredFields,
    article_number,
    corrections,
)
from .migrations import removal, stored_terms

log = logging.getLogger(__name__)

TERM_DTYPE = np.dtype("<u4")
TF_DTYPE = np.dtype("<u2")
CHANNEL = "clippings_changes"
"""The NOTIFY channel every logged change is announced on (its payload: the change's seq)."""
WRITE_LOCK = 0x436C6970
"""The advisory lock key every write transaction holds ("Clip")."""
POOL_SIZE = 8
CONNECT_TIMEOUT = 5.0
TERM_CACHE_MAX = 2_000_000
TABLES = ("meta", "articles", "passages", "terms", "settings", "changes", "passage_vectors")

ARTICLE_COLUMNS = (
    "a.id, a.library, a.title, a.url, a.published, a.author, a.site, a.passage_count, a.chars, a.added_at"
)


def display_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the PostgreSQL URL"
    host = info.get("host") or "localhost"
    port = f":{info['port']}" if info.get("port") else ""
    user = f"{info['user']}@" if info.get("user") else ""
    return f"postgresql://{user}{host}{port}/{info.get('dbname', '')}"


_USERINFO = re.compile(r"^postgres(?:ql)?://([^/?#]*)@")
"""The user name and password of a postgresql:// URL: everything before the last @ of its host part."""
_PASSWORD_PARAMETER = re.compile(r"[?&]password=([^&#]*)", re.IGNORECASE)


def without_password(text: str, url: str) -> str:
    """`text` (a libpq error, which may quote the whole URL it could not parse) with the password of
    `url` replaced by ***, however it is spelled there (as written, or percent-decoded)."""
    userinfo = _USERINFO.match(url)
    secrets = [userinfo[1].partition(":")[2]] if userinfo else []
    secrets += _PASSWORD_PARAMETER.findall(url)
    for secret in sorted({s for raw in secrets for s in (raw, unquote(raw)) if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


CONNECTION_STATES = ("57P01", "57P02", "57P03")
"""Besides class 08 (connection exception): the server shutting down, crashed, or starting."""
ARTICLE_CLASSES = ("22", "23", "54")
"""SQLSTATE classes of an error about one article's own values: data exception, integrity
constraint violation, program limit exceeded."""


def connection_lost(exc: BaseException) -> bool:
    """True when `exc` says the server cannot be reached or the connection broke (a connection
    error of psycopg or of its pool, SQLSTATE class 08, or the server shutting down), not that it
    refused what it was sent."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in CONNECTION_STATES


def refuses_article(exc: psycopg.Error) -> bool:
    """True when `exc` is about the values of the article being stored (a too long value, a
    constraint, text psycopg cannot send): that article fails alone and the others are stored."""
    if exc.sqlstate is None:
        return isinstance(exc, psycopg.DataError)  # raised by psycopg before sending, e.g. a NUL
    return exc.sqlstate[:2] in ARTICLE_CLASSES


def fails_article_alone(exc: psycopg.Error) -> bool:
    """True when `exc`, raised while one article was stored, ends that article alone (rolled back
    to its savepoint) and the others are still stored: the server refused its values
    (`refuses_article`), or answered another error that leaves the connection usable (a statement
    timeout, a full disk). False for a lost connection, and for an error psycopg raised before
    sending anything other than a value it cannot send (a bug, not the article's doing)."""
    if refuses_article(exc):
        return True
    return exc.sqlstate is not None and not connection_lost(exc)


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _stored_article(row: tuple) -> StoredArticle:
    return StoredArticle(str(row[0]), *row[1:])


def _value(cursor: psycopg.Cursor) -> Any:
    """The first column of a query that always gives a row (an aggregate, a function call)."""
    row = cursor.fetchone()
    assert row is not None
    return row[0]


def _as_list(library: str | list[str]) -> list[str]:
    return [library] if isinstance(library, str) else list(library)


class ChangeWatch:
    """A LISTEN connection of its own. `wait` returns when a change is announced or after `timeout`
    seconds; it never raises (a lost connection is reopened, and the caller's poll covers the gap)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: psycopg.Connection | None = None
        self._failing = False
        """Warned about a lost connection already (an outage logs one warning, not one a poll)."""
        self._connect()

    def _connect(self) -> None:
        try:
            self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT))
            self.conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            level = logging.DEBUG if self._failing else logging.WARNING
            log.log(
                level, "cannot listen for changes on %s (%s); polling", display_url(self.url), first_line(exc)
            )
            self._failing = True
            self.conn = None
            return
        if self._failing:
            log.info("listening for changes on %s again", display_url(self.url))
            self._failing = False

    def wait(self, timeout: float) -> bool:
        """True when woken by a notification (or a reconnect), False after a quiet `timeout`."""
        if self.conn is None or self.conn.closed:
            threading.Event().wait(timeout)
            self._connect()
            return True
        try:
            return any(True for _ in self.conn.notifies(timeout=timeout, stop_after=1))
        except psycopg.Error as exc:
            level = logging.DEBUG if self._failing else logging.WARNING
            log.log(
                level,
                "lost the change notifications of %s (%s); reconnecting",
                display_url(self.url),
                first_line(exc),
            )
            self._failing = True
            with suppress(psycopg.Error):
                self.conn.close()
            self.conn = None
            return True

    def close(self) -> None:
        if self.conn is not None:
            with suppress(psycopg.Error):
                self.conn.close()


class PostgresDatabase:
    """One Clippings database on a PostgreSQL server. Thread-safe; several processes may share it."""

    def __init__(self, url: str, pool_size: int = POOL_SIZE) -> None:
        self.path = display_url(url)
        self.url = url
        self.lock = threading.RLock()
        """Held for every write transaction of this process (the advisory lock covers the others)."""
        self._terms: dict[str, int] = {}
        self._terms_pending: dict[str, int] = {}
        self._local = threading.local()
        self._closed = False
        try:  # one connection first: a wrong URL or a stopped server fails at once, with its reason
            psycopg.connect(url, connect_timeout=int(CONNECT_TIMEOUT)).close()
        except psycopg.Error as exc:
            reason = without_password(first_line(exc), url).rsplit("failed: ", 1)[-1].replace("FATAL:  ", "")
            raise DatabaseError(
                f"Could not connect to {self.path} ({reason}); check that the server runs and that the"
                " URL, user and database are right."
            ) from None
        try:
            self.pool = ConnectionPool(
                url,
                min_size=1,
                max_size=pool_size,
                open=False,
                check=ConnectionPool.check_connection,
                name="clippings",
            )
        except psycopg.ProgrammingError as exc:
            raise DatabaseError(
                f"{self.path} is not a valid PostgreSQL URL ({without_password(first_line(exc), url)}); fix --db."
            ) from None
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except PoolTimeout:
            self.pool.close()
            raise DatabaseError(
                f"Could not connect to {self.path}; check that the server runs and that the URL,"
                " user and database are right."
            ) from None
        try:
            self._prepare()
        except psycopg.Error as exc:
            self.pool.close()
            raise DatabaseError(
                f"{self.path} could not be prepared ({first_line(exc)}); check the user's rights, and that"
                " a schema named in the URL's search_path exists."
            ) from None
        except BaseException:
            self.pool.close()
            raise

    # -- connections and transactions ------------------------------------------------------

    def _prepare(self) -> None:
        with self.write() as conn:  # the advisory lock also serialises two processes' first open
            exists = _value(conn.execute("SELECT to_regclass('meta') IS NOT NULL"))
            if not exists:
                others = _value(
                    conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")
                )
                if others:
                    raise DatabaseError(
                        f"{self.path} holds tables of another program; create an empty database for Clippings."
                    )
                conn.execute("CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)")
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('application', %s)", (migrations.APPLICATION,)
                )
                version = 0
            else:
                marker = conn.execute("SELECT value FROM meta WHERE key = 'application'").fetchone()
                if not marker or marker[0] != migrations.APPLICATION:
                    raise DatabaseError(
                        f"{self.path} holds tables of another program; create an empty database for Clippings."
                    )
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = int(row[0]) if row else 0
            if version > migrations.SCHEMA_VERSION:
                raise DatabaseError(
                    f"{self.path} was made by a newer Clippings (schema {version}); upgrade Clippings."
                )
            for step in range(version, migrations.SCHEMA_VERSION):
                log.info("migrating %s to schema %d", self.path, step + 1)
                migration = migrations.MIGRATIONS[step]
                if callable(migration):
                    migration(conn)
                else:
                    conn.execute(migration)
            if version != migrations.SCHEMA_VERSION:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', %s)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(migrations.SCHEMA_VERSION),),
                )
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('instance', %s) ON CONFLICT (key) DO NOTHING",
                (uuid.uuid4().hex,),
            )

    @contextmanager
    def write(self, wait: bool = True) -> Iterator[psycopg.Connection]:
        """One write transaction holding the database-wide write lock. `wait=False` raises Busy at
        once when another transaction holds it."""
        with self.lock, self.pool.connection() as conn:
            if wait:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            elif not _value(conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (WRITE_LOCK,))):
                raise Busy(f"{self.path} is being written by another process")
            self._terms_pending = {}
            self._local.conn = conn  # reads inside the transaction see its own writes
            try:
                yield conn
            except BaseException:
                self._terms_pending = {}
                raise
            finally:
                self._local.conn = None
            conn.commit()
            if self._terms_pending:
                if len(self._terms) > TERM_CACHE_MAX:
                    self._terms.clear()
                self._terms.update(self._terms_pending)
                self._terms_pending = {}

    @contextmanager
    def read(self, transaction: bool = False) -> Iterator[psycopg.Connection]:
        """A pooled connection for this thread; with `transaction`, every query inside sees one
        snapshot. Nested reads (and reads inside a write) use the same connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        if self._closed:
            raise DatabaseError(f"{self.path} is closed (Clippings is stopping); try again in a moment.")
        with self.pool.connection() as conn:
            if transaction:
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            self._local.conn = conn
            try:
                yield conn
            finally:
                self._local.conn = None

    def close(self) -> None:
        with self.lock:
            if self._closed:
                return
            self._closed = True
            self.pool.close()

    def watch(self) -> ChangeWatch:
        """A listener woken by every change committed from now on, by any process."""
        return ChangeWatch(self.url)

    def wake_watchers(self) -> None:
        """Wake every listener now (a closing follower uses it to stop without waiting)."""
        with self.pool.connection() as conn:
            conn.execute("SELECT pg_notify(%s, 'wake')", (CHANNEL,))

    # -- identity and the change log -------------------------------------------------------

    def instance(self) -> str | None:
        with self.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()
        return row[0] if row else None

    def change_fingerprint(self, seq: int, tail: int = 32) -> str:
        """A hash of the change log's last `tail` entries up to `seq` (as SqliteDatabase's; there
        is no index cache beside PostgreSQL, but the interface has it)."""
        digest = hashlib.blake2b(digest_size=16)
        with self.read() as conn:
            for row in conn.execute(
                "SELECT seq, library, article_id, action, first_passage, term_ids, doc_counts"
                " FROM changes WHERE seq <= %s AND seq > %s ORDER BY seq",
                (seq, seq - tail),
            ):
                digest.update(repr(row).encode("utf-8", "surrogatepass"))
        return digest.hexdigest()

    def latest_change(self) -> int:
        with self.read() as conn:
            return _value(conn.execute("SELECT coalesce(max(seq), 0) FROM changes"))

    def change_article(self, seq: int) -> int | None:
        with self.read() as conn:
            row = conn.execute("SELECT article_id FROM changes WHERE seq = %s", (seq,)).fetchone()
        return row[0] if row else None

    def count_changes_after(self, seq: int) -> int:
        with self.read() as conn:
            return _value(conn.execute("SELECT count(*) FROM changes WHERE seq > %s", (seq,)))

    def changes_after(self, seq: int) -> list[Change]:
        with self.read() as conn:
            rows = conn.execute(
                "SELECT seq, library, article_id, action, first_passage, term_ids, doc_counts"
                " FROM changes WHERE seq > %s ORDER BY seq",
                (seq,),
            ).fetchall()
        return [Change(*row) for row in rows]

    def libraries(self) -> list[str]:
        with self.read() as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT library FROM articles")]

    def library_passages(self, library: str, chunk: int) -> Iterator[list[PassageRow]]:
        """Every stored passage of a library in passage id order, `chunk` rows at a time (through a
        server-side cursor, inside the caller's read transaction)."""
        with self.read() as conn, conn.cursor(name=f"passages_{uuid.uuid4().hex[:8]}") as cursor:
            cursor.itersize = chunk
            cursor.execute(
                "SELECT p.id, p.article_id, p.length, p.terms, p.tfs FROM passages p"
                " JOIN articles a ON a.id = p.article_id WHERE a.library = %s ORDER BY p.id",
                (library,),
            )
            while rows := cursor.fetchmany(chunk):
                yield rows

    def passages_of_libraries(
        self, libraries: list[str], chunk: int
    ) -> Iterator[tuple[str, list[PassageRow]]]:
        """Every stored passage of several libraries, by library and passage id, up to `chunk` rows
        of one library at a time: one query for many small libraries (inside the caller's read
        transaction)."""
        with self.read() as conn, conn.cursor(name=f"libraries_{uuid.uuid4().hex[:8]}") as cursor:
            cursor.itersize = chunk
            cursor.execute(
                "SELECT a.library, p.id, p.article_id, p.length, p.terms, p.tfs FROM passages p"
                " JOIN articles a ON a.id = p.article_id WHERE a.library = ANY(%s) ORDER BY a.library, p.id",
                (list(libraries),),
            )
            current = ""
            rows: list[PassageRow] = []
            while batch := cursor.fetchmany(chunk):
                for library, *row in batch:
                    if rows and (library != current or len(rows) >= chunk):
                        yield current, rows
                        rows = []
                    current = library
                    rows.append(tuple(row))
            if rows:
                yield current, rows

    def article_passages(self, article_ids: list[int]) -> list[PassageRow]:
        with self.read() as conn:
            return conn.execute(
                "SELECT id, article_id, length, terms, tfs FROM passages WHERE article_id = ANY(%s) ORDER BY id",
                (list(article_ids),),
            ).fetchall()

    # -- adding and removing ---------------------------------------------------------------

    def stored_hashes(self, library: str, hashes: list[str]) -> set[str]:
        with self.read() as conn:
            return {
                h
                for (h,) in conn.execute(
                    "SELECT content_hash FROM articles WHERE library = %s AND content_hash = ANY(%s)",
                    (library, hashes),
                )
            }

    def store_articles(
        self, prepared: list[PreparedArticle], library: str, model: str | None = None
    ) -> list[AddResult | AddFailure]:
        """Store prepared articles in one transaction (see SqliteDatabase.store_articles). An
        article the server refuses or fails to store (`fails_article_alone`) is rolled back alone,
        to a savepoint, and comes back as an AddFailure; a lost connection, or any other error,
        rolls back the whole transaction."""
        with self.write() as conn:
            results: list[AddResult | AddFailure] = []
            for p in prepared:
                pending_terms = len(self._terms_pending)
                conn.execute("SAVEPOINT article")
                try:
                    results.append(self._store_one(conn, p, library, model))
                except psycopg.Error as exc:
                    if conn.broken or not fails_article_alone(exc):
                        raise
                    conn.execute("ROLLBACK TO SAVEPOINT article")
                    for term in list(self._terms_pending)[pending_terms:]:  # their rows are gone
                        del self._terms_pending[term]
                    refused = refuses_article(exc)
                    log.warning(
                        "%s %s the article %r: %s",
                        self.path,
                        "refused" if refused else "failed to store",
                        p.article.title,
                        exc,
                    )
                    results.append(
                        AddFailure(p.article.title, p.article.url, first_line(exc), refused=refused)
                    )
                    continue
                conn.execute("RELEASE SAVEPOINT article")
            self._announce(conn)
            return results

    def _announce(self, conn: psycopg.Connection) -> None:
        """NOTIFY the followers; sent when the transaction commits, after its change-log rows."""
        conn.execute("SELECT pg_notify(%s, (SELECT coalesce(max(seq), 0) FROM changes)::text)", (CHANNEL,))

    def _store_one(
        self, conn: psycopg.Connection, prepared: PreparedArticle, library: str, model: str | None
    ) -> AddResult:
        article, spans, counts = prepared.article, prepared.spans, prepared.counts
        same = conn.execute(
            "SELECT id, title, url, published, author, site, source FROM articles"
            " WHERE library = %s AND content_hash = %s",
            (library, prepared.content_hash),
        ).fetchone()
        if same:
            return self._correct(conn, same, prepared, library)
        previous = None if prepared.as_new else self._same_identity(conn, article, library)
        if previous:
            self._delete(conn, previous[0], library)
        term_ids = self._term_ids(conn, {t for c in counts for t in c})
        values = (
            library,
            article.title,
            article.title.casefold(),
            article.url,
            article.published,
            article.author,
            article.site,
            article.source,
            prepared.content_hash,
            article.text,
            len(spans),
            _now(),
        )
        columns = (
            "library, title, title_folded, url, published, author, site, source, content_hash, text,"
            " passage_count, added_at"
        )
        if previous:  # an update keeps its article's id, as in SQLite
            article_id = int(
                _value(
                    conn.execute(
                        f"INSERT INTO articles (id, {columns}) VALUES (%s, {', '.join(['%s'] * 12)}) RETURNING id",
                        (previous[0], *values),
                    )
                )
            )
        else:
            article_id = int(
                _value(
                    conn.execute(
                        f"INSERT INTO articles ({columns}) VALUES ({', '.join(['%s'] * 12)}) RETURNING id",
                        values,
                    )
                )
            )
        passage_rows = []
        for seq, (span, count) in enumerate(zip(spans, counts, strict=True)):
            passage_rows.append((article_id, seq, span.start, span.end, *stored_terms(count, term_ids)))
        with conn.cursor() as cursor:
            cursor.executemany(
                'INSERT INTO passages (article_id, seq, start, "end", length, terms, tfs)'
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                passage_rows,
            )
        if model is not None:
            passage_ids = [
                int(pid)
                for (pid,) in conn.execute(
                    "SELECT id FROM passages WHERE article_id = %s ORDER BY seq", (article_id,)
                ).fetchall()
            ]
            if prepared.vectors is not None:
                self._put_vectors(conn, passage_ids, prepared.vectors, model)
            else:
                prepared.unembedded = passage_ids
        conn.execute(
            "INSERT INTO changes (library, article_id, action) VALUES (%s, %s, 'add')", (library, article_id)
        )
        return AddResult(self._article(conn, article_id), "updated" if previous else "added")

    def _correct(
        self, conn: psycopg.Connection, same: tuple, prepared: PreparedArticle, library: str
    ) -> AddResult:
        """An article whose text the library holds already: "unchanged", or "updated" in place with
        corrected fields (as SqliteDatabase._correct: no passage changes, nothing is logged)."""
        stored = StoredFields(*same[1:])
        article = prepared.article
        changed = None
        if not prepared.as_new:
            taken = bool(article.url and stored.url is None and self._same_identity(conn, article, library))
            changed = corrections(stored, article, taken)
        if not changed:
            return AddResult(self._article(conn, same[0]), "unchanged")
        if "title" in changed:
            changed["title_folded"] = str(changed["title"]).casefold()
        conn.execute(
            f"UPDATE articles SET {', '.join(f'{name} = %s' for name in changed)} WHERE id = %s",
            (*changed.values(), same[0]),
        )
        return AddResult(self._article(conn, same[0]), "updated")

    def _same_identity(self, conn: psycopg.Connection, article: Article, library: str) -> tuple | None:
        """The stored article this one is a new version of (as SqliteDatabase._same_identity): the
        same URL, or with no URL the same title read from the same source; the newest."""
        if article.url:  # md5(...) = md5(%s) finds it through articles_by_url (schema 3)
            return conn.execute(
                "SELECT id FROM articles WHERE library = %s AND md5(url) = md5(%s) AND url = %s"
                " ORDER BY id DESC LIMIT 1",
                (library, article.url, article.url),
            ).fetchone()
        return conn.execute(
            "SELECT id FROM articles WHERE library = %s AND url IS NULL AND md5(title) = md5(%s)"
            " AND title = %s AND source IS NOT DISTINCT FROM %s ORDER BY id DESC LIMIT 1",
            (library, article.title, article.title, article.source),
        ).fetchone()

    def _term_ids(self, conn: psycopg.Connection, terms: set[str]) -> dict[str, int]:
        """Ids of terms, created as needed (cached once committed, as in SqliteDatabase)."""
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
            fresh = migrations.term_ids(conn, set(missing))
            pending.update(fresh)
            ids.update(fresh)
        return ids

    def _delete(self, conn: psycopg.Connection, article_id: int, library: str) -> None:
        """Delete an article and its passages, and log what the indexes must subtract."""
        rows = conn.execute(
            "SELECT id, length, terms FROM passages WHERE article_id = %s ORDER BY id", (article_id,)
        ).fetchall()
        conn.execute(
            "INSERT INTO changes (library, article_id, action, passages, total_len, first_passage,"
            " last_passage, term_ids, doc_counts) VALUES (%s, %s, 'remove', %s, %s, %s, %s, %s, %s)",
            (library, article_id, *removal(rows)),
        )
        conn.execute("DELETE FROM passages WHERE article_id = %s", (article_id,))  # vectors cascade
        conn.execute("DELETE FROM articles WHERE id = %s", (article_id,))

    def remove(self, library: str, article_id: str | int) -> StoredArticle:
        with self.write() as conn:
            article = self.get_article(library, article_id)
            self._delete(conn, int(article.id), library)
            self._announce(conn)
        return article

    # -- reading articles --------------------------------------------------------------------

    def _article(self, conn: psycopg.Connection, article_id: int) -> StoredArticle:
        row = conn.execute(
            f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.id = %s", (article_id,)
        ).fetchone()
        assert row is not None  # inside the transaction that stored it
        return _stored_article(row)

    def get_article(self, library: str | list[str], article_id: str | int) -> StoredArticle:
        number = article_number(article_id)
        with self.read() as conn:
            row = conn.execute(
                f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.id = %s AND a.library = ANY(%s)",
                (number, _as_list(library)),
            ).fetchone()
        if row is None:
            raise NotFound(f"There is no article {article_id} here")
        return _stored_article(row)

    def article_text(self, library: str | list[str], article_id: str | int) -> str:
        with self.read() as conn:
            row = conn.execute(
                "SELECT text FROM articles WHERE id = %s AND library = ANY(%s)",
                (article_number(article_id), _as_list(library)),
            ).fetchone()
        if row is None:
            raise NotFound(f"There is no article {article_id} here")
        return row[0]

    def list_articles(
        self, library: str, offset: int = 0, limit: int = 50, title_contains: str | None = None
    ) -> list[StoredArticle]:
        sql = f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.library = %s"
        params: list[Any] = [library]
        if title_contains:  # the rule of SqliteDatabase.list_articles: str.casefold, no wildcards
            sql += " AND strpos(coalesce(a.title_folded, lower(a.title)), %s) > 0"
            params.append(title_contains.casefold())
        sql += " ORDER BY a.id DESC LIMIT %s OFFSET %s"
        params += [limit, offset]
        with self.read() as conn:
            return [_stored_article(r) for r in conn.execute(sql, params)]

    def count_articles(self, library: str) -> int:
        with self.read() as conn:
            return _value(conn.execute("SELECT count(*) FROM articles WHERE library = %s", (library,)))

    def passages(
        self, library: str | list[str], article_id: str | int, first: int = 0, last: int | None = None
    ) -> list[Passage]:
        with self.read(transaction=True) as conn:
            article = self.get_article(library, article_id)
            last = article.passage_count - 1 if last is None else last
            rows = conn.execute(
                'SELECT p.seq, p.start, p."end", substr(a.text, p.start + 1, p."end" - p.start)'
                " FROM passages p JOIN articles a ON a.id = p.article_id"
                " WHERE p.article_id = %s AND p.seq BETWEEN %s AND %s ORDER BY p.seq",
                (int(article.id), max(first, 0), last),
            ).fetchall()
        return [Passage(article.id, seq, start, end, text) for seq, start, end, text in rows]

    # -- settings ------------------------------------------------------------------------------

    def get_setting(self, library: str, key: str) -> str | None:
        with self.read() as conn:
            row = conn.execute(
                "SELECT value FROM settings WHERE library = %s AND key = %s", (library, key)
            ).fetchone()
        return row[0] if row else None

    def set_setting(self, library: str, key: str, value: str | None) -> None:
        with self.write() as conn:
            if value is None:
                conn.execute("DELETE FROM settings WHERE library = %s AND key = %s", (library, key))
            else:
                conn.execute(
                    "INSERT INTO settings (library, key, value) VALUES (%s, %s, %s)"
                    " ON CONFLICT (library, key) DO UPDATE SET value = excluded.value",
                    (library, key, value),
                )

    def settings(self, library: str, prefix: str) -> dict[str, str]:
        with self.read() as conn:
            rows = conn.execute(
                "SELECT key, value FROM settings WHERE library = %s AND substr(key, 1, %s) = %s ORDER BY key",
                (library, len(prefix), prefix),
            ).fetchall()
        return dict(rows)

    # -- what a search reads ---------------------------------------------------------------------

    def terms_after(self, last_id: int) -> list[tuple[int, str]]:
        """(id, term) of every term created after the term `last_id`, by id."""
        with self.read() as conn:
            return conn.execute("SELECT id, term FROM terms WHERE id > %s ORDER BY id", (last_id,)).fetchall()

    def known_term_ids(self, terms: list[str]) -> list[int]:
        with self.read() as conn:
            known = dict(
                conn.execute(
                    "SELECT term, id FROM terms WHERE term = ANY(%s)", (sorted(set(terms)),)
                ).fetchall()
            )
        return [known.get(t, -1) for t in terms]

    def hit_rows(self, passage_ids: list[int], libraries: list[str]) -> HitRows:
        if not passage_ids:
            return HitRows({}, {})
        with self.read(transaction=True) as conn:
            # No analysis is stored here yet (SQLite's schema 3 has it): the ranker analyses these
            # passages when asked.
            passages = {
                r[0]: (*r[1:], None)
                for r in conn.execute(
                    'SELECT id, article_id, seq, start, "end", terms FROM passages WHERE id = ANY(%s)',
                    (list(passage_ids),),
                )
            }
            rows = conn.execute(
                f"SELECT {ARTICLE_COLUMNS}, a.text FROM articles a WHERE a.id = ANY(%s) AND a.library = ANY(%s)",
                (sorted({row[0] for row in passages.values()}), list(libraries)),
            ).fetchall()
        articles = {row[0]: (_stored_article(row[:-1]), row[-1]) for row in rows}
        return HitRows({pid: row for pid, row in passages.items() if row[0] in articles}, articles)

    def passage_terms(self, passage_keys: list[tuple[str, int]]) -> dict[tuple[str, int], frozenset[str]]:
        if not passage_keys:
            return {}
        found: dict[tuple[str, int], list[int]] = {}
        with self.read(transaction=True) as conn:
            for article_id, seq, blob in conn.execute(
                "SELECT p.article_id, p.seq, p.terms FROM passages p"
                " JOIN unnest(%s::bigint[], %s::integer[]) AS k(a, s) ON p.article_id = k.a AND p.seq = k.s",
                ([int(a) for a, _ in passage_keys], [s for _, s in passage_keys]),
            ):
                found[(str(article_id), seq)] = np.frombuffer(blob, dtype=TERM_DTYPE).tolist()
            term_ids = sorted({t for terms in found.values() for t in terms})
            names = dict(
                conn.execute("SELECT id, term FROM terms WHERE id = ANY(%s)", (term_ids,)).fetchall()
            )
        return {key: frozenset(names[t] for t in terms) for key, terms in found.items()}

    def passage_extras(
        self, passage_keys: list[tuple[int, int]], before: int
    ) -> dict[tuple[int, int], tuple[bytes | None, str]]:
        # No analysis is stored here yet (SQLite's schema 3 has it): the ranker analyses these
        # passages when asked, as before; only the text before each passage comes from here.
        if not passage_keys:
            return {}
        with self.read() as conn:
            rows = conn.execute(
                "SELECT p.article_id, p.seq,"
                " substr(a.text, greatest(p.start - %s, 0) + 1, p.start - greatest(p.start - %s, 0))"
                " FROM passages p"
                " JOIN unnest(%s::bigint[], %s::integer[]) AS k(a, s) ON p.article_id = k.a AND p.seq = k.s"
                " JOIN articles a ON a.id = p.article_id",
                (before, before, [int(a) for a, _ in passage_keys], [s for _, s in passage_keys]),
            ).fetchall()
        return {(int(article_id), seq): (None, previous) for article_id, seq, previous in rows}

    # -- passage vectors (the learned stage) ---------------------------------------------------

    def _put_vectors(
        self, conn: psycopg.Connection, passage_ids: list[int], vectors: Iterable[np.ndarray], model: str
    ) -> None:
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO passage_vectors (passage_id, model, vector)"
                " SELECT %s, %s, %s WHERE EXISTS (SELECT 1 FROM passages WHERE id = %s)"
                " ON CONFLICT (passage_id) DO UPDATE SET model = excluded.model, vector = excluded.vector",
                [(pid, model, v.tobytes(), pid) for pid, v in zip(passage_ids, vectors, strict=True)],
            )

    def put_vectors(
        self, passage_ids: list[int], vectors: Iterable[np.ndarray], model: str, wait: bool = True
    ) -> None:
        with self.write(wait=wait) as conn:
            self._put_vectors(conn, passage_ids, vectors, model)

    def passage_vector_rows(
        self, keys: list[tuple[int, int]], model: str
    ) -> dict[tuple[int, int], tuple[int, bytes | None, str]]:
        if not keys:
            return {}
        with self.read(transaction=True) as conn:
            rows = conn.execute(
                'SELECT p.article_id, p.seq, p.id, v.vector, substr(a.text, p.start + 1, p."end" - p.start)'
                " FROM passages p JOIN articles a ON a.id = p.article_id"
                " JOIN unnest(%s::bigint[], %s::integer[]) AS k(a, s) ON p.article_id = k.a AND p.seq = k.s"
                " LEFT JOIN passage_vectors v ON v.passage_id = p.id AND v.model = %s",
                ([int(a) for a, _ in keys], [s for _, s in keys], model),
            ).fetchall()
        return {(article_id, seq): (pid, vector, text) for article_id, seq, pid, vector, text in rows}

    def _missing_vectors_sql(self, model: str, library: str | None) -> tuple[str, list]:
        sql = (
            " FROM passages p JOIN articles a ON a.id = p.article_id"
            " LEFT JOIN passage_vectors v ON v.passage_id = p.id AND v.model = %s"
            " WHERE v.passage_id IS NULL"
        )
        params: list = [model]
        if library is not None:
            sql += " AND a.library = %s"
            params.append(library)
        return sql, params

    def count_missing_vectors(self, model: str, library: str | None = None) -> int:
        sql, params = self._missing_vectors_sql(model, library)
        with self.read() as conn:
            return _value(conn.execute("SELECT count(*)" + sql, params))

    def passages_missing_vectors(
        self, model: str, library: str | None, limit: int, after: int = 0
    ) -> list[tuple[int, str]]:
        sql, params = self._missing_vectors_sql(model, library)
        with self.read() as conn:
            return conn.execute(
                'SELECT p.id, substr(a.text, p.start + 1, p."end" - p.start)'
                + sql
                + " AND p.id > %s ORDER BY p.id LIMIT %s",
                [*params, after, limit],
            ).fetchall()

    # -- statistics --------------------------------------------------------------------------

    def library_counts(self) -> list[tuple[str, int, int]]:
        with self.read() as conn:
            return conn.execute(
                "SELECT a.library, count(DISTINCT a.id), count(p.id) FROM articles a"
                " LEFT JOIN passages p ON p.article_id = a.id GROUP BY a.library ORDER BY a.library"
            ).fetchall()

    def size_bytes(self) -> int:
        """The bytes of Clippings' tables, their indexes and TOAST data."""
        with self.read() as conn:
            return int(
                _value(
                    conn.execute(
                        "SELECT coalesce(sum(pg_total_relation_size(to_regclass(t))), 0)"
                        " FROM unnest(%s::text[]) AS t",
                        (list(TABLES),),
                    )
                )
            )
