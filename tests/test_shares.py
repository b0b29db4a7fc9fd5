"""The ranker's per-sentence loops in C (`_clippings_shares`, index/rank/_shares.c): built, and
the very results of their Python reference, `features._best_shares_python`."""

from __future__ import annotations

import importlib

from conftest import SAMPLE
from hypothesis import given, settings
from hypothesis import strategies as st

from index import read_path
from index.rank import DEFAULT, Candidate, article_terms, scores
from index.rank.features import COMPILED_BEST_SHARES, MASK_BITS, _best_shares_python, _Shares, analyse
from index.rank.stems import Stems

WORDS = [f"w{n}" for n in range(12)]
TERMS = [f"t{n}" for n in range(6)]
# The module, not the function `index.rank.features` that the package exports under its name.
features_module = importlib.import_module("index.rank.features")


def test_the_compiled_loops_are_built_by_the_install():
    assert COMPILED_BEST_SHARES is not None


def test_the_compiled_loops_find_the_best_sentence_and_window():
    shares = _Shares({"dam", "floods"}, {"dam": 1.0, "floods": 3.0}, 4.0)
    masks = {"dam": shares.mask({"dam"}), "floods": shares.mask({"floods"})}
    sequences = [["the", "dam", "is", "old"], ["floods", "came", "to", "the", "dam"]]
    assert COMPILED_BEST_SHARES is not None
    assert COMPILED_BEST_SHARES(sequences, masks, None, 0, shares, 8, True, True) == (1.0, 1.0)
    assert COMPILED_BEST_SHARES(sequences, masks, None, 0, shares, 3, True, True) == (1.0, 0.75)


@st.composite
def passages(draw):
    """Sentences of a few words, masks for some of them (roles adding their own in windows), an
    attributed mask, and the shares of the question terms' unions."""
    sequences = draw(st.lists(st.lists(st.sampled_from(WORDS), max_size=30), max_size=6))
    idf = {t: draw(st.floats(0.0, 12.0)) for t in TERMS}
    shares = _Shares(set(TERMS), idf, sum(idf.values()) or 1.0)
    masks = draw(st.dictionaries(st.sampled_from(WORDS), st.integers(1, 2 ** len(TERMS) - 1), max_size=6))
    roles = draw(st.dictionaries(st.sampled_from(WORDS), st.integers(1, 2 ** len(TERMS) - 1), max_size=2))
    window = {**masks, **{w: masks.get(w, 0) | m for w, m in roles.items()}} if roles else None
    attributed = draw(st.integers(0, 2 ** len(TERMS) - 1))
    return sequences, masks, window, attributed, shares


@settings(max_examples=300, deadline=None)
@given(passages(), st.integers(1, 10), st.booleans(), st.booleans())
def test_the_compiled_loops_give_the_python_loops_results(passage, proximity, want_sentence, want_window):
    sequences, masks, window, attributed, shares = passage
    assert COMPILED_BEST_SHARES is not None
    args = (sequences, masks, window, attributed, shares, proximity, want_sentence, want_window)
    assert COMPILED_BEST_SHARES(*args) == _best_shares_python(*args)


def sample_candidates() -> list[Candidate]:
    article = next(read_path(str(SAMPLE)))
    terms = article_terms(article.title, article.text)
    stems = Stems(irregular=True)
    paragraphs = [p for p in article.text.split("\n") if p.strip()]
    return [
        Candidate(text, 10.0 - n, n, terms, analysis=analyse(text, stems))
        for n, text in enumerate(paragraphs)
    ]


def test_features_are_the_same_with_the_python_loops(monkeypatch):
    question = "What did Qin Gang say about weapons and the peace talks?"
    terms = ["what", "did", "qin", "gang", "say", "about", "weapons", "and", "the", "peace", "talks"]
    idf = {t: 1.0 + n / 3 for n, t in enumerate(terms)}
    candidates = sample_candidates()
    compiled = scores(question, terms, idf, candidates, DEFAULT, Stems(irregular=True))
    monkeypatch.setattr(features_module, "COMPILED_BEST_SHARES", None)
    assert scores(question, terms, idf, candidates, DEFAULT, Stems(irregular=True)) == compiled


def test_a_question_of_more_terms_than_a_mask_holds_is_ranked_by_the_python_loops():
    terms = [f"term{n}" for n in range(MASK_BITS + 6)]
    idf = dict.fromkeys(terms, 1.0)
    text = " ".join(terms[:3]) + ". " + " ".join(terms[-2:]) + "."
    candidate = Candidate(text, 1.0, 0, article_terms("", ""))
    [row] = features_module.features(" ".join(terms), terms, idf, [candidate], DEFAULT, Stems(irregular=True))
    assert (row.best_sentence, row.proximity) == (3 / len(terms), 3 / len(terms))
