"""Turn what moderators give the bot (links, attachments, pasted text, posts) into articles."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re

import discord

from index import (
    Article,
    BadInput,
    FetchSettings,
    ReadFailure,
    article_from_text,
    articles_from_bytes,
    fetch_url,
    hide_credentials,
    is_web_link,
    max_bytes_for,
)

from .formatting import truncate

log = logging.getLogger(__name__)

ATTACHMENT_KINDS = {".txt": "text", ".md": "text", ".markdown": "text", ".html": "html", ".htm": "html"}
URL_PATTERN = re.compile(r"https?://[^\s<>]+", re.IGNORECASE)  # "Https://" from a phone keyboard too
MIN_POST_CHARS = 200
"""A newsroom post without a link or file counts as an article from this length on."""


TRAILING_PUNCTUATION = ".,;:!?'\""
TRAILING_MARKDOWN = "*_|~`"
"""Bold, italics, spoilers, strike-through and code around a link; Discord's autolinker drops them too."""
CLOSING_BRACKETS = {")": "(", "]": "["}


def _unopened(url: str) -> bool:
    """Whether the link ends in a ) or ] that it did not open, as in "(see https://x.test/a)"."""
    opening = CLOSING_BRACKETS.get(url[-1])
    return opening is not None and url.count(opening) < url.count(url[-1])


def _trim_link(url: str) -> str:
    """Drop trailing punctuation and markdown, and a closing bracket only when the link never opened it."""
    while url and (url[-1] in TRAILING_PUNCTUATION + TRAILING_MARKDOWN or _unopened(url)):
        url = url[:-1]
    return url


def links_in(text: str) -> list[str]:
    """http(s) links in a message, without trailing punctuation, markdown or Discord's <> suppression."""
    links = (_trim_link(m.group()) for m in URL_PATTERN.finditer(text or ""))
    return [link for link in links if URL_PATTERN.fullmatch(link)]


def shows_anything(text: str) -> bool:
    """Whether a text has a character Discord shows: not only spaces, zero-width or control characters."""
    return any(character.isprintable() and not character.isspace() for character in text)


QUOTED_INPUT_CHARS = 100
"""How much of something that is not a link a refusal quotes."""


def clean_link(text: str) -> str:
    """A link as members paste it, without the spaces around it or the <> that stop Discord's preview."""
    link = text.strip()
    if link.startswith("<") and link.endswith(">"):
        link = link[1:-1].strip()
    return link


async def article_from_url(url: str, settings: FetchSettings) -> Article:
    url = clean_link(url)
    if not is_web_link(url):
        shown = truncate(hide_credentials(url), QUOTED_INPUT_CHARS)  # ftp://user:password@host
        raise BadInput(f"{shown} is not a web link; give a link that starts with https://.")
    return await fetch_url(url, settings)


def _first_article(results: list[Article | ReadFailure], name: str) -> Article:
    for result in results:
        if isinstance(result, Article):
            return result
    failures = [result for result in results if isinstance(result, ReadFailure)]
    reason = (
        failures[0].reason if failures else f"{name} holds no article; attach a file with the article's text."
    )
    raise BadInput(reason)


def _attachment_kind(attachment: discord.Attachment) -> str | None:
    """The kind ("text" or "html") of a file the bot reads, by its suffix; None for other files."""
    name = attachment.filename
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return ATTACHMENT_KINDS.get(suffix)


async def article_from_attachment(attachment: discord.Attachment, settings: FetchSettings) -> Article:
    """Read a .txt, .md or .html attachment; refuse big or other files before downloading them."""
    name = attachment.filename
    kind = _attachment_kind(attachment)
    if kind is None:
        raise BadInput(f"{name} is not a .txt, .md or .html file; attach the article as one of those.")
    limit = min(settings.max_bytes, max_bytes_for(kind))
    if attachment.size > limit:
        raise BadInput(f"{name} is larger than {limit // (1024 * 1024)} MB; attach a smaller file.")
    try:
        data = await attachment.read()
    except discord.HTTPException as exc:
        raise BadInput(f"{name} could not be downloaded from Discord ({exc.status}); try again.") from None
    if len(data) > limit:
        raise BadInput(f"{name} is larger than {limit // (1024 * 1024)} MB; attach a smaller file.")
    results = await asyncio.to_thread(lambda: list(articles_from_bytes(data, name, kind)))
    return _first_article(results, name)


TITLE_FROM_TEXT_CHARS = 100


def article_from_post(text: str, source: str, title: str | None = None, url: str | None = None) -> Article:
    """Pasted or posted text as an article; a headline line, else its opening words, is the title."""
    article = article_from_text(text, source, "discord", title=title, url=url)
    if not title and article.title == source:
        opening = article.text.split("\n", 1)[0]
        article.title = (
            opening
            if len(opening) <= TITLE_FROM_TEXT_CHARS
            else opening[:TITLE_FROM_TEXT_CHARS].rsplit(" ", 1)[0] + "…"
        )
    return article


def _post_text(message: discord.Message) -> str:
    """A message's text without its mentions of the bot: a post mentions the bot so that the bot,
    without the Message Content intent, can read it (as /newsroom set says); the mention is no part
    of the article, and would head its title and its first quote. The bot's own role counts too:
    Discord offers it beside the bot when a moderator types @Clippings."""
    me = message.guild.me if message.guild is not None else None
    if me is None:
        return message.content
    mentions = [rf"@!?{me.id}"]
    role = me.guild.self_role
    if role is not None:
        mentions.append(rf"@&{role.id}")
    return re.sub(rf"<(?:{'|'.join(mentions)})>[ \t]*", "", message.content).strip()


def _post_title(message: discord.Message) -> str | None:
    """A forum post's title (its thread's name) for the text of its starter message, which shares
    the thread's id; None for any other message."""
    channel = message.channel
    if isinstance(channel, discord.Thread) and channel.id == message.id and channel.name.strip():
        return channel.name.strip()
    return None


def _what_to_read(message: discord.Message) -> tuple[str, str | discord.Attachment] | None:
    """What `article_from_message` reads a message's article from, in its order: ("file", its first
    .txt/.md/.html file), else ("link", its first link), else ("text", its text if article-length),
    else ("other file", a file it cannot read); None for an ordinary short message."""
    readable = [attachment for attachment in message.attachments if _attachment_kind(attachment)]
    if readable:
        return "file", readable[0]
    links = links_in(message.content)
    if links:
        return "link", links[0]
    text = _post_text(message)
    if len(text) >= MIN_POST_CHARS:
        return "text", text
    if message.attachments:
        return "other file", message.attachments[0]
    return None


def looks_like_article(message: discord.Message) -> bool:
    """Whether `article_from_message` reads the message as an article or refuses it, rather than
    passing it over as an ordinary short message: it has a file, a link or article-length text."""
    return _what_to_read(message) is not None


async def article_from_message(message: discord.Message, settings: FetchSettings) -> Article | None:
    """A message's first .txt/.md/.html file, else its first link, else its text if article-length.

    Photos and other files beside a link or text are passed over; a message with nothing usable but
    such a file is refused with what to attach instead, and one with nothing at all gives None."""
    match _what_to_read(message):
        case ("file", discord.Attachment() as attachment):
            return await article_from_attachment(attachment, settings)
        case ("link", str(link)):
            return await article_from_url(link, settings)
        case ("text", str(text)):
            return article_from_post(text, "The message", title=_post_title(message), url=message.jump_url)
        case ("other file", discord.Attachment() as attachment):
            raise BadInput(
                f"{attachment.filename} is not a .txt, .md or .html file; attach the article as one of"
                " those or post its link."
            )
    return None


def post_source(message: discord.Message) -> str | None:
    """What `article_from_message` reads the message's article from, as a short key: its file,
    its link or (a digest of) its text; None for an ordinary short message. An edit that leaves
    the key alone (link previews, a pin, the words around a link) leaves the article alone too."""
    match _what_to_read(message):
        case ("file" | "other file", discord.Attachment() as attachment):
            return f"file:{attachment.id}"
        case ("link", str(link)):
            return f"link:{link}"
        case ("text", str(text)):
            return "text:" + hashlib.sha256(text.encode()).hexdigest()[:32]
    return None
