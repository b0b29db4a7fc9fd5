"""Publication dates: the forms a person or a JSON record may give, stored as ISO 8601, and the
date in a plain-text or Markdown byline (found by htmldate, which trafilatura uses for pages)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime

from dateutil import parser as dateutil_parser
from htmldate import find_date

from ..errors import BadInput

DATE_ORDERS = ("dmy", "mdy")
ACCEPTED_FORMS = "2025-03-14, 14 March 2025 or March 14, 2025"

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_WEEKDAY = r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?"
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
# The zone may follow a space, as Jekyll writes a date: "2024-04-02 23:30:00 -0500".
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?: ?Z| ?[+-]\d{2}:?\d{2})?)?")
_WORDS = re.compile(
    rf"{_WEEKDAY}(?:{_DAY}\s+{_MONTH},?\s+\d{{4}}|{_MONTH}\s+{_DAY},?\s+\d{{4}})", re.IGNORECASE
)
# RFC 2822, as RSS feeds (pubDate) and HTTP headers write a date: "Wed, 01 May 2024 10:00:00 GMT".
_RFC_2822 = re.compile(
    rf"{_WEEKDAY}\d{{1,2}} {_MONTH} \d{{4}} \d{{2}}:\d{{2}}(?::\d{{2}})?(?: (?:[+-]\d{{4}}|[a-z]{{1,5}}))?",
    re.IGNORECASE,
)
_NUMERIC = re.compile(r"(\d{1,2})([/.])(\d{1,2})\2(\d{4})")
_IN_LINE = re.compile(
    rf"\b(?:\d{{4}}-\d{{2}}-\d{{2}}|{_DAY}\s+{_MONTH},?\s+\d{{4}}|{_MONTH}\s+{_DAY},?\s+\d{{4}})\b",
    re.IGNORECASE,
)
EARLIEST_YEAR = 1000
"""Dates before this year are refused (a typo, such as 0224 for 2024, not a news article's date)."""
FUTURE_DAYS = 1
"""Dates up to this many days after today are taken (tomorrow somewhere on Earth is today's date
there); later ones are refused, since a wrong future date would look like the freshest news."""
HTMLDATE_MAX_DATE = "9999-12-31"
"""htmldate is asked for any date, however late, and a future one is dropped here: left to its own
limit (today), it turns a date a few days ahead into the first of its month or year instead."""
BYLINE_LINES = 4
"""A byline date is looked for in this many first lines of a text article ..."""
BYLINE_CHARS = 160
"""... each at most this long (a byline, not a sentence of the story)."""


def _refused(value: str, record: bool) -> BadInput:
    shown = value if len(value) <= 40 else value[:40] + "…"
    if record:
        return BadInput(f"{shown!r} is not a date this can read; write it in the record as {ACCEPTED_FORMS}.")
    return BadInput(
        f"{shown!r} is not a date this can read; give it as {ACCEPTED_FORMS}"
        " (03/04/2025 with --date-order dmy or mdy)."
    )


def latest_date() -> date:
    """The latest publication date taken now: tomorrow, by the local or UTC calendar, whichever is later."""
    return max(date.today(), datetime.now(UTC).date()) + timedelta(days=FUTURE_DAYS)


def _out_of_range(found: date, value: str, record: bool) -> BadInput | None:
    """Why a real calendar date cannot be an article's publication date, or None if it can."""
    shown = value if len(value) <= 40 else value[:40] + "…"
    if found.year < EARLIEST_YEAR:
        problem = f"is before the year {EARLIEST_YEAR}"
    elif found > latest_date():
        problem = "is in the future"
    else:
        return None
    if record:
        return BadInput(
            f"{shown!r} {problem}; write the date the article was published in the record, as YYYY-MM-DD."
        )
    return BadInput(f"{shown!r} {problem}; give the date the article was published, as YYYY-MM-DD.")


def _checked(year: int, month: int, day: int, value: str, record: bool) -> str:
    try:
        found = date(max(year, 1), month, day)  # the year 0 is before the earliest year too
    except ValueError:
        raise _refused(value, record) from None
    problem = _out_of_range(found, value, record)
    if problem is not None:
        raise problem
    return found.isoformat()


def plausible(found: date) -> bool:
    """Whether a date found in a page or a byline can be its publication date (not before the year
    EARLIEST_YEAR, nor after tomorrow)."""
    return found.year >= EARLIEST_YEAR and found <= latest_date()


def parse_date(value: str, order: str | None = None, *, record: bool = False) -> str:
    """A date given as ISO 8601, "14 March 2025", "March 14, 2025", RFC 2822 (an RSS feed's
    "Wed, 14 Mar 2025 09:30:00 GMT") or a numeric day/month/year
    (ambiguous ones need `order`, "dmy" or "mdy"), as ISO 8601 (YYYY-MM-DD). BadInput otherwise.
    The messages advise --date-order, which reads the --date option only; with `record` (the date
    field of a JSON record or an Article) they say how to write the date in the record instead."""
    text = " ".join(value.split())
    if order is not None and order not in DATE_ORDERS:
        raise BadInput(f"The date order must be dmy or mdy, not {order!r}.")
    if _ISO.fullmatch(text):
        try:
            parsed = datetime.fromisoformat(text.replace(" ", "T", 1).replace(" ", ""))
        except ValueError:
            raise _refused(value, record) from None
        return _checked(parsed.year, parsed.month, parsed.day, value, record)
    if _WORDS.fullmatch(text):
        try:
            parsed = dateutil_parser.parse(text)
        except (ValueError, OverflowError):
            raise _refused(value, record) from None
        return _checked(parsed.year, parsed.month, parsed.day, value, record)
    if _RFC_2822.fullmatch(text):
        try:
            parsed = parsedate_to_datetime(text)  # the date as written, in the zone it names
        except (ValueError, TypeError, IndexError):
            raise _refused(value, record) from None
        return _checked(parsed.year, parsed.month, parsed.day, value, record)
    numeric = _NUMERIC.fullmatch(text)
    if numeric:
        first, second, year = int(numeric[1]), int(numeric[3]), int(numeric[4])
        if order is None:
            if first > 12 >= second:
                order = "dmy"
            elif second > 12 >= first:
                order = "mdy"
            elif first == second:
                order = "dmy"
            elif record:
                raise BadInput(
                    f"{value!r} could be day/month or month/day; write it in the record as YYYY-MM-DD,"
                    " such as 2025-03-14."
                )
            else:
                raise BadInput(
                    f"{value!r} could be day/month or month/day; add --date-order dmy or mdy,"
                    f" or give it as {ACCEPTED_FORMS}."
                )
        day, month = (first, second) if order == "dmy" else (second, first)
        return _checked(year, month, day, value, record)
    raise _refused(value, record)


def stored_date(value: str | None, order: str | None = None) -> str | None:
    """A date field as stored (a JSON record's, an Article's): empty stays empty, anything else is
    parsed (BadInput, saying how to write it in the record, if unreadable or ambiguous)."""
    if value is None or not value.strip():
        return None
    return parse_date(value, order, record=True)


def byline_date(text: str) -> str | None:
    """The date of a byline ("Published 14 March 2025", "March 14, 2025 — ...") in the first lines
    of a plain-text or Markdown article, as ISO 8601; None when there is none. A date in the future
    (or before EARLIEST_YEAR) is passed over: it is no publication date, and the article is kept."""
    lines = [line.strip() for line in text.split("\n") if line.strip()][:BYLINE_LINES]
    for line in lines:
        if len(line) > BYLINE_CHARS or not _IN_LINE.search(line):
            continue
        escaped = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        found = find_date(
            f"<html><body><p>{escaped}</p></body></html>",
            extensive_search=True,
            outputformat="%Y-%m-%d",
            max_date=HTMLDATE_MAX_DATE,
        )
        if found and plausible(date.fromisoformat(str(found))):
            return str(found)
    return None
