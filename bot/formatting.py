"""Pure functions that turn search results into Discord messages within Discord's limits.

Nothing here talks to Discord: every function takes data and returns text or embeds, so the limits
(content 2000, embed title 256, description 4096, footer 2048, 6000 across a message's embeds,
10 embeds) are tested at their edges without a network.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from dataclasses import dataclass

import discord
import yarl

from index import Hit, Passage, SearchResponse, StoredArticle, tokenize_spans

log = logging.getLogger(__name__)

CONTENT_LIMIT = 2000
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_FOOTER_LIMIT = 2048
EMBEDS_TOTAL_LIMIT = 6000
EMBEDS_PER_MESSAGE = 10
URL_LIMIT = 2048
CHOICE_NAME_LIMIT = 100
ELLIPSIS = "…"
COLOUR = discord.Colour.from_rgb(70, 110, 160)

# Characters that Discord markdown gives a meaning anywhere in a line, including masked links
# ([text](url)) and mention or timestamp syntax (<@id>, <t:...>).
_INLINE_MARKDOWN = re.compile(r"([\\*_~`|\[\]<])")
# Characters that mean something only at the start of a line: headings, lists, quotes.
_LINE_START = re.compile(r"^(\s*)(#{1,3} |-# |[-+*] |>)", re.MULTILINE)
# An ordered-list marker is neutralised by escaping its dot: Discord shows a backslash before a digit.
_ORDERED_LIST = re.compile(r"^(\s*\d+)(\. )", re.MULTILINE)
# \s is str.isspace's whitespace.
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f]")


# Whatever `escape` changes starts with one of these: a markdown character, or the first character of
# a line-start pattern after its leading spaces. Most text has none, and is returned as it is.
_MAYBE_MARKDOWN = re.compile(r"[\\*_~`|\[\]<]|^\s*[#\-+*>\d]", re.MULTILINE)


# A web link as Discord's autolinker reads it (discord.utils' own pattern, without backslashes):
# Discord shows a link's characters as they are, so escapes or bold inside one would change it.
_URL = re.compile(r"https?://[^\s<\\]+[^\s<\\.,:;\"'\]]")


def url_spans(text: str) -> list[tuple[int, int]]:
    """Where the web links are in a text, as (start, end) offsets."""
    return [m.span() for m in _URL.finditer(text)] if "://" in text else []


def escape(text: str) -> str:
    """Escape Discord markdown so that quoted text shows exactly as written; web links are left as
    they are, since Discord shows a link's characters literally."""
    if _MAYBE_MARKDOWN.search(text) is None:
        return text
    pieces: list[str] = []
    cursor = 0
    for start, end in url_spans(text):
        pieces += [_INLINE_MARKDOWN.sub(r"\\\1", text[cursor:start]), text[start:end]]
        cursor = end
    pieces.append(_INLINE_MARKDOWN.sub(r"\\\1", text[cursor:]))
    # A link never starts a line with a heading or list marker, so these never touch one.
    text = _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), "".join(pieces))
    return _ORDERED_LIST.sub(r"\1\\\2", text)


def unescape(text: str) -> str:
    """The text `escape` was given: every backslash that `escape` writes introduces one character."""
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)


def truncate(text: str, limit: int) -> str:
    """Cut text to at most `limit` characters, marking the cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def escape_within(text: str, limit: int) -> str:
    """`escape(text)` in at most `limit` characters: the text is cut (marked …) before escaping, so
    that no escape is cut in half."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    # Longest prefix whose escaped form fits, found by bisection.
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if len(escape(text[:middle].rstrip())) + len(ELLIPSIS) <= limit:
            low = middle
        else:
            high = middle - 1
    return escape(text[:low].rstrip()) + ELLIPSIS


def embed_title(title: str) -> str:
    """An article's title as an embed title: Discord renders markdown there (a spoiler, bold), so it
    is escaped to show as written."""
    return escape_within(title, EMBED_TITLE_LIMIT)


def fit_sentence(text: str, limit: int) -> str:
    """A sentence cut to `limit` characters by shortening its web links first (their middle goes), so
    that the sentence keeps its end, which says what to do next; cut at the end only if that is not
    enough."""
    shorter = text
    for start, end in sorted(url_spans(text), key=lambda span: span[0] - span[1]):  # longest first
        over = len(shorter) - limit
        if over <= 0:
            break
        link = text[start:end]
        keep = max(len(link) - over - len(ELLIPSIS), 24)
        if keep >= len(link) - len(ELLIPSIS):
            continue
        short = link[: keep - keep // 3] + ELLIPSIS + link[len(link) - keep // 3 :]
        shorter = shorter.replace(link, short, 1)
    return truncate(shorter, limit)


def highlight(text: str, terms: tuple[str, ...] | list[str]) -> str:
    """Escape a passage and put its words that match the question's terms in bold."""
    wanted = set(terms)
    links = url_spans(text)
    # Matches that overlap or touch are one bold stretch: the terms of Chinese or Japanese overlap
    # (a character and its pair), and "**a****b**" is not bold in Discord.
    bold: list[list[int]] = []
    for term, start, end in tokenize_spans(text):
        if term in wanted and not any(a <= start < b for a, b in links):
            if bold and start <= bold[-1][1]:
                bold[-1][1] = max(bold[-1][1], end)
            else:
                bold.append([start, end])
    pieces: list[str] = []
    cursor = 0
    for start, end in bold:
        pieces.append(escape(text[cursor:start]))
        pieces.append(f"**{escape(text[start:end])}**")
        cursor = end
    pieces.append(escape(text[cursor:]))
    return "".join(pieces)


def block_quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


def quote_passage(passage_text: str, terms: tuple[str, ...] | list[str], limit: int) -> str:
    """The passage as a block quote with matched words in bold, within `limit` characters.

    If bold and escapes make it too long, bold goes first; only then is the quote cut (marked …).
    """
    quoted = block_quote(highlight(passage_text, terms))
    if len(quoted) <= limit:
        return quoted
    quoted = block_quote(escape(passage_text))
    if len(quoted) <= limit:
        return quoted
    # Longest prefix whose escaped quote fits, found by bisection.
    low, high = 0, len(passage_text)
    while low < high:
        middle = (low + high + 1) // 2
        if len(block_quote(escape(passage_text[:middle]))) + len(ELLIPSIS) <= limit:
            low = middle
        else:
            high = middle - 1
    return block_quote(escape(passage_text[:low].rstrip())) + ELLIPSIS


def safe_url(url: str | None) -> str | None:
    """An http(s) link Discord will accept in an embed, or None."""
    if not url or len(url) > URL_LIMIT or _SPACE_OR_CONTROL.search(url):
        return None
    try:
        parsed = yarl.URL(url)
    except ValueError:
        return None
    return url if parsed.scheme in ("http", "https") and parsed.host else None


def article_footer(article: StoredArticle, passage: Passage) -> str:
    parts = []
    if article.published:
        parts.append(article.published)
    parts.append(f"passage {passage.index + 1} of {article.passage_count}")
    parts.append(f"article #{article.id}")
    return truncate(" · ".join(parts), EMBED_FOOTER_LIMIT)


def hit_embed(hit: Hit) -> discord.Embed:
    """One quoted passage: the quote, the article's title linked to its URL, date and position."""
    embed = discord.Embed(
        title=embed_title(hit.article.title),
        url=safe_url(hit.article.url),
        description=quote_passage(hit.passage.text, hit.matched_terms, EMBED_DESCRIPTION_LIMIT),
        colour=COLOUR,
    )
    embed.set_footer(text=article_footer(hit.article, hit.passage))
    return embed


@dataclass(frozen=True, slots=True)
class AnswerPage:
    content: str
    embeds: list[discord.Embed]
    shown: int
    """How many of the response's hits this page holds (the rest go to the next page)."""


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def answer_page(response: SearchResponse, first_rank: int | None = None) -> AnswerPage:
    """A message with as many of the response's hits as fit within Discord's limits."""
    embeds: list[discord.Embed] = []
    total = 0
    for hit in response.hits:
        embed = hit_embed(hit)
        size = len(embed)
        if embeds and (total + size > EMBEDS_TOTAL_LIMIT or len(embeds) == EMBEDS_PER_MESSAGE):
            break
        embeds.append(embed)
        total += size
    start = first_rank if first_rank is not None else (response.hits[0].rank if response.hits else 1)
    end = start + len(embeds) - 1
    label = f"Result {start}" if start == end else f"Results {start}–{end}"
    content = truncate(f"{label} for “{escape(response.question)}”", CONTENT_LIMIT)
    return AnswerPage(content, embeds, len(embeds))


# A reply sent to the channel instead (`errors.reply_to`) starts with the asker's mention.
_ASKER = r"(?:<@\d+> )?"
_ANSWER_CONTENT = re.compile(_ASKER + r"Results? \d+(?:–\d+)? for “(?P<question>.*)”", re.DOTALL)


def question_key(question: str) -> str:
    """A short fingerprint of a question, carried by a More button to recognise its question later."""
    return hashlib.sha256(question.encode()).hexdigest()[:10]


def passage_key(text: str) -> str:
    """A short fingerprint of a passage's text, carried by a Context button: an article updated in
    place keeps its id and passage numbers, but not the text the answer quoted."""
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def question_of_answer(content: str | None, key: str) -> str | None:
    """The question an answer's content shows, if it reads back whole and matches `key`; else None."""
    found = _ANSWER_CONTENT.fullmatch(content or "")
    if found is None:
        return None
    question = unescape(found["question"])
    return question if question_key(question) == key else None


def cooldown_sentence(retry_after: float) -> str:
    """The refusal of a question asked within the cooldown; the wait is rounded up, never to 0 s."""
    return f"You're asking quickly! Please wait {max(1, math.ceil(retry_after))} s before the next question."


def help_text(server_articles: int | None, global_articles: int, newsroom_channel: int | None) -> str:
    """The /help reply; `server_articles` is None in direct messages."""
    if server_articles is None:
        library = f"Here in direct messages I read the global library: {plural(global_articles, 'article')}."
    else:
        library = (
            f"This server has {plural(server_articles, 'article')}; I also read the global library"
            f" ({plural(global_articles, 'article')})."
        )
    newsroom = (
        f" Articles that moderators post in <#{newsroom_channel}> are added too."
        if newsroom_channel
        else " A moderator can also pick a newsroom channel with `/newsroom set`, whose posts become articles."
    )
    text = (
        "**What I answer**: questions about the news articles added here. Every answer is an exact quote"
        " from an article, with its title, link and date; I never write an answer of my own.\n\n"
        "**How to ask**: `/ask` with your question, such as *what did the minister say about the budget*"
        " (`private: True` shows the answer to you alone), or mention me followed by the question, or"
        " reply to my answer (in direct messages, just send it)."
        " **More** shows the next passages and **Context** the passages around a quote.\n\n"
        f"**Articles**: {library}\n\n"
        "**Who adds articles**: moderators (members with the Manage Messages permission), with"
        " `/article add` and a link or a file (or neither, to paste the text), or the message command"
        f" *Add as article*.{newsroom} The bot's operator can add articles from the command line."
    )
    return truncate(text, CONTENT_LIMIT)


def nothing_found(response: SearchResponse, recent_titles: list[str], scope: str) -> str:
    """A short, helpful reply when no passage matched."""
    text = (
        f"No passage matches “{escape(response.question)}” in {plural(response.searched_articles, 'article')}"
        f" ({scope})."
    )
    if response.searched_articles == 0:
        text += " No articles have been added yet: a moderator can add one with `/article add`."
    else:
        text += " Try fewer or different words"
        if recent_titles:
            titles = "; ".join(escape(truncate(t, 80)) for t in recent_titles)
            text += f", or ask about a recent article: {titles}"
        text += "."
    return truncate(text, CONTENT_LIMIT)


def context_embed(article: StoredArticle, passages: list[Passage], focus: int) -> discord.Embed:
    """The passages around one passage, the focused one marked, within one embed's limits."""
    embed = discord.Embed(title=embed_title(article.title), url=safe_url(article.url), colour=COLOUR)
    budget = EMBED_DESCRIPTION_LIMIT
    parts = []
    for passage in passages:
        marker = "▶ " if passage.index == focus else ""
        part = f"{marker}*passage {passage.index + 1}*\n" + quote_passage(passage.text, [], budget // 3)
        parts.append(part)
    embed.description = truncate("\n\n".join(parts), EMBED_DESCRIPTION_LIMIT)
    embed.set_footer(
        text=truncate(f"article #{article.id} · {plural(article.passage_count, 'passage')}", 2048)
    )
    return embed


def article_summary(article: StoredArticle, status: str | None = None) -> str:
    """One line that says what was stored, for a moderator."""
    verb = {"added": "Added", "updated": "Updated", "unchanged": "Already stored:"}.get(status or "", "")
    line = f"{verb} **{escape(truncate(article.title, 200))}** (article #{article.id}, {plural(article.passage_count, 'passage')})"
    return line.strip()


def article_embed(article: StoredArticle, text: str) -> discord.Embed:
    """An article's details and the start of its text."""
    embed = discord.Embed(
        title=embed_title(article.title),
        url=safe_url(article.url),
        description=quote_passage(truncate(text, 1500), [], EMBED_DESCRIPTION_LIMIT),
        colour=COLOUR,
    )
    details = [
        f"article #{article.id}",
        plural(article.passage_count, "passage"),
        f"{article.chars} characters",
    ]
    if article.published:
        details.insert(1, article.published)
    embed.set_footer(text=truncate(" · ".join(details), EMBED_FOOTER_LIMIT))
    return embed


def article_list_page(articles: list[StoredArticle], page: int, pages: int, total: int) -> discord.Embed:
    lines = [
        f"`#{a.id}` {escape(truncate(a.title, 120))} · {plural(a.passage_count, 'passage')}" for a in articles
    ]
    embed = discord.Embed(
        title=f"Articles ({total})",
        description=truncate("\n".join(lines) or "No articles yet.", EMBED_DESCRIPTION_LIMIT),
        colour=COLOUR,
    )
    embed.set_footer(text=f"page {page + 1} of {max(pages, 1)}")
    return embed


def choice_name(article: StoredArticle) -> str:
    """An autocomplete choice label (at most 100 characters) naming the article and its id."""
    suffix = f" (#{article.id})"
    return truncate(article.title, CHOICE_NAME_LIMIT - len(suffix)) + suffix


def no_answer(response: SearchResponse, scope: str) -> str:
    """One sentence in place of quotes when the passages found do not answer the question."""
    text = (
        f"I couldn't find an answer to “{escape(response.question)}” in {scope}"
        f" ({plural(response.searched_articles, 'article')} searched)."
        " The closest passages are not an answer; you can still look at them with the button below."
    )
    return truncate(text, CONTENT_LIMIT)


_NO_ANSWER_CONTENT = re.compile(
    _ASKER
    + r"I couldn't find an answer to “(?P<question>.*)” in [^“”]* \([0-9]+ articles? searched\)\. The closest.*",
    re.DOTALL,
)


def question_of_no_answer(content: str | None, key: str) -> str | None:
    """The question a no-answer reply shows, if it reads back whole and matches `key`; else None."""
    found = _NO_ANSWER_CONTENT.fullmatch(content or "")
    if found is None:
        return None
    question = unescape(found["question"])
    return question if question_key(question) == key else None


def closest_page(response: SearchResponse) -> AnswerPage:
    """The closest passages of a question with no answer, labelled as not an answer."""
    page = answer_page(response)
    content = truncate(
        f"Closest passages for “{escape(response.question)}”: not an answer, only the nearest text found",
        CONTENT_LIMIT,
    )
    return AnswerPage(content, page.embeds, page.shown)
