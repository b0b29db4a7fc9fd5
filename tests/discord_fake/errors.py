"""Errors the fake raises, and Discord-style API errors it answers with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class FakeDiscordError(Exception):
    """A test used the fake in a way it (or real Discord) cannot support."""


class InteractionNotAllowed(FakeDiscordError):
    """Real Discord would not let this user trigger this interaction at all
    (missing ``default_member_permissions``, command unavailable in DMs,
    disabled button, value not among the select options...)."""


class BotFailure(AssertionError):
    """The bot under test crashed or logged an error (see ``BotRunner``)."""


class WaitTimeout(AssertionError):
    """A ``wait_*`` helper ran out of time."""


class ApiError(Exception):
    """Raised inside request handlers to answer with a Discord-style error."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: dict | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict:
        data: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            data["errors"] = self.errors
        return data


def _not_found(code: int, what: str) -> ApiError:
    return ApiError(404, code, f"Unknown {what}")


def _missing_permissions() -> ApiError:
    return ApiError(403, 50013, "Missing Permissions")


class _FormErrors:
    """Collects Discord's nested ``errors`` tree for a 50035 response."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: Sequence[str | int], code: str, message: str) -> None:
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def __bool__(self) -> bool:
        return bool(self.tree)

    def raise_if_any(self) -> None:
        if self.tree:
            raise ApiError(400, 50035, "Invalid Form Body", self.tree)
