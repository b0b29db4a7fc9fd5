"""Text normalisation, boilerplate removal and the one tokenizer used for passages and questions."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterator

log = logging.getLogger(__name__)

# Characters that carry no text: zero-width marks, bidi controls and other invisible formatting.
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# C0/C1 control characters other than tab and newline.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[^\S\n]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def normalize_text(raw: str) -> str:
    """NFKC-normalise, drop invisible and control characters, and tidy whitespace.

    Paragraph breaks survive as one blank line; runs of spaces become one space.
    """
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub("", text)
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
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_CHROME_MAX_LINE = 120


def is_chrome_line(line: str) -> bool:
    """True for a short line that is site navigation, sharing or comment chrome."""
    stripped = line.strip()
    return len(stripped) <= _CHROME_MAX_LINE and bool(_CHROME_LINE.match(stripped))


def strip_chrome(text: str) -> str:
    """Drop site chrome lines from normalised text."""
    kept = [line for line in text.split("\n") if not is_chrome_line(line)]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(kept)).strip()


_HEADLINE_MAX = 200


def split_headline(text: str) -> tuple[str | None, str]:
    """Take a leading headline line off a plain-text article.

    A headline is a short first line that is its own paragraph and does not end like a sentence.
    Markdown `# ` headings count too. Returns (title or None, body).
    """
    first, _sep, rest = text.partition("\n")
    candidate = first.strip()
    if candidate.startswith("#"):
        candidate = candidate.lstrip("#").strip()
        if candidate:
            return candidate, rest.strip()
    if (
        candidate
        and len(candidate) <= _HEADLINE_MAX
        and not candidate.endswith((".", "?", "!", ":", ";", ",", "”", '"'))
        and rest.startswith("\n")
    ):
        return candidate, rest.strip()
    return None, text


# One tokenizer for passages and questions: casefolded Unicode words and numbers.
# Inner apostrophes stay (didn't), a trailing possessive 's is dropped (china's -> china).
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_POSSESSIVE = re.compile(r"['’]s$")


def _term(word: str) -> str:
    term = _POSSESSIVE.sub("", word.casefold()).replace("’", "'")
    return term


def tokenize(text: str) -> list[str]:
    """Terms of a text, in order, repeats kept."""
    words = _TOKEN.findall(text)
    if "'" in text or "’" in text:  # only words with an apostrophe need more than casefolding
        return [_term(w) if "'" in w or "’" in w else w.casefold() for w in words]
    return [w.casefold() for w in words]


def tokenize_spans(text: str) -> Iterator[tuple[str, int, int]]:
    """Terms of a text with their character offsets, for highlighting."""
    for m in _TOKEN.finditer(text):
        word = m.group()
        yield _term(word) if "'" in word or "’" in word else word.casefold(), m.start(), m.end()


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


def question_terms(question: str) -> list[str]:
    """Terms of a question that drive ranking: its words without question words.

    If a question is made only of question words, all of them are kept.
    """
    terms = tokenize(unicodedata.normalize("NFKC", without_invisible(question)))
    content = [t for t in terms if t not in QUESTION_WORDS]
    return content or terms
