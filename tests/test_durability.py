"""Nothing lost (issue 6, point 4): kills, concurrent processes, bad database files, old schemas.

Every test here uses real processes where the issue asks for them: a SIGKILLed writer, a CLI `add`
beside a process that keeps searching, and the CLI's own exit codes on bad files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import (
    BRIDGE_URL,
    EN_WEAPONS,
    HI_DAY,
    STORE_SECRET_LINK,
    ZH_WEAPONS,
    bridge,
    links_after_upgrade,
    stored_by_the_old_tokenizer,
)

import index.store
from index import Article, DatabaseError, Store
from index.db import SCHEMA_VERSION, migrations
from index.ingest.passages import make_passages
from index.rank.features import analyse, decode_analysis
from index.rank.stems import Stems

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "schema1.db"
CLI = [sys.executable, "-m", "index"]


def cli(db: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, "--db", str(db), *args], capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


def write_articles(folder: Path, count: int, marker: str | None = None, place: str = "town") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        body = " ".join(f"The {place} council met on day {i} about item {i * 13 + j}." for j in range(8))
        (folder / f"a{i:05d}.txt").write_text(f"Report {i}\n\n{body}")
    if marker:
        (folder / "zz-last.txt").write_text(
            f"Last report\n\nThe {marker} was seen near the harbour on Friday."
        )


def check_consistent(db: Path) -> int:
    """The file is whole: integrity, no orphan or missing passages, offsets inside the text."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        orphans = conn.execute(
            "SELECT count(*) FROM passages WHERE article_id NOT IN (SELECT id FROM articles)"
        ).fetchone()[0]
        assert orphans == 0, "passages without an article"
        partial = conn.execute(
            "SELECT a.id, a.passage_count, count(p.id) FROM articles a LEFT JOIN passages p"
            " ON p.article_id = a.id GROUP BY a.id HAVING a.passage_count != count(p.id)"
        ).fetchall()
        assert partial == [], f"articles with missing passages: {partial[:5]}"
        bad_offsets = conn.execute(
            "SELECT count(*) FROM passages p JOIN articles a ON a.id = p.article_id"
            " WHERE p.start < 0 OR p.end > length(a.text) OR p.start >= p.end"
        ).fetchone()[0]
        assert bad_offsets == 0
        unlogged = conn.execute(
            "SELECT count(*) FROM articles a WHERE NOT EXISTS"
            " (SELECT 1 FROM changes c WHERE c.article_id = a.id AND c.action = 'add')"
        ).fetchone()[0]
        assert unlogged == 0, "every stored article is in the change log, so every index sees it"
        return conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    finally:
        conn.close()


def check_searchable(db: Path, word: str) -> None:
    with Store(db) as store:
        hits = store.search(word, ["global"], k=3).hits
        assert hits, f"no hit for {word!r} after reopening"
        for hit in hits:
            text = store.article_text("global", hit.article.id)
            # The passage must be one the splitter makes of the text, not just what the offsets point at.
            made = {(s.start, s.end, text[s.start : s.end]) for s in make_passages(text)}
            assert (hit.passage.start, hit.passage.end, hit.passage.text) in made


# -- SIGKILL in the middle of adding -----------------------------------------------------------------

# The child adds articles with the real Store, and stops inside the write transaction of the
# 150th article (the first batch of 100 is committed; articles 101-150 are written but uncommitted),
# tells the parent, and waits to be killed.
KILLED_CHILD = textwrap.dedent(
    """
    import sys, time
    from index import Article, Store
    from index.db.sqlite import SqliteDatabase as S

    original = S._store_one
    count = 0

    def store_one(self, *args, **kwargs):
        global count
        result = original(self, *args, **kwargs)
        count += 1
        if count == 150:
            print("inside", flush=True)
            time.sleep(60)
        return result

    S._store_one = store_one
    store = Store(sys.argv[1])
    articles = (
        Article(title=f"Report {i}", text=f"The council met on day {i}. It voted on item {i * 13}. " * 6)
        for i in range(1000)
    )
    for _ in store.add_many(articles, "global"):
        pass
    """
)


def test_sigkill_inside_a_write_transaction_loses_only_the_uncommitted_articles(tmp_path):
    db = tmp_path / "c.db"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, str(db)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert child.stdout.readline().strip() == "inside"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    assert check_consistent(db) == 100  # the committed batch, whole; nothing of the open one
    check_searchable(db, "council")
    with Store(db) as store:  # and the file takes new writes
        assert store.count_articles("global") == 100
        store.add(Article(title="After", text="The harbour reopened after the crash."), "global")
        assert store.search("harbour", ["global"]).hits[0].article.title == "After"


def _count(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0  # not created yet


@pytest.mark.parametrize("after", [1, 1500])
def test_sigkill_of_cli_add_in_the_middle_leaves_a_consistent_file(tmp_path, after):
    folder = tmp_path / "in"
    write_articles(folder, 3000)
    db = tmp_path / "c.db"
    child = subprocess.Popen(
        [*CLI, "--db", str(db), "add", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    deadline = time.monotonic() + 60
    while _count(db) < after and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    assert child.wait(10) == -signal.SIGKILL, "the add finished before it could be killed"
    stored = check_consistent(db)
    assert after <= stored < 3000
    # Adding the folder again completes the job: nothing duplicated, nothing missing.
    result = cli(db, "add", str(folder), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == f"{3000 - stored} added, {stored} unchanged in library global."
    assert check_consistent(db) == 3000
    check_searchable(db, "council")


# -- a CLI add while another process serves questions -----------------------------------------------------

SERVING_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from index import Store
    db, marker = sys.argv[1], sys.argv[2]
    errors, questions, seen_at = [], 0, None
    store = Store(db)
    print("ready", flush=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            store.search("council item", ["global"], k=3)
            found = store.search(marker, ["global"], k=1).hits
            questions += 2
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        if found:
            seen_at = time.monotonic()
            break
    print(json.dumps({"errors": errors[:5], "questions": questions, "seen": seen_at is not None,
                      "articles": store.count_articles("global")}), flush=True)
    store.close()
    """
)


def test_cli_add_beside_a_searching_process_is_never_locked_out(tmp_path):
    db = tmp_path / "c.db"
    write_articles(tmp_path / "first", 50, place="county")
    assert cli(db, "add", str(tmp_path / "first")).returncode == 0
    folder = tmp_path / "in"
    write_articles(folder, 2000, marker="quokka")
    server = subprocess.Popen(
        [sys.executable, "-c", SERVING_CHILD, str(db), "quokka"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert server.stdout.readline().strip() == "ready"
        adder = cli(db, "add", str(folder), timeout=120)
        out, _ = server.communicate(timeout=100)
    finally:
        if server.poll() is None:
            server.kill()
    assert adder.returncode == 0, adder.stderr
    assert "locked" not in adder.stderr.lower()
    assert adder.stderr.splitlines()[-1] == "2001 added in library global."
    report = json.loads(out.splitlines()[-1])
    assert report["errors"] == [], report
    assert report["seen"], "the serving process sees the new article without restarting"
    assert report["articles"] == 2051
    assert report["questions"] > 0
    assert check_consistent(db) == 2051


def test_two_cli_adds_at_once_both_complete(tmp_path):
    db = tmp_path / "c.db"
    write_articles(tmp_path / "a", 800)
    write_articles(tmp_path / "b", 800, marker="pelican")
    (tmp_path / "b" / "a00000.txt").write_text("Other report\n\nThe pelican council met on a different day.")
    procs = [
        subprocess.Popen(
            [*CLI, "--db", str(db), "add", str(tmp_path / name)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for name in ("a", "b")
    ]
    results = [(p.wait(120), p.stderr.read()) for p in procs]
    for code, err in results:
        assert code == 0 and "locked" not in err.lower(), err
    # b repeats 799 of a's articles (same text): stored once each.
    assert check_consistent(db) == 802
    check_searchable(db, "pelican")


# -- corrupt and foreign files, through the CLI ---------------------------------------------------------------


def make_clippings_db(path: Path) -> None:
    with Store(path) as store:
        for i in range(40):
            body = " ".join(f"The council met on day {i} about item {i * 13 + j}." for j in range(8))
            store.add(Article(title=f"Report {i}", text=body), "global")
    _one_file(path)


def _one_file(path: Path) -> None:
    """Fold the WAL into the file, so the file alone is what is compared."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def foreign(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('Ada')")
    conn.commit()
    conn.close()


def newer(path: Path) -> None:
    make_clippings_db(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    _one_file(path)


BAD_FILES = {
    "random-bytes": (lambda p: p.write_bytes(bytes(range(256)) * 64), "is not a readable Clippings database"),
    "text-file": (
        lambda p: p.write_text("name,email\nada,ada@example.com\n" * 50),
        "is not a readable Clippings database",
    ),
    "foreign-sqlite": (foreign, "is a database of another program"),
    "newer-schema": (newer, "was made by a newer Clippings (schema 99); upgrade Clippings"),
    "truncated": (
        lambda p: (make_clippings_db(p), p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])),
        "is not a readable Clippings database",
    ),
}


@pytest.mark.parametrize(
    ("kind", "command"),
    [(kind, ["add", "-"]) for kind in sorted(BAD_FILES)] + [("foreign-sqlite", ["ask", "council"])],
)
def test_bad_database_file_is_one_sentence_exit_1_and_left_alone(tmp_path, kind, command):
    db = tmp_path / "library.db"
    make, expected = BAD_FILES[kind]
    make(db)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    before = db.read_bytes()
    result = subprocess.run(
        [*CLI, "--db", str(db), *command],
        input="Budget vote\n\nThe council voted on the budget on Tuesday.",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {db} ") and expected in lines[0], lines
    assert db.read_bytes() == before, "the file was changed"
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0


def test_directory_given_as_database_is_one_sentence(tmp_path):
    result = cli(tmp_path, "stats")
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr and result.stderr.startswith(("Error:", "Usage:"))


def _corrupt_article_text_page(db: Path, needle: bytes) -> None:
    data = bytearray(db.read_bytes())
    page_size = 4096
    at = data.find(needle)
    assert at > 0
    page = at // page_size
    data[page * page_size + 8 : (page + 1) * page_size] = b"\x41" * (page_size - 8)
    db.write_bytes(bytes(data))


def test_damaged_article_pages_are_reported_in_one_sentence(tmp_path):
    db = tmp_path / "library.db"
    make_clippings_db(db)
    _corrupt_article_text_page(db, b"Report 20")
    result = cli(db, "list")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"Error: {db} ")


def test_damaged_file_is_not_written_when_it_is_refused(tmp_path):
    db = tmp_path / "library.db"
    make_clippings_db(db)
    conn = sqlite3.connect(db)
    root, page_size = (
        conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'passages'").fetchone()[0],
        conn.execute("PRAGMA page_size").fetchone()[0],
    )
    conn.close()
    data = bytearray(db.read_bytes())
    start = (root - 1) * page_size  # the passages table's first page, which opening reads
    data[start : start + page_size] = b"\x41" * page_size
    db.write_bytes(bytes(data))
    before = db.read_bytes()
    result = cli(db, "stats")
    assert result.returncode == 1 and "is not a readable Clippings database" in result.stderr
    assert db.read_bytes() == before


# -- schema migrations, forward from the first schema ------------------------------------------------------------


def _schema(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        " ORDER BY type, name"
    ).fetchall()


def test_fixture_is_a_schema_1_database():
    conn = sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True)
    assert dict(conn.execute("SELECT key, value FROM meta")) == {
        "application": "clippings",
        "schema_version": "1",
    }
    conn.close()


def test_migrations_run_forward_from_the_first_schema(tmp_path):
    db = tmp_path / "old.db"
    shutil.copyfile(FIXTURE, db)
    with Store(db) as store:
        assert store.get_setting("guild-42", "newsroom_channel") == "1234"
        assert [a.title for a in store.list_articles("global")] == [
            "Harbour reopens after the storm",
            "Council approves the river bridge",  # updated in place: it keeps id 1
        ]
        hit = store.search("hospital", ["global"]).hits[0]
        assert hit.article.url == "https://news.example/bridge"
        text = store.article_text("global", hit.article.id)
        assert "nine votes to two" in text and hit.passage.text == text[hit.passage.start : hit.passage.end]
        assert store.search("budget delayed", ["global"]).hits == []  # removed before the migration
        assert (
            store.search("library", ["guild-42"]).hits[0].article.title == "Library extends its opening hours"
        )
        new = store.add(Article(title="New", text="The ferry timetable changes on Monday."), "global")
        assert int(new.article.id) > 4  # ids are never reused
    migrated = sqlite3.connect(db)
    fresh_path = tmp_path / "fresh.db"
    Store(fresh_path).close()
    fresh = sqlite3.connect(fresh_path)
    assert dict(migrated.execute("SELECT key, value FROM meta"))["schema_version"] == str(SCHEMA_VERSION)
    assert _schema(migrated) == _schema(fresh), "a migrated file has the schema of a new one"
    migrated.close()
    fresh.close()
    check_consistent(db)


def test_a_failing_migration_leaves_the_old_file_as_it_was(tmp_path, monkeypatch):
    db = tmp_path / "old.db"
    shutil.copyfile(FIXTURE, db)

    def broken(database) -> None:
        database.execute("CREATE TABLE half_done (id INTEGER)")
        database.execute("ALTER TABLE articles ADD COLUMN summary TEXT")
        raise RuntimeError("disk trouble half-way through a migration")

    monkeypatch.setattr(migrations, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, broken])
    with pytest.raises((RuntimeError, DatabaseError)):
        Store(db)
    monkeypatch.undo()
    conn = sqlite3.connect(db)
    assert dict(conn.execute("SELECT key, value FROM meta"))["schema_version"] == "1"
    assert "half_done" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "summary" not in {r[1] for r in conn.execute("PRAGMA table_info(articles)")}
    conn.close()
    with Store(db) as store:
        assert store.count_articles("global") == 2


def test_migration_to_schema_3_stores_each_passage_analysis(tmp_path):
    db = tmp_path / "old.db"
    shutil.copyfile(FIXTURE, db)
    Store(db, ranker=None).close()
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT p.analysis, substr(a.text, p.start + 1, p.end - p.start) FROM passages p"
        " JOIN articles a ON a.id = p.article_id"
    ).fetchall()
    conn.close()
    stems = Stems(irregular=True)
    assert rows and [decode_analysis(blob) for blob, _ in rows] == [analyse(text, stems) for _, text in rows]


def test_migration_to_schema_4_stores_links_without_secrets_so_they_update_in_place(tmp_path):
    db = tmp_path / "old.db"
    with Store(db) as store:
        store.add(bridge("Monday"), "global")
    conn = sqlite3.connect(db)
    conn.execute(STORE_SECRET_LINK)
    conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with Store(db) as store:
        migrated, again = links_after_upgrade(store)
    assert migrated == [(BRIDGE_URL, "x.test")]
    assert (again.status, again.article.url) == ("updated", BRIDGE_URL)


def passage_ids_by_title(db: Path) -> dict[str, list[int]]:
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT a.title, p.id FROM passages p JOIN articles a ON a.id = p.article_id ORDER BY p.id"
    )
    found: dict[str, list[int]] = {}
    for title, passage_id in rows:
        found.setdefault(title, []).append(passage_id)
    conn.close()
    return found


def test_migration_to_schema_5_lets_chinese_and_hindi_questions_find_passages_stored_before(
    tmp_path, monkeypatch
):
    db = tmp_path / "old.db"
    stored_by_the_old_tokenizer(monkeypatch, db, migrations)
    with Store(db) as store:
        assert [h.article.title for h in store.search("武器", ["global"]).hits] == [ZH_WEAPONS.title]
        assert [h.article.title for h in store.search("हिन्दी", ["global"]).hits] == [HI_DAY.title]
    check_consistent(db)


def test_migration_to_schema_5_leaves_english_articles_as_they_were(tmp_path, monkeypatch):
    db = tmp_path / "old.db"
    stored_by_the_old_tokenizer(monkeypatch, db, migrations)
    before = passage_ids_by_title(db)
    Store(db).close()
    after = passage_ids_by_title(db)
    assert after[EN_WEAPONS.title] == before[EN_WEAPONS.title]
    assert after[ZH_WEAPONS.title] != before[ZH_WEAPONS.title]  # stored again, as an update is


def test_migration_to_schema_5_stores_the_analysis_of_the_new_terms(tmp_path, monkeypatch):
    db = tmp_path / "old.db"
    stored_by_the_old_tokenizer(monkeypatch, db, migrations)
    Store(db, ranker=None).close()
    conn = sqlite3.connect(db)
    (blob,) = conn.execute(
        "SELECT p.analysis FROM passages p JOIN articles a ON a.id = p.article_id WHERE a.title = ?",
        (ZH_WEAPONS.title,),
    ).fetchone()
    conn.close()
    assert decode_analysis(blob) == analyse(ZH_WEAPONS.text, Stems(irregular=True))


def test_migration_to_schema_5_brings_the_index_cache_up_to_date_through_the_change_log(
    tmp_path, monkeypatch
):
    db = tmp_path / "old.db"
    monkeypatch.setattr(index.store, "CACHE_MIN_PASSAGES", 1)
    stored_by_the_old_tokenizer(monkeypatch, db, migrations)  # its index cached with the old terms
    assert (tmp_path / "old.db.index" / "manifest.json").exists()

    def rebuilt(self: Store) -> None:
        raise AssertionError("the index was built again instead of read from the cache")

    monkeypatch.setattr(Store, "_build_index", rebuilt)
    with Store(db) as store:
        assert [h.article.title for h in store.search("武器", ["global"]).hits] == [ZH_WEAPONS.title]


def test_a_database_stored_by_the_old_tokenizer_is_at_the_schema_before_its_migration(tmp_path, monkeypatch):
    db = tmp_path / "old.db"
    stored_by_the_old_tokenizer(monkeypatch, db, migrations)
    conn = sqlite3.connect(db)
    (version,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    conn.close()
    assert int(version) == SCHEMA_VERSION - 1
