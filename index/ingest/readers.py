"""Turn files, folders, JSON records, HTML and fetched pages into clean `Article`s."""

from __future__ import annotations

import codecs
import functools
import gzip
import io
import json
import logging
import os
import re
import stat
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AnyStr, BinaryIO, Literal

import charset_normalizer
import trafilatura
import yaml

from ..errors import BadInput
from ..models import INDEX_MARKER, Article
from .dates import HTMLDATE_MAX_DATE, byline_date, stored_date
from .fields import check_url, clean_title, shown_path
from .markdown import MARKDOWN_SUFFIXES, markdown_to_text
from .text import normalize_text, split_headline, strip_chrome

log = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
JSON_SUFFIXES = frozenset({".json"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES | JSONL_SUFFIXES

MAX_FILE_BYTES = 50 * 1024 * 1024
"""Files above this size are refused before they are read (JSON and JSON Lines feeds)."""
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
"""One article's file (.txt, .md, .html) above this size is refused before it is read or parsed.

Parsing costs memory: a 5 MB HTML page needs about 150 MB and two seconds in trafilatura, a 50 MB
one over a gigabyte and forty seconds. The same figure caps fetched pages (fetch.DEFAULT_MAX_BYTES).
"""
MAX_ARTICLE_CHARS = MAX_DOCUMENT_BYTES
"""No single article (a file, a JSON record, a page) longer than this many characters is read."""
MIN_ARTICLE_CHARS = 20
DATE_SEARCH = {"extensive_search": False, "original_date": True, "max_date": HTMLDATE_MAX_DATE}
"""htmldate's settings for a page's date: its first publication, declared, not guessed from text;
one in the future is then dropped (`stored_date` refuses it), and the page is kept without a date."""


@dataclass(frozen=True, slots=True)
class ReadFailure:
    """A source (or one record of it) that could not become an article."""

    source: str
    reason: str


def max_bytes_for(kind: str | None) -> int:
    """The largest file of a kind ("text", "html", "json", "jsonl") that is read at all.

    Front ends check this before downloading an attachment or reading stdin.
    """
    return MAX_FILE_BYTES if kind in ("json", "jsonl") else MAX_DOCUMENT_BYTES


def _size(limit: int) -> str:
    return f"{limit / 2**20:g} MB"


def too_large(source: str, limit: int) -> str:
    return f"{source} is larger than {_size(limit)}; split it or give a smaller file."


# Byte order marks, UTF-32 before UTF-16 (whose little-endian mark begins UTF-32's).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)


def _bom_encoding(head: bytes) -> tuple[str, str] | None:
    """The codec and the name of the encoding a byte order mark at the start of `head` declares."""
    for bom, encoding, name in _BOMS:
        if head.startswith(bom):
            return encoding, name
    return None


def decode_bytes(data: bytes, source: str, html: bool = False) -> str:
    """Decode a file's bytes: a BOM decides the encoding, then (for HTML) a charset the page
    declares in its first 1024 bytes, else UTF-8. Binary data and other encodings are refused."""
    return _decode(data, source, html=html, link=False)


def decode_page(data: bytes, url: str, charset: str | None, html: bool) -> str:
    """Decode a fetched page in the order browsers follow (the WHATWG encoding sniffing rules):
    a BOM, the charset of the Content-Type header, a charset the page declares in its first 1024
    bytes (HTML), UTF-8, then a guess. Binary data and bytes in no recognisable encoding are refused."""
    return _decode(data, url, html=html, link=True, header=charset)


# Labels that name, for browsers, a superset of the encoding Python reads by that name
# (https://encoding.spec.whatwg.org/#names-and-labels), keyed by Python's codec name.
_BROWSER_SUPERSETS = {
    "ascii": "cp1252",
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "shift_jis": "cp932",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
}
_BROWSER_LABELS = {"windows-31j": "cp932", "x-sjis": "cp932", "x-gbk": "gb18030"}
# Text codecs that are no charset a page can be written in.
_NOT_CHARSETS = frozenset({"idna", "punycode", "unicode-escape", "raw-unicode-escape", "utf-7", "undefined"})


def codec_for(label: str | None) -> str | None:
    """The Python codec for a charset label, read as browsers read it; None for an unknown label."""
    label = (label or "").strip().strip("\"'").lower()
    if not label:
        return None
    try:
        name = codecs.lookup(_BROWSER_LABELS.get(label, label)).name
        b"".decode(name)  # bytes-to-bytes codecs (base64, zlib) are no charsets
    except (LookupError, ValueError):
        return None
    return None if name in _NOT_CHARSETS else _BROWSER_SUPERSETS.get(name, name)


_PRESCAN_BYTES = 1024
_XML_DECLARATION = re.compile(rb"""<\?xml[^>]*?\sencoding\s*=\s*["']([^"']+)["']""")
_HTML_COMMENT = re.compile(rb"<!--.*?(?:-->|$)", re.DOTALL)
_META_TAG = re.compile(rb"<meta[\s/][^>]*>", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""charset\s*=\s*["']?\s*([^\s"';/>]+)""", re.IGNORECASE)


def declared_charset(data: bytes) -> str | None:
    """The codec an HTML page declares in its first 1024 bytes: in an XML declaration, else in
    the first <meta> that names a known charset (charset="..." or an http-equiv content's charset).
    A page cannot declare UTF-16 or UTF-32 this way (its ASCII tags would not be ASCII): UTF-8 then."""
    head = data[:_PRESCAN_BYTES]
    labels: list[bytes] = []
    if declaration := _XML_DECLARATION.match(head):
        labels.append(declaration[1])
    for tag in _META_TAG.finditer(_HTML_COMMENT.sub(b"", head)):
        if found := _META_CHARSET.search(tag[0]):
            labels.append(found[1])
    for label in labels:
        if codec := codec_for(label.decode("ascii", "replace")):
            return "utf-8" if codec.startswith(("utf-16", "utf-32")) else codec
    return None


AS_TEXT_FILE = "save the article's text as a .txt file and add that instead"
"""The next step when a page or a file holds no text that can be read as an article."""

BINARY_FILE = "{source} looks like a binary file, not text; give a .txt, .md, .html or .json file."


def _decode(data: bytes, source: str, html: bool, link: bool, header: str | None = None) -> str:
    next_step = "try another link." if link else "save it as UTF-8 and add it again."
    if declared := _bom_encoding(data):
        encoding, name = declared
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise BadInput(
                f"{source} starts like {name} text but is not valid {name} (byte {exc.start}); {next_step}"
            ) from None
    if b"\x00" in data[:8192]:
        if link:
            raise BadInput(f"{source} looks like a binary file, not a web page; try another link.")
        raise BadInput(BINARY_FILE.format(source=source))
    if codec := codec_for(header) or (declared_charset(data) if html else None):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass  # the declaration is wrong: read the bytes as if there were none
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not link:  # a file can be saved again as UTF-8; a guess could store garbled text
            raise BadInput(f"{source} is not valid UTF-8 text (byte {exc.start}); {next_step}") from None
    guess = charset_normalizer.from_bytes(data).best()
    if guess is None:
        raise BadInput(f"{source} is not text in an encoding that could be recognised; try another link.")
    return str(guess)


# Lone surrogates (from JSON "\\ud800" escapes) cannot be encoded to store or hash: drop them.
_SURROGATES = re.compile("[\ud800-\udfff]")


def finish_article(article: Article, source: str, record: bool = False) -> Article:
    """Normalise an article's fields and refuse it when no text is left. An article without a
    title takes its headline, else its file's name, else (`record`: one of the records of a feed,
    whose file would name them all alike) the start of its text."""
    if len(article.text) > MAX_ARTICLE_CHARS:
        raise BadInput(
            f"{source} is longer than {MAX_ARTICLE_CHARS:,} characters; split it into articles first."
        )
    normalized = normalize_text(_SURROGATES.sub("", article.text))
    text = strip_chrome(normalized)
    chrome_dropped = text != normalized
    title = clean_title(normalize_text(_SURROGATES.sub("", article.title or "")))
    try:
        article.url = check_url(article.url)
        article.published = stored_date(article.published)
    except BadInput as exc:  # name the file, record or line the field came from
        raise BadInput(f"{source}: {exc}") from None
    if not title:
        headline, body = split_headline(text)
        if headline and body:
            title, text = headline, body
    if not any(ch.isalnum() for ch in text) or (len(text) < MIN_ARTICLE_CHARS and chrome_dropped):
        raise BadInput(f"{source} has no article text left after cleaning; check that it is an article.")
    if len(text) < MIN_ARTICLE_CHARS:  # short as given: say so, rather than blame the cleaning
        raise BadInput(
            f"{source} is too short for an article ({len(text)} characters; at least {MIN_ARTICLE_CHARS});"
            " give the article's whole text."
        )
    if not title:
        title = (None if record else _title_from_source(source)) or text[:80].split("\n")[0]
    article.title = title[:300]
    article.text = text
    article.source = article.source or source
    return article


def _title_from_source(source: str) -> str | None:
    if source in ("-", "<stdin>") or source.startswith(("http://", "https://")):
        return None
    stem = Path(source).stem.replace("-", " ").replace("_", " ").strip()
    return stem[:1].upper() + stem[1:] if stem else None


FRONT_MATTER_MAX = 8192
"""A Markdown file's front matter is looked for in this many first characters."""
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_YAML_NULL = "tag:yaml.org,2002:null"
_FRONT_MATTER_FIELDS = {
    "title": ("title",),
    "published": ("date", "published", "pubdate"),
    "author": ("author",),
    "url": ("url", "link", "canonical_url", "canonicalurl"),
}


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    """A Markdown file's YAML front matter (as static site generators write it, between two "---"
    lines at the very start): its title, date, author and link as strings, and the text without
    it. Text that starts otherwise, or whose block is no YAML mapping naming one of those, is
    returned as it is."""
    head = text.lstrip("\ufeff").replace("\r\n", "\n")
    found = _FRONT_MATTER.match(head[:FRONT_MATTER_MAX])
    if not found:
        return {}, text
    try:
        # Composed, not loaded: each value is read as written, so "title: 1984" or "title: No" stays
        # a title (loading makes them a number and False), and nothing is built from tags or aliases.
        node = yaml.compose(found[1] or "", Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return {}, text
    if not isinstance(node, yaml.MappingNode):
        return {}, text
    written = {
        key.value: value.value
        for key, value in node.value
        if isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.ScalarNode) and value.tag != _YAML_NULL
    }
    fields: dict[str, str] = {}
    for field, keys in _FRONT_MATTER_FIELDS.items():
        for key in keys:
            value = written.get(key, "").strip()
            if value:
                fields[field] = value
                break
    if not fields:  # such as "---", "Warning: graphic images", "---" opening a plain text: its text
        return {}, text
    return fields, head[found.end() :]


Markup = Literal["plain", "markdown", "discord"]
"""How an article's text is written: plain text, a Markdown file, or a Discord post (Discord's Markdown)."""


def markup_for(name: str) -> Markup:
    """A file's (or a link's path's) markup, by its suffix: .md and .markdown are Markdown."""
    return "markdown" if Path(name).suffix.lower() in MARKDOWN_SUFFIXES else "plain"


def article_from_text(text: str, source: str, markup: Markup = "plain", **meta: str | None) -> Article:
    """A plain-text or Markdown article: YAML front matter read and dropped, Markdown's markup
    dropped (`markup`), site chrome dropped, the headline taken as the title (a title given, or
    the front matter's, replaces the headline), the date read from a byline when none is given."""
    declared, text = _front_matter(text)
    if markup != "plain":
        text = markdown_to_text(text, discord=markup == "discord")
    if declared:
        meta["author"] = meta.get("author") or declared.get("author")
        meta["url"] = meta.get("url") or _lenient(check_url, declared.get("url"))
        meta["published"] = meta.get("published") or _lenient(stored_date, declared.get("published"))
    title = meta.pop("title", None) or clean_title(declared.get("title", ""))
    if title:
        headline, body = split_headline(strip_chrome(normalize_text(_SURROGATES.sub("", text))))
        if headline and body:
            text = body
    article = finish_article(Article(title=title, text=text, **meta), source)
    if not article.published:
        article.published = byline_date(article.text)
    return article


def article_from_html(html: str, source: str, url: str | None = None, **meta: str | None) -> Article:
    """An HTML page through trafilatura: main text, title, date, author and site."""
    if len(html) > MAX_DOCUMENT_BYTES:
        raise BadInput(too_large(source, MAX_DOCUMENT_BYTES))
    try:
        tree = trafilatura.load_html(html)  # parsed once: for the <title> here and for trafilatura
        if tree is not None:
            _drop_xml_incompatible(tree)
        page_title = _title_element(tree)
        scripted = tree is not None and _drop_noscript(tree)
        doc: Any = trafilatura.bare_extraction(
            tree if tree is not None else html,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            # The page's own date (meta tags, <time>, structured data, its URL), never one found
            # by searching its text: that finds links to older stories and copyright footers.
            date_extraction_params=DATE_SEARCH,
        )
    except (ValueError, TypeError, RecursionError) as exc:
        log.info("trafilatura failed on %s: %s", source, exc)
        doc = scripted = None
    if doc is None or not (doc.text or "").strip():
        if scripted:
            next_step = (
                "try another link"
                if source.startswith(("http://", "https://"))
                else "check that it is an article"
            )
            raise BadInput(f"{source} has no article text (the page may need JavaScript); {next_step}.")
        raise BadInput(f"{source} has no article text that could be extracted from its HTML; {AS_TEXT_FILE}.")
    title = meta.pop("title", None) or _whole_title(doc, tree, page_title) or ""
    article = Article(
        title=title,
        text=doc.text,
        url=url or meta.pop("url", None) or _lenient(check_url, doc.url),
        published=meta.pop("published", None) or _lenient(stored_date, doc.date),
        author=doc.author,
        site=doc.sitename or doc.hostname,
    )
    article = finish_article(article, source)
    # A title that finish_article took from the text itself (the page named none) is kept there.
    if clean_title(title):
        article.text = _without_headline(article.text, article.title)
    return article


HEADLINE_LINES = 3
"""trafilatura repeats a page's headline in its text: as the first line, or, on a page of several
"entry" or "post" blocks (a live blog), after the first block. It is looked for in this many lines."""


def _without_headline(text: str, title: str) -> str:
    """The text without the first of its first HEADLINE_LINES lines that is the title, if more is left."""
    lines = text.split("\n")
    for at, line in enumerate(lines[:HEADLINE_LINES]):
        if line.strip() == title:
            rest = "\n".join(lines[:at] + lines[at + 1 :])
            return re.sub("\n{3,}", "\n\n", rest).strip() if rest.strip() else text
    return text


# Characters XML 1.0 cannot hold. A page's character references (&#11; from a word processor's line
# break, &#1;, &#xFFFE;) put them in the parsed tree, where they make trafilatura discard the page.
_XML_INCOMPATIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_INCOMPATIBLE_SPACE = re.compile("[\x0b\x0c\x1c-\x1f]")
"""Those of them that separate words (a vertical tab, a form feed, the separators)."""


def _drop_xml_incompatible(tree: Any) -> None:
    """Take characters XML cannot hold out of a parsed page's text, so the rest of it is read:
    those that separate words become spaces, the others (control characters, non-characters) go."""
    for element in tree.iter():
        for side in ("text", "tail"):
            value = getattr(element, side)
            if isinstance(value, str) and _XML_INCOMPATIBLE.search(value):
                value = _XML_INCOMPATIBLE_SPACE.sub(" ", value)
                setattr(element, side, _XML_INCOMPATIBLE.sub("", value))


def _drop_noscript(tree: Any) -> bool:
    """Remove a page's <noscript> elements (what it shows without JavaScript: "enable JavaScript",
    never the article). True when the page runs scripts or had such elements."""
    fallbacks = tree.xpath("//noscript")
    for element in fallbacks:
        element.drop_tree()
    return bool(fallbacks or tree.xpath("//script"))


def _title_element(tree: Any) -> str:
    """The text of a page's <title>, on one line ("" without one)."""
    if tree is None:
        return ""
    return " ".join((tree.findtext(".//head/title") or tree.findtext(".//title") or "").split())


def _loose(text: str | None) -> str:
    """Text compared without case, spaces or punctuation: "BBC News" and "bbc-news" are alike."""
    return "".join(ch for ch in (text or "").casefold() if ch.isalnum())


def _whole_title(doc: Any, tree: Any, page_title: str) -> str | None:
    """trafilatura's title, unless it cut the page's <title> at a separator (" - ", " | ") in front
    of more headline: then the whole <title>. Only a last part that names the site (the page's
    site name or its host) is left off; a headline the page states (og:title, an h1) is kept."""
    title: str | None = doc.title
    if not title or not page_title.startswith(title) or page_title == title:
        return title
    stated = [_loose(x) for x in tree.xpath('//meta[@property="og:title" or @name="twitter:title"]/@content')]
    stated += [_loose(h1.text_content()) for h1 in tree.iter("h1")]
    if _loose(title) in stated:
        return title
    host = (doc.hostname or "").removeprefix("www.")
    site_names = {_loose(doc.sitename), _loose(host), _loose(host.split(".")[0])} - {""}
    return title if _loose(page_title[len(title) :]) in site_names else page_title


def _lenient(check: Callable[[str | None], str | None], value: str | None) -> str | None:
    """A field a page declares about itself: kept when valid, else left out (the text still counts)."""
    try:
        return check(value)
    except BadInput:
        return None


def _record_article(record: object, source: str, one_of_many: bool = True) -> Article:
    if not isinstance(record, dict):
        raise BadInput(
            f"{source} is not a JSON object; give each record as an object with 'title' and 'text'."
        )
    text = record.get("text")
    if text is None:
        raise BadInput(f"{source} has no 'text' field; give each record 'title' and 'text' fields.")
    if not isinstance(text, str):
        raise BadInput(
            f"{source} has a 'text' field that is not a string; put the article's text in it as a string."
        )
    if not text.strip():
        raise BadInput(f"{source} has an empty 'text' field; put the article's text in it as a string.")
    title = record.get("title")

    def optional(key: str) -> str | None:
        value = record.get(key)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return None  # lists, objects and null say nothing usable here
        text = _SURROGATES.sub("", str(value))
        if key == "url":
            return text.strip() or None  # check_url refuses a link with control characters
        # Cleaned like a title: control characters (NUL among them, which PostgreSQL cannot store)
        # become spaces.
        return clean_title(text) or None

    return finish_article(
        Article(
            title=title if isinstance(title, str) else "",
            text=text,
            url=optional("url"),
            published=optional("date") or optional("published"),
            author=optional("author"),
            site=optional("site"),
            source=optional("id"),
        ),
        source,
        record=one_of_many,
    )


def _load_json(text: str, source: str) -> object:
    """json.loads, with hostile documents (deep nesting, huge numbers) refused in one sentence."""
    try:
        return json.loads(text)
    except RecursionError:
        raise BadInput(
            f"{source} is JSON nested too deeply to be an article record; give each record as one object"
            " with 'title' and 'text'."
        ) from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # such as an integer of more than 4300 digits
        raise BadInput(
            f"{source} is not usable JSON ({str(exc).split(';')[0]}); fix that value and add it again."
        ) from None


def _jsonl_record(line: str, where: str) -> Article | ReadFailure:
    try:
        return _record_article(_load_json(line, where), where)
    except json.JSONDecodeError as exc:
        problem = exc.msg.removesuffix(" at")  # "Unterminated string starting at"
        return ReadFailure(
            where, f"{where} is not valid JSON ({problem} at column {exc.colno}); fix or remove it."
        )
    except BadInput as exc:
        return ReadFailure(where, str(exc))


# Where a JSON Lines record ends: not at U+2028 or U+2029 (str.splitlines), which JSON strings may hold.
_LINE_BREAK = re.compile("\r\n|\r|\n")


def articles_from_json(text: str, source: str, lines: bool) -> Iterator[Article | ReadFailure]:
    """Records from a JSON document (one object or a list) or JSON Lines."""
    if lines:
        for number, line in enumerate(_LINE_BREAK.split(text), start=1):
            if line.strip():
                yield _jsonl_record(line, f"{source} line {number}")
        return
    try:
        data = _load_json(text, source)
    except json.JSONDecodeError as exc:
        yield ReadFailure(
            source,
            f"{source} is not valid JSON ({exc.msg.removesuffix(' at')} at line {exc.lineno});"
            " fix it and add it again.",
        )
        return
    except BadInput as exc:
        yield ReadFailure(source, str(exc))
        return
    records = data if isinstance(data, list) else [data]
    for number, record in enumerate(records, start=1):
        where = f"{source} record {number}" if isinstance(data, list) else source
        try:
            yield _record_article(record, where, one_of_many=isinstance(data, list))
        except BadInput as exc:
            yield ReadFailure(where, str(exc))


def articles_from_bytes(
    data: bytes, source: str, kind: str, **meta: str | None
) -> Iterator[Article | ReadFailure]:
    """Articles from the bytes of one file; kind is "text", "html", "json" or "jsonl"."""
    limit = max_bytes_for(kind)
    if len(data) > limit:
        yield ReadFailure(source, too_large(source, limit))
        return
    try:
        text = decode_bytes(data, source, html=kind == "html")
        if kind == "json" or kind == "jsonl":
            yield from articles_from_json(text, source, lines=kind == "jsonl")
        elif kind == "html":
            yield article_from_html(text, source, **meta)
        else:
            yield article_from_text(text, source, markup_for(source), **meta)
    except BadInput as exc:
        yield ReadFailure(source, str(exc))


def sniff_kind(data: bytes) -> str:
    """Guess the kind of stdin or an attachment without a suffix from its text, decoded as
    articles_from_bytes decodes it (a BOM names UTF-16 or UTF-32, then a charset declared in a
    <meta> tag, else UTF-8).

    A list is JSON; an object followed by a line starting with "{" is JSON Lines unless the whole
    text is one JSON value (a pretty-printed object). Data that cannot be decoded is "text", and
    articles_from_bytes says why it is refused.
    """
    try:
        text = decode_bytes(data, "data", html=True).lstrip("\ufeff").lstrip()
    except BadInput:
        return "text"
    head = text[:1024].lower()
    if head.startswith(("<!doctype html", "<html", "<head", "<body", "<article", "<div", "<p")):
        return "html"
    if head.startswith("["):
        return "json"
    if head.startswith("{"):
        return "jsonl" if "\n{" in text and not _one_json_value(text) else "json"
    return "text"


def _one_json_value(text: str) -> bool:
    """Whether the text is one JSON value and nothing else (it starts with the value)."""
    try:
        _value, end = json.JSONDecoder().raw_decode(text)
    except (ValueError, RecursionError):  # not JSON, or hostile JSON that articles_from_json refuses
        return False
    return not text[end:].strip()


def kind_for_name(name: str) -> str | None:
    if name.lower().endswith((".jsonl.gz", ".ndjson.gz")):
        return "jsonl"
    suffix = Path(name).suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return "text"
    if suffix in HTML_SUFFIXES:
        return "html"
    if suffix in JSON_SUFFIXES:
        return "json"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    return None


def _capped_lines(readline: Callable[[int], AnyStr], newline: AnyStr) -> Iterator[AnyStr | None]:
    """The lines of a stream; None for a line longer than one document, whose rest is skipped."""
    while line := readline(MAX_DOCUMENT_BYTES + 1):
        if len(line) > MAX_DOCUMENT_BYTES and not line.endswith(newline):
            while (rest := readline(1 << 20)) and not rest.endswith(newline):
                pass  # skip the rest of the over-long line
            yield None
        else:
            yield line


def _mark_undecodable(exc: UnicodeError) -> tuple[str, int]:
    """A decoding error handler: undecodable bytes become a lone surrogate, which valid UTF-16 or
    UTF-32 never decodes to, so the one line that holds them is refused and the stream read on."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "\udfff", exc.end


@functools.cache
def _undecodable_errors() -> str:
    """The name of `_mark_undecodable` as an error handler, registered on first use (never at import)."""
    codecs.register_error("clippings-undecodable", _mark_undecodable)
    return "clippings-undecodable"


def _stream_jsonl(file: BinaryIO, name: str, source: str) -> Iterator[Article | ReadFailure]:
    """JSON Lines (optionally gzipped, by the file's `name`) read a line at a time, so a feed of
    any size streams in bounded memory; only a single line is capped, at the size of one document.

    A UTF-16 or UTF-32 byte order mark at the start decodes the whole stream in that encoding
    (its lines cannot be split as bytes); otherwise each line is decoded on its own as UTF-8.
    """
    try:
        with gzip.GzipFile(fileobj=file, mode="rb") if name.lower().endswith(".gz") else file as handle:
            head = handle.read(8192)
            declared = _bom_encoding(head)
            if not declared and b"\x00" in head:  # one refusal, not one per "line" of a binary file
                yield ReadFailure(source, BINARY_FILE.format(source=source))
                return
            handle.seek(0)
            lines: Iterator[bytes | str | None]
            if declared and declared[1] != "UTF-8":
                text = io.TextIOWrapper(
                    handle, encoding=declared[0], errors=_undecodable_errors(), newline="\n"
                )
                lines = _capped_lines(text.readline, "\n")
            else:
                lines = _capped_lines(handle.readline, b"\n")
            for number, line in enumerate(lines, start=1):
                where = f"{source} line {number}"
                if line is None:
                    yield ReadFailure(where, too_large(where, MAX_DOCUMENT_BYTES))
                    continue
                if not line.strip():
                    continue
                if isinstance(line, bytes):
                    try:
                        line = decode_bytes(line, where)
                    except BadInput as exc:
                        yield ReadFailure(where, str(exc))
                        continue
                elif declared and _SURROGATES.search(line):
                    yield ReadFailure(
                        where, f"{where} is not valid {declared[1]}; save the file as UTF-8 and add it again."
                    )
                    continue
                yield _jsonl_record(line.lstrip("\ufeff"), where)
    except (OSError, EOFError, zlib.error) as exc:
        yield ReadFailure(source, f"{source} could not be read to the end ({exc}); check the file.")


def _open_regular(path: Path) -> BinaryIO | None:
    """The file opened for reading, or None when it is not a regular file (a FIFO, a device such as
    /dev/zero behind a link), which is never read: reading could block forever or never end. The
    check is of the file opened, without blocking, so a file swapped for a FIFO after a look at its
    name cannot make a read hang."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        return None
    return os.fdopen(descriptor, "rb")


def read_file(path: Path, **meta: str | None) -> Iterator[Article | ReadFailure]:
    """Articles from one file, chosen by its suffix."""
    source = shown_path(str(path))  # a name that is not UTF-8 is shown (and stored) with U+FFFD
    kind = kind_for_name(path.name)
    if kind is None:
        yield ReadFailure(
            source,
            f"{source} has an unsupported type; use .txt, .md, .html, .json or .jsonl files.",
        )
        return
    limit = max_bytes_for(kind)
    try:
        handle = _open_regular(path)
        if handle is None:
            yield ReadFailure(
                source, f"{source} is not a regular file; give a .txt, .md, .html or .json file."
            )
            return
        with handle:
            if kind == "jsonl":
                yield from _stream_jsonl(handle, path.name, source)
                return
            if os.fstat(handle.fileno()).st_size > limit:
                yield ReadFailure(source, too_large(source, limit))
                return
            data = handle.read(limit + 1)  # the file may have grown since fstat
        if len(data) > limit:
            yield ReadFailure(source, too_large(source, limit))
            return
    except OSError as exc:
        yield ReadFailure(source, f"{source} cannot be read ({exc.strerror or exc}); check the path.")
        return
    yield from articles_from_bytes(data, source, kind, **meta)


def iter_folder(folder: Path) -> Iterator[Path | ReadFailure]:
    """Supported files in a folder, recursively, in a stable order (a folder's files, then each of
    its folders in turn); hidden entries and Clippings index cache folders (such as clippings.db.index/
    beside the database) are skipped, and so are links to folders (a link to a parent would loop).

    The walk keeps its own stack, so a tree of any depth is read; a folder that cannot be listed is
    a ReadFailure in its place, and the rest is still read. So is a link to a file outside the
    folder: whoever could write to the folder could otherwise have it read (and quoted to anyone
    who asks) a file of the user's own, such as a .env that holds the bot's token."""
    inside = os.path.realpath(folder)
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as exc:
            shown = shown_path(str(current))
            yield ReadFailure(
                shown, f"{shown} cannot be listed ({exc.strerror or exc}); fix that folder and add it again."
            )
            continue
        if any(entry.name == INDEX_MARKER for entry in entries):
            continue
        folders: list[Path] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if _is_folder(entry, follow_symlinks=False):
                folders.append(Path(entry.path))
            elif kind_for_name(entry.name) and not _is_folder(entry, follow_symlinks=True):
                if _is_link(entry) and not _within(os.path.realpath(entry.path), inside):
                    shown = shown_path(entry.path)
                    yield ReadFailure(
                        shown,
                        f"{shown} links to a file outside {shown_path(str(folder))}, so it was not read;"
                        " add that file by its own name if it is an article.",
                    )
                    continue
                yield Path(entry.path)
        stack.extend(reversed(folders))


def _is_link(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_symlink()
    except OSError:
        return False


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _is_folder(entry: os.DirEntry[str], follow_symlinks: bool) -> bool:
    try:
        return entry.is_dir(follow_symlinks=follow_symlinks)
    except OSError:
        return False


def read_path(source: str, **meta: str | None) -> Iterator[Article | ReadFailure]:
    """Articles from a file or a folder (recursively). URLs and stdin are read by the caller."""
    path = Path(source)
    source = shown_path(source)
    if path.is_dir():
        files = list(iter_folder(path))
        if not files:
            yield ReadFailure(
                source,
                f"{source} holds no .txt, .md, .html or .json files; give a folder or file that holds articles.",
            )
        for file in files:
            if isinstance(file, ReadFailure):
                yield file
            else:
                yield from read_file(file)
    elif path.exists():
        yield from read_file(path, **meta)
    else:
        yield ReadFailure(source, f"{source} does not exist; check the path.")
