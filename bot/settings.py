"""The bot's settings: index's one settings source (also the CLI's), plus the token the bot needs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from index import Settings, SettingsError
from index import load_settings as load_shared_settings

__all__ = ["Settings", "SettingsError", "load_settings"]


def load_settings(env_file: str | Path | None = ".env", environ: Mapping[str, str] | None = None) -> Settings:
    """The shared settings; the bot refuses to start without a token."""
    settings = load_shared_settings(env_file, environ)
    if not settings.token:
        raise SettingsError(
            "DISCORD_TOKEN is not set; put the bot token in .env or the environment (see .env.example)."
        )
    return settings
