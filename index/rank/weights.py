"""The ranker's weights: one per feature, fitted by benchmarks/tune.py, and switches for the ideas
that are not weights."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(slots=True)
class Features:
    """One candidate's features, by name; `Weights` holds a weight of the same name for each."""

    bm25: float = 0.0
    """log(1 + BM25 score), a name held through a role noun adding its idf."""
    relative: float = 0.0
    """That BM25 score divided by the best candidate's."""
    coverage: float = 0.0
    coverage_squared: float = 0.0
    stem_coverage: float = 0.0
    best_sentence: float = 0.0
    title: float = 0.0
    article: float = 0.0
    position: float = 0.0
    answer_number: float = 0.0
    answer_time: float = 0.0
    answer_name: float = 0.0
    answer_title: float = 0.0
    context: float = 0.0
    proximity: float = 0.0
    fresh: float = 0.0
    semantic: float = 0.0

    def vector(self) -> list[float]:
        """The values in `FEATURE_NAMES` order (for fitting)."""
        return [getattr(self, name) for name in FEATURE_NAMES]


FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Features))
"""Every feature's name, in one order: the one list the weights, the fit and the dumps follow."""


@dataclass(frozen=True, slots=True)
class Weights:
    """Feature weights of the linear score; 0 switches a feature off.

    The defaults are fitted by `python benchmarks/tune.py` on the first half of the dev weeks and
    of XQuAD (a listwise softmax loss), so the second halves stay unseen checks."""

    bm25: float = 1.70
    relative: float = 1.54
    coverage: float = 0.59
    coverage_squared: float = -0.23
    stem_coverage: float = 2.86
    best_sentence: float = 1.49
    title: float = 1.28
    article: float = 2.11
    position: float = 0.93
    answer_number: float = 1.66
    answer_time: float = 1.32
    answer_name: float = 0.92
    answer_title: float = 0.98
    context: float = -0.65
    proximity: float = 1.73
    fresh: float = 2.57
    semantic: float = 0.0
    attribution: bool = True
    irregular: bool = True
    dedupe: bool = True

    def vector(self) -> list[float]:
        """The weights in `FEATURE_NAMES` order."""
        return [getattr(self, name) for name in FEATURE_NAMES]

    def score(self, features: Features) -> float:
        """The linear score of one candidate's features."""
        return sum(w * x for w, x in zip(self.vector(), features.vector(), strict=True))


DEFAULT = Weights()

LEARNED = Weights(
    bm25=1.07,
    relative=1.00,
    coverage=0.52,
    coverage_squared=0.20,
    stem_coverage=2.18,
    best_sentence=1.25,
    title=0.95,
    article=1.12,
    position=0.83,
    answer_number=1.55,
    answer_time=1.32,
    answer_name=0.96,
    answer_title=1.04,
    context=-0.90,
    proximity=1.51,
    fresh=2.59,
    semantic=4.67,
)
"""The weights of the learned stage (a Store opened with an encoder, the `rerank` extra): the same
features plus **semantic**, the cosine of all-MiniLM-L6-v2 vectors of the question and the passage,
fitted together by benchmarks/tune.py."""
