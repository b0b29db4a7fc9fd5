"""Sentence-aware passages: split a text into sentences, then pack whole sentences up to a budget."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from sentencex import segment

log = logging.getLogger(__name__)

PASSAGE_BUDGET = 450
"""Sentences are packed into a passage while it stays within this many characters."""
PASSAGE_CAP = 700
"""No passage is ever longer than this; only a sentence longer than the cap is cut."""

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_SPACE = re.compile(r"\s")


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int


def _paragraphs(text: str) -> list[Span]:
    spans = []
    pos = 0
    for m in _PARAGRAPH_BREAK.finditer(text):
        spans.append(Span(pos, m.start()))
        pos = m.end()
    spans.append(Span(pos, len(text)))
    return [s for s in spans if text[s.start : s.end].strip()]


def _trim(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end) if end > start else None


def split_sentences(text: str) -> list[Span]:
    """Sentence spans of a text, in order, with surrounding whitespace trimmed.

    Paragraph breaks always end a sentence. Within a paragraph, sentencex finds the boundaries
    (abbreviations such as U.S. and Mr., decimals, and an end glued to an opening quote).
    """
    sentences: list[Span] = []
    for para in _paragraphs(text):
        chunk = text[para.start : para.end]
        cursor = 0
        for sentence in segment("en", chunk):
            found = chunk.find(sentence, cursor) if sentence.strip() else -1
            if found < 0:
                continue
            span = _trim(text, para.start + found, para.start + found + len(sentence))
            cursor = found + len(sentence)
            if span:
                sentences.append(span)
        # Whatever the segmenter did not return (it should return everything) stays searchable.
        if sentences and sentences[-1].end < para.end:
            tail = _trim(text, sentences[-1].end, para.end)
            if tail and text[tail.start : tail.end].strip(" .,;:!?\"'”“’"):
                sentences.append(tail)
        elif not sentences or sentences[-1].end <= para.start:
            whole = _trim(text, para.start, para.end)
            if whole:
                sentences.append(whole)
    return sentences


def _cut_long(text: str, span: Span, cap: int) -> list[Span]:
    """Cut one over-long sentence into pieces of at most `cap` characters, at spaces where possible."""
    pieces = []
    start = span.start
    while span.end - start > cap:
        limit = start + cap
        cut = limit
        window = text[start:limit]
        spaces = [m.start() for m in _SPACE.finditer(window)]
        if spaces and spaces[-1] > cap // 2:
            cut = start + spaces[-1]
        piece = _trim(text, start, cut)
        if piece:
            pieces.append(piece)
        start = cut
    rest = _trim(text, start, span.end)
    if rest:
        pieces.append(rest)
    return pieces


def pack_passages(
    text: str,
    sentences: list[Span],
    budget: int = PASSAGE_BUDGET,
    cap: int = PASSAGE_CAP,
) -> list[Span]:
    """Pack consecutive whole sentences into passages of at most `budget` characters.

    A sentence longer than `budget` but within `cap` stands alone; one longer than `cap` is cut.
    """
    passages: list[Span] = []
    current: Span | None = None
    for sentence in sentences:
        length = sentence.end - sentence.start
        if length > cap:
            if current:
                passages.append(current)
                current = None
            passages.extend(_cut_long(text, sentence, cap))
            continue
        if current and sentence.end - current.start <= budget:
            current = Span(current.start, sentence.end)
            continue
        if current:
            passages.append(current)
        current = sentence
    if current:
        passages.append(current)
    return passages


def make_passages(text: str, budget: int = PASSAGE_BUDGET, cap: int = PASSAGE_CAP) -> list[Span]:
    """Passages of a normalised article text, as character spans into it."""
    return pack_passages(text, split_sentences(text), budget=budget, cap=cap)
