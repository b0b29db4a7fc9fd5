"""/help: what the bot answers, how to ask, this server's article count and who adds articles."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index import GLOBAL_LIBRARY

from ..formatting import help_text
from .newsroom import NewsroomCog

if TYPE_CHECKING:
    from ..client import ClippingsBot


class HelpCog(commands.Cog):
    def __init__(self, bot: ClippingsBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="help", description="What Clippings answers, how to ask, and who adds articles."
    )
    async def help(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send(await self.reply(interaction.guild_id), ephemeral=True)

    async def reply(self, guild_id: int | None) -> str:
        """The help text for a server (or direct messages), with its article counts; also the reply
        to greetings and questions about the bot asked with /ask or a mention."""
        store = self.bot.store
        server = await asyncio.to_thread(store.count_articles, str(guild_id)) if guild_id else None
        everyone = await asyncio.to_thread(store.count_articles, GLOBAL_LIBRARY)
        newsroom = self.bot.get_cog("NewsroomCog")
        channel = (
            await newsroom.shown_newsroom_channel(guild_id)
            if guild_id and isinstance(newsroom, NewsroomCog)
            else None
        )
        return help_text(server, everyone, channel)
