"""`clippings backup` and `clippings check`: consistent copies while writing, damage and stale caches found."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from index import Article, Store
from index import store as store_module
from index.cli import cli

TOPICS = ["harbour", "storm", "budget", "museum", "railway", "drought", "vaccine", "festival"]
QUESTIONS = ["harbour storm", "budget vote", "museum festival", "railway strike", "item3", "item17"]


def article(i: int, topic_shift: int = 0) -> Article:
    a, b = TOPICS[(i + topic_shift) % len(TOPICS)], TOPICS[(i * 3 + 1 + topic_shift) % len(TOPICS)]
    text = (
        f"The {a} council met on Tuesday about the {b} plan, item{i}. "
        f"Members said the {a} work would start soon. Critics of the {b} plan asked for a vote."
    )
    return Article(title=f"Story {i} about the {a}", text=text, url=f"https://example.test/{i}")


def answers(store: Store) -> list[list[tuple[str, int, str]]]:
    return [
        [(h.article.id, h.passage.index, h.passage.text) for h in store.search(q, ["global"], k=5).hits]
        for q in QUESTIONS
    ]


def run(db: Path, *args: str):
    return CliRunner().invoke(cli, ["--db", str(db), *args])


def test_backup_while_articles_are_added_restores_to_the_source_at_that_moment(tmp_path):
    source, copy = tmp_path / "live.db", tmp_path / "copy.db"
    added = threading.Event()
    stop = threading.Event()
    count = 0

    def writer() -> None:
        nonlocal count
        with Store(source) as store:
            while not stop.is_set() and count < 400:
                store.add(article(count), "global")
                count += 1
                if count == 5:
                    added.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert added.wait(30)
    result = run(source, "backup", str(copy))
    stop.set()
    thread.join()
    assert result.exit_code == 0, result.output
    with Store(copy) as restored:
        taken = restored.count_articles("global")
        got = answers(restored)
    # The source at that moment held exactly the first `taken` articles, added in order.
    with Store(tmp_path / "reference.db") as reference:
        for i in range(taken):
            reference.add(article(i), "global")
        expected = answers(reference)
    assert 5 <= taken <= count
    assert got == expected


REPO = Path(__file__).resolve().parent.parent

# A `clippings backup` stopped while its copy is written: it says "inside" once the partial copy is
# made, then waits for a line on stdin before it goes on.
STOPPED_BACKUP = textwrap.dedent(
    """
    import sys
    import index.maintenance as m

    original = m.mark_as_copy

    def mark_as_copy(conn):
        print("inside", flush=True)
        sys.stdin.readline()
        original(conn)

    m.mark_as_copy = mark_as_copy
    m.backup(sys.argv[1], sys.argv[2])
    """
)


def stopped_backup(db: Path, target: Path) -> subprocess.Popen:
    with Store(db) as store:
        list(store.add_many([article(i) for i in range(30)], "global"))
    child = subprocess.Popen(
        [sys.executable, "-c", STOPPED_BACKUP, str(db), str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert child.stdout.readline().strip() == "inside"
    return child


def partials(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.partial"))


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def backup_cli(db: Path, target: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "index", "--db", str(db), "backup", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def test_the_partial_copy_of_a_killed_backup_is_removed_by_the_next_backup(tmp_path, db_path):
    folder = tmp_path / "backups"
    child = stopped_backup(db_path, folder / "monday.db")
    try:
        [left] = partials(folder)
        child.send_signal(signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    assert left.exists() and left.stat().st_size > 0
    age(left, 3600)
    result = backup_cli(db_path, folder / "tuesday.db")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["tuesday.db"]


def test_a_backup_leaves_a_users_own_dot_partial_file_in_its_folder(tmp_path, db_path):
    # The folder may be one the user keeps other things in: only the backup's own partial copies
    # (.<name>.<8 random characters>.partial, an SQLite file or empty) are its to remove.
    with Store(db_path) as store:
        store.add(article(1), "global")
    folder = tmp_path / "backups"
    folder.mkdir()
    mine = [folder / ".draft.partial", folder / ".notes.abcdefgh.partial"]
    for path in mine:
        path.write_text("the user's own words")
        age(path, 3600)
    result = backup_cli(db_path, folder / "tuesday.db")
    assert result.returncode == 0, result.stderr
    assert [path.exists() for path in mine] == [True, True]


def test_the_partial_copy_of_a_backup_still_running_is_left_to_it(tmp_path, db_path):
    folder = tmp_path / "backups"
    child = stopped_backup(db_path, folder / "monday.db")
    try:
        [running] = partials(folder)
        age(running, 3600)
        result = backup_cli(db_path, folder / "tuesday.db")
        assert result.returncode == 0, result.stderr
        assert running.exists()
        child.stdin.write("go on\n")
        child.stdin.close()
        assert child.wait(30) == 0
    finally:
        if child.poll() is None:
            child.kill()
    assert sorted(p.name for p in folder.iterdir()) == ["monday.db", "tuesday.db"]
    for name in ("monday.db", "tuesday.db"):
        assert run(folder / name, "check").exit_code == 0


# The `clippings` command itself (its SIGTERM handling included), stopped inside a backup's copy or a
# check's comparison until it is signalled.
STOPPED_COMMAND = textwrap.dedent(
    """
    import sys, time
    import index.maintenance as m
    import index.store

    index.store.CACHE_MIN_PASSAGES = 1

    def stop_inside(original):
        def stopped(*args, **kwargs):
            print("inside", flush=True)
            time.sleep(60)
            return original(*args, **kwargs)
        return stopped

    m.mark_as_copy = stop_inside(m.mark_as_copy)
    m._fingerprint = stop_inside(m._fingerprint)
    from index.cli import main
    sys.argv = ["clippings", *sys.argv[1:]]
    main()
    """
)


def terminated_inside(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    child = subprocess.Popen(
        [sys.executable, "-c", STOPPED_COMMAND, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(tmp_path / "tmp")},
    )
    try:
        assert child.stdout.readline().strip() == "inside"
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


def test_a_backup_stopped_with_sigterm_leaves_no_partial_copy(tmp_path, db_path):
    with Store(db_path) as store:
        list(store.add_many([article(i) for i in range(30)], "global"))
    folder = tmp_path / "backups"
    (tmp_path / "tmp").mkdir()
    result = terminated_inside(tmp_path, "--db", str(db_path), "backup", str(folder / "monday.db"))
    assert result.returncode == 128 + signal.SIGTERM, result.stderr
    assert "Traceback" not in result.stderr
    assert list(folder.iterdir()) == []


def test_a_check_stopped_with_sigterm_leaves_no_copy_in_the_temporary_folder(
    tmp_path, db_path, cache_small_indexes
):
    with Store(db_path) as store:
        list(store.add_many([article(i) for i in range(30)], "global"))
    assert (Path(str(db_path) + ".index") / "manifest.json").exists()
    (tmp_path / "tmp").mkdir()
    result = terminated_inside(tmp_path, "--db", str(db_path), "check")
    assert result.returncode == 128 + signal.SIGTERM, result.stderr
    assert "Traceback" not in result.stderr
    assert list((tmp_path / "tmp").iterdir()) == []


def test_backup_into_a_folder_that_does_not_exist_yet_creates_it(tmp_path, db_path):
    # The README's example, run in a fresh folder: clippings backup backups/clippings-2024-05-01.db
    with Store(db_path) as store:
        store.add(article(1), "global")
    copy = tmp_path / "backups" / "clippings-2024-05-01.db"
    result = run(db_path, "backup", str(copy))
    assert result.exit_code == 0, result.output
    with Store(copy) as restored:
        assert [a.title for a in restored.list_articles("global")] == ["Story 1 about the storm"]


def test_backup_refuses_to_overwrite_a_file(tmp_path, db_path):
    Store(db_path).close()
    existing = tmp_path / "old-backup.db"
    existing.write_bytes(b"keep me")
    result = run(db_path, "backup", str(existing))
    assert (result.exit_code, result.stderr, existing.read_bytes()) == (
        1,
        f"Error: {existing} already exists; give a new file name, or move the old backup away.\n",
        b"keep me",
    )


@pytest.mark.parametrize("suffix", [".index", "-wal"])
def test_backup_refuses_a_name_the_database_uses_beside_itself(tmp_path, db_path, suffix):
    Store(db_path).close()
    target = Path(f"{db_path}{suffix}")
    result = run(db_path, "backup", str(target))
    assert (result.exit_code, result.stderr, target.exists()) == (
        1,
        f"Error: {target} is a name the database itself uses beside {db_path}; choose another file name.\n",
        False,
    )


def test_backup_into_a_folder_that_cannot_be_written_is_one_sentence(tmp_path, db_path, monkeypatch):
    # A read-only disk or another user's folder (chmod does not stop root, so the refusal is made here).
    Store(db_path).close()

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    target = tmp_path / "copy.db"
    result = run(db_path, "backup", str(target))
    assert (result.exit_code, result.stderr, target.exists()) == (
        1,
        f"Error: The backup {target} could not be written in {tmp_path} (Permission denied);"
        " choose a folder you can write to.\n",
        False,
    )


@pytest.mark.parametrize("command", ["check", "backup"])
def test_a_database_of_another_program_is_named_as_such_not_as_unreadable(tmp_path, command):
    other = tmp_path / "notes.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (text)")
    result = run(other, command, *([str(tmp_path / "copy.db")] if command == "backup" else []))
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: {other} is not a Clippings database; point --db at the database to use.\n",
    )


def test_check_of_an_empty_file_says_it_is_empty(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    result = run(empty, "check")
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: {empty} is empty, not a Clippings database yet; add articles to it with `clippings add`,"
        " or point --db at the database to use.\n",
    )


def test_backup_to_an_empty_file_name_asks_for_one(db_path):
    # `clippings backup "$FILE"` with FILE unset: not ". already exists".
    Store(db_path).close()
    result = run(db_path, "backup", "")
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (
        2,
        "Error: Invalid value for 'FILE': the file name is empty; give the backup a name, such as"
        " backups/clippings-2024-05-01.db.",
    )


def test_check_passes_a_sound_database(db_path):
    with Store(db_path) as store:
        store.add(article(1), "global")
    result = run(db_path, "check")
    assert (result.exit_code, result.stdout.splitlines()[0]) == (0, "database: ok (integrity check)")


def test_check_finds_a_damaged_database_and_leaves_it_alone(db_path):
    with Store(db_path) as store:
        for i in range(30):
            store.add(article(i), "global")
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'passages'").fetchone()[0]
    conn.close()
    with open(db_path, "r+b") as f:  # scribble over the passages table's cell pointers
        f.seek((root - 1) * page_size + 12)
        f.write(b"\xa5" * 64)
    damaged = db_path.read_bytes()
    result = run(db_path, "check")
    lines = result.stdout.splitlines()
    assert result.exit_code == 1
    assert lines[0].startswith("database: damaged (")
    assert (
        lines[1]
        == f"Restore {db_path} from a backup (see docs/operations.md); the index cache was not checked."
    )
    assert db_path.read_bytes() == damaged


@pytest.fixture
def cache_small_indexes(monkeypatch):
    monkeypatch.setattr(store_module, "CACHE_MIN_PASSAGES", 1)


def test_check_finds_a_stale_cache_and_rebuilds_it(tmp_path, db_path, cache_small_indexes):
    cache = Path(str(db_path) + ".index")
    with Store(db_path) as store:
        for i in range(10):
            store.add(article(i), "global")
    base = tmp_path / "base.db"
    assert run(db_path, "backup", str(base)).exit_code == 0
    # History 1: five more articles; keep its cache.
    with Store(db_path) as store:
        for i in range(10, 15):
            store.add(article(i), "global")
    shutil.copytree(cache, tmp_path / "cache-of-history-1")
    # History 2, from the backup: five other articles, with the same ids and change-log positions.
    shutil.rmtree(cache)
    shutil.copy(base, db_path)
    with Store(db_path) as store:
        for i in range(10, 15):
            store.add(article(i, topic_shift=3), "global")
    shutil.rmtree(cache)
    shutil.copytree(tmp_path / "cache-of-history-1", cache)  # the stale cache
    result = run(db_path, "check")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "database: ok (integrity check)"
    assert lines[1].startswith("index cache: stale, it does not answer like the database")
    assert lines[2] == "index cache: rebuilt from the database"
    assert run(db_path, "check").stdout.splitlines()[1] == "index cache: ok (answers like the database)"
    with Store(db_path) as repaired:
        got = answers(repaired)
    with Store(tmp_path / "reference.db") as reference:
        for i in range(10):
            reference.add(article(i), "global")
        for i in range(10, 15):
            reference.add(article(i, topic_shift=3), "global")
        assert got == answers(reference)


def test_check_without_repair_reports_a_damaged_cache_and_leaves_it(db_path, cache_small_indexes):
    cache = Path(str(db_path) + ".index")
    with Store(db_path) as store:
        for i in range(6):
            store.add(article(i), "global")
    state = next(cache.glob("state-*.npz"))
    state.write_bytes(state.read_bytes()[:-40] + b"\0" * 40)
    before = {p.name: p.read_bytes() for p in cache.iterdir()}
    result = run(db_path, "check", "--no-repair")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1].startswith(
        f"index cache: damaged (ignoring the index cache in {cache} ("
    )
    assert {p.name: p.read_bytes() for p in cache.iterdir()} == before


OPERATIONS = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
STATE = "/var/lib/clippings"


def operations_block(heading: str) -> list[str]:
    """The shell lines of the first code block under `heading` in docs/operations.md, with each
    backslash-continued line joined."""
    text = OPERATIONS.read_text().split(f"\n{heading}\n", 1)[1]
    block = text.split("```\n", 2)[1]
    return block.replace("\\\n", " ").splitlines()


def run_as_documented(lines: list[str], state: Path, home: Path) -> list[subprocess.CompletedProcess]:
    """Each line in its own shell started in the operator's folder, as each `sudo` is: the bot's
    state folder is `state`, the installed command this Python; systemctl lines are left out."""
    clippings = f"{sys.executable} -m index"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    env.pop("CLIPPINGS_DB", None)
    done = []
    for line in lines:
        if "systemctl" in line:
            continue
        line = (
            line.replace("sudo -u clippings ", "")
            .replace("sudo ", "")
            .replace("-o clippings -g clippings ", "")
        )
        line = line.replace("/opt/clippings/bin/clippings", clippings).replace(STATE, str(state))
        done.append(subprocess.run(["bash", "-c", line], cwd=home, env=env, capture_output=True, text=True))
    return done


def test_the_documented_restore_works_from_the_operators_own_folder(tmp_path):
    state, home = tmp_path / "state", tmp_path / "home"
    state.mkdir()
    home.mkdir()
    with Store(state / "clippings.db") as store:
        store.add(article(1), "global")
    daily = state / "backups" / "clippings-2024-05-01-030000.db"  # as the backup timer names it
    assert run(state / "clippings.db", "backup", str(daily)).exit_code == 0
    with Store(state / "clippings.db") as store:
        store.add(article(2), "global")  # after the backup: the restore takes it away
    (state / "clippings.db.index").mkdir()
    done = run_as_documented(operations_block("## Restoring"), state, home)
    assert [(d.returncode, d.stderr) for d in done] == [(0, "")] * len(done)
    assert done[-1].stdout.splitlines()[0] == "database: ok (integrity check)"
    with Store(state / "clippings.db") as store:
        assert [a.title for a in store.list_articles("global")] == ["Story 1 about the storm"]
    assert sorted(p.name for p in state.iterdir() if not p.name.startswith("damaged-")) == [
        "backups",
        "clippings.db",
    ]
    assert os.listdir(home) == []


def test_the_documented_move_puts_the_backup_in_place_on_a_new_machine(tmp_path):
    state, home = tmp_path / "state", tmp_path / "home"  # no state folder: the bot never ran there
    home.mkdir()
    with Store(tmp_path / "old.db") as store:
        store.add(article(1), "global")
    assert run(tmp_path / "old.db", "backup", str(home / "backup-2024-05-01.db")).exit_code == 0
    done = run_as_documented(operations_block("## Moving to another machine"), state, home)
    assert [(d.returncode, d.stderr) for d in done] == [(0, "")] * len(done)
    assert done[-1].stdout.splitlines()[0] == "database: ok (integrity check)"
    assert (oct(state.stat().st_mode & 0o777), oct((state / "clippings.db").stat().st_mode & 0o777)) == (
        "0o700",
        "0o600",
    )
    with Store(state / "clippings.db") as store:
        assert [a.title for a in store.list_articles("global")] == ["Story 1 about the storm"]
