"""Keeping a database safe: online backups, and checks of the database and of its index cache."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .db import is_postgres_url
from .db.sqlite import keep_identity, mark_as_copy
from .engine import CacheRefused, IndexCache
from .errors import BadInput, DatabaseError, describe_os_error
from .store import Store

log = logging.getLogger(__name__)

APPLICATION = "clippings"
SAMPLE_QUESTIONS = 40
"""Articles per library whose titles are asked of both indexes when the cache is checked."""
TERM_CHUNK = 5000


def _connect_read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)


def _require_clippings_db(path: Path) -> None:
    if not path.is_file():
        raise BadInput(f"{path} does not exist; point --db or CLIPPINGS_DB at the database to use.")
    try:
        conn = _connect_read_only(path)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            row = (
                conn.execute("SELECT value FROM meta WHERE key = 'application'").fetchone()
                if "meta" in tables
                else None
            )
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(
            f"{path} could not be read ({exc}); run clippings check, or restore it from a backup."
        ) from None
    if not tables:  # an empty file (`touch`), or a database nothing was ever put in
        raise BadInput(
            f"{path} is empty, not a Clippings database yet; add articles to it with `clippings add`,"
            " or point --db at the database to use."
        )
    if not row or row[0] != APPLICATION:
        raise BadInput(f"{path} is not a Clippings database; point --db at the database to use.")


def backup(source: str | Path, target: str | Path) -> int:
    """Copy the database with SQLite's online backup API: one consistent moment, even while the
    bot writes. The copy is written beside `target` and renamed into place, so it is whole or absent.
    Returns the size of the copy in bytes."""
    if is_postgres_url(str(source)):
        raise BadInput(
            "clippings backup copies SQLite files; back up a PostgreSQL database with pg_dump"
            " (see docs/scaling.md)."
        )
    source, target = Path(source), Path(target)
    companions = {Path(f"{source}{suffix}").absolute() for suffix in ("-wal", "-shm", "-journal", ".index")}
    if target.absolute() in companions:
        # Not even as a new file: SQLite or the index cache would take it for their own.
        raise BadInput(
            f"{target} is a name the database itself uses beside {source}; choose another file name."
        )
    if target.exists():
        raise BadInput(f"{target} already exists; give a new file name, or move the old backup away.")
    _require_clippings_db(source)
    if not target.parent.is_dir():
        if target.parent.exists():
            raise BadInput(f"{target.parent} is not a folder; choose another file.")
        try:  # as `mkdir -p`: the README's backups/clippings-2024-05-01.db works in a fresh folder
            target.parent.mkdir(parents=True)
        except OSError as exc:
            raise BadInput(
                f"The folder {target.parent} could not be made ({describe_os_error(exc)}); "
                "create it or choose another file."
            ) from None
        log.info("made the folder %s for the backup", target.parent)
    _remove_abandoned_partials(target.parent)
    try:
        handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=PARTIAL, dir=target.parent)
    except OSError as exc:  # a read-only or full disk, a folder this user may not write in
        raise _unwritable(target, exc) from None
    # Held until the copy is renamed or removed: a later backup removes only partial copies whose
    # writer is gone (killed, or the machine stopped), never one that is being written.
    _lock(handle, blocking=True)
    try:
        src = _connect_read_only(source)
        dst = sqlite3.connect(partial)
        try:
            # One step (pages=-1): the whole copy reads one snapshot, so writes that commit meanwhile
            # are either all in it or all out of it.
            src.backup(dst, pages=-1)
            mark_as_copy(dst)  # a restored backup never takes the index cache of another history
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            result = dst.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            dst.close()
            src.close()
        if result != "ok":
            raise DatabaseError(
                f"the copy of {source} failed its check ({result}), so nothing was written; run clippings"
                " check, then try again."
            )
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise DatabaseError(
            f"{source} could not be backed up ({exc}), so nothing was written; fix what it names and try again."
        ) from None
    except OSError as exc:
        raise _unwritable(target, exc) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        os.close(handle)
    return target.stat().st_size


SQLITE_HEADER = b"SQLite format 3\x00"
PARTIAL = ".partial"
"""The suffix of a backup being written (`.<name>.<random>.partial`, beside the backup)."""
PARTIAL_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.partial")
"""A partial copy's whole name, as `tempfile.mkstemp` makes it (8 random characters)."""
PARTIAL_GRACE = 60.0
"""Seconds a partial copy is left alone after it was last written, whoever holds it."""


def _lock(handle: int, blocking: bool) -> bool:
    """An exclusive advisory lock on an open file; False when another process holds it."""
    try:
        import fcntl
    except ImportError:  # no flock here: partial copies of killed backups are left for the operator
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError:
        return False
    return True


def _remove_abandoned_partials(folder: Path) -> None:
    """Remove the partial copies (and their journals) that backups killed mid-copy left in `folder`:
    each is as large as the database, and nothing else would ever remove them."""
    try:
        names = [p for p in folder.iterdir() if PARTIAL_NAME.fullmatch(p.name)]
    except OSError:
        return
    for path in names:
        try:
            if time.time() - path.stat().st_mtime < PARTIAL_GRACE:
                continue  # just made: its writer may not hold its lock yet
            handle = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            if not _lock(handle, blocking=False):
                continue  # a backup running now is writing it
            if os.read(handle, len(SQLITE_HEADER)) not in (SQLITE_HEADER, b""):
                continue  # someone else's file: a partial copy is a database, or empty if killed at once
            for leftover in (path, Path(f"{path}-journal")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
            log.info("removed %s, left by a backup that was stopped before it finished", path)
        except OSError as exc:
            log.warning("could not remove %s, left by a stopped backup (%s)", path, describe_os_error(exc))
        finally:
            os.close(handle)


def _unwritable(target: Path, exc: OSError) -> BadInput:
    """One sentence for a backup file that could not be made or renamed into place."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
        return BadInput(f"The backup {target} could not be written: {describe_os_error(exc)}.")
    return BadInput(
        f"The backup {target} could not be written in {target.parent} ({exc.strerror or exc});"
        " choose a folder you can write to."
    )


@dataclass
class CheckReport:
    database_ok: bool = True
    cache_ok: bool = True
    cache_repaired: bool = False
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.database_ok and (self.cache_ok or self.cache_repaired)


def integrity_problems(path: Path) -> list[str]:
    """SQLite's integrity check: [] for a sound file, else what it found."""
    try:
        conn = _connect_read_only(path)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    if rows == ["ok"]:
        return []
    lines = [line for row in rows for line in row.splitlines() if line and not line.startswith("***")]
    return lines or rows


@contextlib.contextmanager
def _store_warnings() -> Iterator[list[str]]:
    """Warnings logged under `index` while a store opens (such as a cache it had to ignore)."""
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Collect(level=logging.WARNING)
    logger = logging.getLogger("index")
    logger.addHandler(handler)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)


def _fingerprint(store: Store, terms: list[str]) -> dict:
    """What an index answers: counts, every term's idf, and the passages found for sample questions."""
    figures = store.stats()["libraries"]
    found: dict = {"libraries": figures}
    for library in figures:
        idf: dict[str, float] = {}
        for i in range(0, len(terms), TERM_CHUNK):
            idf.update(store.term_idf([library], terms[i : i + TERM_CHUNK]))
        found[f"idf:{library}"] = {t: round(v, 9) for t, v in idf.items() if v}
        total = store.count_articles(library)
        step = max(1, total // SAMPLE_QUESTIONS)
        for offset in range(0, total, step):
            for article in store.list_articles(library, offset, 1):
                with contextlib.suppress(BadInput):
                    response = store.search(article.title, [library], k=5)
                    found[f"ask:{library}:{article.id}"] = [
                        (h.article.id, h.passage.index, round(h.score, 9)) for h in response.hits
                    ]
    return found


STALE_REASONS = (
    "belongs to another database",
    "does not match the change log",
    "disagrees with the database",
)
"""Why a whole, readable cache is refused: it is of another history of the file (index.engine.cache)."""


def _cache_dir(path: str | Path) -> Path:
    return Path(str(path) + ".index")


def _cache_present(path: Path) -> bool:
    return (_cache_dir(path) / "manifest.json").exists()


def _copy_cache(path: Path, target_db: Path, attempts: int = 3) -> None:
    """Copy the cache beside `target_db`; a save by a running bot may remove files mid-copy, so retry."""
    for attempt in range(attempts):
        shutil.rmtree(_cache_dir(target_db), ignore_errors=True)
        try:
            shutil.copytree(_cache_dir(path), _cache_dir(target_db), ignore=shutil.ignore_patterns("lock"))
            return
        except (OSError, shutil.Error):
            if attempt == attempts - 1:
                raise


def check(path: str | Path, repair: bool = True) -> CheckReport:
    """Check the database (SQLite's integrity check) and the index cache against the database.

    The database is only read. A cache that does not answer like the database is removed and,
    with `repair`, rebuilt from the database."""
    if is_postgres_url(str(path)):
        raise BadInput(
            "clippings check reads SQLite files and their index cache; check a PostgreSQL database with"
            " its own tools (amcheck, pg_dump) instead."
        )
    path = Path(path)
    report = CheckReport()
    if not path.is_file():
        raise BadInput(f"{path} does not exist; point --db or CLIPPINGS_DB at the database to check.")
    problems = integrity_problems(path)
    if problems:
        report.database_ok = False
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        report.lines.append(f"database: damaged ({'; '.join(problems[:3])}{more})")
        report.lines.append(
            f"Restore {path} from a backup (see docs/operations.md); the index cache was not checked."
        )
        return report
    _require_clippings_db(path)
    report.lines.append("database: ok (integrity check)")
    if not _cache_present(path):
        report.lines.append("index cache: none (small libraries keep none; large ones get one at start)")
        return report
    with tempfile.TemporaryDirectory(prefix="clippings-check-") as scratch:
        # Both indexes are opened on copies, so checking never writes to the database or its cache.
        # The cache is copied first: a copy of the database taken after it is never behind it.
        checked_path, reference_path = Path(scratch) / "checked.db", Path(scratch) / "reference.db"
        _copy_cache(path, checked_path)
        backup(path, reference_path)
        shutil.copy(reference_path, checked_path)
        keep_identity(checked_path, path)  # so the copy may load the original's cache
        conn = _connect_read_only(reference_path)
        try:
            terms = [r[0] for r in conn.execute("SELECT term FROM terms ORDER BY id")]
        finally:
            conn.close()
        with _store_warnings() as warnings, Store(checked_path, ranker=None) as cached:
            from_cache = _fingerprint(cached, terms)
        with Store(reference_path, ranker=None) as reference:
            expected = _fingerprint(reference, terms)
    # Name the real cache, not the copy that was opened.
    ignored = [
        w.replace(str(_cache_dir(checked_path)), str(_cache_dir(path)))
        for w in warnings
        if "index cache" in w
    ]
    if ignored and any(reason in ignored[0] for reason in STALE_REASONS):
        report.cache_ok = False
        report.lines.append(f"index cache: stale, it does not answer like the database ({ignored[0]})")
    elif ignored:
        report.cache_ok = False
        report.lines.append(f"index cache: damaged ({ignored[0]})")
    elif from_cache != expected:
        report.cache_ok = False
        differing = sorted(
            k for k in expected.keys() | from_cache.keys() if expected.get(k) != from_cache.get(k)
        )
        report.lines.append(
            f"index cache: stale, it does not answer like the database ({differing[0]} differs)"
        )
    else:
        report.lines.append("index cache: ok (answers like the database)")
        return report
    if repair:
        rebuild_cache(path)
        report.cache_repaired = True
        report.lines.append("index cache: rebuilt from the database")
    return report


def rebuild_cache(path: str | Path) -> None:
    """Remove the index cache beside the database, then build it again from the database."""
    try:
        IndexCache(_cache_dir(path)).remove()  # only the cache's own files, never anything else
    except CacheRefused as exc:
        raise BadInput(str(exc)) from None
    Store(path, ranker=None).close()
