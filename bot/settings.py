"""The bot's settings: index's one settings source (also the CLI's), plus the token the bot needs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from index import Settings, SettingsError
from index import load_settings as load_shared_settings

__all__ = ["Settings", "SettingsError", "load_settings"]


def load_settings(env_file: str | Path | None = ".env", environ: Mapping[str, str] | None = None) -> Settings:
    """The shared settings; the bot refuses to start without a token, or with one that could not be
    sent to Discord (a header may not hold spaces, control characters or non-ASCII letters)."""
    settings = load_shared_settings(env_file, environ)
    if not settings.token:
        raise SettingsError(
            "DISCORD_TOKEN is not set; put the bot token in .env or the environment (see .env.example)."
        )
    if not re.fullmatch(r"[!-~]+", settings.token):
        # Never quote the token, not even in part: this sentence ends up in logs and terminals.
        raise SettingsError(
            "DISCORD_TOKEN has a space, line break or other character that a bot token never has;"
            " copy the token again from the developer portal (Bot > Reset Token)."
        )
    return settings
