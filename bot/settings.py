"""The bot's settings, read once at start from the environment and a `.env` file."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from index import FetchSettings

from .shards import ShardError, parse_shards

log = logging.getLogger(__name__)

DEFAULT_MAX_FETCH_BYTES = 5 * 1024 * 1024


class SettingsError(Exception):
    """A missing or malformed setting; the message says how to fix it."""


@dataclass(frozen=True)
class Settings:
    token: str
    db_path: str = "clippings.db"
    dev_guild: int | None = None
    message_content: bool = False
    ask_cooldown: float = 5.0
    fetch: FetchSettings = field(default_factory=FetchSettings)
    log_level: str = "INFO"
    guild_ready_timeout: float = 2.0
    learned: bool = False
    """Rank with the learned stage too (the `rerank` extra)."""
    shard_ids: tuple[int, ...] | None = None
    shard_count: int | None = None
    """The slice of Discord's shards this process serves (CLIPPINGS_SHARDS of CLIPPINGS_SHARD_COUNT)."""

    def __repr__(self) -> str:  # never show the token
        return (
            f"Settings(db_path={self.db_path!r}, dev_guild={self.dev_guild!r}, "
            f"message_content={self.message_content}, learned={self.learned})"
        )


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _number(values: Mapping[str, str | None], key: str, default: float, kind: type = float) -> float:
    raw = (values.get(key) or "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(
            f"{key} must be a number, not {raw!r}; fix it in .env or the environment."
        ) from None


def load_settings(env_file: str | Path | None = ".env", environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from a .env file (if present), overridden by the environment."""
    values: dict[str, str | None] = {}
    if env_file and Path(env_file).is_file():
        values.update(dotenv_values(env_file))
    values.update(os.environ if environ is None else environ)
    token = (values.get("DISCORD_TOKEN") or "").strip()
    if not token:
        raise SettingsError(
            "DISCORD_TOKEN is not set; put the bot token in .env or the environment (see .env.example)."
        )
    guild = (values.get("CLIPPINGS_DEV_GUILD") or "").strip()
    if guild and not guild.isdigit():
        raise SettingsError(f"CLIPPINGS_DEV_GUILD must be a server id (digits), not {guild!r}.")
    level = (values.get("CLIPPINGS_LOG_LEVEL") or "INFO").strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise SettingsError(f"CLIPPINGS_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level!r}.")
    max_bytes = int(_number(values, "CLIPPINGS_MAX_FETCH_BYTES", DEFAULT_MAX_FETCH_BYTES, int))
    if max_bytes <= 0:
        raise SettingsError("CLIPPINGS_MAX_FETCH_BYTES must be a positive number of bytes; fix it in .env.")
    try:
        shard_ids, shard_count = parse_shards(values)
    except ShardError as exc:
        raise SettingsError(str(exc)) from None
    return Settings(
        shard_ids=shard_ids,
        shard_count=shard_count,
        token=token,
        db_path=(values.get("CLIPPINGS_DB") or "clippings.db").strip(),
        dev_guild=int(guild) if guild else None,
        message_content=_flag(values.get("CLIPPINGS_MESSAGE_CONTENT")),
        learned=_flag(values.get("CLIPPINGS_LEARNED")),
        ask_cooldown=_number(values, "CLIPPINGS_ASK_COOLDOWN", 5.0),
        fetch=FetchSettings(
            max_bytes=max_bytes,
            allow_private=_flag(values.get("CLIPPINGS_ALLOW_PRIVATE_URLS")),
        ),
        log_level=level,
    )
