"""/ask and mentions: quoted answers, with More and Context buttons for the asker."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from index import (
    MAX_QUESTION_CHARS,
    ClippingsError,
    NotFound,
    QuestionTooLong,
    SearchResponse,
    Store,
    check_question_length,
    is_small_talk,
    no_searchable_words,
    question_terms,
    without_invisible,
    without_links,
)

from ..client import libraries_for
from ..errors import expired_button, handle_interaction_error, handle_message_error, reply_to, send_ephemeral
from ..formatting import (
    AnswerPage,
    answer_page,
    closest_page,
    context_embed,
    cooldown_sentence,
    no_answer,
    nothing_found,
    passage_key,
    question_key,
    question_of_answer,
    question_of_no_answer,
)
from ..pool import MemberOrder, PoolUnavailable
from .help import HelpCog
from .newsroom import NewsroomCog

if TYPE_CHECKING:
    from ..client import ClippingsBot

log = logging.getLogger(__name__)

RECENT_TITLES = 3
EXPIRED = "This answer has expired; ask again with /ask."
NOT_YOURS = "Only the person who asked can use these buttons; ask your own question with /ask."


NO_EMBEDS = (
    "I can't show quotes in this channel without the Embed Links permission; a moderator can allow it"
    " for my role here."
)


def may_embed(message: discord.Message) -> bool:
    """Whether the bot's reply to `message` can show embeds: Discord drops them from a message,
    without an error, where the bot lacks Embed Links (servers often deny it to @everyone)."""
    channel, guild = message.channel, message.guild
    if guild is None or not isinstance(channel, discord.abc.GuildChannel | discord.Thread):
        return True
    try:
        return channel.permissions_for(guild.me).embed_links
    except discord.ClientException:  # a thread whose parent channel is not cached
        return True


def addresses_bot(message: discord.Message, bot_id: int) -> bool:
    """Whether a server message asks the bot: Discord lists the bot in its `mentions`. A mention in
    the text puts it there, and so does a reply to one of the bot's messages with the ping on,
    whose content has no `<@id>`; a reply with the ping off, or a reply to a member's message that
    does not mention the bot, leaves it out. The replied-to message itself is not looked at:
    Discord decided the ping when the member sent the reply, so a reply to an answer that was
    deleted since or is not in the cache (`reference.resolved` a DeletedReferencedMessage or None)
    counts the same. A mention of the bot's own role counts too: Discord offers it beside the bot
    when a member types @Clippings, and the two look alike (the role's id is read from the text,
    since Discord lists a role that may not be mentioned in no `role_mentions`)."""
    if any(user.id == bot_id for user in message.mentions):
        return True
    role = message.guild.self_role if message.guild is not None else None
    return role is not None and role.id in message.raw_role_mentions


DISCORD_MARKUP = re.compile(
    r"[ \t]*(?:(?:<(?:@[!&]?[0-9]+|#[0-9]+|a?:\w+:[0-9]+|t:-?[0-9]+(?::[tTdDfFR])?|/[^<>:\n]+:[0-9]+)>"
    r"|(?<![\w@])@(?:everyone|here)\b)[ \t]*)+"
)
"""Mentions of members, roles and channels (and @everyone, @here), custom emoji, timestamps and
command mentions, as Discord writes them in a message (and in a slash command's text option): ids
and pings, not words of the question."""


def question_text(text: str) -> str:
    """A member's question as it is searched and echoed: without Discord's markup, whose ids would
    count as words that no article holds (a question that also mentions a member was found to have
    no answer), and without web links (the search drops them too, and echoed they would bring a
    link preview under the answer) and the invisible characters the search drops anyway."""
    return without_links(typed_text(text)).strip()


def typed_text(text: str) -> str:
    """A member's question without Discord's markup and invisible characters, links still in it."""
    return without_invisible(DISCORD_MARKUP.sub(" ", text))


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


# The buttons keep their state in their custom_id (the question itself is read back from the
# answer's text), so they work after a restart: the bot registers them at start as dynamic items.


async def only_the_asker(interaction: discord.Interaction, asker_id: int) -> bool:
    if interaction.user.id == asker_id:
        return True
    await send_ephemeral(interaction, NOT_YOURS)
    return False


def store_of(interaction: discord.Interaction) -> Store:
    return interaction.client.store  # type: ignore[attr-defined]


class MoreButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"ask:more:(?P<asker>[0-9]+):(?P<offset>[0-9]+):(?P<per_page>[1-9]):(?P<key>[0-9a-f]{10})",
):
    """The next page of results, in place."""

    def __init__(self, asker_id: int, offset: int, per_page: int, key: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="More",
                style=discord.ButtonStyle.primary,
                row=0,
                custom_id=f"ask:more:{asker_id}:{offset}:{per_page}:{key}",
            )
        )
        self.asker_id, self.offset, self.per_page, self.key = asker_id, offset, per_page, key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> MoreButton:
        return cls(int(match["asker"]), int(match["offset"]), int(match["per_page"]), match["key"])

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await only_the_asker(interaction, self.asker_id)

    async def callback(self, interaction: discord.Interaction) -> None:
        # discord.py only logs errors of dynamic items, so they are answered here.
        try:
            await self.show_more(interaction)
        except Exception as error:
            await handle_interaction_error(interaction, error)

    async def show_more(self, interaction: discord.Interaction) -> None:
        message = interaction.message
        question = question_of_answer(message.content if message else None, self.key)
        if question is None:
            await send_ephemeral(interaction, EXPIRED)
            return
        await interaction.response.defer()
        response = await asyncio.to_thread(
            store_of(interaction).search,
            question,
            libraries_for(interaction.guild_id),
            self.per_page,
            self.offset,
        )
        if not response.hits:
            await interaction.edit_original_response(view=None)
            await interaction.followup.send("There are no more results for that question.", ephemeral=True)
            return
        page, view = answer_message(self.asker_id, response, self.per_page, self.offset)
        await interaction.edit_original_response(content=page.content, embeds=page.embeds, view=view)


class ContextButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=(
        r"ask:ctx:(?P<asker>[0-9]+):(?P<rank>[0-9]+):(?P<article>[0-9]+):(?P<passage>[0-9]+)"
        r"(?::(?P<key>[0-9a-f]{8}))?"
    ),
):
    """The passages around one quoted passage, shown privately. `key` is the quoted passage's
    fingerprint (`passage_key`); buttons made before it was carried have none."""

    def __init__(self, asker_id: int, rank: int, article_id: str, passage: int, key: str | None) -> None:
        suffix = f":{key}" if key else ""
        super().__init__(
            discord.ui.Button(
                label=f"Context {rank}",
                style=discord.ButtonStyle.secondary,
                row=1,
                custom_id=f"ask:ctx:{asker_id}:{rank}:{article_id}:{passage}{suffix}",
            )
        )
        self.asker_id, self.article_id, self.passage, self.key = asker_id, article_id, passage, key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ContextButton:
        return cls(
            int(match["asker"]), int(match["rank"]), match["article"], int(match["passage"]), match["key"]
        )

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await only_the_asker(interaction, self.asker_id)

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self.show_context(interaction)
        except Exception as error:
            await handle_interaction_error(interaction, error)

    async def show_context(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        store, libraries = store_of(interaction), libraries_for(interaction.guild_id)
        try:
            article = await asyncio.to_thread(store.get_article, libraries, self.article_id)
        except NotFound:  # removed or replaced since the answer
            await interaction.followup.send(EXPIRED, ephemeral=True)
            return
        passages = await asyncio.to_thread(
            store.passages, libraries, self.article_id, self.passage - 1, self.passage + 1
        )
        focus = next((p for p in passages if p.index == self.passage), None)
        if focus is None or (self.key is not None and passage_key(focus.text) != self.key):
            # Removed, or updated in place since the answer: its passage is no longer the quote.
            await interaction.followup.send(EXPIRED, ephemeral=True)
            return
        await interaction.followup.send(embed=context_embed(article, passages, self.passage), ephemeral=True)


ExpiredButton = expired_button(r"[0-9a-f]{32}", EXPIRED)
"""Buttons of answers given before buttons kept their state (random custom ids): say so."""


class ClosestButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"ask:closest:(?P<asker>[0-9]+):(?P<per_page>[1-9]):(?P<key>[0-9a-f]{10})",
):
    """Under a question the articles hold no answer to: its closest passages, shown privately and
    labelled as not an answer."""

    def __init__(self, asker_id: int, per_page: int, key: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Closest passages (not an answer)",
                style=discord.ButtonStyle.secondary,
                custom_id=f"ask:closest:{asker_id}:{per_page}:{key}",
            )
        )
        self.asker_id, self.per_page, self.key = asker_id, per_page, key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ClosestButton:
        return cls(int(match["asker"]), int(match["per_page"]), match["key"])

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await only_the_asker(interaction, self.asker_id)

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self.show_closest(interaction)
        except Exception as error:
            await handle_interaction_error(interaction, error)

    async def show_closest(self, interaction: discord.Interaction) -> None:
        message = interaction.message
        question = question_of_no_answer(message.content if message else None, self.key)
        if question is None:
            await send_ephemeral(interaction, EXPIRED)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        response = await asyncio.to_thread(
            store_of(interaction).search, question, libraries_for(interaction.guild_id), self.per_page, 0
        )
        if not response.hits:
            await interaction.followup.send(EXPIRED, ephemeral=True)
            return
        page = closest_page(response)
        await interaction.followup.send(content=page.content, embeds=page.embeds, ephemeral=True)


BUTTONS = (MoreButton, ContextButton, ClosestButton, ExpiredButton)
"""Registered at start (ClippingsBot.setup_hook), so buttons of earlier answers still work."""


def answer_message(
    asker_id: int, response: SearchResponse, per_page: int, offset: int = 0
) -> tuple[AnswerPage, discord.ui.View]:
    """The page of results that starts at `offset` (0-based), with More and one Context per passage."""
    page = answer_page(response, first_rank=offset + 1)
    view = discord.ui.View(timeout=None)
    if response.total_hits > offset + page.shown:
        view.add_item(MoreButton(asker_id, offset + page.shown, per_page, question_key(response.question)))
    for position, hit in enumerate(response.hits[: page.shown]):
        if hit.article.passage_count > 1:
            view.add_item(
                ContextButton(
                    asker_id,
                    offset + position + 1,
                    hit.article.id,
                    hit.passage.index,
                    passage_key(hit.passage.text),
                )
            )
    return page, view


def no_answer_message(
    asker_id: int, response: SearchResponse, per_page: int, scope: str
) -> tuple[str, discord.ui.View]:
    """One sentence in place of quotes, and the asker's button to see the closest passages anyway."""
    view = discord.ui.View(timeout=None)
    view.add_item(ClosestButton(asker_id, per_page, question_key(response.question)))
    return no_answer(response, scope), view


class AskCog(commands.Cog):
    def __init__(self, bot: ClippingsBot) -> None:
        self.bot = bot
        self.cooldowns = Cooldowns(bot.settings.ask_cooldown)
        self.order = MemberOrder()
        """Each member's answers go out in the order they asked."""

    async def _search(self, question: str, guild_id: int | None, results: int) -> SearchResponse:
        pool = self.bot.search_pool
        if pool is not None and pool.ready:
            try:
                return await pool.search(question, libraries_for(guild_id), results, 0)
            except PoolUnavailable:
                pass  # its last worker ended before taking the question: this process answers it
        return await asyncio.to_thread(self.bot.store.search, question, libraries_for(guild_id), results, 0)

    async def _nothing_found(self, response: SearchResponse, guild_id: int | None) -> str:
        recent: list[str] = []
        if response.searched_articles:
            for library in response.libraries:
                articles = await asyncio.to_thread(self.bot.store.list_articles, library, 0, RECENT_TITLES)
                recent.extend(a.title for a in articles)
        return nothing_found(response, recent[:RECENT_TITLES], scope_of(guild_id))

    async def _help_reply(self, guild_id: int | None) -> str:
        """The reply to a greeting or a question about the bot: /help's text."""
        cog = self.bot.get_cog("HelpCog")
        return await (cog if isinstance(cog, HelpCog) else HelpCog(self.bot)).reply(guild_id)

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
        question: app_commands.Range[str, 1, MAX_QUESTION_CHARS],
        results: app_commands.Range[int, 1, 5] = 3,
        private: bool = False,
    ) -> None:
        # Bidi controls would turn the echoed question around; the search drops them anyway.
        typed, question = typed_text(question), question_text(question)
        check_question_length(question)  # Discord holds the option to the same limit
        if is_small_talk(question):  # "hello", "what can you do": the help text, never passages
            await interaction.response.defer(ephemeral=True, thinking=True)
            await interaction.followup.send(await self._help_reply(interaction.guild_id), ephemeral=True)
            return
        if not question_terms(question):
            raise no_searchable_words(typed)  # before deferring, so the refusal stays private
        self._check_cooldown(interaction.user.id)
        self.bot.track_answer()
        await interaction.response.defer(ephemeral=private, thinking=True)
        async with self.order.turn(interaction.user.id):
            response = await self._search(question, interaction.guild_id, results)
            if not response.hits:
                await interaction.followup.send(
                    await self._nothing_found(response, interaction.guild_id), ephemeral=private
                )
                return
            if not response.answerable:
                content, closest = no_answer_message(
                    interaction.user.id, response, results, scope_of(interaction.guild_id)
                )
                await interaction.followup.send(content, view=closest, ephemeral=private, wait=True)
                return
            page, view = answer_message(interaction.user.id, response, results)
            await interaction.followup.send(
                content=page.content, embeds=page.embeds, view=view, ephemeral=private, wait=True
            )

    @commands.Cog.listener("on_message")
    async def answer_mention(self, message: discord.Message) -> None:
        """ "@Clippings what did Qin say about weapons" gets the same answer as /ask, as a reply, and
        so does a reply to one of the bot's messages that pings it (`addresses_bot`); in direct
        messages, so does the question without the mention."""
        try:
            await self._answer_mention(message)
        except Exception as error:  # discord.py would only log it: the member would wait in silence
            await handle_message_error(message, error)

    async def _answer_mention(self, message: discord.Message) -> None:
        me = self.bot.user
        if me is None or message.author.bot or not message.content:
            return
        if message.guild is not None and not addresses_bot(message, me.id):
            return  # in direct messages every message is for the bot: the mention is optional
        newsroom = self.bot.get_cog("NewsroomCog")
        if isinstance(newsroom, NewsroomCog) and await newsroom.takes(message):
            return  # a moderator's article, posted with a mention as /newsroom set asks
        question = question_text(message.content)  # the bot's own mention goes with the others
        guild_id = message.guild.id if message.guild else None
        if not question:
            typed = typed_text(message.content)
            await reply_to(
                message,
                str(no_searchable_words(typed))
                if question_terms(typed)  # a link alone
                else "Ask me a question after the mention, for example: what did Qin say about weapons",
            )
            return
        try:
            check_question_length(question)
        except QuestionTooLong as exc:
            await reply_to(message, str(exc))
            return
        if is_small_talk(question):
            await reply_to(message, await self._help_reply(guild_id))
            return
        if not question_terms(question):  # before the cooldown, as for /ask: no question was asked
            await reply_to(message, str(no_searchable_words(typed_text(message.content))))
            return
        retry = self.cooldowns.retry_after(message.author.id)
        if retry:
            await reply_to(message, cooldown_sentence(retry))
            return
        self.bot.track_answer()
        async with self.order.turn(message.author.id):
            try:
                response = await self._search(question, guild_id, 3)
            except ClippingsError as exc:
                await reply_to(message, str(exc))
                return
            if not response.hits:
                await reply_to(message, await self._nothing_found(response, guild_id))
                return
            if not response.answerable:
                content, closest = no_answer_message(message.author.id, response, 3, scope_of(guild_id))
                await reply_to(message, content, view=closest)
                return
            if not may_embed(message):
                await reply_to(message, NO_EMBEDS)
                return
            page, view = answer_message(message.author.id, response, 3)
            await reply_to(message, content=page.content, embeds=page.embeds, view=view)
