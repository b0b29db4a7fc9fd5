"""`python -m bot`: read the settings, open the database and run the bot until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import sys
from urllib.parse import urlsplit

import aiohttp
import discord
from discord import app_commands

from index import ClippingsError, Store, load_encoder

from .client import ClippingsBot, make_bot, store_executor
from .logs import configure_logging
from .settings import Settings, SettingsError, load_settings

log = logging.getLogger("bot")


NETWORK_ERRORS = (
    aiohttp.ClientError,
    OSError,
    TimeoutError,
    discord.GatewayNotFound,
    discord.DiscordServerError,
    discord.ConnectionClosed,
)
"""Failures a network (or Discord) outage causes: worth trying again."""
FATAL_CLOSE_CODES = {4004, 4010, 4011, 4012, 4013, 4014}
"""Gateway close codes that no retry can fix (a bad token, intents or sharding)."""


def describe_failure(exc: BaseException) -> str:
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


class Supervisor:
    """Runs the bot until stopped; after a network failure, at start or later, starts it again
    after a delay that doubles up to `max_delay`, with one log line per try."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.bot: ClippingsBot | None = None
        self.executor = store_executor()
        self._stopping = asyncio.Event()
        self._closing: asyncio.Future[None] | None = None

    def stop(self) -> None:
        self._stopping.set()
        if self.bot is not None:
            self._closing = asyncio.ensure_future(self.bot.close())

    async def run(self) -> None:
        """Return when stopped; raise what no retry can fix (such as discord.LoginFailure)."""
        delay, tries = self.settings.reconnect_delay, 0
        while not self._stopping.is_set():
            bot = self.bot = make_bot(self.settings, self.store, self.executor)
            failure: BaseException | None = None
            try:
                async with bot:
                    # discord.py's own reconnect is off: every retry goes through this loop.
                    await bot.start(self.settings.token, reconnect=False)
            except discord.ConnectionClosed as exc:
                if exc.code == 4014:
                    raise discord.PrivilegedIntentsRequired(exc.shard_id) from None
                if exc.code in FATAL_CLOSE_CODES:
                    raise
                failure = exc
            except NETWORK_ERRORS as exc:
                failure = exc
            if self._stopping.is_set():
                return
            if bot.was_ready:  # it had been up: a new outage starts from the first delay
                delay, tries = self.settings.reconnect_delay, 0
            tries += 1
            reason = describe_failure(failure) if failure else "Discord closed the connection"
            log.warning(
                "%s (%s); trying again in %.3g s (try %d)",
                "Lost the connection to Discord" if bot.was_ready else "Could not reach Discord",
                reason,
                delay,
                tries,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, self.settings.reconnect_max_delay)


async def run(supervisor: Supervisor) -> None:
    """Run until stopped; SIGTERM and SIGINT stop the bot, so the database is closed cleanly."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, supervisor.stop)
    try:
        await supervisor.run()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def dev_guild_refused(exc: discord.HTTPException, settings: Settings) -> bool:
    """The command sync to CLIPPINGS_DEV_GUILD failed because the bot is not in that server: Discord
    answers 404 Unknown Guild (10004) for a server it does not know, 403 Missing Access (50001) for
    one the bot was not invited to (with the applications.commands scope)."""
    if not settings.dev_guild or exc.code not in (10004, 50001):
        return False
    return f"/guilds/{settings.dev_guild}/commands" in str(exc.response.url)


COMMANDS_ROUTE = re.compile(r"/applications/\d+(?:/guilds/\d+)?/commands$")
"""The bulk overwrite of the bot's slash commands (global, or a server's), which the sync PUTs."""


def commands_refused(exc: discord.HTTPException) -> str | None:
    """What Discord said, in one line, when it answered the command sync 400: it refused the
    commands themselves (50035 Invalid Form Body, say), which no retry or setting can fix. None for
    any other error."""
    if exc.status != 400 or not COMMANDS_ROUTE.search(urlsplit(str(exc.response.url)).path):
        return None
    # discord.py's CommandSyncFailure names the command at fault where Discord gave only its index.
    details = str(exc) if isinstance(exc, app_commands.CommandSyncFailure) else exc.text
    lines = [exc.text.split("\n", 1)[0], *details.splitlines()[1:]]
    said = "; ".join(line.strip().rstrip(".") for line in lines if line.strip())
    return f"{exc.status} {exc.response.reason}, error code {exc.code}: {said}"


async def serve(settings: Settings, supervisor_ready: asyncio.Future[Supervisor] | None = None) -> int:
    """Open the database, run the bot until it is stopped, and return the exit code.
    `supervisor_ready` receives the supervisor, so a caller (a test) can stop it."""
    try:
        encoder = await asyncio.to_thread(load_encoder) if settings.learned else None
        store = await asyncio.to_thread(Store, settings.db_path, encoder=encoder)
        await asyncio.to_thread(store.warm)  # the first answer then loads nothing
    except ClippingsError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    supervisor = Supervisor(settings, store)
    if supervisor_ready is not None:
        supervisor_ready.set_result(supervisor)
    try:
        await run(supervisor)
    except discord.LoginFailure:
        sys.stderr.write(
            "Discord rejected DISCORD_TOKEN; copy the bot token again from the developer portal.\n"
        )
        return 1
    except discord.PrivilegedIntentsRequired:
        sys.stderr.write(
            "Discord refused the Message Content intent; enable it in the developer portal or set"
            " CLIPPINGS_MESSAGE_CONTENT=0.\n"
        )
        return 1
    except discord.ConnectionClosed as exc:
        if exc.code == 4004:
            sys.stderr.write(
                "Discord rejected DISCORD_TOKEN; copy the bot token again from the developer portal.\n"
            )
        else:
            sys.stderr.write(f"Discord closed the connection for good (code {exc.code}: {exc.reason}).\n")
        return 1
    except discord.HTTPException as exc:
        said = commands_refused(exc)
        if said is not None:
            sys.stderr.write(
                f"Discord refused the bot's slash commands ({said}); upgrade Clippings, or report this"
                " line to its developers.\n"
            )
            return 1
        if not dev_guild_refused(exc, settings):
            raise
        sys.stderr.write(
            f"The bot is not in server {settings.dev_guild} (CLIPPINGS_DEV_GUILD), so it cannot sync its"
            " commands there; invite it there with the applications.commands scope, or clear"
            " CLIPPINGS_DEV_GUILD.\n"
        )
        return 2
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
    configure_logging(settings.log_level, settings.token)
    return asyncio.run(serve(settings))


if __name__ == "__main__":
    sys.exit(main())
