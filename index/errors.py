"""Errors that carry one clear sentence for the person who caused them."""

from __future__ import annotations


class ClippingsError(Exception):
    """An expected failure. Its message is one sentence that says what to do next."""


class BadInput(ClippingsError):
    """The input cannot become an article: unreadable, unsupported, binary or empty."""


class FetchError(BadInput):
    """A URL could not be fetched, or what it returned is refused."""


class NoSearchableWords(ClippingsError):
    """A question with no words that can be searched."""

    def __init__(
        self, message: str = "That question has no words to search for; ask with a few key words."
    ) -> None:
        super().__init__(message)


class QuestionTooLong(BadInput):
    """A question longer than the limit both front ends share (index.settings.MAX_QUESTION_CHARS).
    `subject` names the question: a line of `ask -` says which line it is."""

    def __init__(self, length: int, limit: int, subject: str = "That question") -> None:
        super().__init__(
            f"{subject} is {length:,} characters long; ask it again in at most {limit:,} characters."
        )
        self.length = length
        self.limit = limit


class DatabaseError(ClippingsError):
    """The database file is corrupt, foreign, or from a newer version."""


class ArticleRefused(ClippingsError):
    """The database refused, or failed, to store one article (see index.models.AddFailure)."""


class NotFound(ClippingsError):
    """No article with that id in the libraries this caller may read. `what` says which; the
    sentence points at the command that lists the ids (`list` in the CLI; the bot names its own)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what

    def listing(self, command: str) -> str:
        return f"{self.what}; use `{command}` to see the ids."

    def __str__(self) -> str:
        return self.listing("list")


class EncoderUnavailable(ClippingsError):
    """The sentence encoder cannot run: the rerank extra is not installed, or its model file is bad."""


DISK_FULL = "the disk is full; free space and try again"


def describe_os_error(exc: OSError) -> str:
    """The real cause of a failed file operation, in words a person can act on."""
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return DISK_FULL
    if exc.errno == errno.EIO:
        return "the disk reported an input/output error; check the disk and try again"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"the file cannot be written ({exc.strerror}); check its permissions"
    return str(exc.strerror or exc)


def database_error_message(path: str, exc: Exception) -> str:
    """One sentence for an SQLite error met after opening: the cause as SQLite names it, and a
    restore advice only when the file itself is damaged."""
    import sqlite3

    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(exc)
    if primary == sqlite3.SQLITE_FULL or "disk is full" in text:
        return f"{path} could not be written: {DISK_FULL}. Nothing of this change was stored."
    if primary == sqlite3.SQLITE_IOERR or "disk I/O error" in text:
        return (
            f"{path} could not be written or read (the disk reported an I/O error); check the disk"
            " and free space, then try again."
        )
    if primary == sqlite3.SQLITE_READONLY or "readonly" in text:
        return f"{path} is read-only; give it write access or point --db at another file."
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in text:
        return f"{path} is busy in another process; try again in a moment."
    return f"{path} could not be read ({exc}); restore it from a backup or point --db at another file."
