"""Moderators' article commands: /article add|remove|list|show, the paste modal and "Add as article"."""

from __future__ import annotations

import asyncio
import logging
import math
import re
from typing import TYPE_CHECKING, Any, cast

import discord
from discord import app_commands
from discord.ext import commands

from index import AddResult, Article, BadInput

from ..checks import MODERATOR, is_moderator, require_moderator
from ..errors import UserError, expired_button, handle_interaction_error, send_ephemeral
from ..formatting import article_embed, article_list_page, article_summary, choice_name, safe_url
from ..ingest import (
    article_from_attachment,
    article_from_message,
    article_from_post,
    article_from_url,
    clean_link,
    shows_anything,
)

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
        url = clean_link(self.link.value) or None
        if url and not safe_url(url):
            raise UserError("The link must be a web address that starts with https://; nothing was stored.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        headline = self.headline.value.strip()
        article = article_from_post(
            self.body.value, "The pasted text", title=headline if shows_anything(headline) else None, url=url
        )
        await self.cog.store_and_reply(interaction, article)

    async def on_error(  # type: ignore[override]  # a Modal's on_error has no item
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await handle_interaction_error(interaction, error)


LIST_NOT_YOURS = (
    "Only the moderator who asked for this list can page through it; run /article list for your own."
)
LIST_EXPIRED = "This list has expired; run /article list again."


# The page buttons keep their state in their custom_id (who asked and which page to show), so they
# work after a restart, and with no view timeout: the bot registers them at start as dynamic items.


async def list_page(
    interaction: discord.Interaction, page: int
) -> tuple[discord.Embed, discord.ui.View | None]:
    """Page `page` (0-based; past the end, the last one) of this server's articles as they are now,
    with Previous and Next for the member who asked when there is more than one page."""
    store = cast("ClippingsBot", interaction.client).store
    library = str(interaction.guild_id)
    total = await asyncio.to_thread(store.count_articles, library)
    pages = max(1, math.ceil(total / LIST_PAGE_SIZE))
    page = min(page, pages - 1)
    articles = await asyncio.to_thread(store.list_articles, library, page * LIST_PAGE_SIZE, LIST_PAGE_SIZE)
    embed = article_list_page(articles, page, pages, total)
    if pages == 1:
        return embed, None
    view = discord.ui.View(timeout=None)
    owner_id = interaction.user.id
    view.add_item(ArticlePageButton(owner_id, max(0, page - 1), "previous", disabled=page == 0))
    view.add_item(ArticlePageButton(owner_id, min(pages - 1, page + 1), "next", disabled=page == pages - 1))
    return embed, view


class ArticlePageButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"article-list:(?P<owner>[0-9]+):(?P<page>[0-9]+):(?P<direction>previous|next)",
):
    """Previous or Next under /article list: shows page `page` of the articles as they are at the press."""

    def __init__(self, owner_id: int, page: int, direction: str, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label=direction.capitalize(),
                style=discord.ButtonStyle.secondary,
                disabled=disabled,
                custom_id=f"article-list:{owner_id}:{page}:{direction}",
            )
        )
        self.owner_id, self.page = owner_id, page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ArticlePageButton:
        return cls(int(match["owner"]), int(match["page"]), match["direction"])

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await send_ephemeral(interaction, LIST_NOT_YOURS)
        return False

    async def callback(self, interaction: discord.Interaction) -> None:
        # discord.py only logs errors of dynamic items, so they are answered here.
        try:
            await self.show_page(interaction)
        except Exception as error:
            await handle_interaction_error(interaction, error)

    async def show_page(self, interaction: discord.Interaction) -> None:
        require_moderator(interaction)  # checked on every press, as by the commands
        await interaction.response.defer()  # the page is read from the store
        embed, view = await list_page(interaction, self.page)
        await interaction.edit_original_response(embed=embed, view=view)


ExpiredListButton = expired_button(r"article-list:(?:previous|next)", LIST_EXPIRED)
"""Page buttons of lists sent before the buttons kept their state (fixed custom ids): say so."""


LIST_BUTTONS = (ArticlePageButton, ExpiredListButton)
"""Registered at start (ClippingsBot.add_commands), so the pages of earlier lists still turn."""


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
        if title is not None and not shows_anything(title):
            raise UserError(
                "The title has nothing to show; give one with letters, or leave it out to keep the article's own."
            )
        if not url and not file:
            await interaction.response.send_modal(PasteArticleModal(self, title))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        settings = self.bot.settings.fetch
        if url:
            article = await article_from_url(url, settings)
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
        embed, view = await list_page(interaction, 0)
        await interaction.followup.send(
            embed=embed, view=discord.utils.MISSING if view is None else view, ephemeral=True
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
