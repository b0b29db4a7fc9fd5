"""BM25Okapi scoring as pure functions, exactly as rank-bm25 computes it.

rank-bm25 scores a query as

    score = 0
    for q in query:                 # in query order, repeats included
        score += idf[q] * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len / avgdl)))

in float64. Every score the engine returns is computed with `contribution`, term by term in query
order; `idf_table` is rank-bm25's idf with its epsilon floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

K1 = 1.5
B = 0.75
EPSILON = 0.25
"""rank-bm25's BM25Okapi defaults: idf below zero is floored at EPSILON times the mean idf."""
MARGIN = 1e-9
"""Relative safety margin of pruning decisions (float64 rounding is about 1e-16)."""


@dataclass(slots=True)
class Idf:
    """The corpus statistics a query is scored with: idf and df per term id, and average length."""

    values: np.ndarray
    df: np.ndarray
    avgdl: float
    docs: int
    any_negative: bool


def idf_table(df: np.ndarray, docs: int, total_len: int, epsilon: float = EPSILON) -> Idf:
    """BM25Okapi's idf of every term id from document frequencies, as rank-bm25 computes it."""
    present = df > 0
    idf = np.zeros(len(df), dtype=np.float64)
    idf[present] = np.log(docs - df[present] + 0.5) - np.log(df[present] + 0.5)
    average = float(idf[present].mean()) if present.any() else 0.0
    negative = present & (idf < 0)
    idf[negative] = epsilon * average
    return Idf(idf, df.copy(), total_len / docs, docs, bool((idf < 0).any()))


def contribution(
    idf: float, tf: np.ndarray, dl: np.ndarray, avgdl: float, k1: float = K1, b: float = B
) -> np.ndarray:
    """One term's BM25 contribution to each document: exactly rank-bm25's expression and order,
    idf * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))), in two steps so that a search can
    compute the length part once for many terms and get the same values bit for bit."""
    return normed_contribution(idf, tf, length_norm(dl, avgdl, k1, b), k1)


def length_norm(dl: np.ndarray, avgdl: float, k1: float = K1, b: float = B) -> np.ndarray:
    """The length part of `contribution`'s denominator: k1 * (1 - b + b * dl / avgdl)."""
    return k1 * (1 - b + b * dl / avgdl)


def normed_contribution(idf: float, tf: np.ndarray, norm: np.ndarray, k1: float = K1) -> np.ndarray:
    """`contribution` given the documents' `length_norm`."""
    return idf * (tf * (k1 + 1) / (tf + norm))
