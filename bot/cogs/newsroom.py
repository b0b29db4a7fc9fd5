"""Newsroom channels: articles that moderators post there are added to the server's library."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index import ClippingsError

from ..checks import require_moderator
from ..errors import APOLOGY, UserError, reply_to
from ..ingest import article_from_message, looks_like_article

if TYPE_CHECKING:
    from ..client import ClippingsBot

log = logging.getLogger(__name__)

NEWSROOM_KEY = "newsroom_channel"
REASON_LIMIT = 300


@app_commands.guild_only()
@app_commands.default_permissions(manage_messages=True)
class NewsroomCog(
    commands.GroupCog, group_name="newsroom", group_description="Choose a channel whose posts become articles"
):
    def __init__(self, bot: ClippingsBot) -> None:
        self.bot = bot
        self._channels: dict[int, int | None] = {}
        super().__init__()

    async def newsroom_channel(self, guild_id: int) -> int | None:
        if guild_id not in self._channels:
            value = await asyncio.to_thread(self.bot.store.get_setting, str(guild_id), NEWSROOM_KEY)
            self._channels[guild_id] = int(value) if value else None
        return self._channels[guild_id]

    async def _set(self, guild_id: int, channel_id: int | None) -> None:
        await asyncio.to_thread(
            self.bot.store.set_setting, str(guild_id), NEWSROOM_KEY, str(channel_id) if channel_id else None
        )
        self._channels[guild_id] = channel_id

    @app_commands.command(name="set", description="Index articles that moderators post in this channel.")
    @app_commands.describe(channel="The channel where moderators post articles")
    async def set_(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        require_moderator(interaction)
        if channel.guild.id != interaction.guild_id:
            raise UserError("Pick a channel of this server.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._set(interaction.guild_id, channel.id)
        note = (
            ""
            if self.bot.settings.message_content
            else (
                " Note: the bot runs without the Message Content intent, so it will only see attachments"
                " and links in posts that mention it; the operator can set CLIPPINGS_MESSAGE_CONTENT=1."
            )
        )
        await interaction.followup.send(
            f"Articles that moderators post in {channel.mention} will be added to this server's library.{note}",
            ephemeral=True,
        )

    @app_commands.command(name="clear", description="Stop indexing posts from the newsroom channel.")
    async def clear(self, interaction: discord.Interaction) -> None:
        require_moderator(interaction)
        guild_id = interaction.guild_id
        if guild_id is None:  # guild_only, but Discord's settings are only hints
            raise app_commands.NoPrivateMessage()
        await interaction.response.defer(ephemeral=True, thinking=True)
        had = await self.newsroom_channel(guild_id)
        await self._set(guild_id, None)
        text = (
            "The newsroom channel is cleared; posts are no longer indexed."
            if had
            else "No newsroom channel was set."
        )
        await interaction.followup.send(text, ephemeral=True)

    async def is_moderators_post(self, message: discord.Message) -> bool:
        """A moderator's message in the server's newsroom channel (only moderators' posts become articles)."""
        if message.guild is None or message.author.bot or not isinstance(message.author, discord.Member):
            return False
        if await self.newsroom_channel(message.guild.id) != message.channel.id:
            return False
        return message.channel.permissions_for(message.author).manage_messages

    async def takes(self, message: discord.Message) -> bool:
        """Whether this cog answers the message (with ✅ or ❌): a moderator's newsroom post with a file,
        a link or article-length text; a mention of the bot in such a post is no question."""
        return await self.is_moderators_post(message) and looks_like_article(message)

    @commands.Cog.listener("on_message")
    async def index_newsroom_post(self, message: discord.Message) -> None:
        if not await self.is_moderators_post(message):
            return
        assert message.guild is not None  # a newsroom post is a server's
        try:
            article = await article_from_message(message, self.bot.settings.fetch)
            if article is None:
                return  # an ordinary short message, not an article
            result = await asyncio.to_thread(self.bot.store.add, article, str(message.guild.id))
        except ClippingsError as exc:
            await self._react(message, "❌", str(exc)[:REASON_LIMIT])
            return
        except Exception:  # a bug: discord.py would only log it, and the post would look ignored
            log.exception("unexpected error storing newsroom post %s", message.id)
            await self._react(message, "❌", APOLOGY)
            return
        log.info("newsroom post %s stored as article %s (%s)", message.id, result.article.id, result.status)
        await self._react(message, "✅")

    async def _react(self, message: discord.Message, emoji: str, reason: str | None = None) -> None:
        """The ✅ or ❌, then the reason; the reason still goes out where the bot may not react."""
        try:
            await message.add_reaction(emoji)
        except discord.HTTPException:
            log.warning("could not react %s to newsroom post %s", emoji, message.id, exc_info=True)
        if not reason:
            return
        try:
            await reply_to(message, reason)
        except discord.HTTPException:
            log.warning("could not answer newsroom post %s", message.id, exc_info=True)
