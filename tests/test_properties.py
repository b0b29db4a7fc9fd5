"""Property tests (issue 6, point 3) on the reader, the splitter and the tokenizer, for any Unicode.

- no exception but the documented refusal (BadInput, or a ReadFailure carrying one sentence);
- every passage is an exact substring at its offsets, in memory and through the Store;
- passages respect the cap;
- tokenizing is deterministic.
"""

from __future__ import annotations

import os
import re
import unicodedata

from conftest import old_tokenize
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index import Article, BadInput, ReadFailure, Store
from index.ingest.passages import PASSAGE_BUDGET, PASSAGE_CAP, make_passages
from index.ingest.readers import article_from_html, article_from_text, articles_from_bytes
from index.ingest.text import (
    QUESTION_WORDS,
    normalize_text,
    question_terms,
    tokenize,
    tokenize_spans,
    without_invisible,
)

# CLIPPINGS_PROPERTY_SCALE=20 runs twenty times as many examples, for a deeper search by hand.
SCALE = int(os.environ.get("CLIPPINGS_PROPERTY_SCALE", "1"))
FAST = settings(max_examples=150 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=40 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces that news text and hostile text are made of: sentence ends, abbreviations, quotes, paragraph
# breaks, invisible and right-to-left marks, combining marks, long runs, CJK, emoji.
PIECES = [
    "The council voted on Tuesday.",
    " ",
    "  ",
    "\n",
    "\n\n",
    "\r\n",
    "\t",
    ". ",
    "? ",
    "! ",
    "U.S.",
    "Mr. Smith",
    "3.5",
    "“Why?” ",
    '"No." ',
    "didn't",
    "China's",
    "\u200b",
    "\u200d",
    "\u202e",
    "\u2067",
    "\ufeff",
    "\u00ad",
    "e\u0301",
    "ﬁ",
    "①",
    "\x00",
    "\x0b",
    "\u2028",
    "\u0085",
    "שלום",
    "مرحبا",
    "一二三。",
    "😀",
    "x" * 800,
    "word " * 200,
]
news_like = st.lists(st.sampled_from(PIECES) | st.text(max_size=30), max_size=40).map("".join)
any_text = st.text(max_size=600) | news_like


def check_spans(text: str, spans) -> None:
    previous_end = 0
    for span in spans:
        assert previous_end <= span.start < span.end <= len(text), (span, len(text))
        piece = text[span.start : span.end]
        assert len(piece) <= PASSAGE_CAP
        assert piece == piece.strip(), "passages are trimmed"
        previous_end = span.end


# -- the reader ------------------------------------------------------------------------------------


@FAST
@given(any_text)
def test_reading_any_text_gives_an_article_or_one_refusal(text):
    for result in articles_from_bytes(text.encode("utf-8", "surrogatepass"), "x.txt", "text"):
        if isinstance(result, ReadFailure):
            assert result.reason.startswith("x.txt") and "\n" not in result.reason
        else:
            assert isinstance(result, Article)
            assert result.text == result.text.strip() and len(result.text) >= 20
            assert result.text == normalize_text(result.text), "reading is idempotent"


@FAST
@given(st.binary(max_size=600))
def test_reading_any_bytes_gives_an_article_or_one_refusal(data):
    for kind in ("text", "json", "jsonl"):
        for result in articles_from_bytes(data, "x.bin", kind):
            assert isinstance(result, Article | ReadFailure)
            if isinstance(result, ReadFailure):
                assert "\n" not in result.reason


@SLOW
@given(any_text)
def test_reading_any_html_gives_an_article_or_bad_input(text):
    for html in (text, f"<html><body><article><p>{text}</p></article></body></html>"):
        try:
            result = article_from_html(html, "x.html")
        except BadInput as exc:
            assert "\n" not in str(exc)
            continue
        assert result.text and result.text == normalize_text(result.text)


@FAST
@given(any_text, st.text(max_size=50))
def test_article_from_text_refuses_only_with_bad_input(text, title):
    try:
        result = article_from_text(text, "post", title=title or None)
    except BadInput:
        return
    assert "\n" not in result.title and len(result.title) <= 300


# -- the splitter ----------------------------------------------------------------------------------------


@FAST
@given(any_text)
def test_passages_of_clean_text_are_exact_trimmed_slices_within_the_cap(raw):
    text = normalize_text(raw)
    check_spans(text, make_passages(text))


@FAST
@given(any_text)
def test_passages_of_raw_text_are_exact_slices_within_the_cap(text):
    check_spans(text, make_passages(text))


@FAST
@given(any_text, st.integers(20, 300), st.integers(0, 400))
def test_any_budget_and_cap_are_respected(raw, budget, extra):
    text = normalize_text(raw)
    cap = budget + extra
    for span in make_passages(text, budget=budget, cap=cap):
        assert 0 < span.end - span.start <= cap


@FAST
@given(any_text)
def test_every_searchable_word_of_a_text_is_in_some_passage(raw):
    text = normalize_text(raw)
    covered = bytearray(len(text))
    for span in make_passages(text):
        covered[span.start : span.end] = b"\x01" * (span.end - span.start)
    for term, start, end in tokenize_spans(text):
        assert all(covered[start:end]), f"{term!r} at {start} is in no passage"


# -- through the Store --------------------------------------------------------------------------------------


@SLOW
@given(st.lists(any_text, min_size=1, max_size=4))
def test_stored_passages_are_exact_substrings_of_the_stored_text(texts):
    by_article: dict[str, set[tuple[int, int, str]]] = {}
    with Store(":memory:") as store:
        for number, raw in enumerate(texts):
            try:
                art = article_from_text(raw, f"p{number}", title=f"Article {number}")
            except BadInput:
                continue
            original = art.text
            result = store.add(art, "global")
            if result.status == "unchanged":  # the same text up to case and spacing is kept once
                continue
            stored = result.article
            assert store.article_text("global", stored.id) == original
            # The expected passages come from the original text, not from the stored offsets.
            expected = [(s.start, s.end, original[s.start : s.end]) for s in make_passages(original)]
            by_article[stored.id] = set(expected)
            passages = store.passages("global", stored.id)
            assert [(p.start, p.end, p.text) for p in passages] == expected
            assert stored.passage_count == len(expected)
            assert all(0 < len(text) <= PASSAGE_CAP for _, _, text in expected)
            for word in tokenize(original)[:3]:
                for hit in store.search(word, ["global"], k=3).hits:
                    passage = hit.passage
                    assert (passage.start, passage.end, passage.text) in by_article[hit.article.id]


# -- the tokenizer -------------------------------------------------------------------------------------------


@FAST
@given(any_text)
def test_tokenizing_is_deterministic_and_matches_the_spans(text):
    first = tokenize(text)
    # No term spans whitespace: tokenizing piece by piece gives the same terms.
    assert first == [term for piece in re.split(r"(\s+)", text) for term in tokenize(piece)]
    spans = list(tokenize_spans(text))
    assert [term for term, _, _ in spans] == first
    for term, start, end in spans:
        assert term and not re.search(r"\s", term)
        own = tokenize(text[start:end])
        # A pair of an unspaced script's characters comes with each of its characters.
        assert own == [term] or own == [term[0], term, term[1]], "a term is the tokenization of its own span"
    asked = question_terms(text)
    # A question loses its invisible characters first, as a stored article does ("wea\u00adpons").
    visible = tokenize(unicodedata.normalize("NFKC", without_invisible(text)))
    all_terms = iter(visible)
    assert all(term in all_terms for term in asked), "the question's terms, in order"
    assert bool(asked) == bool(visible)
    # Question words go, unless nothing else is left: then every term stays (a Chinese question
    # word's characters too, "什么" giving 什, 什么 and 么).
    assert asked == visible or not set(asked) & QUESTION_WORDS


latin_text = st.text(
    st.characters(min_codepoint=0, max_codepoint=0x24F)  # ASCII, Latin-1 and Latin Extended
    | st.sampled_from(["’", "“", "”", "–", "—", "…", "€", "\u0301", "\u0308", "\u20dd", "\ufe0f", "😀", "ﬁ"]),
    max_size=200,
)


@FAST
@given(latin_text)
def test_text_in_latin_script_gives_the_terms_it_always_gave(text):
    assert tokenize(text) == old_tokenize(text)
    # ...also beside Chinese and Hindi, which take the tokenizer's other path.
    assert tokenize(f"{text} 武器 हिन्दी") == [*old_tokenize(text), "武", "武器", "器", "हिन्दी"]


def test_budget_is_below_the_cap():
    assert 0 < PASSAGE_BUDGET <= PASSAGE_CAP == 700
