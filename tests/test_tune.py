"""benchmarks/tune.py: ranks from feature dumps, the metrics, and the weight fit, on tiny arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import benchmark_module

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tune():
    yield from benchmark_module("tune")


def test_first_ranks_follow_the_scores_and_break_ties_by_bm25_order(tune):
    X = np.array([[[1.0], [3.0], [3.0]]])  # one question, three candidates, one feature
    Y = np.array([[False, False, True]])
    mask = np.ones((1, 3), dtype=bool)
    assert (
        tune.first_ranks(X, Y, mask, None).tolist(),
        tune.first_ranks(X, Y, mask, np.array([1.0])).tolist(),
    ) == (
        [3],
        [2],
    )


def test_first_ranks_are_zero_without_an_answering_candidate(tune):
    X = np.zeros((1, 2, 1))
    assert tune.first_ranks(X, np.zeros((1, 2), dtype=bool), np.ones((1, 2), dtype=bool), None).tolist() == [
        0
    ]


def test_padding_never_ranks_above_a_real_candidate(tune):
    X = np.array([[[0.0], [9.0]]])
    Y = np.array([[True, True]])
    mask = np.array([[True, False]])
    assert tune.first_ranks(X, Y, mask, np.array([1.0])).tolist() == [1]


def test_summary_gives_r1_r3_and_mrr_at_10(tune):
    assert tune.summary(np.array([1, 3, 11, 0])) == (0.25, 0.5, (1 + 1 / 3) / 4)


def test_softmax_fit_weights_the_feature_that_marks_answers(tune):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5, 2))
    Y = np.zeros((200, 5), dtype=bool)
    Y[np.arange(200), X[:, :, 0].argmax(axis=1)] = True  # feature 0 marks the answer; 1 is noise
    w = tune.softmax_fit(X, Y, np.ones((200, 5), dtype=bool), l2=0.001, steps=300)
    assert (w[0] > 1.0, abs(w[1]) < 0.5) == (True, True)
