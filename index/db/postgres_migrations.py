"""The PostgreSQL schema, one step per version: MIGRATIONS[i] takes a database from schema
version i to i + 1. The same tables as the SQLite schema (index.db.migrations), so both backends
store the same things and give the same answers. A step is SQL, or a function of the open
connection when it needs Python (as casefolding the stored titles does)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

import psycopg

from ..ingest.text import needs_wide_tokens, tokenize, wide_character_class
from .migrations import RETOKENIZE_BATCH, cleaned_links, removal, stored_terms

log = logging.getLogger(__name__)

APPLICATION = "clippings"

FOLD_BATCH = 5000
"""Titles casefolded per round trip by migration 4."""


def fold_titles(conn: psycopg.Connection) -> None:
    """Migration 4: every article's title casefolded (str.casefold), which `list_articles` matches
    its filter against, so it finds the same titles as SQLite (PostgreSQL has no casefold, and its
    lower() depends on the database's locale)."""
    conn.execute("ALTER TABLE articles ADD COLUMN title_folded text")
    last = 0
    while rows := conn.execute(
        "SELECT id, title FROM articles WHERE id > %s ORDER BY id LIMIT %s", (last, FOLD_BATCH)
    ).fetchall():
        with conn.cursor() as cursor:
            cursor.executemany(
                "UPDATE articles SET title_folded = %s WHERE id = %s",
                [(title.casefold(), article_id) for article_id, title in rows],
            )
        last = rows[-1][0]
    conn.execute("ALTER TABLE articles ALTER COLUMN title_folded SET NOT NULL")


def clean_links(conn: psycopg.Connection) -> None:
    """Migration 6: stored links without user name, password or #fragment, as links are stored now
    (the SQLite schema's migration 4), so adding one again still updates its article."""
    rows = conn.execute(
        "SELECT id, url, site FROM articles WHERE strpos(url, '@') > 0 OR strpos(url, '#') > 0"
        " OR strpos(site, '@') > 0"
    ).fetchall()
    with conn.cursor() as cursor:
        cursor.executemany("UPDATE articles SET url = %s, site = %s WHERE id = %s", cleaned_links(rows))


def retokenize_passages(conn: psycopg.Connection) -> None:
    """Migration 8: the passages of articles holding Chinese, Japanese, Thai, Indic... text stored
    again with the tokenizer that splits unspaced scripts into characters and pairs and keeps
    combining marks in their words (the SQLite schema's migration 5): as an update stores them, with
    new passage ids and a remove and an add in the change log, which every process's index follows.
    The server picks the articles by a regular expression, so the text of the others is never read."""
    pattern = f"[{wide_character_class()}]"
    updated = last = 0
    while articles := conn.execute(
        "SELECT id, library, text FROM articles WHERE id > %s AND text ~ %s ORDER BY id LIMIT %s",
        (last, pattern, RETOKENIZE_BATCH),
    ).fetchall():
        last = articles[-1][0]
        for article_id, library, text in articles:
            if not needs_wide_tokens(text):
                continue
            old = conn.execute(
                'SELECT id, seq, start, "end", length, terms FROM passages WHERE article_id = %s ORDER BY id',
                (article_id,),
            ).fetchall()
            vectors = conn.execute(
                "SELECT p.seq, v.model, v.vector FROM passage_vectors v JOIN passages p ON p.id = v.passage_id"
                " WHERE p.article_id = %s",
                (article_id,),
            ).fetchall()
            conn.execute(
                "INSERT INTO changes (library, article_id, action, passages, total_len, first_passage,"
                " last_passage, term_ids, doc_counts) VALUES (%s, %s, 'remove', %s, %s, %s, %s, %s, %s)",
                (
                    library,
                    article_id,
                    *removal([(pid, length, terms) for pid, _, _, _, length, terms in old]),
                ),
            )
            conn.execute("DELETE FROM passages WHERE article_id = %s", (article_id,))  # vectors cascade
            counts = [Counter(tokenize(text[start:end])) for _, _, start, end, _, _ in old]
            ids = term_ids(conn, {t for c in counts for t in c})
            with conn.cursor() as cursor:
                cursor.executemany(
                    'INSERT INTO passages (article_id, seq, start, "end", length, terms, tfs)'
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    [
                        (article_id, seq, start, end, *stored_terms(count, ids))
                        for (_, seq, start, end, _, _), count in zip(old, counts, strict=True)
                    ],
                )
                new_ids: dict[int, int] = dict(
                    conn.execute(
                        "SELECT seq, id FROM passages WHERE article_id = %s", (article_id,)
                    ).fetchall()
                )
                cursor.executemany(
                    "INSERT INTO passage_vectors (passage_id, model, vector) VALUES (%s, %s, %s)",
                    [(new_ids[seq], model, vector) for seq, model, vector in vectors],
                )
            conn.execute(
                "INSERT INTO changes (library, article_id, action) VALUES (%s, %s, 'add')",
                (library, article_id),
            )
            updated += 1
    if updated:
        log.info("tokenized the passages of %d articles again", updated)


def term_ids(conn: psycopg.Connection, terms: set[str]) -> dict[str, int]:
    """Ids of terms, created as needed (PostgresDatabase caches them; this migration does not). Only
    new terms are inserted, so the identity has no gaps from conflicts."""
    ordered = sorted(terms)
    ids: dict[str, int] = dict(
        conn.execute("SELECT term, id FROM terms WHERE term = ANY(%s)", (ordered,)).fetchall()
    )
    new = [t for t in ordered if t not in ids]
    if new:
        ids.update(
            conn.execute(
                "INSERT INTO terms (term) SELECT unnest(%s::text[]) RETURNING term, id", (new,)
            ).fetchall()
        )
    return ids


MIGRATIONS: list[str | Callable[[psycopg.Connection], None]] = [
    # 1: articles, passages, terms, settings and the change log. Identity ids are never reused, so a
    # change-log entry names one version of an article (an update keeps its article's id).
    """
    CREATE TABLE articles (
        id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        library text NOT NULL,
        title text NOT NULL,
        url text,
        published text,
        author text,
        site text,
        source text,
        content_hash text NOT NULL,
        text text NOT NULL,
        chars integer GENERATED ALWAYS AS (char_length(text)) STORED,
        passage_count integer NOT NULL,
        added_at text NOT NULL
    );
    -- Kept uncompressed: a passage is read as a slice of its article's text, and a slice of an
    -- uncompressed value is read without decompressing the whole article.
    ALTER TABLE articles ALTER COLUMN text SET STORAGE EXTERNAL;
    CREATE INDEX articles_by_library ON articles (library, id);
    CREATE UNIQUE INDEX articles_by_hash ON articles (library, content_hash);
    CREATE INDEX articles_by_url ON articles (library, url);
    CREATE TABLE passages (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        article_id bigint NOT NULL REFERENCES articles (id),
        seq integer NOT NULL,
        start integer NOT NULL,
        "end" integer NOT NULL,
        length integer NOT NULL,
        terms bytea NOT NULL,
        tfs bytea NOT NULL
    );
    CREATE UNIQUE INDEX passages_by_article ON passages (article_id, seq);
    CREATE TABLE terms (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        term text NOT NULL
    );
    CREATE UNIQUE INDEX terms_by_term ON terms (term);
    CREATE TABLE settings (
        library text NOT NULL,
        key text NOT NULL,
        value text NOT NULL,
        PRIMARY KEY (library, key)
    );
    CREATE TABLE changes (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        library text NOT NULL,
        article_id bigint NOT NULL,
        action text NOT NULL,
        passages integer,
        total_len bigint,
        first_passage bigint,
        last_passage bigint,
        term_ids bytea,
        doc_counts bytea
    );
    """,
    # 2: vectors of the learned ranker (the `rerank` extra), one per passage, float16, made by `model`.
    """
    CREATE TABLE passage_vectors (
        passage_id bigint PRIMARY KEY REFERENCES passages (id) ON DELETE CASCADE,
        model text NOT NULL,
        vector bytea NOT NULL
    );
    """,
    # 3: no index holds a whole URL or term any more: a btree entry is at most 2704 bytes, so a long
    # URL or one long word (a run of CJK characters) could not be stored. A URL is found by its md5
    # (and then compared whole); terms stay unique through a hash index, which keeps only a hash of
    # each term and compares the terms themselves on a match. Articles without a URL are found by
    # the md5 of their title (what articles_by_url gave them before: library and url IS NULL).
    """
    DROP INDEX articles_by_url;
    CREATE INDEX articles_by_url ON articles (library, md5(url));
    CREATE INDEX articles_by_title ON articles (library, md5(title)) WHERE url IS NULL;
    DROP INDEX terms_by_term;
    ALTER TABLE terms ADD CONSTRAINT terms_by_term EXCLUDE USING hash (term WITH =);
    """,
    # 4: articles.title_folded (see fold_titles).
    fold_titles,
    # 5: title_folded may be empty: processes of the previous version, still running during an
    # upgrade, add articles without it (list_articles falls back to lower(title) for those).
    "ALTER TABLE articles ALTER COLUMN title_folded DROP NOT NULL;",
    # 6: links without user name, password or #fragment (see clean_links).
    clean_links,
    # 7: articles.chars and the uncompressed text, which were written into migration 1 after the
    # first PostgreSQL release: the databases it made lack them (every add and answer then failed on
    # "column a.chars does not exist"). A no-op where migration 1 made them.
    """
    ALTER TABLE articles ADD COLUMN IF NOT EXISTS chars integer GENERATED ALWAYS AS (char_length(text)) STORED;
    ALTER TABLE articles ALTER COLUMN text SET STORAGE EXTERNAL;
    """,
    # 8: passages of unspaced and Indic scripts tokenized again (see retokenize_passages).
    retokenize_passages,
]

SCHEMA_VERSION = len(MIGRATIONS)
