"""`python -m bot`: read the settings, open the database and run the bot until stopped."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import aiohttp
import discord

from index import ClippingsError, Store, load_encoder

from .client import ClippingsBot, make_bot
from .settings import Settings, SettingsError, load_settings

log = logging.getLogger("bot")


class RedactToken(logging.Filter):
    """Belt and braces: no log line may ever contain the token."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token and self.token in message:
            record.msg = message.replace(self.token, "[token]")
            record.args = None
        return True


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactToken(settings.token))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)


async def run(bot: ClippingsBot, token: str) -> None:
    """Run until closed; SIGTERM and SIGINT close the bot, so the database is closed cleanly."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: asyncio.ensure_future(bot.close()))
    try:
        async with bot:
            await bot.start(token)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def serve(settings: Settings) -> int:
    """Open the database, run the bot until it is closed, and return the exit code."""
    try:
        encoder = await asyncio.to_thread(load_encoder) if settings.learned else None
        store = await asyncio.to_thread(Store, settings.db_path, encoder=encoder)
    except ClippingsError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    try:
        await run(make_bot(settings, store), settings.token)
    except discord.LoginFailure:
        sys.stderr.write(
            "Discord rejected DISCORD_TOKEN; copy the bot token again from the developer portal.\n"
        )
        return 1
    except (aiohttp.ClientError, OSError) as exc:
        sys.stderr.write(
            f"Could not reach Discord ({type(exc).__name__}); check the network and try again.\n"
        )
        return 1
    except discord.PrivilegedIntentsRequired:
        sys.stderr.write(
            "Discord refused the Message Content intent; enable it in the developer portal or set"
            " CLIPPINGS_MESSAGE_CONTENT=0.\n"
        )
        return 1
    finally:
        store.close()
        log.info("database closed")
    return 0


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    configure_logging(settings)
    return asyncio.run(serve(settings))


if __name__ == "__main__":
    sys.exit(main())
