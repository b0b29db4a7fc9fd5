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


class DatabaseError(ClippingsError):
    """The database file is corrupt, foreign, or from a newer version."""


class NotFound(ClippingsError):
    """No article with that id in the libraries this caller may read."""


class EncoderUnavailable(ClippingsError):
    """The sentence encoder cannot run: the rerank extra is not installed, or its model file is bad."""
