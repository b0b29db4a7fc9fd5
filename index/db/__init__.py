"""Storage: the database that holds articles, passages, settings, vectors and the change log.

`Database` is the interface the search layer uses; `SqliteDatabase` is the embedded default and
`PostgresDatabase` the shared one, chosen by `open_database` from the path or URL."""

from __future__ import annotations

from pathlib import Path

from .base import Busy, Change, Database, HitRows, PassageRow, PreparedArticle, content_hash
from .migrations import MIGRATIONS, SCHEMA_VERSION
from .sqlite import SqliteDatabase


def is_postgres_url(path: str | Path) -> bool:
    """True for a postgresql:// (or postgres://) URL, which selects the PostgreSQL backend."""
    return isinstance(path, str) and path.startswith(("postgresql://", "postgres://"))


def open_database(path: str | Path) -> Database:
    """The database at `path`: PostgreSQL for a postgresql:// URL, else a SQLite file (or ":memory:")."""
    if is_postgres_url(path):
        from .postgres import PostgresDatabase  # psycopg is imported only by those who ask for it

        return PostgresDatabase(str(path))
    return SqliteDatabase(path)


__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Busy",
    "Change",
    "Database",
    "HitRows",
    "PassageRow",
    "PreparedArticle",
    "SqliteDatabase",
    "content_hash",
    "is_postgres_url",
    "open_database",
]
