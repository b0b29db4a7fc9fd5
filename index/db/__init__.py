"""Storage: the database that holds articles, passages, settings, vectors and the change log.

`Database` is the interface the search layer uses; `SqliteDatabase` is the embedded default."""

from .base import Change, Database, PassageRow, PreparedArticle, content_hash
from .migrations import MIGRATIONS, SCHEMA_VERSION
from .sqlite import SqliteDatabase

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Change",
    "Database",
    "PassageRow",
    "PreparedArticle",
    "SqliteDatabase",
    "content_hash",
]
