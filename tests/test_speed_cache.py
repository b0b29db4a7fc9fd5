"""The index cache beside the database: used when valid, ignored (and rebuilt) otherwise, never
losing data; and background merges inside a Store."""

import json
import logging

import numpy as np
import pytest

from index import Article, Store, engine
from index import store as store_module

WORDS = [
    "minister",
    "talks",
    "weapons",
    "peace",
    "council",
    "budget",
    "vote",
    "river",
    "harbour",
    "storm",
    "election",
    "court",
    "ruling",
    "museum",
    "festival",
    "vaccine",
    "drought",
    "harvest",
    "strike",
    "railway",
]


def article(i: int) -> Article:
    words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(40)]
    sentences = [" ".join(words[k : k + 8]).capitalize() + f" item{i}." for k in range(0, 40, 8)]
    return Article(title=f"Story {i}", text=" ".join(sentences), url=f"https://x.test/{i}")


QUESTIONS = ["minister weapons", "storm harbour railway", "item7 vote", "festival court ruling museum"]


def answers(store: Store) -> list:
    return [
        [(h.article.id, h.passage.start, round(h.score, 12)) for h in store.search(q, ["global"], k=5).hits]
        for q in QUESTIONS
    ]


@pytest.fixture(autouse=True)
def cache_small_indexes(monkeypatch):
    monkeypatch.setattr(store_module, "CACHE_MIN_PASSAGES", 1)


def fill(db_path, count: int = 30) -> list:
    with Store(db_path, ranker=None) as store:
        list(store.add_many([article(i) for i in range(count)], "global"))
        store.refresh()
        return answers(store)


def test_a_reopened_store_answers_from_the_mapped_cache(db_path, caplog):
    expected = fill(db_path)
    assert (db_path.parent / (db_path.name + ".index") / "manifest.json").exists()
    with caplog.at_level(logging.WARNING), Store(db_path, ranker=None) as store:
        segments = store.index.libraries["global"].segments
        assert segments and all(s.name for s in segments)
        assert answers(store) == expected
    assert "rebuilding" not in caplog.text


def test_a_reopened_store_maps_its_common_terms_dense_arrays_from_the_cache(db_path, caplog):
    expected = fill(db_path)
    with caplog.at_level(logging.WARNING), Store(db_path, ranker=None) as store:
        segments = store.index.libraries["global"].segments
        assert len(segments) == 1
        segment = segments[0]
        assert segment.dense and sorted(segment.dense) == segment.common_terms().tolist()
        for lo, tfs in segment.dense.items():
            hi = int(segment.term_starts[segment.term_starts.searchsorted(lo, "right")])
            expected_tfs = np.zeros(segment.size, dtype=np.uint8)
            expected_tfs[segment.docs[lo:hi]] = segment.tfs[lo:hi]
            assert np.array_equal(tfs, expected_tfs)
            assert not tfs.flags.owndata  # a view of the mapped file
        assert answers(store) == expected
    assert "rebuilding" not in caplog.text


def test_a_reopened_store_maps_its_block_bounds_from_the_cache(db_path):
    expected = fill(db_path)
    with Store(db_path, ranker=None) as store:
        segment = store.index.libraries["global"].segments[0]
        assert segment.blocks and sorted(segment.blocks) == segment.blocked_terms().tolist()
        for lo, bounds in segment.blocks.items():
            hi = int(segment.term_starts[segment.term_starts.searchsorted(lo, "right")])
            made = engine.segments.block_bounds_of(
                segment.docs[lo:hi], segment.tfs[lo:hi], segment.doc_len, segment.ref, segment.size
            )
            assert np.array_equal(bounds, made)
            assert not bounds.flags.owndata  # a view of the mapped file
        assert answers(store) == expected


def test_changes_after_the_cache_are_replayed_from_the_log(db_path):
    fill(db_path)
    with Store(db_path, ranker=None) as other:
        other._save_on_close = lambda: None  # leave the cache behind the log
        other.add(article(100), "global")
        other.remove("global", 1)
    with Store(db_path, ranker=None) as store:
        hits = store.search("item100", ["global"]).hits
        assert hits and hits[0].article.title == "Story 100"
        assert all(h.article.id != "1" for h in store.search("item0 minister", ["global"], k=50).hits)
        store.refresh()
        replayed = answers(store)
    with Store(db_path, ranker=None) as fresh:
        assert answers(fresh) == replayed


@pytest.mark.parametrize("damage", ["flip", "truncate", "manifest", "missing", "state"])
def test_a_damaged_cache_is_rebuilt_from_the_database(db_path, damage, caplog):
    expected = fill(db_path)
    folder = db_path.parent / (db_path.name + ".index")
    segment = next(folder.glob("seg-*.bin"))
    if damage == "flip":
        data = bytearray(segment.read_bytes())
        data[len(data) // 2] ^= 0xFF
        segment.write_bytes(bytes(data))
    elif damage == "truncate":
        segment.write_bytes(segment.read_bytes()[:100])
    elif damage == "manifest":
        (folder / "manifest.json").write_text("{not json")
    elif damage == "missing":
        segment.unlink()
    else:
        next(folder.glob("state-*.npz")).write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING), Store(db_path, ranker=None) as store:
        assert answers(store) == expected
    assert "rebuilding" in caplog.text
    with Store(db_path, ranker=None) as store:  # and the rebuilt cache is good again
        assert answers(store) == expected


def test_a_cache_of_another_database_or_a_newer_one_is_ignored(db_path, tmp_path):
    fill(db_path)
    folder = db_path.parent / (db_path.name + ".index")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["seq"] += 1000
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with Store(db_path, ranker=None) as store:
        assert store.index.libraries["global"].docs == sum(
            a.passage_count for a in store.list_articles("global", limit=100)
        )
    other = tmp_path / "other.db"
    fill(other, 5)
    (db_path.parent / (db_path.name + ".index")).rename(tmp_path / "kept")
    (tmp_path / "other.db.index").rename(db_path.parent / (db_path.name + ".index"))
    with Store(db_path, ranker=None) as store:
        assert len(store.index.libraries["global"].articles) == 30


def test_removing_after_a_cached_start_is_immediate(db_path):
    fill(db_path)
    with Store(db_path, ranker=None) as store:
        before = store.search("item3", ["global"]).hits
        assert before and before[0].article.title == "Story 3"
        store.remove("global", before[0].article.id)
        assert all(h.article.title != "Story 3" for h in store.search("item3", ["global"]).hits)


def test_big_merges_run_in_the_background_and_keep_answers(db_path, monkeypatch):
    monkeypatch.setattr(engine.library, "INLINE_MERGE_MAX", 8)
    with Store(db_path, ranker=None) as store:
        for i in range(60):
            store.add(article(i), "global")
            store.refresh()
        store.remove("global", 5)
        store.index.wait_for_merges()
        store.refresh()
        merged = answers(store)
        lib = store.index.libraries["global"]
        assert len(lib.segments) < 30 and not lib.merging
    monkeypatch.setattr(store_module, "CACHE_MIN_PASSAGES", 10**9)
    with Store(db_path, ranker=None) as fresh:
        assert answers(fresh) == merged


def test_merges_still_running_at_close_are_in_the_saved_cache(db_path, monkeypatch):
    import time

    monkeypatch.setattr(engine.library, "INLINE_MERGE_MAX", 8)
    slow_merge = engine.search_index.merge_segments

    def merge_slowly(*args):
        time.sleep(0.3)
        return slow_merge(*args)

    monkeypatch.setattr(engine.search_index, "merge_segments", merge_slowly)
    with Store(db_path, ranker=None) as store:
        store.ensure_loaded(["global"])
        for i in range(64):  # the last one makes a merge of 64 due
            store.add(article(i), "global")
            store.refresh()
    with Store(db_path, ranker=None) as reopened:
        reopened.ensure_loaded(["global"])
        lib = reopened.index.libraries["global"]
        assert all(s.name for s in lib.segments)  # loaded from the cache, not rebuilt
        assert lib._pick_run() is None


def test_a_cache_saved_with_merges_due_merges_them_when_opened(db_path, monkeypatch):
    monkeypatch.setattr(engine.library, "INLINE_MERGE_MAX", 8)

    def fail(*args):
        raise MemoryError("no room to merge")

    with monkeypatch.context() as failing:
        failing.setattr(engine.search_index, "merge_segments", fail)
        with Store(db_path, ranker=None) as store:
            store.ensure_loaded(["global"])
            for i in range(64):  # eight segments of eight: a merge due
                store.add(article(i), "global")
                store.refresh()
            store.index.wait_for_merges()
            expected = answers(store)
            assert store.index.libraries["global"]._pick_run() is not None
    with Store(db_path, ranker=None) as reopened:
        reopened.ensure_loaded(["global"])
        reopened.index.wait_for_merges()
        assert reopened.index.libraries["global"]._pick_run() is None
        assert answers(reopened) == expected


def test_searching_threads_and_background_merges_and_saves_get_along(db_path, monkeypatch):
    import threading

    monkeypatch.setattr(engine.library, "INLINE_MERGE_MAX", 8)
    monkeypatch.setattr(store_module, "CACHE_SAVE_INTERVAL", 0.0)
    errors = []
    with Store(db_path, ranker=None) as store:
        stop = threading.Event()

        def search() -> None:
            while not stop.is_set():
                try:
                    store.search("minister weapons storm", ["global"], k=5)
                except Exception as exc:  # pragma: no cover - reported below
                    errors.append(exc)

        threads = [threading.Thread(target=search) for _ in range(2)]
        for thread in threads:
            thread.start()
        for i in range(80):
            store.add(article(i), "global")
            if i % 9 == 0:
                store.remove("global", store.search(f"item{i}", ["global"]).hits[0].article.id)
        stop.set()
        for thread in threads:
            thread.join()
        store.index.wait_for_merges()
        store.refresh()
        expected = answers(store)
    assert not errors
    with Store(db_path, ranker=None) as reopened:
        assert answers(reopened) == expected
    monkeypatch.setattr(store_module, "CACHE_MIN_PASSAGES", 10**9)
    with Store(db_path, ranker=None) as rebuilt:
        assert answers(rebuilt) == expected


def test_two_stores_on_one_database_keep_a_loadable_cache(db_path):
    fill(db_path)
    first = Store(db_path, ranker=None)
    second = Store(db_path, ranker=None)
    first.add(article(200), "global")
    first.close()
    second.add(article(201), "global")
    second.close()
    with Store(db_path, ranker=None) as third:
        assert third.search("item200", ["global"]).hits[0].article.title == "Story 200"
        assert third.search("item201", ["global"]).hits[0].article.title == "Story 201"
        assert all(s.name for s in third.index.libraries["global"].segments[:1])
