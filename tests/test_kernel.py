"""The compiled ranking kernel (index/engine/kernel.py): built, and the same top n as numpy's."""

import random
import threading

import numpy as np
import pytest
from test_engine_segments import add_articles, full_top, long_questions, queries, remove, zipf_corpus

from index.engine import SearchIndex
from index.engine.kernel import _blocks
from index.engine.segments import BLOCK_LEVELS, BLOCK_SHIFT


def pair(docs: list[list[int]], per: int, removed: tuple[int, ...] = ()) -> tuple[SearchIndex, SearchIndex]:
    """The same articles in an index ranking with the kernel and in one ranking in numpy; the
    articles at the `removed` places removed."""
    both = SearchIndex(), SearchIndex(compiled=False)
    for index in both:
        added = add_articles(index, "global", docs, 1, per)
        for place in removed:
            remove(index, "global", added[place])
    return both


def test_the_kernel_is_built_by_the_install():
    assert SearchIndex().kernel.available


def test_kernel_gives_numpys_top_n_on_one_segment():
    compiled, plain = pair(zipf_corpus(3, 3000), 3000)
    for query in queries(4, 60):
        assert [a.tolist() for a in compiled.top(["global"], query, 10)[:2]] == [
            a.tolist() for a in plain.top(["global"], query, 10)[:2]
        ]


def test_kernel_gives_numpys_top_n_over_many_segments_with_passages_removed():
    compiled, plain = pair(zipf_corpus(5, 2000), 40, removed=(1, 2, 10, 30))
    assert len(compiled.library("global").segments) > 1
    for query in queries(6, 60):
        got, want = compiled.top(["global"], query, 7), plain.top(["global"], query, 7)
        assert (got[0].tolist(), got[1].tolist()) == (want[0].tolist(), want[1].tolist())


def test_kernel_counts_every_match_when_it_reads_every_posting():
    compiled, _ = pair([[1, 2], [2], [3], [1]], 1)
    assert compiled.top(["global"], [1, 2], 10)[2] == 3


def test_a_passage_holding_only_a_term_of_idf_zero_is_still_in_the_top_n():
    # Term 2 is in 4 of 6 passages: idf 0. Passage 5 holds no other query term, so it matches at 0;
    # a rounding residue in the bound left once terms 1 and 5 are read stopped numpy before term 2.
    docs = [[1, 2], [3, 2, 5], [4, 3, 5], [4, 3, 4], [4, 2, 4], [4, 1, 1, 2]]
    for index in pair(docs, 6):
        assert index.top(["global"], [1, 5, 2], 5)[0].tolist() == [6, 1, 2, 3, 5]


@pytest.mark.parametrize("rank_threads", [1, 2])
def test_kernel_leaves_its_scratch_zeroed_for_the_next_question(rank_threads):
    compiled = (
        split_index(zipf_corpus(7, 1500), 1500) if rank_threads == 2 else pair(zipf_corpus(7, 1500), 1500)[0]
    )
    for query in queries(8, 20):
        compiled.top(["global"], query, 5)
    acc, seen = compiled._accumulator(1500)
    assert (not acc.any(), not seen.any()) == (True, True)


@pytest.mark.parametrize("rank_threads", [1, 2])
def test_kernel_answers_threads_at_once_as_it_answers_one(rank_threads):
    compiled = (
        split_index(zipf_corpus(9, 3000), 500) if rank_threads == 2 else pair(zipf_corpus(9, 3000), 500)[0]
    )
    asked = queries(10, 40)
    alone = [compiled.top(["global"], q, 10)[0].tolist() for q in asked]
    found: dict[int, list] = {}

    def ask(start: int) -> None:
        found[start] = [compiled.top(["global"], q, 10)[0].tolist() for q in asked[start:] + asked[:start]]

    threads = [threading.Thread(target=ask, args=(k * 10,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for start, got in found.items():
        assert got == alone[start:] + alone[:start]


def test_kernel_refuses_a_posting_outside_its_part():
    kernel = SearchIndex().kernel
    assert kernel.available
    module = kernel._module
    doc_len = np.ones(4, dtype=np.int32)
    docs, tfs = np.array([0, 9], dtype=np.int32), np.ones(2, dtype=np.uint16)
    acc, seen = np.zeros(4), np.zeros(4, dtype=np.uint8)
    try:
        module.top_candidates(
            [(doc_len, None, 0)], [(1.0, 9.0, [(0, docs, tfs, None)])], acc, seen, 2, 1.0, 1.5, 0.75, 1e-9
        )
    except ValueError as error:
        assert "outside its part" in str(error)
    else:
        raise AssertionError("a posting outside its part was accepted")


def test_kernel_refuses_block_bounds_that_do_not_cover_the_part():
    module = compiled_module()
    doc_len = np.ones(200, dtype=np.int32)
    docs, tfs = np.array([0, 150], dtype=np.int32), np.ones(2, dtype=np.uint16)
    short = np.ones(2, dtype=np.uint8)  # 200 documents take 4 blocks of 64
    acc, seen = np.zeros(200), np.zeros(200, dtype=np.uint8)
    with pytest.raises(ValueError, match="cover every document"):
        module.top_candidates(
            [(doc_len, None, 0)],
            [(1.0, 9.0, [(0, docs, tfs, None, short)])],
            acc,
            seen,
            2,
            1.0,
            1.5,
            0.75,
            1e-9,
        )


def test_the_kernel_gets_block_bounds_only_where_they_hold():
    index, _ = pair(zipf_corpus(3, 3000), 3000)
    segment = index.library("global").segments[0]
    lo, hi = (int(x) for x in segment.term_starts[:2])  # the commonest term of zipf_corpus
    ref_avgdl, k1, b = (float(x) for x in segment.ref)
    assert segment.has_blocks(lo, hi)
    assert _blocks(segment, lo, hi, (ref_avgdl, k1, b)) is segment.block_bounds(lo, hi)
    assert _blocks(segment, lo, hi, (ref_avgdl * 1.01, k1, b)) is None  # a longer average: not a bound
    assert _blocks(segment, lo, hi, (ref_avgdl, k1 + 0.1, b)) is None


def test_block_bounds_cover_each_posting_and_are_zero_where_no_passage_holds_the_term():
    index, _ = pair(zipf_corpus(4, 2000), 2000)
    segment = index.library("global").segments[0]
    avgdl, k1, b = (float(x) for x in segment.ref)
    for lo in segment.blocked_terms().tolist():
        hi = int(segment.term_starts[segment.term_starts.searchsorted(lo, "right")])
        docs, tfs = segment.docs[lo:hi], segment.tfs[lo:hi].astype(float)
        part = tfs * (k1 + 1) / (tfs + k1 * (1 - b + b * segment.doc_len[docs] / avgdl))
        levels = segment.block_bounds(lo, hi).astype(float)
        assert (levels[docs >> BLOCK_SHIFT] * (k1 + 1) / BLOCK_LEVELS >= part).all()
        holding = np.zeros(len(levels), dtype=bool)
        holding[docs >> BLOCK_SHIFT] = True
        assert not levels[~holding].any()


@pytest.mark.parametrize("seed", range(64))
def test_kernel_gives_unpruned_scorings_top_n_on_random_libraries(seed):
    # Libraries of one or several segments (some starting off a block boundary), passages removed,
    # one or two threads, short and long questions with repeated and unknown terms.
    rng = random.Random(seed)
    size = rng.choice([300, 800, 2000])
    docs = zipf_corpus(seed, size, vocab=rng.choice([50, 200, 400]))
    per = rng.choice([size, size // 3, 97, 500])
    removed = tuple(rng.sample(range(max(1, size // per)), k=min(2, size // per)))
    compiled = split_index(docs, per, removed) if rng.random() < 0.5 else pair(docs, per, removed)[0]
    plain = pair(docs, per, removed)[1]
    for query in queries(seed, 4) + long_questions(seed, 2):
        for n in (1, 10, 40):
            got, want = compiled.top(["global"], query, n), plain.top(["global"], query, n, prune=False)
            assert (got[0].tolist(), got[1].tolist()) == (want[0].tolist(), want[1].tolist())


def test_a_block_bound_rounded_up_never_lowers_what_a_candidate_can_still_gain():
    # Segments of 97 and 9 passages: the kernel once took a candidate's block bound of a term (rounded
    # up, so above the term's global bound) off the global bounds' sum, and lost the 10th best.
    compiled, plain = pair(zipf_corpus(113, 300, vocab=400), 97, removed=(1, 0))
    query = [1, 7, 399, 54, 227, 19, 1, 12, 0, 1, 5, 0, 6]
    got, want = compiled.top(["global"], query, 10), plain.top(["global"], query, 10, prune=False)
    assert (got[0].tolist(), got[1].tolist()) == (want[0].tolist(), want[1].tolist())


def test_kernel_reads_tfs_above_255_from_a_common_terms_dense_array():
    docs = [[1] * 300 + [2]] + [[1, 3, 4 + k] for k in range(40)] + [[5 + k % 7] for k in range(200)]
    compiled, plain = pair(docs, len(docs))
    for query in ([1, 2], [1, 3], [3, 1, 1], [2, 5, 1]):
        got, want = compiled.top(["global"], query, 3), plain.top(["global"], query, 3)
        assert (got[0].tolist(), got[1].tolist()) == (want[0].tolist(), want[1].tolist())


def compiled_module():
    kernel = SearchIndex().kernel
    assert kernel.available
    return kernel._module


def test_exact_scores_are_rank_bm25s_expression_bit_for_bit():
    module = compiled_module()
    doc_len = np.array([3, 7, 5, 2], dtype=np.int32)
    docs, tfs = np.array([0, 2, 3], dtype=np.int32), np.array([1, 4, 2], dtype=np.uint16)
    idf, avgdl, k1, b = 0.7, 4.25, 1.5, 0.75
    terms = [(idf, 0.0, [(0, docs, tfs, None)])] * 2  # a repeated term counts twice
    got = np.frombuffer(
        module.exact_scores([(doc_len, None, 0)], terms, np.array([0, 1, 3], dtype=np.int64), avgdl, k1, b)
    )
    tf = np.array([1.0, 0.0, 2.0])
    one = idf * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len[[0, 1, 3]] / avgdl)))
    assert got.tolist() == (np.zeros(3) + one + one).tolist()


def test_exact_scores_refuse_candidates_out_of_order():
    module = compiled_module()
    doc_len = np.ones(4, dtype=np.int32)
    docs, tfs = np.array([0, 2], dtype=np.int32), np.ones(2, dtype=np.uint16)
    with pytest.raises(ValueError, match="increasing"):
        module.exact_scores(
            [(doc_len, None, 0)],
            [(1.0, 0.0, [(0, docs, tfs, None)])],
            np.array([2, 0], dtype=np.int64),
            1.0,
            1.5,
            0.75,
        )


def test_kernel_finds_the_same_candidates_beside_an_empty_part_at_the_same_base():
    module = compiled_module()
    rng = np.random.default_rng(0)
    size, k1, b = 200, 1.5, 0.75
    lengths = [rng.integers(1, 50, size).astype(np.int32) for _ in range(2)]
    avgdl = float(np.concatenate(lengths).mean())

    def candidates(empty_first: bool) -> tuple[list[int], int, int]:
        parts = [(lengths[0], None, 0), (lengths[1], None, size)]
        if empty_first:
            parts.insert(0, (np.zeros(0, dtype=np.int32), None, 0))
        shift = 1 if empty_first else 0
        picks = np.random.default_rng(1)
        terms = []
        for idf, density in [(3.0, 0.05), (1.0, 0.5), (0.5, 0.9), (0.4, 0.9)]:
            postings = []
            for part in range(2):
                docs = np.flatnonzero(picks.random(size) < density).astype(np.int32)
                tfs = picks.integers(1, 6, len(docs)).astype(np.uint16)
                postings.append((part + shift, docs, tfs, None))
            terms.append((idf, idf * (k1 + 1) * 1.01, postings))
        acc, seen = np.zeros(2 * size), np.zeros(2 * size, dtype=np.uint8)
        out, _, _ = module.top_candidates(parts, terms, acc, seen, 3, avgdl, k1, b, 1e-9)
        return sorted(np.frombuffer(out, dtype=np.int64).tolist()), int(acc.any()), int(seen.any())

    assert candidates(True) == candidates(False)


def four_terms_corpus() -> list[list[int]]:
    """Three strong passages hold terms 1 to 4; each term also has 300 passages of its own."""
    docs = []
    for d in range(3000):
        doc = [9, 9] + ([1, 2, 3, 4] if d < 3 else [])
        doc += [term for term, first in ((1, 10), (2, 400), (3, 800), (4, 1200)) if first <= d < first + 300]
        docs.append(doc)
    return docs


def test_kernel_leaves_passages_that_cannot_reach_the_top_untouched():
    # Once the three strong passages set the bar, a passage holding one of the last terms alone
    # cannot reach it and is never touched: the top is exact, and the match count a lower bound
    # (at least the largest document frequency, 303) instead of all 1203.
    compiled, _ = pair(four_terms_corpus(), 3000)
    ids, scores, matched = compiled.top(["global"], [1, 2, 3, 4], 3)
    assert (ids.tolist(), scores.tolist()) == full_top(compiled, ["global"], [1, 2, 3, 4], 3)
    assert 303 <= matched < 1203


def test_kernel_counts_every_match_when_nothing_can_be_left_out():
    # Asked for more passages than hold a term, the kernel has no bar to leave any below.
    compiled, _ = pair(four_terms_corpus(), 3000)
    ids, _, matched = compiled.top(["global"], [1, 2, 3, 4], 2000)
    assert (len(ids), matched) == (1203, 1203)


def planted(seed: int) -> tuple[list[list[int]], list[list[int]]]:
    """Background words 0..9; query words of similar document frequency; a few strong passages
    holding most query words: pruning can stop before a short next term, which the kernel reads."""
    rng = np.random.default_rng(seed)
    size = int(rng.integers(300, 3000))
    words = [int(w) for w in rng.choice(np.arange(10, 400), size=int(rng.integers(3, 9)), replace=False)]
    docs = [[int(t) for t in rng.integers(0, 10, int(rng.integers(1, 30)))] for _ in range(size)]
    base_df = max(1, int(size * rng.uniform(0.02, 0.12)))
    for w in words:
        for d in rng.choice(size, size=int(base_df * rng.uniform(1.0, 1.6)), replace=False).tolist():
            docs[d] += [w] * int(rng.integers(1, 3))
    for d in rng.choice(size, size=int(rng.integers(1, 12)), replace=False).tolist():
        docs[d] += [w for w in words if rng.random() < 0.8] * int(rng.integers(1, 3))
    asked = []
    for _ in range(20):
        q = [w for w in words if rng.random() < 0.85] or words[:1]
        q += [q[0]] if rng.random() < 0.3 else []
        q += [-1] if rng.random() < 0.2 else []
        q += [int(t) for t in rng.integers(0, 400, int(rng.integers(8, 20)))] if rng.random() < 0.3 else []
        rng.shuffle(q)
        asked.append(q)
    return docs, asked


@pytest.mark.parametrize("seed", range(12))
def test_kernel_top_n_equals_full_scoring_when_it_reads_short_terms_past_the_stop(seed):
    docs, asked = planted(seed)
    compiled, _ = pair(docs, [1, 7, 50, len(docs)][seed % 4], removed=(1, 3) if seed % 4 in (1, 2) else ())
    for query in asked:
        for n in (1, 3, 10, 40):
            ids, scores, matched = compiled.top(["global"], query, n)
            assert (ids.tolist(), scores.tolist()) == full_top(compiled, ["global"], query, n), (
                seed,
                n,
                query,
            )
            assert matched <= len(compiled.scores(["global"], query)[0])


def split_index(docs: list[list[int]], per: int, removed: tuple[int, ...] = ()) -> SearchIndex:
    """The articles in an index whose kernel ranks every search in two halves, on two threads."""
    index = SearchIndex(rank_threads=2, split_passages=0)
    added = add_articles(index, "global", docs, 1, per)
    for place in removed:
        remove(index, "global", added[place])
    return index


def test_two_rank_threads_give_one_threads_top_n_over_many_segments_with_passages_removed():
    docs = zipf_corpus(5, 2000)
    split, (one, _) = split_index(docs, 40, removed=(1, 2, 10, 30)), pair(docs, 40, removed=(1, 2, 10, 30))
    assert len(split.library("global").segments) > 1
    for query in queries(6, 60):
        for n in (1, 7, 40):
            got, want = split.top(["global"], query, n), one.top(["global"], query, n)
            assert (got[0].tolist(), got[1].tolist()) == (want[0].tolist(), want[1].tolist()), (query, n)


@pytest.mark.parametrize("seed", range(12))
def test_two_rank_threads_top_n_equals_full_scoring(seed):
    docs, asked = planted(seed)
    split = split_index(docs, [1, 7, 50, len(docs)][seed % 4], removed=(1, 3) if seed % 4 in (1, 2) else ())
    for query in asked:
        for n in (1, 3, 10, 40):
            ids, scores, matched = split.top(["global"], query, n)
            assert (ids.tolist(), scores.tolist()) == full_top(split, ["global"], query, n), (seed, n, query)
            assert matched <= len(split.scores(["global"], query)[0])


def test_two_rank_threads_count_every_match_when_they_read_every_posting():
    assert split_index([[1, 2], [2], [3], [1]], 1).top(["global"], [1, 2], 10)[2] == 3
