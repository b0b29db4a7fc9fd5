"""The search layer: a `Store` ties the database, the in-memory BM25 engine and the ranker together
(add, ask, remove, refresh); the CLI and the bot both use it.

Every process that opens a database keeps an in-memory index and brings it up to date from the
database's change log before each search, so a bot and a CLI can share one database. The index of
a SQLite file is also cached beside it (`<db>.index/`, see `index.engine.cache`).

A PostgreSQL database (a postgresql:// URL) is shared by processes on several machines. There is
no cache: each library's index is built from the database when it is first searched, and only
those libraries are kept. A follower thread LISTENs for the change log's notifications (and polls
every FOLLOW_POLL seconds in case one is lost) and applies each change as it is committed.

Searches run in parallel: each thread reads through its own connection, the engine scores a
snapshot of its segments without holding its lock, and the ranker's caches are locked.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Protocol

import numpy as np

from .db import (
    Busy,
    Database,
    HitRows,
    PassageRow,
    PreparedArticle,
    content_hash,
    is_postgres_url,
    open_database,
)
from .db.sqlite import TERM_DTYPE, TF_DTYPE, VECTOR_DTYPE, opening_error
from .engine import (
    CacheRefused,
    IndexCache,
    PassageTerms,
    SearchIndex,
    Segment,
    Snapshot,
    default_rank_threads,
    merge_segments,
)
from .errors import ArticleRefused, describe_os_error
from .ingest.dates import stored_date
from .ingest.fields import check_new_library, check_url, clean_title, shown
from .ingest.passages import PASSAGE_BUDGET, PASSAGE_CAP, make_passages
from .ingest.text import no_searchable_words, question_terms, tokenize, without_invisible, without_links
from .models import AddFailure, AddResult, Article, Hit, Passage, SearchResponse, Stages, StoredArticle
from .rank import CANDIDATES, Answerability, Ranker
from .rank.answerable import SPREAD, Candidates
from .rank.features import PassageAnalysis, analyse, decode_analysis, encode_analysis
from .rank.forms import WordForms
from .rank.ranker import RankingSource
from .rank.stems import Stems
from .rank.words import english_frequency

log = logging.getLogger(__name__)

ANSWER_PASSAGES = 3
"""Whether a question has an answer is judged on the passages shown first (the bot shows 3)."""
UNSAVED_VECTORS = 20_000
"""Passage vectors made for a question but not saved (a read-only file, or another process
writing) are kept in memory, up to this many (float16, about 15 MB), and saved when a later question
has them among its candidates."""
QUESTION_VECTORS = 64
"""The last this many questions' vectors are kept (see `encode_questions`)."""
LOAD_CHUNK = 200_000
"""Passages read from the database per segment while building the index from scratch."""
CACHE_MIN_PASSAGES = 20_000
"""Smaller indexes build from the database in well under a second and are not cached."""
CACHE_SAVE_INTERVAL = 60.0
"""Seconds between background saves of the index cache after merges."""
FOLLOW_POLL = 0.5
"""Seconds between looks at a shared database's change log when no notification came."""
FORM_CANDIDATES = 10
"""With word forms on, this many of the ranker's candidates come from BM25 over the question with
its words' other forms added, in place of exact BM25's last ones."""
REPLAY_CHUNK = 900
"""Articles read from the database at a time while applying the change log."""
REPLAY_SAVE_CHANGES = 500
"""Save the cache when at least this many changes were applied since it was saved (at start,
after a bulk add, at close)."""
TERM_ID_CACHE = 200_000
"""At most this many question terms' ids are kept in memory (a term's id never changes); the cache
starts over beyond it."""


class TextEncoder(Protocol):
    """What the store needs of the learned ranker's encoder (index.rank.semantic.Encoder)."""

    model_name: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


class ChangeWatch(Protocol):
    """A shared database's change notifications (index.db.postgres.ChangeWatch)."""

    def wait(self, timeout: float) -> bool: ...
    def close(self) -> None: ...


class RankFunction(Protocol):
    """A ranker as the store calls it (`index.rank.Ranker` is one)."""

    candidates: int

    def __call__(
        self, source: RankingSource, question: str, libraries: list[str], hits: list[Hit]
    ) -> list[Hit]: ...


class AnswerFunction(Protocol):
    """The answerability decision as the store calls it (`index.rank.Answerability` is one)."""

    def __call__(
        self,
        question: str,
        terms: list[str],
        idf: dict[str, float],
        df: dict[str, int],
        passages: int,
        top_score: float,
        shown: list[str],
        found: Candidates = ...,
        analyses: Sequence[PassageAnalysis | None] = ...,
    ) -> bool: ...


_DEFAULT_RANKER = object()


class Store:
    """Articles, passages and settings in one database, and BM25 search over them. Thread-safe."""

    def __init__(
        self,
        path: str | Path,
        ranker: RankFunction | object | None = _DEFAULT_RANKER,
        encoder: TextEncoder | None = None,
        word_forms: bool = False,
        rank_threads: int | None = None,
    ) -> None:
        """Open (or create) a database. `ranker=None` gives plain BM25 order; by default a new
        `Ranker`. With an `encoder` (index.rank.semantic.Encoder, the `rerank` extra) passages get
        vectors as they are added, and the default ranker uses them. `rank_threads`: threads one
        search ranks a large library with (default: 2 on a machine with two cores or more; 1 where
        several processes answer at once)."""
        self.path = str(path)
        self.encoder = encoder
        self._stems = Stems(irregular=True)
        """Stems for the passage analyses made when articles are added; the default ranker and the
        answerability decision share this cache."""
        self.ranker: RankFunction | None = Ranker(stems=self._stems) if ranker is _DEFAULT_RANKER else ranker  # type: ignore[assignment]
        self.answerability: AnswerFunction = Answerability(stems=self._stems)
        """Decides, for every search, whether its passages could answer the question. It shares the
        store's stem cache with the default ranker: they stem the same questions and titles."""
        self.word_forms = WordForms() if word_forms else None
        self._seq = 0
        self._term_ids: dict[str, int] = {}
        self._term_ids_lock = threading.Lock()
        self._refresh_lock = threading.RLock()
        """Held while the change log is applied to the index (one thread at a time)."""
        self.index = SearchIndex(
            background_merges=True,
            rank_threads=default_rank_threads() if rank_threads is None else rank_threads,
        )
        self.index.on_merge = self._merged
        self._saved: tuple[int, int] = (-1, -1)
        """(change-log seq, index generation) of the cache on disk."""
        self._saved_at = 0.0
        self._saving = threading.Lock()
        self._closed = False
        self._unsaved_vectors: OrderedDict[tuple[int, bytes], np.ndarray] = OrderedDict()
        self._vectors_lock = threading.Lock()
        self._question_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._warned_unsaved = False
        self.lazy = is_postgres_url(self.path)
        """Libraries are loaded when first searched (a shared database); else all at start."""
        self._loaded: dict[str, int] = {}
        """Lazy loading: the change-log seq each loaded library's index was read at."""
        self._follower: threading.Thread | None = None
        self._stop_following = threading.Event()
        self.cache = None if self.path == ":memory:" or self.lazy else IndexCache(Path(self.path + ".index"))
        self.db: Database = open_database(self.path)
        try:
            self._load_index()
            if self.lazy:
                self._start_follower()
        except sqlite3.DatabaseError as exc:
            self.close_without_saving()
            raise opening_error(self.path, exc) from None
        except BaseException:
            self.close_without_saving()
            raise

    @property
    def rank_threads(self) -> int:
        """Threads one search ranks a large library with (see `Store`)."""
        return self.index.rank_threads

    @rank_threads.setter
    def rank_threads(self, threads: int) -> None:
        self.index.rank_threads = threads

    @property
    def cache_dir(self) -> Path | None:
        return self.cache.directory if self.cache is not None else None

    @property
    def has_encoder(self) -> bool:
        return self.encoder is not None

    def warm(self) -> None:
        """Load now what a search loads on its first use (English word frequencies, for the
        answerability decision: a quarter of a second), so that the first answer of a long-running
        process is as quick as the others. The CLI does without: it asks once."""
        english_frequency("the")

    def close_without_saving(self) -> None:
        self._closed = True
        self._shut_down()

    def close(self) -> None:
        if self._closed:
            return
        # Merges still running would finish after the save and be lost: the next process would
        # search the unmerged segments (22 instead of 2 for the whole corpus added in one go).
        self.index.wait_for_merges()
        with suppress(sqlite3.Error):
            self._save_on_close()
        with self._refresh_lock:
            if self._closed:
                return
            self._closed = True
        self._shut_down()

    def _shut_down(self) -> None:
        self._stop_follower()
        # A background merge still running would outlive the database: let it finish first.
        self.index.stop_merges()
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- adding and removing ---------------------------------------------------------------

    def add(self, article: Article, library: str, as_new: bool = False) -> AddResult:
        """Store one article whole (or not at all) and return what was stored; ArticleRefused
        when the database refuses it or fails to store it (see AddFailure)."""
        result = next(iter(self.add_many([article], library, as_new=as_new)))
        if isinstance(result, AddFailure):
            raise ArticleRefused(refusal(result))
        return result

    def add_many(
        self, articles: Iterable[Article], library: str, batch: int = 100, as_new: bool = False
    ) -> Iterator[AddResult | AddFailure]:
        """Store many articles, committing every `batch` articles. Each article is whole or absent.
        An article of the same identity as a stored one (its URL, else its title from the same
        source) updates it in place ("updated"), unless `as_new`; one whose text is stored already
        is "unchanged", or "updated" when it corrects that article's title, link, date, author or
        site (`index.db.base.corrections`: its passages stay as they are). An article the database refuses
        comes back as an AddFailure, and the others are still stored. A bulk add leaves the index,
        and its cache, up to date. On PostgreSQL, any other error of the server's about one article
        (a statement timeout, a full disk) fails that article alone too; only a lost connection ends
        the whole add."""
        check_new_library(library)
        pending: list[PreparedArticle] = []
        if self.encoder is not None:
            batch = min(batch, 10)  # encoding is slow: commit (and show progress) more often
        for article in articles:
            # The field rules hold for every front end (the readers apply them already).
            article.title = clean_title(article.title)
            article.url = check_url(article.url)
            article.published = stored_date(article.published)
            spans = make_passages(article.text, PASSAGE_BUDGET, PASSAGE_CAP)
            texts = [article.text[s.start : s.end] for s in spans]
            counts = [Counter(tokenize(text)) for text in texts]
            analyses = [encode_analysis(analyse(text, self._stems)) for text in texts]
            pending.append(
                PreparedArticle(
                    article, spans, counts, content_hash(article.text), as_new=as_new, analyses=analyses
                )
            )
            if len(pending) >= batch:
                yield from self._store_batch(pending, library)
                pending = []
        if pending:
            yield from self._store_batch(pending, library)
        self._catch_up()

    def _store_batch(self, pending: list[PreparedArticle], library: str) -> list[AddResult | AddFailure]:
        model = None
        if self.encoder is not None:
            # Encoded before the write transaction: it is slow and must not hold the lock. Articles
            # stored already with the same text are skipped ("unchanged"; a passage left without a
            # vector by a race gets one when it is first a candidate).
            model = self.encoder.model_name
            stored = self.db.stored_hashes(library, [p.content_hash for p in pending])
            todo = [p for p in pending if p.content_hash not in stored]
            texts = [p.article.text[s.start : s.end] for p in todo for s in p.spans]
            encoded = self._encode(texts) if texts else np.zeros((0, 0), dtype=VECTOR_DTYPE)
            at = 0
            for p in todo:
                p.vectors = encoded[at : at + len(p.spans)]
                at += len(p.spans)
        results = self.db.store_articles(pending, library, model)
        # A text skipped above as stored may have been replaced by an earlier article of the batch
        # (an update to new text) and so stored afresh without vectors: it gets them now.
        late = [p for p in pending if p.unembedded]
        if late and model is not None:
            texts = [p.article.text[s.start : s.end] for p in late for s in p.spans]
            self.db.put_vectors([pid for p in late for pid in p.unembedded or ()], self._encode(texts), model)
        return results

    def _catch_up(self) -> None:
        """After a bulk add: apply it to the index now and save the cache, so that the next
        question (in this process or the next) does not pay for it."""
        if self.db.latest_change() - self._saved[0] < REPLAY_SAVE_CHANGES:
            return
        self.refresh()
        self._save_cache()

    def _encode(self, texts: list[str]) -> np.ndarray:
        assert self.encoder is not None
        return np.asarray(self.encoder.encode(texts), dtype=np.float32).astype(VECTOR_DTYPE)

    def remove(self, library: str, article_id: str | int) -> StoredArticle:
        """Remove one article of a library. Raises NotFound for an id of another library."""
        return self.db.remove(library, article_id)

    # -- reading -----------------------------------------------------------------------------

    def get_article(self, library: str | list[str], article_id: str | int) -> StoredArticle:
        """An article by id, only if it belongs to one of the given libraries."""
        return self.db.get_article(library, article_id)

    def article_text(self, library: str | list[str], article_id: str | int) -> str:
        return self.db.article_text(library, article_id)

    def list_articles(
        self, library: str, offset: int = 0, limit: int = 50, title_contains: str | None = None
    ) -> list[StoredArticle]:
        """Articles of a library, newest first; optionally only titles containing a string."""
        return self.db.list_articles(library, offset, limit, title_contains)

    def count_articles(self, library: str) -> int:
        return self.db.count_articles(library)

    def libraries(self) -> list[str]:
        """The names of the libraries that hold articles."""
        return sorted(self.db.libraries())

    def passages(
        self, library: str | list[str], article_id: str | int, first: int = 0, last: int | None = None
    ) -> list[Passage]:
        """Passages of an article, by position (0-based, inclusive), as exact slices of its text."""
        return self.db.passages(library, article_id, first, last)

    def get_setting(self, library: str, key: str) -> str | None:
        return self.db.get_setting(library, key)

    def set_setting(self, library: str, key: str, value: str | None) -> None:
        self.db.set_setting(library, key, value)

    def settings(self, library: str, prefix: str) -> dict[str, str]:
        """The settings of a library whose keys start with `prefix`, each key to its value, by key."""
        return self.db.settings(library, prefix)

    def passage_extras(self, hits: list[Hit], before: int) -> list[tuple[PassageAnalysis | None, str]]:
        """For each hit: its passage's stored analysis (None if it has none, of another version, or
        is gone) and up to `before` characters of the article's text just before it ("" if gone)."""
        keys = [(int(h.passage.article_id), h.passage.index) for h in hits]
        found = self.db.passage_extras(keys, before)
        extras = (found.get(key, (None, "")) for key in keys)
        return [(decode_analysis(blob), previous) for blob, previous in extras]

    def passage_terms(self, passage_keys: list[tuple[str, int]]) -> dict[tuple[str, int], frozenset[str]]:
        """The distinct terms of passages named by (article id, passage index), from what is stored."""
        return self.db.passage_terms(passage_keys)

    # -- the in-memory index ---------------------------------------------------------------

    def _load_index(self) -> None:
        """Bring up the in-memory index: from the cache if it is valid, else from every stored
        passage (no re-tokenizing); then apply what the change log holds beyond it. A lazy store
        only notes where the change log is; libraries load when first searched."""
        if self.lazy:
            self._seq = self.db.latest_change()
            return
        with self._refresh_lock:
            cached = None
            if self.cache is not None:
                cached = self.cache.load(
                    self.index, self._identity(), self.db.latest_change(), self.db.change_fingerprint
                )
            if cached is not None:
                self._seq = cached
                self._saved = (cached, self.index.generation)
                behind = self.db.count_changes_after(cached)
                self.refresh()
                if self._index_agrees():
                    if behind >= REPLAY_SAVE_CHANGES:
                        self._save_cache()
                    # A cache saved while merges were due (by an older version) merges now.
                    self.index.merge_due()
                    return
                log.warning(
                    "the index cache in %s disagrees with the database; rebuilding it", self.cache_dir
                )
                self.index.clear()
                self._saved = (-1, -1)
            self._build_index()
            self._save_cache()

    def _identity(self) -> str:
        return self.db.instance() or ""

    def _index_agrees(self) -> bool:
        """Whether the index holds, per library, as many articles as the database (a cache whose
        manifest lost or invented a library is caught here)."""
        with self.db.read(transaction=True):
            if self.db.latest_change() != self._seq:
                return True  # changed meanwhile: nothing to compare against; the log was checked
            stored = {name: self.db.count_articles(name) for name in self.db.libraries()}
        held = {name: len(lib.articles) for name, lib in self.index.libraries.items() if lib.articles}
        return held == stored

    def _build_index(self) -> None:
        """Build every library's index from the database in chunks of LOAD_CHUNK passages, merged
        into one segment per library (merging never sorts all postings, so memory stays bounded)."""
        with self.db.read(transaction=True):
            self._seq = self.db.latest_change()
            for library in self.db.libraries():
                self._load_library(library)

    def _load_library(self, library: str) -> None:
        """Build one library's index from its stored passages (inside the caller's read transaction)."""
        segments = []
        for rows in self.db.library_passages(library, LOAD_CHUNK):
            batch, articles = _batch(rows)
            segments.append(Segment.build(batch, articles))
            del rows, batch, articles
        self._add_built(library, segments)

    def _load_libraries(self, libraries: list[str]) -> None:
        """Build several libraries' indexes, in one query where the database can (PostgreSQL)."""
        bulk = getattr(self.db, "passages_of_libraries", None)
        if bulk is None or len(libraries) == 1:
            for library in libraries:
                self._load_library(library)
            return
        parts: dict[str, list[Segment]] = {}
        for library, rows in bulk(libraries, LOAD_CHUNK):
            batch, articles = _batch(rows)
            parts.setdefault(library, []).append(Segment.build(batch, articles))
        for library, segments in parts.items():
            self._add_built(library, segments)

    def _add_built(self, library: str, segments: list[Segment]) -> None:
        """Give a library the segments built from its stored passages, merged into one."""
        if segments:
            whole = merge_segments(segments) if len(segments) > 1 else segments[0]
            segments.clear()  # the parts are freed as soon as the merged segment exists
            self.index.library(library).add_segment(whole)

    def ensure_loaded(self, libraries: Iterable[str]) -> None:
        """A lazy store: load these libraries' indexes now if they are not in memory yet."""
        if not self.lazy:
            return
        missing = [name for name in libraries if name not in self._loaded]
        if not missing:
            return
        with self._refresh_lock:
            missing = [name for name in dict.fromkeys(missing) if name not in self._loaded]
            if not missing:
                return
            started = time.perf_counter()
            with self.db.read(transaction=True):  # the passages and the log position of one snapshot
                seq = self.db.latest_change()
                self._load_libraries(missing)
            for library in missing:
                self._loaded[library] = seq
            log.debug("loaded %d libraries in %.3f s", len(missing), time.perf_counter() - started)

    @property
    def loaded_libraries(self) -> list[str]:
        """The libraries whose index is in memory."""
        return sorted(self._loaded) if self.lazy else sorted(self.index.libraries)

    def _follows(self, change_seq: int, library: str) -> bool:
        """Whether this store's index takes the change (a lazy store: only libraries it loaded,
        and only changes made after it read them)."""
        if not self.lazy:
            return True
        loaded_at = self._loaded.get(library)
        return loaded_at is not None and change_seq > loaded_at

    def refresh(self) -> None:
        """Apply changes made since the last look, by this process or another one."""
        if self.db.latest_change() <= self._seq:
            return
        with self._refresh_lock, self.db.read(transaction=True):
            changes = self.db.changes_after(self._seq)
            pending: dict[str, list[int]] = {}
            # The position moves only past changes already applied, so an interrupted refresh
            # replays them (adds skip articles present; removes check the passage ids).
            for change in changes:
                if not self._follows(change.seq, change.library):
                    continue
                if change.action == "add":
                    pending.setdefault(change.library, []).append(change.article_id)
                    continue
                self._flush_adds(pending)
                if change.first_passage is not None:
                    self.index.library(change.library).remove_article(
                        change.article_id,
                        change.first_passage,
                        np.frombuffer(change.term_ids or b"", dtype=TERM_DTYPE).astype(np.int64),
                        np.frombuffer(change.doc_counts or b"", dtype=np.int64),
                    )
                self._seq = change.seq
            self._flush_adds(pending)
            if changes:
                self._seq = changes[-1].seq

    def _flush_adds(self, pending: dict[str, list[int]]) -> None:
        for library, article_ids in pending.items():
            lib = self.index.library(library)
            # A bounded number of articles at a time, so a bulk add's replay stays small in memory.
            for i in range(0, len(article_ids), REPLAY_CHUNK):
                rows = [
                    r
                    for r in self.db.article_passages(article_ids[i : i + REPLAY_CHUNK])
                    if r[1] not in lib.articles
                ]
                if rows:
                    batch, articles = _batch(rows)
                    lib.add_articles(batch, articles)
        pending.clear()

    # -- following a shared database ---------------------------------------------------------

    def _start_follower(self) -> None:
        watch = getattr(self.db, "watch", None)
        if watch is None:
            return
        self._follower = threading.Thread(
            target=self._follow, args=(watch(),), name="clippings-follower", daemon=True
        )
        self._follower.start()

    def _follow(self, watch: ChangeWatch) -> None:
        """Apply changes as other processes commit them: woken by NOTIFY, else every FOLLOW_POLL."""
        failing = False
        try:
            while not self._stop_following.is_set():
                watch.wait(FOLLOW_POLL)
                if self._stop_following.is_set():
                    break
                try:
                    self.refresh()
                except Exception as exc:  # a lost server: keep following, and say so once
                    log.log(
                        logging.DEBUG if failing else logging.WARNING,
                        "could not follow the change log (%s); retrying",
                        exc,
                    )
                    failing = True
                    self._stop_following.wait(FOLLOW_POLL)
                    continue
                if failing:
                    log.info("following the change log again")
                    failing = False
        finally:
            watch.close()

    def _stop_follower(self) -> None:
        follower, self._follower = self._follower, None
        if follower is None:
            return
        self._stop_following.set()
        wake = getattr(self.db, "wake_watchers", None)
        if wake is not None:
            with suppress(Exception):  # without it the follower still stops within FOLLOW_POLL
                wake()
        follower.join(timeout=5 * FOLLOW_POLL)

    # -- the index cache ---------------------------------------------------------------------

    def _save_cache(self) -> None:
        """Write the index cache (see index.engine.cache) when it is behind and big enough."""
        if self.cache is None or self._closed or self.cache.refused:
            return
        try:
            with self._refresh_lock:
                if self._closed:
                    return
                if sum(lib.docs for lib in self.index.libraries.values()) < CACHE_MIN_PASSAGES:
                    return
                seq = self._seq
                snapshot = Snapshot.of(self.index, seq, self.db.change_fingerprint(seq), self._identity())
            if (snapshot.seq, snapshot.generation) == self._saved:
                return
            with self._saving:
                if (snapshot.seq, snapshot.generation) == self._saved:
                    return
                self.cache.write(snapshot, self.index)
                self._saved = (snapshot.seq, snapshot.generation)
                self._saved_at = time.monotonic()
        except CacheRefused as exc:  # found now (the cache refuses every later call silently)
            log.warning("%s", exc)
        except OSError as exc:
            log.warning(
                "could not save the index cache in %s (%s)", self.cache.directory, describe_os_error(exc)
            )
        except (ValueError, sqlite3.Error) as exc:
            log.warning("could not save the index cache in %s (%s)", self.cache.directory, exc)

    def _merged(self) -> None:
        """After a background merge: save the cache now and then (never more than once a minute)."""
        if time.monotonic() - self._saved_at >= CACHE_SAVE_INTERVAL and not self._saving.locked():
            self._save_cache()

    def _save_on_close(self) -> None:
        if self.cache is None or self._closed:
            return
        if self.db.latest_change() - self._seq <= REPLAY_SAVE_CHANGES:
            self.refresh()
        self._save_cache()

    # -- searching -------------------------------------------------------------------------

    def search(
        self, question: str, libraries: list[str], k: int = 3, offset: int = 0, stages: Stages | None = None
    ) -> SearchResponse:
        """The best passages for a question, from the given libraries only. With `stages`, the
        time of each stage is added to it (tokenize, rank, fetch, learned, features, answerable)."""
        asked = without_links(without_invisible(question))  # what is ranked; the response keeps the question
        terms = question_terms(asked)
        if not terms:
            raise no_searchable_words(question)
        if stages is not None:
            stages.lap("tokenize")
        libraries = list(dict.fromkeys(libraries))
        self.ensure_loaded(libraries)
        self.refresh()
        term_ids = self.known_term_ids(terms)
        wanted = offset + k
        ranker = self.ranker
        candidates = ranker.candidates if ranker is not None else CANDIDATES
        depth = max(wanted, candidates) if ranker is not None else max(wanted, SPREAD)
        pids, scores, matched = self.index.top(libraries, term_ids, depth)
        if stages is not None:
            stages.lap("rank")
        reads = SearchReads(self, libraries, dict(zip(terms, term_ids, strict=True)))
        try:
            hits = self._hits(reads, pids.tolist(), scores.tolist())
            if ranker is not None and self.word_forms is not None:
                hits = self._with_other_forms(reads, hits, terms, term_ids, candidates)
            searched = self.index.article_count(libraries)
            if stages is not None:
                stages.lap("fetch")
            if ranker is not None:
                # Only BM25's first candidates are reordered, so every page (More) reads one order.
                first = hits[:candidates]
                if stages is not None and isinstance(ranker, Ranker):
                    ordered = ranker(reads, asked, libraries, first, stages=stages)
                else:
                    ordered = ranker(reads, asked, libraries, first)
                hits = ordered + hits[candidates:]
            shown = []
            for rank, h in enumerate(hits[offset:wanted], start=offset + 1):
                held = reads.matched_terms(h.passage, terms)
                shown.append(
                    Hit(rank, h.score, h.article, h.passage, h.matched_terms if held is None else held)
                )
            # The stored analyses (their sentences' words and stems) of the shown passages and of
            # the first article's others among the first `SPREAD`, taken before the search lets go
            # of its rows: the decision then tokenizes and stems none of them again.
            analyses = reads.analyses(hits[:ANSWER_PASSAGES] + _same_article(hits[:SPREAD]))
            # The learned stage's vectors of the shown passages, where it read them: not read again.
            vectors = reads.vectors_read([h.passage for h in hits[:ANSWER_PASSAGES]])
        finally:
            reads.release()
        answerable = self._answerable(
            asked, terms, term_ids, libraries, scores, hits[:SPREAD], analyses, vectors
        )
        if stages is not None:
            stages.lap("answerable")
        return SearchResponse(question, tuple(terms), shown, searched, matched, tuple(libraries), answerable)

    def _with_other_forms(
        self, reads: SearchReads, hits: list[Hit], terms: list[str], term_ids: list[int], candidates: int
    ) -> list[Hit]:
        """BM25's candidates, the last FORM_CANDIDATES of them given up for the best passages of the
        question with its words' other forms added ("flooding" for "floods") that exact BM25 missed."""
        forms = self.word_forms
        assert forms is not None
        forms.take(self.db.terms_after(forms.last_id))
        extra = forms.other_forms(terms, term_ids)
        if not extra:
            return hits
        pids, scores, _ = self.index.top(reads.libraries, term_ids + extra, candidates)
        kept = hits[: candidates - FORM_CANDIDATES]
        seen = {(h.article.id, h.passage.index) for h in kept}
        found = [
            h
            for h in self._hits(reads, pids.tolist(), scores.tolist())
            if (h.article.id, h.passage.index) not in seen
        ][: candidates - len(kept)]
        if not found:
            return hits
        chosen = {(h.article.id, h.passage.index) for h in found}
        rest = [h for h in hits[len(kept) :] if (h.article.id, h.passage.index) not in chosen]
        return kept + found + rest

    def _answerable(
        self,
        question: str,
        terms: list[str],
        term_ids: list[int],
        libraries: list[str],
        scores: np.ndarray,
        first: list[Hit],
        analyses: Sequence[PassageAnalysis | None] = (),
        vectors: np.ndarray | None = None,
    ) -> bool:
        """Whether the first passages (the same for every page) could answer the question, from
        the first `SPREAD` ranked ones (and the stored analyses of the shown ones and of the first
        article's others, and the shown ones' vectors, where read)."""
        if not first:
            return False
        shown = first[:ANSWER_PASSAGES]
        found = Candidates(
            scores=tuple(float(x) for x in scores[:SPREAD]),
            articles=tuple(h.article.id for h in first),
            title=shown[0].article.title,
            same_article=tuple(h.passage.text for h in _same_article(first)),
            cosine=self._best_cosine(question, shown, vectors) if self.encoder is not None else None,
        )
        idf, df, passages = self.index.term_stats(libraries, term_ids)
        top = float(scores.max()) if len(scores) else 0.0
        return self.answerability(
            question,
            terms,
            dict(zip(terms, idf, strict=True)),
            dict(zip(terms, df, strict=True)),
            passages,
            top,
            [h.passage.text for h in shown],
            found,
            analyses,
        )

    def known_term_ids(self, terms: list[str]) -> list[int]:
        """The id of each term, -1 for a term no article holds. Terms are never renumbered, so the
        ids found are kept and a question's known terms cost no query."""
        cache = self._term_ids
        ids = {t: i for t in terms if (i := cache.get(t)) is not None}
        missing = sorted({t for t in terms if t not in ids})
        if missing:
            found = {t: i for t, i in zip(missing, self.db.known_term_ids(missing), strict=True) if i >= 0}
            ids.update(found)
            with self._term_ids_lock:
                if len(cache) + len(found) > TERM_ID_CACHE:
                    cache.clear()
                cache.update(found)
        return [ids.get(t, -1) for t in terms]

    def term_idf(self, libraries: list[str], terms: list[str]) -> dict[str, float]:
        """BM25Okapi's idf of each term over the given libraries (0 for unknown terms)."""
        if not terms:
            return {}
        self.ensure_loaded(libraries)
        self.refresh()
        values = self.index.term_idf(libraries, self.known_term_ids(terms))
        return dict(zip(terms, values, strict=True))

    def _hits(self, reads: SearchReads, pids: list[int], scores: list[float]) -> list[Hit]:
        """The passages read as hits, in the given order (their matched terms are found for the
        shown ones only, by `SearchReads.matched_terms`)."""
        reads.read(pids)
        hits = []
        for pid, score in zip(pids, scores, strict=True):
            row = reads.passages.get(pid)
            if row is None:  # removed since the index was read
                continue
            article_id, seq, start, end, _, _ = row
            article, text = reads.articles[article_id]
            passage = Passage(article.id, seq, start, end, text[start:end])
            reads.remember(passage, pid)
            hits.append(Hit(0, score, article, passage, ()))
        return hits

    # -- passage vectors (the learned stage) -------------------------------------------------

    def _require_encoder(self, what: str) -> TextEncoder:
        if self.encoder is None:
            raise ValueError(f"{what} needs a Store opened with an encoder")
        return self.encoder

    def passage_vectors(self, passages: list[Passage]) -> np.ndarray:
        """The learned ranker's unit vectors of these passages (float32, one row each), in order.

        A passage stored before the encoder was on gets its vector now, and keeps it."""
        model = self._require_encoder("passage_vectors").model_name
        keys = [(int(p.article_id), p.index) for p in passages]
        found = self.db.passage_vector_rows(keys, model)
        # A passage whose text changed since the search read it (its article was updated) counts as
        # removed: no similarity now, and no vector made from the old text.
        for i, key in enumerate(keys):
            if key in found and found[key][2] != passages[i].text:
                del found[key]
        missing = [i for i, key in enumerate(keys) if key in found and found[key][1] is None]
        made: dict[int, np.ndarray] = {}
        if missing:
            made = self._make_vectors({i: (found[keys[i]][0], passages[i].text) for i in missing})
        rows: list[np.ndarray | None] = []
        for i, key in enumerate(keys):
            if i in made:
                rows.append(made[i])
            elif key in found:
                rows.append(np.frombuffer(found[key][1] or b"", dtype=VECTOR_DTYPE))
            else:  # removed meanwhile: no similarity
                rows.append(None)
        return _stacked_vectors(rows)

    def _make_vectors(self, wanted: dict[int, tuple[int, str]]) -> dict[int, np.ndarray]:
        """Vectors for passages stored without one ({position: (passage id, text)}), saved when the
        file can take them at once: a question never waits on another writer, and a vector that
        could not be saved is kept in memory instead of being made again."""
        model = self._require_encoder("passage_vectors").model_name
        keys = {
            i: (pid, hashlib.blake2b(text.encode(), digest_size=16).digest())
            for i, (pid, text) in wanted.items()
        }
        with self._vectors_lock:  # other questions' threads add and drop kept vectors
            made = {i: self._unsaved_vectors[k] for i, k in keys.items() if k in self._unsaved_vectors}
        fresh = [i for i in wanted if i not in made]
        if fresh:
            made.update(zip(fresh, self._encode([wanted[i][1] for i in fresh]), strict=True))
        try:
            self.db.put_vectors([wanted[i][0] for i in wanted], [made[i] for i in wanted], model, wait=False)
        except (sqlite3.OperationalError, Busy) as exc:  # a read-only file, or another process writing
            with self._vectors_lock:
                for i, key in keys.items():
                    self._unsaved_vectors[key] = made[i]
                    self._unsaved_vectors.move_to_end(key)
                while len(self._unsaved_vectors) > UNSAVED_VECTORS:
                    self._unsaved_vectors.popitem(last=False)
            level = logging.DEBUG if self._warned_unsaved else logging.WARNING
            self._warned_unsaved = True
            log.log(level, "could not save %d passage vectors now (%s); kept in memory", len(wanted), exc)
        else:
            with self._vectors_lock:
                for key in keys.values():
                    self._unsaved_vectors.pop(key, None)
        return made

    def count_missing_vectors(self, library: str | None = None) -> int:
        """How many stored passages (of one library, or all) have no vector from this encoder."""
        model = self._require_encoder("count_missing_vectors").model_name
        return self.db.count_missing_vectors(model, library)

    def embed_missing(self, library: str | None = None, batch: int = 64) -> Iterator[int]:
        """Give every stored passage (of one library, or all) its vector, `batch` at a time, each
        batch committed; yields how many each batch did. Searches go on meanwhile."""
        model = self._require_encoder("embed_missing").model_name
        # Each batch starts after the last one's passages: read from the first passage every time,
        # the query walked past every passage given a vector so far (quadratic in the library).
        # Passages stored meanwhile get higher ids (writes are serialised: SQLite's one writer,
        # PostgreSQL's write lock held to commit), so none is skipped.
        last = 0
        while True:
            rows = self.db.passages_missing_vectors(model, library, batch, after=last)
            if not rows:
                return
            vectors = self._encode([text for _, text in rows])  # outside any lock: it is slow
            self.db.put_vectors([pid for pid, _ in rows], vectors, model)
            last = rows[-1][0]
            yield len(rows)

    def encode_questions(self, questions: list[str]) -> np.ndarray:
        """The learned ranker's unit vectors of some questions, one row each, in one batch. The
        last few questions' vectors are kept: the answerability step asks again for the question
        the learned stage has just encoded."""
        encoder = self._require_encoder("encoding a question")
        with self._vectors_lock:
            kept = {q: v for q in questions if (v := self._question_vectors.get(q)) is not None}
        fresh = list(dict.fromkeys(q for q in questions if q not in kept))
        if fresh:
            made = np.asarray(encoder.encode(fresh), dtype=np.float32)
            with self._vectors_lock:
                for q, v in zip(fresh, made, strict=True):
                    kept[q] = v
                    self._question_vectors[q] = v
                    self._question_vectors.move_to_end(q)
                while len(self._question_vectors) > QUESTION_VECTORS:
                    self._question_vectors.popitem(last=False)
        return np.stack([kept[q] for q in questions]) if questions else np.zeros((0, 0), dtype=np.float32)

    def _best_cosine(self, question: str, shown: list[Hit], read: np.ndarray | None = None) -> float | None:
        """The best cosine of the question's vector with a shown passage's (None when none has one,
        or the encoder failed: then the decision is made without it, as the ranking was). `read`:
        the shown passages' vectors, where the search read them already."""
        try:
            vectors = read if read is not None else self.passage_vectors([h.passage for h in shown])
            if vectors.shape[1] == 0:
                return None
            return float(np.max(vectors @ self.encode_questions([question])[0]))
        except Exception:  # the learned stage is optional
            log.exception("the learned stage's cosine failed; deciding answerability without it")
            return None

    # -- statistics ------------------------------------------------------------------------

    def stats(self) -> dict:
        """Articles, passages and distinct terms per library, and the database size."""
        counts = self.db.library_counts()
        self.ensure_loaded(library for library, _, _ in counts)
        self.refresh()
        libraries = {}
        for library, articles, passages in counts:
            lib = self.index.libraries.get(library)
            terms = int((lib.df > 0).sum()) if lib else 0
            libraries[library] = {"articles": articles, "passages": passages, "terms": terms}
        return {"libraries": libraries, "database_bytes": self.db.size_bytes(), "path": self.db.path}


def refusal(failure: AddFailure) -> str:
    """The sentence that tells why an article was not stored, and what to do."""
    if not failure.refused:
        return (
            f"{shown(failure.title)!r} was not stored: the database failed while storing it"
            f" ({failure.cause}); fix what it names and add that article again."
        )
    return (
        f"{shown(failure.title)!r} was not stored: the database refused it ({failure.cause}); fix that"
        " article, or the database rule it names, and add it again."
    )


def _batch(rows: list[PassageRow]) -> tuple[PassageTerms, np.ndarray]:
    """(passage terms, article id per passage) from rows of (id, article_id, length, terms, tfs)."""
    ids, articles, lengths, term_blobs, tf_blobs = zip(*rows, strict=True)
    sizes = np.fromiter((len(b) // TERM_DTYPE.itemsize for b in term_blobs), dtype=np.int64, count=len(rows))
    batch = PassageTerms(
        passage_ids=np.array(ids, dtype=np.int64),
        lengths=np.array(lengths, dtype=np.int64),
        offsets=np.concatenate(([0], np.cumsum(sizes))).astype(np.int64),
        terms=np.frombuffer(b"".join(term_blobs), dtype=TERM_DTYPE).astype(np.int64),
        tfs=np.frombuffer(b"".join(tf_blobs), dtype=TF_DTYPE).astype(np.int64),
    )
    return batch, np.array(articles, dtype=np.int64)


def _stacked_vectors(rows: Sequence[np.ndarray | None]) -> np.ndarray:
    """Passage vectors as one float32 matrix, a row each: a passage with none (None, or a row of no
    length, as a batch with no vector at all gives) is a row of zeros."""
    dims = max((len(r) for r in rows if r is not None), default=0)
    vectors = np.zeros((len(rows), dims), dtype=np.float32)
    for i, r in enumerate(rows):
        if r is not None and len(r):
            vectors[i] = r
    return vectors


def _same_article(first: list[Hit]) -> list[Hit]:
    """The hits after the first that come from the first hit's article."""
    return [h for h in first[1:] if h.article.id == first[0].article.id]


class SearchReads:
    """One search's view of its store, handed to the ranker as its source: what the search has read
    already (its passages' stored analyses, their articles' texts) is not read again.

    Used by one search, in one thread; `release` drops the texts once the search is done (a ranker
    cache may keep this object to read an article later: it then reads through the store)."""

    def __init__(self, store: Store, libraries: list[str], term_ids: dict[str, int] | None = None) -> None:
        self.store = store
        self.libraries = libraries
        self.term_ids = term_ids or {}
        """The question's terms and their ids, as the search looked them up."""
        self.passages: dict[int, tuple[int, int, int, int, bytes, bytes | None]] = {}
        self.articles: dict[int, tuple[StoredArticle, str]] = {}
        self._decoded: dict[int, PassageAnalysis | None] = {}
        """The analyses decoded so far, by passage id (`_analysis`)."""
        self._ids: dict[Passage, int] = {}
        """The passage id of each passage made into a hit here (by value: an article updated
        between two reads of one search has two passages of one index, told apart by their text)."""
        self._vectors: dict[Passage, np.ndarray] = {}
        """The learned stage's vectors read so far (`passage_vectors`), by passage."""

    def read(self, passage_ids: list[int]) -> None:
        """Read the passages (and their articles) not read yet."""
        wanted = [pid for pid in passage_ids if pid not in self.passages]
        if wanted:
            found: HitRows = self.store.db.hit_rows(wanted, self.libraries)
            self.passages.update(found.passages)
            self.articles.update(found.articles)

    def release(self) -> None:
        self.passages = {}
        self.articles = {}
        self._decoded = {}
        self._ids = {}
        self._vectors = {}

    def remember(self, passage: Passage, pid: int) -> None:
        """That the hit's passage is the stored passage pid (read here)."""
        self._ids[passage] = pid

    def analyses(self, hits: list[Hit]) -> list[PassageAnalysis | None]:
        """The stored analysis of each hit's passage read here (None for another passage, or an
        analysis of another version)."""
        return [None if (pid := self._ids.get(hit.passage)) is None else self._analysis(pid) for hit in hits]

    def _analysis(self, pid: int) -> PassageAnalysis | None:
        """A passage's stored analysis, decoded once a search: the ranker's candidates and the
        answerability decision read the same passages."""
        if pid not in self._decoded:
            self._decoded[pid] = decode_analysis(self.passages[pid][5])
        return self._decoded[pid]

    def matched_terms(self, passage: Passage, terms: list[str]) -> tuple[str, ...] | None:
        """The question's terms (each once, in question order) that a passage made into a hit here
        holds; None for a passage this search did not read (a ranker's own)."""
        pid = self._ids.get(passage)
        if pid is None:
            return None
        present = set(np.frombuffer(self.passages[pid][4], dtype=TERM_DTYPE).tolist())
        return tuple(dict.fromkeys(t for t in terms if self.term_ids.get(t, -1) in present))

    @property
    def path(self) -> str:
        return self.store.path

    @property
    def has_encoder(self) -> bool:
        return self.store.has_encoder

    def term_idf(self, libraries: list[str], terms: list[str]) -> dict[str, float]:
        if libraries != self.libraries or not self.term_ids.keys() >= set(terms):
            return self.store.term_idf(libraries, terms)
        values = self.store.index.term_idf(libraries, [self.term_ids[t] for t in terms])
        return dict(zip(terms, values, strict=True))

    def article_text(self, library: str | list[str], article_id: str | int) -> str:
        found = self.articles.get(int(article_id))
        asked = [library] if isinstance(library, str) else library
        if found is not None and found[0].library in asked:
            return found[1]
        return self.store.article_text(library, article_id)

    def passage_vectors(self, passages: list[Passage]) -> np.ndarray:
        """The store's `passage_vectors`, each passage's read once a search: the learned stage's
        candidates include the shown passages, whose vectors the decision then takes (`vectors_read`)."""
        missing = [p for p in dict.fromkeys(passages) if p not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self.store.passage_vectors(missing), strict=True))
        return _stacked_vectors([self._vectors[p] for p in passages])

    def vectors_read(self, passages: list[Passage]) -> np.ndarray | None:
        """The vectors of these passages if this search read them all already, else None."""
        if not passages or any(p not in self._vectors for p in passages):
            return None
        return _stacked_vectors([self._vectors[p] for p in passages])

    def encode_questions(self, questions: list[str]) -> np.ndarray:
        return self.store.encode_questions(questions)

    def passage_extras(self, hits: list[Hit], before: int) -> list[tuple[PassageAnalysis | None, str]]:
        pids = {(row[0], row[1]): pid for pid, row in self.passages.items()}
        extras: list[tuple[PassageAnalysis | None, str] | None] = []
        for hit in hits:
            p = hit.passage
            key = (int(p.article_id), p.index)
            article = self.articles.get(key[0])
            if key in pids and article is not None:
                extras.append((self._analysis(pids[key]), article[1][max(0, p.start - before) : p.start]))
            else:
                extras.append(None)
        missing = [h for h, e in zip(hits, extras, strict=True) if e is None]
        if missing:  # hits this search did not read (a ranker called on its own)
            from_store = iter(self.store.passage_extras(missing, before))
            return [e if e is not None else next(from_store) for e in extras]
        return [e for e in extras if e is not None]


def open_store(path: str | Path, encoder: TextEncoder | None = None) -> Store:
    return Store(path, encoder=encoder)
