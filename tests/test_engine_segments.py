"""Segments, merging and the pruned top-n search give exactly what a full scoring gives."""

import itertools
import random

import numpy as np
import pytest
from conftest import passage_batch
from rank_bm25 import BM25Okapi

from index import engine
from index.engine import SearchIndex, merge_segments


def zipf_corpus(seed: int, size: int, vocab: int = 400) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(size):
        length = int(rng.integers(1, 60))
        docs.append([int(t) for t in np.minimum(rng.zipf(1.3, length) - 1, vocab - 1)])
    return docs


def add_articles(index: SearchIndex, library: str, docs: list[list[int]], first_id: int, per: int) -> list:
    """Add docs as articles of `per` passages each; returns (article id, first id, docs) per article."""
    added = []
    for start in range(0, len(docs), per):
        chunk = docs[start : start + per]
        article = first_id + start
        index.library(library).add_articles(
            passage_batch(chunk, first_id + start), np.full(len(chunk), article)
        )
        added.append((article, first_id + start, chunk))
    return added


def remove(index: SearchIndex, library: str, article: tuple) -> None:
    article_id, first, chunk = article
    term_ids, counts = np.unique(np.concatenate([np.unique(d) for d in chunk]), return_counts=True)
    assert index.library(library).remove_article(article_id, first, term_ids, counts)


def full_top(index: SearchIndex, libraries: list[str], query: list[int], n: int):
    ids, scores = index.scores(libraries, query)
    order = np.lexsort((ids, -scores))[:n]
    return ids[order].tolist(), scores[order].tolist()


def queries(seed: int, count: int, vocab: int = 400) -> list[list[int]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        size = rng.randint(1, 6)
        q = [
            min(int(np.random.default_rng(rng.randint(0, 10**6)).zipf(1.2)) - 1, vocab + 20)
            for _ in range(size)
        ]
        if rng.random() < 0.3:
            q.append(q[0])  # a repeated term counts twice, as in rank-bm25
        if rng.random() < 0.2:
            q.append(-1)  # a word the index has never seen
        out.append(q)
    return out


def new_index(rank_threads: int) -> SearchIndex:
    """An index ranking on one thread, or on two for every search (each half of its passages)."""
    return SearchIndex(rank_threads=rank_threads, split_passages=0)


THREADS = pytest.mark.parametrize("rank_threads", [1, 2])


@THREADS
@pytest.mark.parametrize("n", [1, 3, 10, 40])
def test_pruned_top_equals_full_scoring(n, rank_threads):
    docs = zipf_corpus(1, 3000)
    index = new_index(rank_threads)
    add_articles(index, "global", docs, 1, 7)
    for query in queries(n, 60):
        ids, scores, _ = index.top(["global"], query, n)
        assert (ids.tolist(), scores.tolist()) == full_top(index, ["global"], query, n), query


def long_questions(seed: int, count: int, vocab: int = 400) -> list[list[int]]:
    """Whole questions: 12 to 30 terms, most of them common (as the words of real questions are)."""
    rng = np.random.default_rng(seed)
    return [
        [int(t) for t in np.minimum(rng.zipf(1.3, int(rng.integers(12, 31))) - 1, vocab - 1)]
        for _ in range(count)
    ]


@THREADS
@pytest.mark.parametrize("n", [1, 10, 40])
@pytest.mark.parametrize("merged", [True, False])
def test_pruned_top_of_long_questions_equals_full_scoring(n, merged, rank_threads):
    docs = zipf_corpus(13, 4000)
    index = new_index(rank_threads)
    added = add_articles(index, "global", docs, 1, 8)
    for article in added[::9]:
        remove(index, "global", article)
    if merged:
        index.merge_all("global")
    assert (len(index.library("global").segments) == 1) == merged
    for query in long_questions(n, 40):
        ids, scores, _ = index.top(["global"], query, n)
        assert (ids.tolist(), scores.tolist()) == full_top(index, ["global"], query, n), query


def test_scores_equal_rank_bm25_after_merges():
    docs = zipf_corpus(2, 1500)
    index = SearchIndex()
    add_articles(index, "global", docs, 1, 5)
    assert len(index.library("global").segments) < 40
    reference = BM25Okapi(docs)
    for query in queries(3, 40):
        expected = reference.get_scores([t for t in query if t >= 0])
        ids, scores, _ = index.top(["global"], query, 10)
        assert scores.tolist() == pytest.approx(expected[ids - 1].tolist(), rel=1e-12, abs=1e-12)
        best = sorted(range(len(docs)), key=lambda i: (-expected[i], i))[:10]
        positive = [i for i in best if any(t in docs[i] for t in query)]
        assert np.allclose(sorted(expected[ids - 1]), sorted(expected[positive]), rtol=1e-12)


@THREADS
def test_ties_are_broken_by_passage_id_under_pruning(rank_threads):
    index = new_index(rank_threads)
    docs = [[1, 2, 3]] * 50 + [[1, 9]] * 50 + [[4]] * 200
    add_articles(index, "global", docs, 10, 10)
    ids, _scores, _ = index.top(["global"], [1, 2, 3], 5)
    assert ids.tolist() == [10, 11, 12, 13, 14]
    ids, _scores, _ = index.top(["global"], [9, 1], 3)
    assert ids.tolist() == [60, 61, 62]


@THREADS
def test_removed_passages_never_come_back_and_do_not_raise_the_threshold(rank_threads):
    docs = zipf_corpus(4, 2000)
    index = new_index(rank_threads)
    added = add_articles(index, "global", docs, 1, 10)
    rng = random.Random(4)
    gone = rng.sample(added, 60)
    for article in gone:
        remove(index, "global", article)
    dead = {first + i for _, first, chunk in gone for i in range(len(chunk))}
    for query in queries(5, 40):
        ids, scores, _ = index.top(["global"], query, 10)
        assert not dead & set(ids.tolist())
        assert (ids.tolist(), scores.tolist()) == full_top(index, ["global"], query, 10)


@THREADS
def test_several_libraries_score_as_one_corpus(rank_threads):
    docs = zipf_corpus(6, 1200)
    index = new_index(rank_threads)
    add_articles(index, "a", docs[:500], 1, 9)
    add_articles(index, "b", docs[500:], 501, 4)
    reference = BM25Okapi(docs)
    for query in queries(7, 30):
        ids, scores, _ = index.top(["a", "b"], query, 10)
        assert (ids.tolist(), scores.tolist()) == full_top(index, ["a", "b"], query, 10)
        expected = reference.get_scores([t for t in query if t >= 0])
        assert scores.tolist() == pytest.approx(expected[ids - 1].tolist(), rel=1e-12, abs=1e-12)
        only_a, _, _ = index.top(["a"], query, 10)
        assert all(i <= 500 for i in only_a.tolist())


def test_merge_keeps_every_live_posting():
    docs = zipf_corpus(8, 900)
    index = SearchIndex()
    added = add_articles(index, "global", docs, 1, 30)
    for article in added[::4]:
        remove(index, "global", article)
    lib = index.library("global")
    before = {q: full_top(index, ["global"], [q], 1000) for q in range(0, 60, 3)}
    merged = merge_segments(lib.segments)
    assert merged.dead == 0 and merged.live == sum(s.live for s in lib.segments)
    assert np.all(np.diff(merged.passage_ids) > 0)
    lib.segments = [merged]
    after = {q: full_top(index, ["global"], [q], 1000) for q in range(0, 60, 3)}
    assert before == after


def test_background_merge_swaps_in_and_keeps_removals_made_meanwhile(monkeypatch):
    monkeypatch.setattr(engine.library, "INLINE_MERGE_MAX", 50)
    docs = zipf_corpus(9, 1600)
    index = SearchIndex(background_merges=True)
    added = add_articles(index, "global", docs, 1, 20)
    for article in added[1::5]:
        remove(index, "global", article)
    index.wait_for_merges()
    lib = index.library("global")
    assert not lib.merging
    assert sum(s.live for s in lib.segments) == lib.docs
    reference = BM25Okapi([d for a in added if a not in added[1::5] for d in a[2]])
    for query in queries(10, 30):
        ids, scores, _ = index.top(["global"], query, 10)
        assert (ids.tolist(), scores.tolist()) == full_top(index, ["global"], query, 10)
        assert len(ids) == 0 or reference.get_scores([t for t in query if t >= 0]).max() == pytest.approx(
            scores[0], rel=1e-12
        )


def test_matched_is_exact_without_pruning_and_a_lower_bound_with_it():
    docs = zipf_corpus(11, 2000)
    index = SearchIndex()
    add_articles(index, "global", docs, 1, 10)
    for query in queries(12, 30):
        full, _ = index.scores(["global"], query)
        _, _, exact = index.top(["global"], query, 10, prune=False)
        _, _, bound = index.top(["global"], query, 10)
        assert exact == len(full)
        assert bound <= len(full)


def test_engine_alone_searches_only_the_asked_libraries():
    index = SearchIndex()
    docs = [[1, 2, 3], [2, 3, 4], [1, 1, 5]]
    add_articles(index, "guild-a", docs, first_id=100, per=1)
    add_articles(index, "guild-b", docs, first_id=200, per=1)
    ids, _, _ = index.top(["guild-b"], [1, 2], 10)
    scored, _ = index.scores(["guild-b"], [1, 2])
    assert (sorted(ids.tolist()), sorted(scored.tolist())) == ([200, 201, 202], [200, 201, 202])


def test_candidates_are_grouped_by_part_with_the_cuts_between():
    parts = [engine.selection.Part(segment, base, k) for k, (segment, base) in enumerate(three_segments())]
    cand = np.array([25, 3, 14, 0, 29, 12, 7])
    grouped, cuts = engine.selection.group_by_part(parts, cand)
    assert cuts.tolist() == [0, 3, 5, 7]
    assert [sorted(grouped[a:z].tolist()) for a, z in itertools.pairwise(cuts)] == [
        [0, 3, 7],
        [12, 14],
        [25, 29],
    ]


def three_segments():
    """Segments of 10, 10 and 12 passages, numbered from 0, 10 and 20."""
    index = SearchIndex()
    add_articles(index, "a", [[1]] * 10, 1, 10)
    add_articles(index, "b", [[1]] * 10, 11, 10)
    add_articles(index, "c", [[1]] * 12, 21, 12)
    return [(index.library(name).segments[0], base) for name, base in (("a", 0), ("b", 10), ("c", 20))]
