"""The one source of settings for the CLI and the bot: a `.env` file, overridden by the environment."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from .errors import ClippingsError, QuestionTooLong
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


FLAG_ON = ("1", "true", "yes", "on")
FLAG_OFF = ("", "0", "false", "no", "off")

MAX_SHARD_COUNT = 100_000
"""The largest CLIPPINGS_SHARD_COUNT accepted. Discord puts at most 2,500 servers on a shard, so even
the largest bots run thousands of shards, not hundreds of thousands; a bigger count is a typo."""
MAX_FETCH_BYTES = 2**30
"""The largest CLIPPINGS_MAX_FETCH_BYTES accepted (1 GB): a page is held in memory while it is read."""
MAX_SEARCH_WORKERS = 64
MAX_QUESTION_CHARS = 300
"""The longest question, in characters, that the CLI (`ask`, each line of `ask -`) and the bot (/ask's
option, a mention) answer. The bot's answer echoes the question whole in its content (escaped, at most
twice as long), so its More and Closest passages buttons can read it back; and no real question needs
more, while a pasted page would be searched for half a minute and echoed back whole."""
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
"""The CLIPPINGS_LOG_LEVEL values accepted (in any case): the names logging.basicConfig takes."""
MAX_SNOWFLAKE = 2**64 - 1
"""Discord ids (snowflakes) are unsigned 64-bit numbers."""

_WHOLE = re.compile(r"[0-9]{1,30}")
"""ASCII digits only: str.isdigit and int() also take '²', '٣' and '1_000'. 30 digits is more than
any setting needs and keeps int() far from its 4,300-digit limit."""
_DECIMAL = re.compile(r"[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30}")


def _shown(raw: str) -> str:
    """A bad value, quoted for a message; a long one is cut short."""
    return repr(raw if len(raw) <= 24 else raw[:20] + "…")


def flag(values: Mapping[str, str | None], key: str) -> bool:
    """An on/off setting: 1, true, yes or on; 0, false, no, off or empty (any case)."""
    raw = (values.get(key) or "").strip()
    if raw.lower() in FLAG_ON:
        return True
    if raw.lower() in FLAG_OFF:
        return False
    raise SettingsError(
        f"{key} must be 1 (or true, yes, on) to turn it on, or 0 (or false, no, off) to leave it off,"
        f" not {_shown(raw)}; fix it in .env or the environment."
    )


def _whole(values: Mapping[str, str | None], key: str, default: int, low: int, high: int, what: str) -> int:
    """A whole number from `low` to `high` in ASCII digits; `what` says what it counts, for the message."""
    raw = (values.get(key) or "").strip()
    if not raw:
        return default
    if not _WHOLE.fullmatch(raw) or not low <= int(raw) <= high:
        raise SettingsError(
            f"{key} must be {what}, a whole number from {low} to {high}, not {_shown(raw)};"
            " fix it in .env or the environment."
        )
    return int(raw)


def _seconds(values: Mapping[str, str | None], key: str, default: float) -> float:
    """A number of seconds, 0 or more, in ASCII digits with an optional decimal point."""
    raw = (values.get(key) or "").strip()
    if not raw:
        return default
    if not _DECIMAL.fullmatch(raw):
        raise SettingsError(
            f"{key} must be a number of seconds, 0 or more (such as 5 or 2.5), not {_shown(raw)};"
            " fix it in .env or the environment."
        )
    return float(raw)


def check_question_length(question: str, subject: str = "That question") -> None:
    """Refuse a question longer than MAX_QUESTION_CHARS, as the caller will ask it (stripped), with
    QuestionTooLong; `subject` names it in the sentence."""
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionTooLong(len(question), MAX_QUESTION_CHARS, subject)


def parse_shards(values: Mapping[str, str | None]) -> tuple[tuple[int, ...] | None, int | None]:
    """(shard ids, shard count) from CLIPPINGS_SHARDS ("0-3", "0,2", "4-7,9") and
    CLIPPINGS_SHARD_COUNT; (None, None) when neither is set (one unsharded connection)."""
    raw_ids = (values.get("CLIPPINGS_SHARDS") or "").strip()
    raw_count = (values.get("CLIPPINGS_SHARD_COUNT") or "").strip()
    if not raw_ids and not raw_count:
        return None, None
    if not raw_count:
        raise SettingsError(
            f"CLIPPINGS_SHARDS is set to {_shown(raw_ids)} but CLIPPINGS_SHARD_COUNT is not; set it to the"
            " total number of shards of every bot process."
        )
    if not _WHOLE.fullmatch(raw_count) or not 1 <= int(raw_count) <= MAX_SHARD_COUNT:
        raise SettingsError(
            "CLIPPINGS_SHARD_COUNT must be the total number of shards (a whole number from 1 to"
            f" {MAX_SHARD_COUNT}), not {_shown(raw_count)}; fix it in .env or the environment."
        )
    count = int(raw_count)
    if not raw_ids:
        return tuple(range(count)), count
    ids: set[int] = set()
    for part in raw_ids.split(","):
        match = re.fullmatch(r"([0-9]{1,30})(?:-([0-9]{1,30}))?", part.strip())
        if match is None or (match[2] and int(match[2]) < int(match[1])):
            raise SettingsError(
                f"CLIPPINGS_SHARDS must list shard ids such as 0-3 or 0,2,5, not {_shown(raw_ids)};"
                " fix it in .env or the environment."
            )
        first, last = int(match[1]), int(match[2] or match[1])
        if last >= count:  # before the range is made: 0-99999999999 must not fill the memory
            raise SettingsError(
                f"CLIPPINGS_SHARDS names shard {last}, but shard ids go from 0 to {count - 1}"
                f" (CLIPPINGS_SHARD_COUNT={count}); fix one of them."
            )
        ids.update(range(first, last + 1))
    return tuple(sorted(ids)), count


def _present(env_file: Path) -> bool:
    """Whether there is a .env file to read. A folder this user may not look into holds none it could
    read: `sudo -u clippings clippings ... stats` is run from the operator's home folder (mode 700),
    and must not fail over a file that the clippings user was never meant to see."""
    try:
        return env_file.is_file()
    except PermissionError:  # stat needs only the folders' search permission, never the file's
        log.debug("cannot look into the folder of %s; reading no settings file", env_file)
        return False


def load_settings(
    env_file: str | Path | None = ENV_FILE, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from a .env file (if present), overridden by the environment. The token may be empty."""
    from_file: dict[str, str | None] = {}
    if env_file and _present(Path(env_file)):
        # utf-8-sig: Notepad and PowerShell 5 start the file with a byte order mark, which would
        # otherwise become part of the first key ("\ufeffDISCORD_TOKEN").
        try:
            from_file = dict(dotenv_values(env_file, encoding="utf-8-sig"))
        except UnicodeDecodeError:  # such as UTF-16, what PowerShell 5's `>` writes
            raise SettingsError(
                f"{env_file} is not UTF-8 text; save it again as UTF-8 (in Notepad: Save as, Encoding UTF-8)."
            ) from None
        except OSError as exc:
            raise SettingsError(
                f"Cannot read {env_file} ({exc.strerror}); make it readable or remove it."
            ) from None
    environ = os.environ if environ is None else environ
    values: dict[str, str | None] = {**from_file, **environ}
    guild = (values.get("CLIPPINGS_DEV_GUILD") or "").strip()
    if guild and (not _WHOLE.fullmatch(guild) or int(guild) > MAX_SNOWFLAKE):
        raise SettingsError(
            f"CLIPPINGS_DEV_GUILD must be a server id (digits), not {_shown(guild)}; fix it in .env or the"
            " environment."
        )
    level = (values.get("CLIPPINGS_LOG_LEVEL") or "INFO").strip().upper()
    if level not in LOG_LEVELS:
        raise SettingsError(
            f"CLIPPINGS_LOG_LEVEL must be {', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]},"
            f" not {_shown(level)}; fix it in .env or the environment."
        )
    max_bytes = _whole(
        values, "CLIPPINGS_MAX_FETCH_BYTES", DEFAULT_MAX_BYTES, 1, MAX_FETCH_BYTES, "a number of bytes"
    )
    workers = _whole(
        values,
        "CLIPPINGS_SEARCH_WORKERS",
        0,
        0,
        MAX_SEARCH_WORKERS,
        "the number of worker processes (0 answers in the bot's process)",
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
        message_content=flag(values, "CLIPPINGS_MESSAGE_CONTENT"),
        learned=flag(values, "CLIPPINGS_LEARNED"),
        ask_cooldown=_seconds(values, "CLIPPINGS_ASK_COOLDOWN", 5.0),
        fetch=FetchSettings(
            max_bytes=max_bytes,
            allow_private=flag(values, "CLIPPINGS_ALLOW_PRIVATE_URLS"),
        ),
        log_level=level,
        search_workers=workers,
        shard_ids=shard_ids,
        shard_count=shard_count,
    )
