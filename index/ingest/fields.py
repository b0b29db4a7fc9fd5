"""Rules for the fields of an article and for library names, shared by the CLI and the bot."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from ..errors import BadInput

LIBRARY_MAX = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def is_web_link(text: str) -> bool:
    """True for text that starts with http:// or https://, in any case: a scheme is case-insensitive,
    and a phone keyboard writes "Https://" at the start of a field."""
    return text[:8].lower().startswith(("http://", "https://"))


def check_url(url: str | None) -> str | None:
    """An article's link: http(s) with a host, no spaces or control characters; BadInput otherwise.

    The link is kept without a user name, password or #fragment (see `without_secrets`), so the same
    page is one article however it was linked, and no password is stored.
    """
    if url is None or not url.strip():
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise BadInput(
            f"{shown(hide_credentials(url))!r} is not an http or https link; give the article's web address."
        )
    if _CONTROL.search(url) or any(ch.isspace() for ch in url):
        raise BadInput(
            f"{shown(hide_credentials(url))!r} holds spaces or control characters; give the link as one line."
        )
    return without_secrets(url)


_CREDENTIALS = re.compile(r"(?<=//)[^/?#@\s]*@")


def hide_credentials(text: str) -> str:
    """Text naming a link, without the "user:password@" after its "//", even where the link cannot
    be parsed (for messages)."""
    return _CREDENTIALS.sub("", text)


def without_secrets(url: str) -> str:
    """A link without the user name and password before its host, or the #fragment after its path.

    Left alone otherwise (not re-encoded), so links stored before read the same.
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc and "#" not in url:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], fragment=""))


def check_library(name: str) -> str:
    """A library name: 1 to 100 printable characters; BadInput otherwise."""
    if not name or len(name) > LIBRARY_MAX or not name.isprintable() or _CONTROL.search(name):
        raise BadInput(f"{shown(name)!r} is not a library name; use 1 to {LIBRARY_MAX} printable characters.")
    return name


def check_new_library(name: str) -> str:
    """A library to add to: a library name (check_library) without spaces at its start or end,
    which would make a second library that looks like the first ("global " beside "global").
    Names stored before this rule can still be read and emptied with check_library."""
    check_library(name)
    if name != name.strip():
        raise BadInput(f"{shown(name)!r} has spaces at its start or end; give the library name without them.")
    return name


def clean_title(title: str) -> str:
    """A title on one line: control characters (newlines too) become spaces, runs of spaces one."""
    return " ".join(_CONTROL.sub(" ", title).split())


def shown(text: str | None) -> str:
    """Text as it may be printed on one line: control characters and bytes that were not UTF-8
    (surrogate escapes) become U+FFFD, so a stored field can never break a line of output."""
    if not text:
        return ""
    return _CONTROL.sub("\ufffd", text)


def shown_path(path: str) -> str:
    """A file name as it may be printed: bytes that are not UTF-8 shown as U+FFFD."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
