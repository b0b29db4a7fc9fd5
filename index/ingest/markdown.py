"""Markdown as the words a reader sees: an article written in Markdown is stored and quoted without
its markup ("**Breaking**" is "Breaking", "[Reuters](https://…)" is "Reuters").

Parsed by markdown-it-py (CommonMark, with GitHub's strikethrough and tables). Each block is a
paragraph of the text; a list's items keep their markers ("- ", "1. ") on a line each, a table's rows
are lines of cells joined by " | ", code keeps its lines, images and HTML tags are left out.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import lxml.etree
import lxml.html
from markdown_it import MarkdownIt
from markdown_it.token import Token

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})

_SKIPPED_INLINE = frozenset({"image", "html_inline"})
_LINE_BREAKS = frozenset({"softbreak", "hardbreak"})
_DISCORD_SPOILER = re.compile(r"\|\|(.+?)\|\|", re.DOTALL)
_DISCORD_SMALL_TEXT = re.compile(r"^[ \t]*-# ", re.MULTILINE)
""""-# " opens a line of small text in Discord; CommonMark would read a list item holding a heading."""


@functools.cache
def _parser(html: bool) -> MarkdownIt:
    # Parsing keeps its state per call, so one parser serves every thread.
    return MarkdownIt("commonmark", {"html": html}).enable(["strikethrough", "table"])


def markdown_to_text(source: str, discord: bool = False) -> str:
    """The text of a Markdown document, without its markup. In a Markdown file, HTML tags are left
    out and an HTML block gives its text. In a Discord post (`discord`), which has no HTML, a tag is
    text like any other ("<Reuters>" stays, as do mentions such as "<@123>"), and Discord's own
    spoilers ("||…||") and small text ("-# …") are read as their words."""
    if discord:
        source = _DISCORD_SMALL_TEXT.sub("", _DISCORD_SPOILER.sub(r"\1", source))
    blocks: list[str] = []
    lists: list[int | None] = []
    """The open lists, innermost last: the next item's number, or None for a bullet list."""
    item_marker = ""
    row: list[str] | None = None
    first_row = True
    tight_item = False
    """The block just started is a list item's line, written under the one before it."""
    for token in _parser(html=not discord).parse(source):
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            start = token.attrGet("start")
            lists.append(None if kind == "bullet_list_open" else int(start) if start is not None else 1)
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif kind == "list_item_open":
            number = lists[-1]
            item_marker = f"{token.markup} " if number is None else f"{number}{token.markup} "
            if number is not None:
                lists[-1] = number + 1
            tight_item = True
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close" and row is not None:
            _add(blocks, " | ".join(row), under_previous=not first_row)
            row, first_row = None, False
        elif kind == "table_close":
            first_row = True
        elif kind == "inline":
            text = _inline_text(token.children or ()).strip()
            if row is not None:
                row.append(text)
                continue
            text, item_marker = item_marker + text, ""
            _add(blocks, text, tight_item)
            tight_item = False
        elif kind in ("fence", "code_block"):
            _add(blocks, item_marker + token.content.rstrip("\n"), tight_item)
            item_marker, tight_item = "", False
        elif kind == "html_block":
            _add(blocks, _html_text(token.content), False)
    return "".join(blocks).strip()


def _add(blocks: list[str], text: str, under_previous: bool) -> None:
    if not text.strip():
        return
    blocks.append(("\n" if under_previous else "\n\n") + text if blocks else text)


def _inline_text(children: Sequence[Token]) -> str:
    parts: list[str] = []
    for child in children:
        if child.type in _SKIPPED_INLINE:
            continue
        if child.type in _LINE_BREAKS:
            parts.append("\n")
        elif child.type in ("text", "code_inline"):
            parts.append(child.content)
    return "".join(parts)


def _html_text(block: str) -> str:
    """The words of an HTML block in a Markdown file (a <div> of text, a <table>)."""
    try:
        return " ".join(lxml.html.fragment_fromstring(block, create_parent="div").text_content().split())
    except (ValueError, lxml.etree.ParserError):
        return ""
