"""The edges of the disk: the index cache folder is the project's own and tied to one database
state, a search reads one snapshot, background threads end before exit (issue 12, cases 1-5)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from index import Article, Store
from index import store as store_module

REPO = Path(__file__).resolve().parent.parent
WORDS = ["minister", "talks", "weapons", "peace", "council", "budget", "vote", "river", "harbour", "storm"]
QUESTIONS = ["minister weapons", "storm harbour", "item7 vote", "council budget river"]


def article(i: int) -> Article:
    words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(40)]
    sentences = [" ".join(words[k : k + 8]).capitalize() + f" item{i}." for k in range(0, 40, 8)]
    return Article(title=f"Story {i}", text=" ".join(sentences), url=f"https://x.test/{i}")


def answers(store: Store) -> list:
    return [
        [(h.article.id, h.passage.start) for h in store.search(q, ["global"], k=5).hits] for q in QUESTIONS
    ]


def fill(path: Path, count: int = 20) -> list:
    with Store(path, ranker=None) as store:
        list(store.add_many([article(i) for i in range(count)], "global"))
        return answers(store)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "my.db"


@pytest.fixture
def cache_small_indexes(monkeypatch):
    monkeypatch.setattr(store_module, "CACHE_MIN_PASSAGES", 1)


def cache_of(path: Path) -> Path:
    return path.parent / (path.name + ".index")


# -- case 1: the cache folder is the project's own ------------------------------------------------


def test_a_symlinked_cache_path_keeps_every_file_of_its_target(db_path, tmp_path, cache_small_indexes):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.txt").write_text("x\n")
    cache_of(db_path).symlink_to(victim)
    expected = fill(db_path)
    with Store(db_path, ranker=None) as store:
        assert answers(store) == expected
    assert sorted(p.name for p in victim.iterdir()) == ["thesis.txt"]
    assert (victim / "thesis.txt").read_text() == "x\n"
    assert cache_of(db_path).is_symlink()


def test_a_folder_holding_other_files_is_left_alone_with_one_warning(db_path, cache_small_indexes, caplog):
    folder = cache_of(db_path)
    folder.mkdir()
    (folder / "notes.txt").write_text("mine\n")
    (folder / "manifest.json").write_text("{}")
    expected = fill(db_path)
    with Store(db_path, ranker=None) as store:
        assert answers(store) == expected
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "notes.txt"]
    assert (folder / "manifest.json").read_text() == "{}"
    refusals = [r for r in caplog.records if "not a Clippings index folder" in r.getMessage()]
    assert len(refusals) == 2  # one per store opened, each one sentence
    assert refusals[0].getMessage().count(". ") == 0


def test_a_file_put_into_the_cache_folder_is_never_deleted(db_path, cache_small_indexes):
    fill(db_path)
    folder = cache_of(db_path)
    assert (folder / "CLIPPINGS-INDEX").exists()
    (folder / "keep-me.txt").write_text("x")
    with Store(db_path, ranker=None) as store:
        store.add(article(50), "global")
    with Store(db_path, ranker=None) as store:
        assert store.search("item50", ["global"]).hits[0].article.title == "Story 50"
    assert (folder / "keep-me.txt").read_text() == "x"


def test_an_earlier_cache_folder_without_a_marker_is_adopted(db_path, cache_small_indexes):
    fill(db_path)
    folder = cache_of(db_path)
    (folder / "CLIPPINGS-INDEX").unlink()
    (folder / f"seg-{'a' * 32}.bin.tmp").write_bytes(b"left by a crash")
    with Store(db_path, ranker=None) as store:
        store.add(article(51), "global")
    assert (folder / "CLIPPINGS-INDEX").exists()
    assert not list(folder.glob("*.tmp"))


def test_a_cache_folder_left_with_only_the_marker_s_temporary_by_a_kill_is_adopted(
    db_path, cache_small_indexes, caplog
):
    # What a process killed between making the folder and renaming its marker into place leaves.
    expected = fill(db_path)
    folder = cache_of(db_path)
    shutil.rmtree(folder)
    folder.mkdir(mode=0o700)
    (folder / "CLIPPINGS-INDEX.tmp").write_text("This folder is the se")
    with Store(db_path, ranker=None) as store:
        store.add(article(52), "global")
    with Store(db_path, ranker=None) as store:
        assert answers(store) == expected
        assert store.search("item52", ["global"]).hits[0].article.title == "Story 52"
    assert not [r for r in caplog.records if "not a Clippings index folder" in r.getMessage()]
    assert (folder / "CLIPPINGS-INDEX").is_file() and (folder / "manifest.json").is_file()
    assert not list(folder.glob("*.tmp"))


# -- case 2: a cache belongs to one database state --------------------------------------------------


def test_a_diverged_copy_never_takes_the_other_copys_cache(db_path, tmp_path, cache_small_indexes):
    fill(db_path)
    copy = tmp_path / "copy.db"
    shutil.copy(db_path, copy)
    shutil.copytree(cache_of(db_path), cache_of(copy))
    long_story = " ".join(
        [
            f"The council met for the {n}th time about the railway budget and the harbour works."
            for n in range(30)
        ]
        + ["Finally the ferry timetable for the lighthouse route was published."]
    )
    # Both copies make as many changes, the last one the same (as the old check compared).
    with Store(db_path, ranker=None) as store:
        store.add(
            Article(title="Original", text="The harbour festival opened with fireworks over water."), "global"
        )
        store.remove("global", 5)
    with Store(copy, ranker=None) as store:
        store.add(Article(title="Copy", text=long_story), "global")
        store.remove("global", 5)
    shutil.rmtree(cache_of(copy))
    shutil.copytree(cache_of(db_path), cache_of(copy))  # the original's cache, at the same position
    with Store(copy, ranker=None) as store:
        assert [h.article.title for h in store.search("ferry timetable lighthouse", ["global"]).hits] == [
            "Copy"
        ]


def test_a_copy_gets_an_identity_of_its_own_when_first_opened(db_path, tmp_path):
    fill(db_path, 2)
    copy = tmp_path / "copy.db"
    shutil.copy(db_path, copy)
    with Store(db_path, ranker=None) as a, Store(copy, ranker=None) as b:
        assert a.db.instance() != b.db.instance()
    with Store(db_path, ranker=None) as a1, Store(db_path, ranker=None) as a2:
        assert a1.db.instance() == a2.db.instance()


MANIFEST_DAMAGE = {
    "libraries empty": lambda m: m.update(libraries={}),
    "libraries a list": lambda m: m.update(libraries=[]),
    "libraries null": lambda m: m.update(libraries=None),
    "format wrong": lambda m: m.update(format=99),
    "format missing": lambda m: m.pop("format"),
    "identity wrong": lambda m: m.update(identity="someone else"),
    "identity a number": lambda m: m.update(identity=7),
    "seq a string": lambda m: m.update(seq="12"),
    "seq negative": lambda m: m.update(seq=-1),
    "seq true": lambda m: m.update(seq=True),
    "seq lower": lambda m: m.update(seq=m["seq"] - 1),
    "tail wrong": lambda m: m.update(tail="0" * 32),
    "extra field": lambda m: m.update(extra=1),
    "manifest a list": lambda m: (m.clear(), m.update(x=[])),
    "library renamed": lambda m: m.update(libraries={"other": m["libraries"]["global"]}),
    "state outside": lambda m: m["libraries"]["global"].update(state="../../etc/passwd"),
    "state bytes text": lambda m: m["libraries"]["global"].update(state_bytes="9"),
    "state crc wrong": lambda m: m["libraries"]["global"].update(state_crc=1),
    "segments a dict": lambda m: m["libraries"]["global"].update(segments={}),
    "segments empty": lambda m: m["libraries"]["global"].update(segments=[]),
    "segment file outside": lambda m: m["libraries"]["global"]["segments"][0].update(file="/etc/hostname"),
    "segment bytes wrong": lambda m: m["libraries"]["global"]["segments"][0].update(bytes=1),
    "segment arrays missing": lambda m: m["libraries"]["global"]["segments"][0].update(arrays={}),
    "array dtype made up": lambda m: m["libraries"]["global"]["segments"][0]["arrays"]["docs"].__setitem__(
        1, "zz9"
    ),
    "array offset text": lambda m: m["libraries"]["global"]["segments"][0]["arrays"]["docs"].__setitem__(
        0, "0"
    ),
}


@pytest.mark.parametrize("damage", sorted(MANIFEST_DAMAGE))
def test_a_manifest_with_any_field_made_wrong_is_rebuilt(db_path, cache_small_indexes, damage):
    expected = fill(db_path)
    manifest_path = cache_of(db_path) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    MANIFEST_DAMAGE[damage](manifest)
    manifest_path.write_text(json.dumps(manifest))
    with Store(db_path, ranker=None) as store:
        assert answers(store) == expected
    with Store(db_path, ranker=None) as store:  # and the cache written after it is good
        assert answers(store) == expected
    assert json.loads(manifest_path.read_text())["libraries"]["global"]


# -- case 4: a concurrent remove never fails a question -----------------------------------------------


def test_removing_articles_while_questions_run_never_fails_one(db_path):
    with Store(db_path) as store, Store(db_path) as writer:  # the writer as another process would
        list(writer.add_many([article(i) for i in range(12)], "global"))
        errors: list[BaseException] = []
        done = threading.Event()

        def ask() -> None:
            while not done.is_set():
                # Names in a question make the ranker read the articles' text too.
                for q in ("What did Minister Storm say about weapons", "Where did Harbour Council vote"):
                    try:
                        store.search(q, ["global"], k=5)
                    except BaseException as exc:  # every failure is the finding
                        errors.append(exc)

        threads = [threading.Thread(target=ask) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            for _ in range(25):
                for i in range(12):
                    writer.remove("global", writer.search(f"item{i}", ["global"]).hits[0].article.id)
                    writer.add(article(i), "global")
        finally:
            done.set()
            for t in threads:
                t.join()
        assert errors == []


# -- case 5: background threads end before the process exits ----------------------------------------

MERGING_ASKS = """
import sys
from index import Article, Store
from index import engine
getattr(engine, "library", engine).INLINE_MERGE_MAX = 0  # every merge goes to the background thread
start = int(sys.argv[2])
with Store(sys.argv[1], ranker=None) as store:
    for i in range(start, start + 8):  # the eighth segment starts a merge, just before exit
        text = " ".join(f"Storm w{i}x{j} flooded harbour{j % 50} today." for j in range(2500))
        store.add(Article(title=f"T{i}", text=text), "global")
        store.search("storm harbour7", ["global"])
print("done")
"""


def test_asks_that_start_background_merges_always_exit_0(db_path):
    codes = []
    for run_number in range(8):
        done = subprocess.run(
            [sys.executable, "-c", MERGING_ASKS, str(db_path), str(run_number * 10)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        codes.append((done.returncode, done.stdout, done.stderr))
    assert codes == [(0, "done\n", "")] * 8


LONG_STORY = " ".join(
    [f"The council met for the {n}th time about the railway budget and the harbour works." for n in range(30)]
    + ["Finally the ferry timetable for the lighthouse route was published."]
)


def test_a_backup_restored_in_place_never_takes_the_cache_of_the_other_history(
    db_path, tmp_path, cache_small_indexes
):
    from index.maintenance import backup

    fill(db_path)
    backup(db_path, tmp_path / "base.db")
    with Store(db_path, ranker=None) as store:  # history 1, its cache kept
        store.add(
            Article(title="One", text="The harbour festival opened with fireworks over water."), "global"
        )
    shutil.copytree(cache_of(db_path), tmp_path / "cache-of-history-1")
    shutil.copy(tmp_path / "base.db", db_path)  # restored in place: the same file, the same inode
    with Store(db_path, ranker=None) as store:  # history 2: as many changes, other text
        store.add(Article(title="Two", text=LONG_STORY), "global")
    shutil.rmtree(cache_of(db_path))
    shutil.copytree(tmp_path / "cache-of-history-1", cache_of(db_path))
    with Store(db_path, ranker=None) as store:
        assert [h.article.title for h in store.search("ferry lighthouse timetable", ["global"]).hits] == [
            "Two"
        ]


def test_rebuilding_the_cache_deletes_only_its_own_files(db_path, cache_small_indexes):
    from index.maintenance import rebuild_cache

    fill(db_path)
    (cache_of(db_path) / "notes.txt").write_text("mine")
    rebuild_cache(db_path)
    assert (cache_of(db_path) / "notes.txt").read_text() == "mine"
    assert (cache_of(db_path) / "manifest.json").exists()
