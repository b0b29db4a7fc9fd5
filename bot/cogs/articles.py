"""Moderators' article commands: /article add|remove|list|show, the paste modal and "Add as article"."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index import AddResult, Article, BadInput

from ..checks import MODERATOR, is_moderator, require_moderator
from ..errors import UserError, handle_interaction_error, send_ephemeral
from ..formatting import article_embed, article_list_page, article_summary, choice_name, safe_url
from ..ingest import article_from_attachment, article_from_message, article_from_post, article_from_url

if TYPE_CHECKING:
    from ..client import ClippingsBot

log = logging.getLogger(__name__)

LIST_PAGE_SIZE = 10
AUTOCOMPLETE_CHOICES = 25


class PasteArticleModal(discord.ui.Modal, title="Add an article"):
    headline: discord.ui.TextInput[PasteArticleModal] = discord.ui.TextInput(label="Title", max_length=300)
    link: discord.ui.TextInput[PasteArticleModal] = discord.ui.TextInput(
        label="Link (optional)", required=False, max_length=2000
    )
    body: discord.ui.TextInput[PasteArticleModal] = discord.ui.TextInput(
        label="Text", style=discord.TextStyle.paragraph, min_length=20, max_length=4000
    )

    def __init__(self, cog: ArticlesCog, title: str | None) -> None:
        super().__init__()
        self.cog = cog
        if title:
            self.headline.default = title[:300]

    async def on_submit(self, interaction: discord.Interaction, /) -> None:
        require_moderator(interaction)
        url = self.link.value.strip() or None
        if url and not safe_url(url):
            raise UserError("The link must be a web address that starts with https://; nothing was stored.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        article = article_from_post(
            self.body.value, "The pasted text", title=self.headline.value.strip(), url=url
        )
        await self.cog.store_and_reply(interaction, article)

    async def on_error(  # type: ignore[override]  # a Modal's on_error has no item
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await handle_interaction_error(interaction, error)


class ArticleListView(discord.ui.View):
    def __init__(self, cog: ArticlesCog, owner_id: int, library: str, total: int) -> None:
        super().__init__(timeout=300)
        self.cog, self.owner_id, self.library, self.total = cog, owner_id, library, total
        self.page = 0
        self.pages = max(1, math.ceil(total / LIST_PAGE_SIZE))
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= self.pages - 1

    async def render(self) -> discord.Embed:
        articles = await asyncio.to_thread(
            self.cog.bot.store.list_articles, self.library, self.page * LIST_PAGE_SIZE, LIST_PAGE_SIZE
        )
        self._update_buttons()
        return article_list_page(articles, self.page, self.pages, self.total)

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await send_ephemeral(interaction, "Only the moderator who asked for this list can page through it.")
        return False

    # Explicit ids: random ones would look like the expired answer buttons (ask.ExpiredButton).
    @discord.ui.button(
        label="Previous", style=discord.ButtonStyle.secondary, custom_id="article-list:previous"
    )
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.page = max(0, self.page - 1)
        await interaction.response.edit_message(embed=await self.render(), view=self)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary, custom_id="article-list:next")
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.page = min(self.pages - 1, self.page + 1)
        await interaction.response.edit_message(embed=await self.render(), view=self)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item, /
    ) -> None:
        await handle_interaction_error(interaction, error)


@app_commands.guild_only()
@app_commands.default_permissions(manage_messages=True)
class ArticlesCog(
    commands.GroupCog, group_name="article", group_description="Add, remove and browse this server's articles"
):
    def __init__(self, bot: ClippingsBot) -> None:
        self.bot = bot
        self.add_as_article = app_commands.ContextMenu(name="Add as article", callback=self.add_message)
        self.add_as_article.guild_only = True
        self.add_as_article.default_permissions = MODERATOR
        super().__init__()

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.add_as_article)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.add_as_article.name, type=self.add_as_article.type)

    async def store_and_reply(
        self, interaction: discord.Interaction, article: Article, title: str | None = None
    ) -> AddResult:
        if title:
            article.title = title
        result = await asyncio.to_thread(self.bot.store.add, article, str(interaction.guild_id))
        await interaction.followup.send(article_summary(result.article, result.status) + ".", ephemeral=True)
        return result

    async def _autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if not is_moderator(interaction):
            return []
        articles = await asyncio.to_thread(
            self.bot.store.list_articles,
            str(interaction.guild_id),
            0,
            AUTOCOMPLETE_CHOICES,
            current.strip() or None,
        )
        return [app_commands.Choice(name=choice_name(a), value=a.id) for a in articles]

    @app_commands.command(
        name="add", description="Add an article from a link or a file; with neither, paste it."
    )
    @app_commands.describe(
        url="Link to the article",
        file="A .txt, .md or .html file",
        title="Title to use instead of the article's own",
    )
    async def add(
        self,
        interaction: discord.Interaction,
        url: str | None = None,
        file: discord.Attachment | None = None,
        title: app_commands.Range[str, 1, 300] | None = None,
    ) -> None:
        require_moderator(interaction)
        if url and file:
            raise UserError("Give either a link or a file, not both; nothing was stored.")
        if not url and not file:
            await interaction.response.send_modal(PasteArticleModal(self, title))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        settings = self.bot.settings.fetch
        if url:
            article = await article_from_url(url.strip(), settings)
        else:
            assert file is not None  # neither was answered with the paste form above
            article = await article_from_attachment(file, settings)
        await self.store_and_reply(interaction, article, title)

    @app_commands.command(name="remove", description="Remove an article from this server's library.")
    @app_commands.describe(article="The article to remove")
    @app_commands.autocomplete(article=_autocomplete)
    async def remove(self, interaction: discord.Interaction, article: str) -> None:
        require_moderator(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        removed = await asyncio.to_thread(self.bot.store.remove, str(interaction.guild_id), article)
        await interaction.followup.send(f"Removed {article_summary(removed)}.", ephemeral=True)

    @app_commands.command(name="list", description="List this server's articles, newest first.")
    async def list_(self, interaction: discord.Interaction) -> None:
        require_moderator(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        library = str(interaction.guild_id)
        total = await asyncio.to_thread(self.bot.store.count_articles, library)
        view = ArticleListView(self, interaction.user.id, library, total)
        embed = await view.render()
        await interaction.followup.send(
            embed=embed, view=view if view.pages > 1 else discord.utils.MISSING, ephemeral=True
        )

    @app_commands.command(name="show", description="Show one of this server's articles.")
    @app_commands.describe(article="The article to show")
    @app_commands.autocomplete(article=_autocomplete)
    async def show(self, interaction: discord.Interaction, article: str) -> None:
        require_moderator(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        library = str(interaction.guild_id)
        stored = await asyncio.to_thread(self.bot.store.get_article, library, article)
        text = await asyncio.to_thread(self.bot.store.article_text, library, article)
        await interaction.followup.send(embed=article_embed(stored, text), ephemeral=True)

    async def add_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """The "Add as article" message command: the message's file, else its link, else its text."""
        require_moderator(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        article = await article_from_message(message, self.bot.settings.fetch)
        if article is None:
            raise BadInput(
                "That message has no link, .txt/.md/.html file or article-length text; nothing was stored."
            )
        await self.store_and_reply(interaction, article)
