"""The SQLite schema and its migrations, each taking a database one version forward."""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlite_utils

from ..ingest.fields import without_secrets
from ..rank.features import analyse, encode_analysis
from ..rank.stems import Stems

log = logging.getLogger(__name__)

APPLICATION = "clippings"
SCHEMA_VERSION = 4


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


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_migrate_1, _migrate_2, _migrate_3, _migrate_4]
"""MIGRATIONS[i] takes a database from schema version i to i + 1."""
