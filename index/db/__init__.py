"""Storage: the database that holds articles, passages, settings, vectors and the change log."""

from .migrations import MIGRATIONS, SCHEMA_VERSION
from .sqlite import Change, PassageRow, PreparedArticle, SqliteDatabase, content_hash

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Change",
    "PassageRow",
    "PreparedArticle",
    "SqliteDatabase",
    "content_hash",
]
