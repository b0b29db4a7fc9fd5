"""Text normalisation, boilerplate removal and the one tokenizer used for passages and questions."""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Iterator

from ..errors import NoSearchableWords
from .wordlists import data_lines

log = logging.getLogger(__name__)

# Characters that carry no text: zero-width marks, bidi controls and other invisible formatting.
# The zero-width non-joiner and joiner (U+200C, U+200D) are not among them: they are part of how
# Persian and Indic words and emoji such as 👨‍👩‍👧 are written, so the stored text keeps them (a quote
# shows the word as its article wrote it), and the tokenizer reads a word through them (`_JOINERS`).
_INVISIBLE = re.compile(r"[\u00ad\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_JOINERS = ("\u200c", "\u200d")
_STRAY_JOINERS = re.compile(r"(?<!\S)[\u200c\u200d]+|[\u200c\u200d]+(?!\S)")
"""Joiners next to a space or a line end join nothing: they go."""
# Control characters that end a line (str.splitlines reads them so): a form feed between pages,
# the vertical tab a word processor writes for a line break, the separators, NEL. Each becomes a
# line break, so the words on either side stay apart.
_LINE_ENDS = re.compile(r"[\x0b\x0c\x1c-\x1e\x85]")
# C0/C1 control characters other than tab and newline (the unit separator stands between words).
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1e\x7f-\x9f]")
_SPACES = re.compile(r"[^\S\n]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def normalize_text(raw: str) -> str:
    """NFKC-normalise, drop invisible and control characters, and tidy whitespace.

    Paragraph breaks survive as one blank line; runs of spaces become one space.
    """
    text = _LINE_ENDS.sub("\n", raw.replace("\r\n", "\n").replace("\r", "\n"))
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub("", text)
    if _has_joiners(text):
        text = _STRAY_JOINERS.sub("", text)
    text = _SPACES.sub(" ", text)
    lines = [line.strip() for line in text.split("\n")]
    text = "\n".join(lines)
    return _MANY_NEWLINES.sub("\n\n", text).strip()


# Site chrome seen in raw scrapes. Only whole short lines are dropped, never text inside a paragraph.
_CHROME_LINE = re.compile(
    r"""^(
        skip\ to\ (main\ )?(content|footer|navigation)(\s+skip\ to\ (main\ )?(content|footer|navigation))*
      | (show|hide|close|view|load)\s+comments?(\s*(show|hide|close|view)\s+comments?)*
      | leave\ a\ (comment|reply)
      | \d+\s+comments?
      | share(\ this(\ article|\ story|\ post)?)?(\ on\ \w+)?:?
      | (share|tweet|email|print|pin)(\s*[|/·•]\s*(share|tweet|email|print|pin|facebook|twitter|linkedin|whatsapp|reddit))*
      | (facebook|twitter|linkedin|whatsapp|reddit|email|x)(\s*[|/·•]?\s*(facebook|twitter|linkedin|whatsapp|reddit|email|x))*
      | subscribe(\ now|\ to\ our\ newsletter|\ today)?!?
      | sign\ up\ for\ (our|the)\ \w+(\ \w+)?\ newsletters?\.?
      | (get|join)\ our\ newsletter\.?
      | advertisement
      | (related|recommended|more)(\ (stories|articles|news|from\ \w+))?:?
      | read\ more:?
      | click\ here\ to\ (subscribe|share|comment)\.?
      | follow\ us(\ on\ \w+)?:?
      | (all\ rights\ reserved|copyright\ ©?.*|©.*)
      | (accept|manage)\ (all\ )?cookies
      | menu | search | home | log\ ?in | sign\ in
      | listen\ to\ this\ (article|story)(\ \d+\ min(ute)?s?)?
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
# What a paywall shows in place of the rest of a story; a line of one or more of these is chrome.
_PAYWALL_NOTICE = r"""(
        (subscribe|subscribers?\ only|log\ ?in|sign\ in|register)[.:,]?\ to\ (continue\ reading
          |read\ (more|on|the\ (full|rest\ of\ the)\ (article|story)|this\ (article|story)))[.!]?
      | (to\ )?continue\ reading,?\ (subscribe|log\ ?in|sign\ in|register)(\ now|\ today)?[.!]?
      | already\ (a\ subscriber|subscribed|registered|have\ an\ account)\??(\ (log|sign)\ ?in(\ here)?[.!]?)?
      | this\ (article|story|content)\ is\ (only\ )?(for|available\ to)\ (paying\ )?subscribers(\ only)?[.!]?
      | get\ unlimited\ (digital\ )?access(\ (for|from)\ \S+(\ (a|per)\ (day|week|month|year))?)?[.!]?
    )"""
_PAYWALL_LINE = re.compile(rf"{_PAYWALL_NOTICE}(\s+{_PAYWALL_NOTICE})*", re.IGNORECASE | re.VERBOSE)
_CHROME_MAX_LINE = 120


def is_chrome_line(line: str) -> bool:
    """True for a short line that is site navigation, sharing or comment chrome."""
    stripped = line.strip()
    return len(stripped) <= _CHROME_MAX_LINE and bool(
        _CHROME_LINE.match(stripped) or _PAYWALL_LINE.fullmatch(stripped)
    )


def strip_chrome(text: str) -> str:
    """Drop site chrome lines from normalised text."""
    kept = [line for line in text.split("\n") if not is_chrome_line(line)]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(kept)).strip()


_HEADLINE_MAX = 200
_SETEXT_UNDERLINE = re.compile(r"=+|-{2,}")
"""The line under a Markdown heading written "Title" over "=====" (or "-----")."""
_CLAUSE_ENDS = (".", ":", ";", ",")
"""How a sentence ends and a heading does not, even over a rule: "She left.", then "--"."""
_SENTENCE_ENDS = (*_CLAUSE_ENDS, "?", "!", "”", '"')


def split_headline(text: str) -> tuple[str | None, str]:
    """Take a leading headline line off a plain-text article.

    A headline is a short first line that is its own paragraph and does not end like a sentence.
    Markdown headings count too (`# Title`, or Title over a line of = or - unless it ends with a
    full stop, colon, semicolon or comma: a sentence over a rule is text). Returns (title or None,
    body).
    """
    first, _sep, rest = text.partition("\n")
    candidate = first.strip()
    underline, _sep, after = rest.partition("\n")
    if (
        candidate
        and len(candidate) <= _HEADLINE_MAX
        and not candidate.endswith(_CLAUSE_ENDS)
        and _SETEXT_UNDERLINE.fullmatch(underline.strip())
    ):
        return candidate, after.strip()
    if candidate.startswith("#"):
        candidate = candidate.lstrip("#").strip()
        if candidate:
            return candidate, rest.strip()
    if (
        candidate
        and len(candidate) <= _HEADLINE_MAX
        and not candidate.endswith(_SENTENCE_ENDS)
        and rest.startswith("\n")
    ):
        return candidate, rest.strip()
    return None, text


# One tokenizer for passages and questions: casefolded Unicode words and numbers.
# Inner apostrophes stay (didn't), a trailing possessive 's is dropped (china's -> china).
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_POSSESSIVE = re.compile(r"['’]s$")

# Scripts written without spaces between words (Chinese, Japanese kana, Thai, Lao, Khmer, Myanmar):
# a run of their letters is indexed as each character plus each overlapping pair of characters.
# Pairs find a word of two or more characters inside any run, as Lucene's CJK bigrams do; the single
# characters keep one-character words ("说", "车") findable, which pairs alone would lose.
# Hangul is written with spaces, so a Korean word stays one term.
_UNSPACED_BLOCKS = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3005, 0x303F),  # ideographic iteration and number marks (々 〆 〇)
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK ideographs, extension A
    (0x4E00, 0x9FFF),  # CJK ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
)
_UNSPACED_ASTRAL = "\U00020000-\U000323af"
"""CJK ideographs, extensions B to H (all letters, or not assigned yet)."""
# Combining marks belonging to no one script (accents over Latin letters, variation selectors) still
# end a word, as before, so text in Latin script keeps exactly the terms it always had.
_SHARED_MARK_BLOCKS = (
    (0x0300, 0x036F),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE00, 0xFE0F),
    (0xFE20, 0xFE2F),
)


def _char_class(codes: list[int]) -> str:
    """A regex character class body of these code points (sorted), as ranges."""
    parts = []
    start = previous = codes[0]
    for code in [*codes[1:], -1]:
        if code != previous + 1:
            parts.append(re.escape(chr(start)) + ("-" + re.escape(chr(previous)) if previous > start else ""))
            start = code
        previous = code
    return "".join(parts)


@functools.cache
def _wide_tokens() -> tuple[str, re.Pattern[str], re.Pattern[str]]:
    """(the characters that `_TOKEN` may split otherwise than `_wide_spans`, as a class and
    compiled; the tokens of a text that holds one). Made on first need: it reads the Unicode database (some 20 ms).

    Only marks of the Basic Multilingual Plane count, where every script in daily use has its marks:
    a class with the many small ranges beyond it is several times slower to match."""

    def letter_or_mark(code: int) -> bool:
        category = unicodedata.category(chr(code))
        return category[0] in "LM" or category == "Nl"

    unspaced = [code for lo, hi in _UNSPACED_BLOCKS for code in range(lo, hi + 1) if letter_or_mark(code)]
    skipped = set(unspaced) | {code for lo, hi in _SHARED_MARK_BLOCKS for code in range(lo, hi + 1)}
    # Vowel signs and viramas of Indic scripts, Hebrew and Arabic points...: inside a word.
    marks = [
        code
        for code in range(0x0300, 0x10000)
        if unicodedata.category(chr(code)) in ("Mn", "Mc", "Me") and code not in skipped
    ]
    unspaced_class = _char_class(unspaced) + _UNSPACED_ASTRAL
    mark_class = _char_class(marks)
    letter = rf"(?![{unspaced_class}])[^\W_]"
    word = rf"{letter}(?:{letter}|[{mark_class}])*"
    # Any astral character too: few texts hold one, and `_wide_spans` tokenizes others as `_TOKEN`.
    wide_class = _char_class(sorted(unspaced + marks)) + "\U00010000-\U0010ffff"
    tokens = re.compile(rf"(?P<run>[{unspaced_class}]+)|{word}(?:['’]{word})*")
    return wide_class, re.compile(f"[{wide_class}]"), tokens


def _term(word: str) -> str:
    term = _POSSESSIVE.sub("", word.casefold()).replace("’", "'")
    return term


def _latin_only(text: str) -> bool:
    """Whether `_TOKEN` alone tokenizes the text: it holds no letter of an unspaced script and no
    combining mark of a script (always so for English)."""
    return text.isascii() or _wide_tokens()[1].search(text) is None


def _wide_spans(text: str) -> Iterator[tuple[str, int, int]]:
    for m in _wide_tokens()[2].finditer(text):
        start, end = m.span()
        if m.lastgroup == "run":
            for at in range(start, end):
                yield text[at], at, at + 1
                if at + 1 < end:
                    yield text[at : at + 2], at, at + 2
        else:
            word = m.group()
            yield _term(word) if "'" in word or "’" in word else word.casefold(), start, end


def _has_joiners(text: str) -> bool:
    return _JOINERS[0] in text or _JOINERS[1] in text


def without_joiners(text: str) -> str:
    """The text without zero-width (non-)joiners: the words the tokenizer reads through them."""
    return text.replace(_JOINERS[0], "").replace(_JOINERS[1], "") if _has_joiners(text) else text


def _joiners_dropped(text: str) -> tuple[str, list[int]]:
    """The text without zero-width (non-)joiners, and the offset in the text of each character kept."""
    kept = [at for at, ch in enumerate(text) if ch not in _JOINERS]
    return "".join(text[at] for at in kept), kept


def tokenize(text: str) -> list[str]:
    """Terms of a text, in order, repeats kept. A zero-width (non-)joiner inside a word is read
    through: "می‌خواهم" gives the term of "میخواهم", as text stored before they were kept does."""
    text = without_joiners(text)
    if not _latin_only(text):
        return [term for term, _, _ in _wide_spans(text)]
    words = _TOKEN.findall(text)
    if "'" in text or "’" in text:  # only words with an apostrophe need more than casefolding
        return [_term(w) if "'" in w or "’" in w else w.casefold() for w in words]
    return [w.casefold() for w in words]


def tokenize_spans(text: str) -> Iterator[tuple[str, int, int]]:
    """Terms of a text with their character offsets, for highlighting. The terms of an unspaced
    script overlap (a character and the pair it starts). A word written with a zero-width
    (non-)joiner inside spans all of it, joiners included."""
    if _has_joiners(text):
        bare, kept = _joiners_dropped(text)
        for term, start, end in tokenize_spans(bare):
            yield term, kept[start], kept[end - 1] + 1
        return
    if not _latin_only(text):
        yield from _wide_spans(text)
        return
    for m in _TOKEN.finditer(text):
        word = m.group()
        yield _term(word) if "'" in word or "’" in word else word.casefold(), m.start(), m.end()


def needs_wide_tokens(text: str) -> bool:
    """Whether a text may hold characters that the tokenizer of SQLite schema 4 (PostgreSQL schema
    7) and before split otherwise: letters of unspaced scripts, combining marks of a script."""
    return not _latin_only(text)


def wide_character_class() -> str:
    """The characters `needs_wide_tokens` looks for, as the inside of a bracket expression that
    Python's `re` and PostgreSQL's regular expressions read alike."""
    return _wide_tokens()[0]


# Words that only say a sentence is a question. They are dropped from questions, never from passages,
# so that "what did Qin say" is ranked by "qin" and "say". A longer stopword list measured worse.
QUESTION_WORDS = frozenset(
    [
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "did",
        "does",
        "do",
        "is",
        "are",
        "was",
        "were",
        "about",
    ]
)


def without_invisible(question: str) -> str:
    """A question without the invisible characters that articles lose in normalize_text: a soft
    hyphen or zero-width space pasted inside a word must not split it into two words no passage holds."""
    return _INVISIBLE.sub("", question)


_WEB_LINK = re.compile(r"<?\b(?:https?://|www\.)[^\s<>]+>?", re.IGNORECASE)


def without_links(question: str) -> str:
    """A question without the web links pasted into it ("is this true? https://…"): their pieces
    (https, www, com, a date in the path) are words no passage says, which made a question that the
    library answers look unanswerable."""
    return (
        " ".join(_WEB_LINK.sub(" ", question).split())
        if "://" in question or "www." in question.lower()
        else question
    )


ONLY_A_LINK = "A link alone is no question; ask in words what you want to know about it."


def no_searchable_words(question: str) -> NoSearchableWords:
    """The refusal of a question (as typed, links and all) that leaves no words to search: a link
    alone is asked about in words."""
    return NoSearchableWords(ONLY_A_LINK) if question_terms(question) else NoSearchableWords()


@functools.cache
def _unspaced_question_words() -> tuple[re.Pattern[str], frozenset[str]]:
    """(a question word of Chinese or Japanese, or a word holding one that asks nothing ("任何"),
    the longer first; those words that ask nothing), from data/unspaced_question_words.txt beside
    this module, read on first use."""
    lines = data_lines("index.ingest", "unspaced_question_words.txt")
    kept = frozenset(line[1:] for line in lines if line.startswith("!"))
    words = sorted(lines, key=lambda line: (-len(line.lstrip("!")), line.lstrip("!")))
    return re.compile("|".join(re.escape(word.lstrip("!")) for word in words)), kept


def _without_unspaced_question_words(text: str) -> str:
    """The text with each question word of an unspaced script cut out of its run (a space in its
    place, so that no pair of characters spans the cut): "秦刚说了什么" reads as "秦刚说了"."""
    if _latin_only(text):
        return text
    words, kept = _unspaced_question_words()
    return words.sub(lambda m: m.group() if m.group() in kept else " ", text)


def holds_unspaced_question_word(text: str) -> bool:
    """Whether the text holds a question word of Chinese or Japanese ("什么", "いつ"), which asks a
    question as a question mark would."""
    return _without_unspaced_question_words(text) != text


def question_terms(question: str) -> list[str]:
    """Terms of a question that drive ranking: its words without question words (those of Chinese
    and Japanese cut out of their runs of characters before the pairs are made).

    If a question is made only of question words, all of them are kept.
    """
    text = unicodedata.normalize("NFKC", without_invisible(question))
    content = [t for t in tokenize(_without_unspaced_question_words(text)) if t not in QUESTION_WORDS]
    return content or tokenize(text)
