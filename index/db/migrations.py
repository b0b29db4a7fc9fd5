"""The SQLite schema and its migrations, each taking a database one version forward."""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

APPLICATION = "clippings"
SCHEMA_VERSION = 2


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


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_migrate_1, _migrate_2]
"""MIGRATIONS[i] takes a database from schema version i to i + 1."""
