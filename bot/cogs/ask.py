"""/ask and mentions: quoted answers, with More and Context buttons for the asker."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index import ClippingsError, NoSearchableWords, SearchResponse, is_small_talk, question_terms

from ..client import libraries_for
from ..errors import handle_interaction_error, send_ephemeral
from ..formatting import answer_page, closest_page, context_embed, help_reply, no_answer, nothing_found

if TYPE_CHECKING:
    from ..client import ClippingsBot

log = logging.getLogger(__name__)

BUTTON_TIMEOUT = 600.0
RECENT_TITLES = 3


def scope_of(guild_id: int | None) -> str:
    return "this server's articles and the global library" if guild_id else "the global library"


class Cooldowns:
    """One question per user per `per` seconds, shared by /ask and mentions."""

    def __init__(self, per: float) -> None:
        self.per = per
        self._last: dict[int, float] = {}

    def retry_after(self, user_id: int) -> float:
        """Seconds to wait, or 0 (and the question is counted)."""
        now = time.monotonic()
        last = self._last.get(user_id)
        if last is not None and now - last < self.per:
            return self.per - (now - last)
        self._last[user_id] = now
        if len(self._last) > 10_000:  # forget the long-idle
            self._last = {u: t for u, t in self._last.items() if now - t < self.per}
        return 0.0


class AnswerView(discord.ui.View):
    """More (next results, in place) and one Context button per shown passage; only for the asker."""

    def __init__(self, cog: AskCog, asker_id: int, response: SearchResponse, per_page: int) -> None:
        # A fixed lifetime from the question (not discord.py's idle timeout, which restarts on
        # every press): the buttons must go while the interaction token (15 min) can still edit.
        super().__init__(timeout=None)
        self._expiry = asyncio.get_running_loop().call_later(BUTTON_TIMEOUT, self._expire)
        self.cog = cog
        self.asker_id = asker_id
        self.question = response.question
        self.libraries = list(response.libraries)
        self.per_page = per_page
        self.message: discord.Message | discord.WebhookMessage | None = None
        self.show(response, 0)

    def show(self, response: SearchResponse, offset: int) -> None:
        """Make the buttons fit the page that starts at `offset` (0-based) and holds `shown` hits."""
        page = answer_page(response, first_rank=offset + 1)
        self.page = page
        self.offset = offset
        self.hits = response.hits[: page.shown]
        self.clear_items()
        if response.total_hits > offset + page.shown:
            more = discord.ui.Button(label="More", style=discord.ButtonStyle.primary, row=0)
            more.callback = self.more
            self.add_item(more)
        for position, hit in enumerate(self.hits):
            if hit.article.passage_count > 1:
                button = discord.ui.Button(
                    label=f"Context {offset + position + 1}", style=discord.ButtonStyle.secondary, row=1
                )
                button.callback = self._context_callback(position)
                self.add_item(button)

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        if interaction.user.id == self.asker_id:
            return True
        await send_ephemeral(
            interaction, "Only the person who asked can use these buttons; ask your own question with /ask."
        )
        return False

    async def more(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        offset = self.offset + self.page.shown
        response = await asyncio.to_thread(
            self.cog.bot.store.search, self.question, self.libraries, self.per_page, offset
        )
        if not response.hits:
            self.clear_items()
            await interaction.edit_original_response(view=self)
            await interaction.followup.send("There are no more results for that question.", ephemeral=True)
            return
        self.show(response, offset)
        await interaction.edit_original_response(
            content=self.page.content, embeds=self.page.embeds, view=self
        )

    def _context_callback(self, position: int):
        async def context(interaction: discord.Interaction) -> None:
            hit = self.hits[position]
            await interaction.response.defer(ephemeral=True, thinking=True)
            index = hit.passage.index
            passages = await asyncio.to_thread(
                self.cog.bot.store.passages, self.libraries, hit.article.id, index - 1, index + 1
            )
            await interaction.followup.send(embed=context_embed(hit.article, passages, index), ephemeral=True)

        return context

    def _expire(self) -> None:
        self.stop()
        self._removal = asyncio.ensure_future(self.on_timeout())

    async def on_timeout(self) -> None:
        if self.message is not None:
            try:
                await self.message.edit(view=None)
            except discord.HTTPException:
                log.info("could not remove the buttons of an old answer", exc_info=True)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item, /
    ) -> None:
        await handle_interaction_error(interaction, error)


class ClosestView(AnswerView):
    """For a question the articles hold no answer to: one asker-only button that shows the closest
    passages privately, labelled as not an answer."""

    def show(self, response: SearchResponse, offset: int) -> None:
        self.page = closest_page(response)
        self.offset = offset
        self.hits = response.hits[: self.page.shown]
        self.clear_items()
        button = discord.ui.Button(
            label="Closest passages (not an answer)", style=discord.ButtonStyle.secondary
        )
        button.callback = self.closest
        self.add_item(button)

    async def closest(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            content=self.page.content, embeds=self.page.embeds, ephemeral=True
        )


class AskCog(commands.Cog):
    def __init__(self, bot: ClippingsBot) -> None:
        self.bot = bot
        self.cooldowns = Cooldowns(bot.settings.ask_cooldown)

    async def _search(self, question: str, guild_id: int | None, results: int) -> SearchResponse:
        return await asyncio.to_thread(self.bot.store.search, question, libraries_for(guild_id), results, 0)

    async def _nothing_found(self, response: SearchResponse, guild_id: int | None) -> str:
        recent = []
        if response.searched_articles:
            for library in response.libraries:
                articles = await asyncio.to_thread(self.bot.store.list_articles, library, 0, RECENT_TITLES)
                recent.extend(a.title for a in articles)
        return nothing_found(response, recent[:RECENT_TITLES], scope_of(guild_id))

    async def _help_reply(self, guild_id: int | None) -> str:
        """The reply to a greeting or a question about the bot."""
        counts = [
            await asyncio.to_thread(self.bot.store.count_articles, library)
            for library in libraries_for(guild_id)
        ]
        return help_reply(sum(counts), scope_of(guild_id), guild_id is not None)

    def _check_cooldown(self, user_id: int) -> None:
        retry = self.cooldowns.retry_after(user_id)
        if retry:
            raise app_commands.CommandOnCooldown(app_commands.Cooldown(1, self.cooldowns.per), retry)

    @app_commands.command(
        name="ask", description="Ask a question and get quoted passages from the news articles."
    )
    @app_commands.describe(
        question="What you want to know, e.g. what did Qin say about weapons",
        results="How many passages to show (1-5, default 3)",
        private="Show the answer only to you",
    )
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, 300],
        results: app_commands.Range[int, 1, 5] = 3,
        private: bool = False,
    ) -> None:
        if is_small_talk(question):  # "hello", "what can you do": help, never passages
            await interaction.response.defer(ephemeral=True, thinking=True)
            await interaction.followup.send(await self._help_reply(interaction.guild_id), ephemeral=True)
            return
        if not question_terms(question):
            raise NoSearchableWords()  # before deferring, so the refusal stays private
        self._check_cooldown(interaction.user.id)
        await interaction.response.defer(ephemeral=private, thinking=True)
        response = await self._search(question, interaction.guild_id, results)
        if not response.hits:
            await interaction.followup.send(
                await self._nothing_found(response, interaction.guild_id), ephemeral=private
            )
            return
        if not response.answerable:
            closest = ClosestView(self, interaction.user.id, response, results)
            closest.message = await interaction.followup.send(
                no_answer(response, scope_of(interaction.guild_id)),
                view=closest,
                ephemeral=private,
                wait=True,
            )
            return
        view = AnswerView(self, interaction.user.id, response, results)
        view.message = await interaction.followup.send(
            content=view.page.content, embeds=view.page.embeds, view=view, ephemeral=private, wait=True
        )

    @commands.Cog.listener("on_message")
    async def answer_mention(self, message: discord.Message) -> None:
        """ "@Clippings what did Qin say about weapons" gets the same answer as /ask, as a reply."""
        me = self.bot.user
        if me is None or message.author.bot or not message.content:
            return
        mention = re.compile(rf"<@!?{me.id}>")
        if not mention.search(message.content):
            return
        question = mention.sub(" ", message.content).strip()
        guild_id = message.guild.id if message.guild else None
        if not question:
            await message.reply(
                "Ask me a question after the mention, for example: what did Qin say about weapons"
            )
            return
        if is_small_talk(question):
            await message.reply(await self._help_reply(guild_id))
            return
        retry = self.cooldowns.retry_after(message.author.id)
        if retry:
            await message.reply(f"You're asking quickly! Please wait {retry:.0f} s before the next question.")
            return
        try:
            response = await self._search(question, guild_id, 3)
        except ClippingsError as exc:
            await message.reply(str(exc))
            return
        if not response.hits:
            await message.reply(await self._nothing_found(response, guild_id))
            return
        if not response.answerable:
            closest = ClosestView(self, message.author.id, response, 3)
            closest.message = await message.reply(no_answer(response, scope_of(guild_id)), view=closest)
            return
        view = AnswerView(self, message.author.id, response, 3)
        view.message = await message.reply(content=view.page.content, embeds=view.page.embeds, view=view)
