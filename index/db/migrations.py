"""The SQLite schema and its migrations, each taking a database one version forward."""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from collections.abc import Callable

import numpy as np
import sqlite_utils

from ..ingest.fields import without_secrets
from ..ingest.text import needs_wide_tokens, tokenize
from ..rank.features import analyse, encode_analysis
from ..rank.stems import Stems

log = logging.getLogger(__name__)

APPLICATION = "clippings"
SCHEMA_VERSION = 5
TERM_DTYPE = np.dtype("<u4")
TF_DTYPE = np.dtype("<u2")
RETOKENIZE_BATCH = 500
"""Articles read at a time by the migration that tokenizes passages again (SQLite 5, PostgreSQL 8)."""


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
    db.table("articles").create_index(["library", "id"], index_name="articles_by_library")
    db.table("articles").create_index(["library", "content_hash"], index_name="articles_by_hash", unique=True)
    db.table("articles").create_index(["library", "url"], index_name="articles_by_url")
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
    db.table("passages").create_index(["article_id", "seq"], index_name="passages_by_article", unique=True)
    db.table("terms").create({"id": int, "term": str}, pk="id", not_null={"term"})
    db.table("terms").create_index(["term"], index_name="terms_by_term", unique=True)
    db.table("settings").create(
        {"library": str, "key": str, "value": str}, pk=("library", "key"), not_null={"value"}
    )
    db.table("changes").create(
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


def _migrate_3(db: sqlite_utils.Database) -> None:
    # Each passage's question-independent analysis for the ranker (index.rank.features.analyse):
    # made once here and when a passage is stored, instead of for every question.
    db.execute("ALTER TABLE passages ADD COLUMN analysis BLOB")
    total = db.execute("SELECT count(*) FROM passages").fetchone()[0]
    if total:
        log.info("analysing %d stored passages for the ranker (once)", total)
    stems = Stems(irregular=True)
    last = 0
    while True:
        articles = db.execute(
            "SELECT id, text FROM articles WHERE id > ? ORDER BY id LIMIT 500", (last,)
        ).fetchall()
        if not articles:
            break
        last = articles[-1][0]
        texts = dict(articles)
        marks = ",".join("?" * len(texts))
        rows = db.execute(
            f"SELECT id, article_id, start, end FROM passages WHERE article_id IN ({marks})", list(texts)
        ).fetchall()
        db.conn.executemany(
            "UPDATE passages SET analysis = ? WHERE id = ?",
            [
                (encode_analysis(analyse(texts[article_id][start:end], stems)), pid)
                for pid, article_id, start, end in rows
            ],
        )


def _migrate_4(db: sqlite_utils.Database) -> None:
    # Links are stored without user name, password or #fragment (index.ingest.fields.without_secrets):
    # links stored before are cleaned the same way, so adding one again still updates its article.
    rows = db.execute(
        "SELECT id, url, site FROM articles WHERE url LIKE '%@%' OR url LIKE '%#%' OR site LIKE '%@%'"
    ).fetchall()
    db.conn.executemany("UPDATE articles SET url = ?, site = ? WHERE id = ?", cleaned_links(rows))


def cleaned_links(rows: list[tuple[int, str | None, str | None]]) -> list[tuple[str | None, str | None, int]]:
    """(url, site, id) of each (id, url, site) with the link's secrets and fragment removed (also
    used by the PostgreSQL migration)."""
    return [
        (without_secrets(url) if url else url, site.rpartition("@")[2] if site else site, article_id)
        for article_id, url, site in rows
    ]


def _migrate_5(db: sqlite_utils.Database) -> None:
    # The tokenizer splits Chinese, Japanese, Thai... into characters and pairs and keeps Indic
    # words whole (index.ingest.text): the passages of articles holding such text are stored again,
    # as an update of the article stores them (new passage ids, a remove and an add in the change
    # log), so every index and its cache takes them from the log. Other articles are left as they are.
    conn = db.conn
    stems = Stems(irregular=True)
    updated = last = 0
    while articles := conn.execute(
        "SELECT id, library, text FROM articles WHERE id > ? ORDER BY id LIMIT ?", (last, RETOKENIZE_BATCH)
    ).fetchall():
        last = articles[-1][0]
        for article_id, library, text in articles:
            if not needs_wide_tokens(text):
                continue
            old = conn.execute(
                "SELECT id, seq, start, end, length, terms FROM passages WHERE article_id = ? ORDER BY id",
                (article_id,),
            ).fetchall()
            vectors = conn.execute(
                "SELECT p.seq, v.model, v.vector FROM passage_vectors v JOIN passages p ON p.id = v.passage_id"
                " WHERE p.article_id = ?",
                (article_id,),
            ).fetchall()
            conn.execute(
                "INSERT INTO changes (library, article_id, action, passages, total_len, first_passage,"
                " last_passage, term_ids, doc_counts) VALUES (?, ?, 'remove', ?, ?, ?, ?, ?, ?)",
                (
                    library,
                    article_id,
                    *removal([(pid, length, terms) for pid, _, _, _, length, terms in old]),
                ),
            )
            conn.execute(
                "DELETE FROM passage_vectors WHERE passage_id IN (SELECT id FROM passages WHERE article_id = ?)",
                (article_id,),
            )
            conn.execute("DELETE FROM passages WHERE article_id = ?", (article_id,))
            counts = [Counter(tokenize(text[start:end])) for _, _, start, end, _, _ in old]
            ids = term_ids(conn, {t for c in counts for t in c})
            conn.executemany(
                "INSERT INTO passages (article_id, seq, start, end, length, terms, tfs, analysis)"
                " VALUES (?,?,?,?,?,?,?,?)",
                [
                    (
                        article_id,
                        seq,
                        start,
                        end,
                        *stored_terms(count, ids),
                        encode_analysis(analyse(text[start:end], stems)),
                    )
                    for (_, seq, start, end, _, _), count in zip(old, counts, strict=True)
                ],
            )
            new_ids = dict(conn.execute("SELECT seq, id FROM passages WHERE article_id = ?", (article_id,)))
            conn.executemany(
                "INSERT INTO passage_vectors (passage_id, model, vector) VALUES (?, ?, ?)",
                [(new_ids[seq], model, vector) for seq, model, vector in vectors],
            )
            conn.execute(
                "INSERT INTO changes (library, article_id, action) VALUES (?, ?, 'add')",
                (library, article_id),
            )
            updated += 1
    if updated:
        log.info("tokenized the passages of %d articles again", updated)


SQL_VARIABLES = 900
"""Below SQLite's limit of variables in one statement."""


def term_ids(conn: sqlite3.Connection, terms: set[str]) -> dict[str, int]:
    """Ids of terms, created as needed (SqliteDatabase caches them; this migration does not)."""
    ids: dict[str, int] = {}
    ordered = sorted(terms)
    for i in range(0, len(ordered), SQL_VARIABLES):
        chunk = ordered[i : i + SQL_VARIABLES]
        conn.executemany("INSERT OR IGNORE INTO terms (term) VALUES (?)", [(t,) for t in chunk])
        marks = ",".join("?" * len(chunk))
        ids.update(
            (term, term_id)
            for term_id, term in conn.execute(f"SELECT id, term FROM terms WHERE term IN ({marks})", chunk)
        )
    return ids


def removal(passages: list[tuple[int, int, bytes]]) -> tuple[int, int, int | None, int | None, bytes, bytes]:
    """What the change log says of an article's removal, from its passages' (id, length, terms) in id
    order: (passages, total length, first and last passage id, term ids, how many passages held
    each), as SqliteDatabase._delete, PostgresDatabase._delete and the PostgreSQL migration log it."""
    doc_terms = Counter[int]()
    for _, _, blob in passages:
        doc_terms.update(np.frombuffer(blob, dtype=TERM_DTYPE).tolist())
    terms = np.array(sorted(doc_terms), dtype=TERM_DTYPE)
    return (
        len(passages),
        sum(length for _, length, _ in passages),
        passages[0][0] if passages else None,
        passages[-1][0] if passages else None,
        terms.tobytes(),
        np.array([doc_terms[t] for t in terms.tolist()], dtype=np.int64).tobytes(),
    )


def stored_terms(count: Counter[str], term_ids: dict[str, int]) -> tuple[int, bytes, bytes]:
    """A passage's (length, term ids, term frequencies) as stored: ids ascending, frequencies
    capped at 65535 (as both databases and the PostgreSQL migration store them)."""
    ids = np.array([term_ids[t] for t in count], dtype=TERM_DTYPE)
    tfs = np.minimum(np.array(list(count.values()), dtype=np.int64), 65535).astype(TF_DTYPE)
    order = np.argsort(ids)
    return sum(count.values()), ids[order].tobytes(), tfs[order].tobytes()


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _migrate_1,
    _migrate_2,
    _migrate_3,
    _migrate_4,
    _migrate_5,
]
"""MIGRATIONS[i] takes a database from schema version i to i + 1."""
