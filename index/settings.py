"""The one source of settings for the CLI and the bot: a `.env` file, overridden by the environment."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from .errors import ClippingsError
from .ingest.fetch import DEFAULT_MAX_BYTES, FetchSettings

log = logging.getLogger(__name__)

DEFAULT_DB = "clippings.db"
ENV_FILE = ".env"


class SettingsError(ClippingsError):
    """A missing or malformed setting; the message says how to fix it."""


@dataclass(frozen=True)
class Settings:
    token: str = ""
    db_path: str = DEFAULT_DB
    db_source: str = "the default"
    """Where `db_path` came from, for `clippings stats`: an option, the environment, .env or the default."""
    dev_guild: int | None = None
    message_content: bool = False
    ask_cooldown: float = 5.0
    fetch: FetchSettings = field(default_factory=FetchSettings)
    log_level: str = "INFO"
    guild_ready_timeout: float = 2.0
    learned: bool = False
    """Rank with the learned stage too (the `rerank` extra)."""
    reconnect_delay: float = 2.0
    """Seconds before the bot's first retry after a network failure; doubled on every failed try."""
    reconnect_max_delay: float = 300.0
    """The longest wait between two tries."""
    search_workers: int = 0
    """Worker processes answering the bot's questions (CLIPPINGS_SEARCH_WORKERS, bot/pool.py); 0
    answers in the bot's own process (the default, for small servers)."""
    shard_ids: tuple[int, ...] | None = None
    shard_count: int | None = None
    """The slice of Discord's shards this bot process serves (CLIPPINGS_SHARDS of
    CLIPPINGS_SHARD_COUNT); None: one unsharded connection."""

    def __repr__(self) -> str:  # never show the token, nor a PostgreSQL URL's password
        db_path = re.sub(r"^(postgres(?:ql)?://[^:/@]*):[^@]*@", r"\1:***@", self.db_path)
        return (
            f"Settings(db_path={db_path!r}, dev_guild={self.dev_guild!r}, "
            f"message_content={self.message_content}, learned={self.learned})"
        )


def flag(value: str | None) -> bool:
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


def parse_shards(values: Mapping[str, str | None]) -> tuple[tuple[int, ...] | None, int | None]:
    """(shard ids, shard count) from CLIPPINGS_SHARDS ("0-3", "0,2", "4-7,9") and
    CLIPPINGS_SHARD_COUNT; (None, None) when neither is set (one unsharded connection)."""
    raw_ids = (values.get("CLIPPINGS_SHARDS") or "").strip()
    raw_count = (values.get("CLIPPINGS_SHARD_COUNT") or "").strip()
    if not raw_ids and not raw_count:
        return None, None
    if not raw_count.isdigit() or int(raw_count) < 1:
        raise SettingsError(
            f"CLIPPINGS_SHARD_COUNT must be the total number of shards (a whole number, 1 or more), not {raw_count!r}."
        )
    count = int(raw_count)
    if not raw_ids:
        return tuple(range(count)), count
    ids: list[int] = []
    for part in raw_ids.split(","):
        first, _, last = part.strip().partition("-")
        if not first.isdigit() or (last and not last.isdigit()) or (last and int(last) < int(first)):
            raise SettingsError(
                f"CLIPPINGS_SHARDS must list shard ids such as 0-3 or 0,2,5, not {raw_ids!r}."
            )
        ids.extend(range(int(first), int(last or first) + 1))
    if max(ids) >= count:
        raise SettingsError(
            f"CLIPPINGS_SHARDS names shard {max(ids)}, but shard ids go from 0 to {count - 1}"
            f" (CLIPPINGS_SHARD_COUNT={count}); fix one of them."
        )
    return tuple(sorted(set(ids))), count


def load_settings(
    env_file: str | Path | None = ENV_FILE, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from a .env file (if present), overridden by the environment. The token may be empty."""
    from_file: dict[str, str | None] = {}
    if env_file and Path(env_file).is_file():
        from_file = dict(dotenv_values(env_file))
    environ = os.environ if environ is None else environ
    values: dict[str, str | None] = {**from_file, **environ}
    guild = (values.get("CLIPPINGS_DEV_GUILD") or "").strip()
    if guild and not guild.isdigit():
        raise SettingsError(f"CLIPPINGS_DEV_GUILD must be a server id (digits), not {guild!r}.")
    level = (values.get("CLIPPINGS_LOG_LEVEL") or "INFO").strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise SettingsError(f"CLIPPINGS_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level!r}.")
    max_bytes = int(_number(values, "CLIPPINGS_MAX_FETCH_BYTES", DEFAULT_MAX_BYTES, int))
    if max_bytes <= 0:
        raise SettingsError("CLIPPINGS_MAX_FETCH_BYTES must be a positive number of bytes; fix it in .env.")
    workers = int(_number(values, "CLIPPINGS_SEARCH_WORKERS", 0, int))
    if not 0 <= workers <= 64:
        raise SettingsError(
            "CLIPPINGS_SEARCH_WORKERS must be 0 (answer in the bot's process) to 64; fix it in .env."
        )
    shard_ids, shard_count = parse_shards(values)
    db_path = (values.get("CLIPPINGS_DB") or "").strip()
    if (environ.get("CLIPPINGS_DB") or "").strip():
        source = "CLIPPINGS_DB in the environment"
    elif db_path:
        source = f"CLIPPINGS_DB in {env_file}"
    else:
        db_path, source = DEFAULT_DB, "the default"
    return Settings(
        token=(values.get("DISCORD_TOKEN") or "").strip(),
        db_path=db_path,
        db_source=source,
        dev_guild=int(guild) if guild else None,
        message_content=flag(values.get("CLIPPINGS_MESSAGE_CONTENT")),
        learned=flag(values.get("CLIPPINGS_LEARNED")),
        ask_cooldown=_number(values, "CLIPPINGS_ASK_COOLDOWN", 5.0),
        fetch=FetchSettings(
            max_bytes=max_bytes,
            allow_private=flag(values.get("CLIPPINGS_ALLOW_PRIVATE_URLS")),
        ),
        log_level=level,
        search_workers=workers,
        shard_ids=shard_ids,
        shard_count=shard_count,
    )
