"""The ranking stage after BM25: features, weights, the learned stage and the `Ranker` that owns them."""

from .ablations import ABLATIONS, ablations
from .answerable import DEFAULT_MODEL, SIGNAL_NAMES, Answerability, Model, Signals, is_small_talk, signals
from .features import ArticleTerms, Candidate, answer_types, article_terms, features, named_terms
from .learned import RESTATEMENTS, add_similarities, restate, restatements, role_phrase
from .ranker import CANDIDATES, ArticleCache, Ranker, RankingSource, dedupe, scores
from .stems import Stems
from .weights import DEFAULT, FEATURE_NAMES, LEARNED, Features, Weights
from .words import role_nouns

__all__ = [
    "ABLATIONS",
    "CANDIDATES",
    "DEFAULT",
    "DEFAULT_MODEL",
    "FEATURE_NAMES",
    "LEARNED",
    "RESTATEMENTS",
    "SIGNAL_NAMES",
    "Answerability",
    "ArticleCache",
    "ArticleTerms",
    "Candidate",
    "Features",
    "Model",
    "Ranker",
    "RankingSource",
    "Signals",
    "Stems",
    "Weights",
    "ablations",
    "add_similarities",
    "answer_types",
    "article_terms",
    "dedupe",
    "features",
    "is_small_talk",
    "named_terms",
    "restate",
    "restatements",
    "role_nouns",
    "role_phrase",
    "scores",
    "signals",
]
