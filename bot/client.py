"""The Discord client: intents, cogs and command sync."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import discord
from discord.ext import commands

from index import GLOBAL_LIBRARY, Store

from .errors import ClippingsTree
from .logs import worker_log_setup
from .pool import SearchPool
from .settings import Settings

log = logging.getLogger(__name__)

STORE_THREADS = 2
"""Threads that run store calls (searches, adds) off the event loop. Searches run in parallel, but
mostly in Python: more threads than cores would only take the interpreter lock from the event
loop, which must acknowledge every interaction within Discord's 3 seconds."""


CLOSE_DRAIN = 5.0
"""Seconds the bot, closing, waits for the answers and apologies still being sent (its search pool
fails the questions in flight first), before it closes its connection to Discord."""


def store_executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=STORE_THREADS, thread_name_prefix="clippings-store")


BOT_LIBRARY = "_bot"
"""Where the bot keeps its own settings (such as the last synced commands); never searched."""


def libraries_for(guild_id: int | None) -> list[str]:
    """A server reads its own library and the operator's global one; DMs read only global."""
    return [str(guild_id), GLOBAL_LIBRARY] if guild_id else [GLOBAL_LIBRARY]


def make_intents(settings: Settings) -> discord.Intents:
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True  # mentions and newsroom posts
    intents.dm_messages = True
    intents.guild_reactions = True
    intents.message_content = settings.message_content  # privileged: only for newsroom channels
    return intents


class ClippingsBot(commands.Bot):
    def __init__(self, settings: Settings, store: Store, executor: ThreadPoolExecutor | None = None) -> None:
        """`executor` runs store calls; the supervisor passes one to every bot it starts, so
        restarts after an outage do not leave idle threads behind."""
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=make_intents(settings),
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=ClippingsTree,
            help_command=None,
            guild_ready_timeout=settings.guild_ready_timeout,
        )
        self.settings = settings
        self.store = store
        self.executor = executor or store_executor()
        self.was_ready = False
        """Became ready at least once (the supervisor starts a new outage's delays afresh)."""
        self.search_pool: SearchPool | None = None
        """Worker processes answering questions (settings.search_workers > 0)."""
        self.pool_started: asyncio.Future[None] | None = None
        self.answering: set[asyncio.Task[Any]] = set()
        """Handlers answering a question (see `track_answer`): `close` lets them finish first."""

    async def setup_hook(self) -> None:
        # asyncio.to_thread runs on the loop's default executor: keep it as small as the machine.
        asyncio.get_running_loop().set_default_executor(self.executor)
        if self.settings.search_workers and self.search_pool is None:
            # Started beside the login: until the workers are ready the bot answers itself.
            self.search_pool = SearchPool(
                self.settings.db_path,
                self.settings.search_workers,
                self.settings.learned,
                log_setup=worker_log_setup(self.settings.log_level, self.settings.token),
            )
            self.pool_started = asyncio.ensure_future(self._start_pool(self.search_pool))
        await self.add_commands()
        await self.sync_commands()

    async def _start_pool(self, pool: SearchPool) -> None:
        """Start the search workers; if they cannot start, say so at once and answer in this process."""
        try:
            await pool.start()
        except Exception as exc:
            log.error(
                "search workers could not start (%s); answering in the bot's process",
                str(exc) or type(exc).__name__,
            )
            if self.search_pool is pool:
                self.search_pool = None

    async def add_commands(self) -> None:
        """The cogs, their commands and the buttons of earlier answers; no network needed."""
        from .cogs.articles import LIST_BUTTONS, ArticlesCog
        from .cogs.ask import BUTTONS, AskCog
        from .cogs.help import HelpCog
        from .cogs.newsroom import NewsroomCog

        await self.add_cog(AskCog(self))
        await self.add_cog(ArticlesCog(self))
        await self.add_cog(NewsroomCog(self))
        await self.add_cog(HelpCog(self))
        self.add_dynamic_items(*BUTTONS, *LIST_BUTTONS)

    def track_answer(self) -> None:
        """Called by a handler that answers a question: closing waits (a little) for it to reply."""
        task = asyncio.current_task()
        if task is not None:
            self.answering.add(task)
            task.add_done_callback(self.answering.discard)

    async def close(self) -> None:
        # The pool first: its questions in flight fail, and their apologies go out before the
        # connection to Discord closes (later questions are answered in this process meanwhile).
        pool, self.search_pool = self.search_pool, None
        if pool is not None:
            if self.pool_started is not None and not self.pool_started.done():
                self.pool_started.cancel()
            await pool.close()
        answering = self.answering - {asyncio.current_task()}
        if answering:
            await asyncio.wait(answering, timeout=CLOSE_DRAIN)
        await super().close()

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands: mentions and newsroom posts are handled by the cogs' listeners."""

    async def sync_commands(self) -> bool:
        """Sync slash commands to the dev guild or globally, only when they changed since the last sync."""
        guild = discord.Object(self.settings.dev_guild) if self.settings.dev_guild else None
        if guild:
            self.tree.copy_global_to(guild=guild)
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands(guild=guild)]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        key = f"synced_commands:{self.application_id}:{guild.id if guild else 'global'}"
        if await asyncio.to_thread(self.store.get_setting, BOT_LIBRARY, key) == digest:
            log.info("slash commands unchanged since the last sync; not syncing")
            return False
        synced = await self.tree.sync(guild=guild)
        await asyncio.to_thread(self.store.set_setting, BOT_LIBRARY, key, digest)
        log.info("synced %d commands %s", len(synced), f"to guild {guild.id}" if guild else "globally")
        return True

    async def on_ready(self) -> None:
        self.was_ready = True
        log.info("ready as %s in %d servers", self.user, len(self.guilds))


# -- sharded processes (index.settings reads CLIPPINGS_SHARDS and CLIPPINGS_SHARD_COUNT) --------------


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard Discord sends a server's events to."""
    return (guild_id >> 22) % shard_count


class ShardedClippingsBot(ClippingsBot, commands.AutoShardedBot):
    """The same bot over several shard connections in one process (a slice of the bot's shards)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        shard_ids: tuple[int, ...],
        shard_count: int,
        executor: ThreadPoolExecutor | None = None,
    ) -> None:
        super().__init__(settings, store, executor)
        # AutoShardedClient reads these when it launches its shards.
        self.shard_ids = list(shard_ids)
        self.shard_count = shard_count


def make_bot(settings: Settings, store: Store, executor: ThreadPoolExecutor | None = None) -> ClippingsBot:
    """The bot the settings ask for: sharded when CLIPPINGS_SHARDS or CLIPPINGS_SHARD_COUNT is set."""
    if settings.shard_count is None:
        return ClippingsBot(settings, store, executor)
    shard_ids = settings.shard_ids or tuple(range(settings.shard_count))
    return ShardedClippingsBot(settings, store, shard_ids, settings.shard_count, executor)
