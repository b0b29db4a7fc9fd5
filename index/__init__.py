"""Clippings' core: read news articles, split them into passages, store them, and rank passages.

This package never imports discord. Front ends (the `clippings` CLI and the bot) use only what is
exported here.
"""

from .errors import (
    ArticleRefused,
    BadInput,
    ClippingsError,
    DatabaseError,
    EncoderUnavailable,
    FetchError,
    NoSearchableWords,
    NotFound,
    QuestionTooLong,
)
from .ingest.fetch import FetchSettings, fetch_url
from .ingest.fields import hide_credentials, is_web_link
from .ingest.passages import PASSAGE_BUDGET, PASSAGE_CAP, make_passages
from .ingest.readers import (
    MAX_FILE_BYTES,
    SUPPORTED_SUFFIXES,
    ReadFailure,
    article_from_html,
    article_from_text,
    articles_from_bytes,
    kind_for_name,
    max_bytes_for,
    read_path,
    sniff_kind,
)
from .ingest.text import (
    no_searchable_words,
    question_terms,
    tokenize,
    tokenize_spans,
    without_invisible,
    without_links,
)
from .models import AddFailure, AddResult, Article, Hit, Passage, SearchResponse, StoredArticle
from .rank.answerable import is_small_talk
from .rank.semantic import load_encoder
from .settings import MAX_QUESTION_CHARS, Settings, SettingsError, check_question_length, load_settings
from .store import Store, open_store
from .workers import START_TIMEOUT as WORKER_START_TIMEOUT
from .workers import Ask, SearchWorkers, WorkerFailed, start_worker, stop_worker

GLOBAL_LIBRARY = "global"

__all__ = [
    "GLOBAL_LIBRARY",
    "MAX_FILE_BYTES",
    "MAX_QUESTION_CHARS",
    "PASSAGE_BUDGET",
    "PASSAGE_CAP",
    "SUPPORTED_SUFFIXES",
    "WORKER_START_TIMEOUT",
    "AddFailure",
    "AddResult",
    "Article",
    "ArticleRefused",
    "Ask",
    "BadInput",
    "ClippingsError",
    "DatabaseError",
    "EncoderUnavailable",
    "FetchError",
    "FetchSettings",
    "Hit",
    "NoSearchableWords",
    "NotFound",
    "Passage",
    "QuestionTooLong",
    "ReadFailure",
    "SearchResponse",
    "SearchWorkers",
    "Settings",
    "SettingsError",
    "Store",
    "StoredArticle",
    "WorkerFailed",
    "article_from_html",
    "article_from_text",
    "articles_from_bytes",
    "check_question_length",
    "fetch_url",
    "hide_credentials",
    "is_small_talk",
    "is_web_link",
    "kind_for_name",
    "load_encoder",
    "load_settings",
    "make_passages",
    "max_bytes_for",
    "no_searchable_words",
    "open_store",
    "question_terms",
    "read_path",
    "sniff_kind",
    "start_worker",
    "stop_worker",
    "tokenize",
    "tokenize_spans",
    "without_invisible",
    "without_links",
]
