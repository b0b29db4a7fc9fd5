"""Each ranking idea by name, and the weights that switch it off (for benchmarks/quality.py --ablate
and benchmarks/tune.py fit --ablate)."""

from __future__ import annotations

from dataclasses import replace

from .ranker import Ranker
from .weights import DEFAULT

ABLATIONS: dict[str, dict[str, float | bool]] = {
    "dedupe": {"dedupe": False},
    "attribution": {"attribution": False},
    "coverage": {"coverage": 0.0, "coverage_squared": 0.0},
    "stem coverage and best sentence": {"stem_coverage": 0.0, "best_sentence": 0.0},
    "title and article": {"title": 0.0, "article": 0.0},
    "position": {"position": 0.0},
    "answer type": {"answer_number": 0.0, "answer_time": 0.0, "answer_name": 0.0, "answer_title": 0.0},
    "irregular verbs": {"irregular": False},
    "less weight for the text before a passage": {"context": 0.0},
    "proximity": {"proximity": 0.0},
    "freshness": {"fresh": 0.0},
}
"""Each ranking idea, by name, and the weights that switch it off."""


def ablations() -> dict[str, Ranker]:
    """The default ranker with one idea switched off, by the idea's name."""
    rankers = {}
    for name, change in ABLATIONS.items():
        rankers[name] = Ranker(replace(DEFAULT, **change), learned=None)  # type: ignore[arg-type]
    return rankers
