"""The ranking core scores exactly as rank-bm25's BM25Okapi."""

import random

import numpy as np
import pytest
from conftest import passage_batch
from rank_bm25 import BM25Okapi

from index.engine import SearchIndex

WORDS = [
    "china",
    "russia",
    "weapons",
    "peace",
    "talks",
    "minister",
    "war",
    "ukraine",
    "sanctions",
    "the",
    "a",
    "of",
    "to",
    "and",
    "said",
]


def random_corpus(seed: int, size: int) -> list[list[int]]:
    rng = random.Random(seed)
    vocab = [*range(len(WORDS)), *range(100, 160)]
    return [[rng.choice(vocab) for _ in range(rng.randint(3, 40))] for _ in range(size)]


def add(index: SearchIndex, library: str, docs: list[list[int]], first_id: int, article_id: int) -> None:
    index.library(library).add_articles(passage_batch(docs, first_id), np.full(len(docs), article_id))


def reference(docs: list[list[int]], query: list[int]) -> dict[int, float]:
    scores = BM25Okapi(docs).get_scores(query)
    matched = [i for i, d in enumerate(docs) if set(d) & set(query)]
    return {i: scores[i] for i in matched}


def ours(index: SearchIndex, libraries: list[str], query: list[int], offset: int = 0) -> dict[int, float]:
    ids, scores = index.scores(libraries, query)
    return {int(i) - offset: float(s) for i, s in zip(ids, scores, strict=True)}


QUERIES = [[0, 2], [2, 2, 5], [9, 100, 101, 4], [1, 13, 14, 15], [159]]


@pytest.mark.parametrize("query", QUERIES)
def test_scores_equal_rank_bm25_on_80_passages(query):
    docs = random_corpus(1, 80)
    index = SearchIndex()
    add(index, "global", docs, 0, 1)
    expected = reference(docs, query)
    assert ours(index, ["global"], query) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_articles_added_one_by_one_score_as_one_corpus():
    docs = random_corpus(2, 120)
    index = SearchIndex()
    for n, start in enumerate(range(0, 120, 6)):
        add(index, "global", docs[start : start + 6], start, n)
    assert len(index.library("global").segments) < 20  # small segments were merged
    query = [0, 2, 7, 101]
    assert ours(index, ["global"], query) == pytest.approx(reference(docs, query), rel=1e-12, abs=1e-12)


def test_removed_article_scores_as_if_never_added():
    docs = random_corpus(3, 90)
    index = SearchIndex()
    add(index, "global", docs[:60], 0, 1)
    add(index, "global", docs[60:], 60, 2)
    gone = docs[60:]
    term_ids, doc_counts = np.unique(np.concatenate([np.unique(d) for d in gone]), return_counts=True)
    assert index.library("global").remove_article(2, 60, term_ids, doc_counts)
    query = [0, 3, 104]
    assert ours(index, ["global"], query) == pytest.approx(reference(docs[:60], query), rel=1e-12, abs=1e-12)


def test_two_libraries_score_as_their_union():
    docs = random_corpus(4, 100)
    index = SearchIndex()
    add(index, "guild", docs[:40], 0, 1)
    add(index, "global", docs[40:], 40, 2)
    query = [1, 2, 130]
    assert ours(index, ["guild", "global"], query) == pytest.approx(
        reference(docs, query), rel=1e-12, abs=1e-12
    )


def test_a_library_named_twice_has_the_idf_of_one():
    docs = random_corpus(6, 60)
    index = SearchIndex()
    add(index, "global", docs, 0, 1)
    assert index.term_idf(["global", "global"], [1, 2, 9]) == index.term_idf(["global"], [1, 2, 9])


def test_search_never_returns_an_unnamed_library():
    docs = random_corpus(5, 60)
    index = SearchIndex()
    add(index, "guild-a", docs[:30], 0, 1)
    add(index, "guild-b", docs[30:], 30, 2)
    ids, _ = index.scores(["guild-a"], [0, 1, 2, 3])
    assert ids.size and ids.max() < 30


def test_ties_break_by_passage_id():
    index = SearchIndex()
    add(index, "global", [[1, 2], [3], [1, 2], [4], [1, 2]], 10, 1)
    ids, _scores, matched = index.top(["global"], [1], 3)
    assert ids.tolist() == [10, 12, 14]
    assert matched == 3
