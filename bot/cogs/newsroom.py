"""Newsroom channels: articles that moderators post there are added to the server's library, and
follow the posts: an edited post updates its article, a deleted one removes it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index import ClippingsError, NotFound

from ..checks import require_moderator
from ..errors import APOLOGY, UserError, handle_message_error, reply_to
from ..formatting import fit_sentence
from ..ingest import article_from_message, looks_like_article, post_source

if TYPE_CHECKING:
    from ..client import ClippingsBot

log = logging.getLogger(__name__)

NEWSROOM_KEY = "newsroom_channel"
POST_PREFIX = "newsroom_post:"
POST_KEY = POST_PREFIX + "{}"
"""The setting (in the server's library) that records what became of one newsroom post, by its id."""
NEWSROOM_PERMISSIONS = (
    ("view_channel", "View Channel"),
    ("send_messages", "Send Messages"),
    ("add_reactions", "Add Reactions"),
)
"""What the bot needs in the newsroom channel: to see its posts, and to answer them (✅, ❌ and a reason)."""
FORUM_PERMISSIONS = (
    ("view_channel", "View Channel"),
    ("send_messages_in_threads", "Send Messages in Threads"),
    ("add_reactions", "Add Reactions"),
)
"""The same in a forum channel, whose posts are threads: a reason is sent in the post's thread."""
POST_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})
"""The messages that can be posts: what a member writes, not Discord's notices of what they did."""
REASON_LIMIT = 300
KEPT_NOTE = "The library keeps this post's earlier version: {reason}"
"""The reply to a refused edit whose post's article stays as it was: one sentence, the reason's next
step last."""


@dataclasses.dataclass(frozen=True, slots=True)
class PostRecord:
    """What became of a newsroom post, kept so that its edits and its deletion can follow it."""

    source: str | None
    """What its article was last read from (`post_source`): an edit that keeps it changes nothing."""
    article: str | None
    """The article it is stored as; None: it was refused."""
    owned: bool
    """The post added the article (rather than finding it in the library): deleting the post, or
    editing it to another link or file, removes the article."""
    channel: int | None
    """The channel the post is in (a forum post's forum): deleting it deletes the post, without a
    message deletion from Discord. None in a record written before channels were kept."""

    def dumps(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def loads(cls, value: str) -> PostRecord:
        data = json.loads(value)
        channel = data.get("channel")
        return cls(
            data.get("source"),
            data.get("article"),
            bool(data.get("owned")),
            int(channel) if channel else None,
        )


def post_channel(message: discord.Message) -> int:
    """The channel a newsroom post is in: a forum post's forum, else its channel."""
    channel = message.channel
    if isinstance(channel, discord.Thread):
        return channel.parent_id
    return channel.id


class _PostLock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


@app_commands.guild_only()
@app_commands.default_permissions(manage_messages=True)
class NewsroomCog(
    commands.GroupCog, group_name="newsroom", group_description="Choose a channel whose posts become articles"
):
    def __init__(self, bot: ClippingsBot) -> None:
        self.bot = bot
        self._channels: dict[int, int | None] = {}
        self._post_locks: dict[int, _PostLock] = {}
        # Held while the newsroom setting is read and changed, so that clearing a deleted channel
        # cannot undo a /newsroom set that came in between.
        self._setting_lock = asyncio.Lock()
        super().__init__()

    async def newsroom_channel(self, guild_id: int) -> int | None:
        """The stored newsroom channel id (which may name a channel deleted while the bot was away)."""
        if guild_id not in self._channels:
            value = await asyncio.to_thread(self.bot.store.get_setting, str(guild_id), NEWSROOM_KEY)
            self._channels[guild_id] = int(value) if value else None
        return self._channels[guild_id]

    async def shown_newsroom_channel(self, guild_id: int) -> int | None:
        """The newsroom channel as members see it: None also when the stored id names no channel of
        the server any more (deleted while the bot was offline), which Discord would show as
        #unknown. A server the bot has no data of yet keeps the stored id."""
        channel_id = await self.newsroom_channel(guild_id)
        guild = self.bot.get_guild(guild_id)
        if channel_id is None or guild is None or guild.unavailable:
            return channel_id
        return channel_id if guild.get_channel(channel_id) is not None else None

    async def _set(self, guild_id: int, channel_id: int | None) -> None:
        await asyncio.to_thread(
            self.bot.store.set_setting, str(guild_id), NEWSROOM_KEY, str(channel_id) if channel_id else None
        )
        self._channels[guild_id] = channel_id

    @app_commands.command(name="set", description="Index articles that moderators post in this channel.")
    @app_commands.describe(channel="The channel where moderators post articles")
    async def set_(
        self, interaction: discord.Interaction, channel: discord.TextChannel | discord.ForumChannel
    ) -> None:
        require_moderator(interaction)
        if channel.guild.id != interaction.guild_id:
            raise UserError("Pick a channel of this server.")
        granted = channel.permissions_for(channel.guild.me)
        needed = FORUM_PERMISSIONS if isinstance(channel, discord.ForumChannel) else NEWSROOM_PERMISSIONS
        missing = [name for flag, name in needed if not getattr(granted, flag)]
        if missing:
            # Discord sends no events of a channel the bot may not view; without reactions and
            # messages, moderators would never hear whether their posts were added.
            names = " and ".join([", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing)
            raise UserError(
                f"I need {names} in {channel.mention} to follow its posts; allow"
                f" {'them' if len(missing) > 1 else 'it'} for my role there, then run /newsroom set again."
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self._setting_lock:
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
        async with self._setting_lock:
            had = await self.shown_newsroom_channel(guild_id)
            await self._set(guild_id, None)  # a deleted channel's id goes too
        text = (
            "The newsroom channel is cleared; posts are no longer indexed."
            if had
            else "No newsroom channel was set."
        )
        await interaction.followup.send(text, ephemeral=True)

    @commands.Cog.listener("on_guild_channel_delete")
    async def clear_deleted_newsroom(self, channel: discord.abc.GuildChannel) -> None:
        """The newsroom channel was deleted: the setting is cleared (and logged; there is no one to
        answer), so /help offers /newsroom set again. Its articles stay in the server's library."""
        guild_id = channel.guild.id
        try:
            async with self._setting_lock:
                if await self.newsroom_channel(guild_id) != channel.id:
                    return
                await self._set(guild_id, None)
        except Exception:  # a bug: no one to apologise to, so it is logged with its traceback
            log.exception("unexpected error clearing the deleted newsroom channel %s", channel.id)
            return
        log.info(
            "newsroom channel %s (#%s) of server %s was deleted; the newsroom setting is cleared",
            channel.id,
            channel.name,
            guild_id,
        )

    @commands.Cog.listener("on_guild_channel_delete")
    async def forget_deleted_channels_posts(self, channel: discord.abc.GuildChannel) -> None:
        """A deleted channel (the newsroom, or one that was) takes its posts with it, and Discord
        sends no message deletions for them: their records go, as nothing can edit or delete those
        posts any more. Their articles stay, as the deleted newsroom channel's do."""
        if not isinstance(channel, discord.TextChannel | discord.ForumChannel):
            return  # no newsroom: the records name only text and forum channels
        guild_id = channel.guild.id
        forgotten = 0
        try:
            records = await asyncio.to_thread(self.bot.store.settings, str(guild_id), POST_PREFIX)
        except Exception:  # a bug: no one to apologise to, so it is logged with its traceback
            log.exception("unexpected error forgetting the newsroom posts of deleted channel %s", channel.id)
            return
        for key, value in records.items():
            try:
                recorded = PostRecord.loads(value).channel
                message_id = int(key.removeprefix(POST_PREFIX))
            except (ValueError, TypeError, AttributeError):  # json's errors are ValueErrors
                # One unreadable record must not keep the others: it is left as it is, and named.
                log.warning("newsroom record %s of server %s is unreadable; left as it is", key, guild_id)
                continue
            if recorded != channel.id:
                continue
            try:
                async with self._one_at_a_time(message_id):
                    record = await self._record(guild_id, message_id)  # again, in the post's turn
                    if record is not None and record.channel == channel.id:
                        await self._keep_record(guild_id, message_id, None)
                        forgotten += 1
            except Exception:  # a bug: logged with its traceback, and the other records still go
                log.exception(
                    "unexpected error forgetting newsroom post %s of deleted channel %s", key, channel.id
                )
        if forgotten:
            log.info(
                "forgot %s newsroom posts of deleted channel %s (#%s); their articles stay",
                forgotten,
                channel.id,
                channel.name,
            )

    async def is_moderators_post(self, message: discord.Message) -> bool:
        """A moderator's message in the server's newsroom channel (only moderators' posts become
        articles). In a newsroom forum, a post is the starter message of one of its threads (it has
        the thread's id); messages inside threads, the forum's or a text newsroom's, are no posts.
        Only a written message or reply is a post: Discord's system messages (a thread created, a
        pin, a renamed channel) name the moderator whose action they report, and a thread's name
        can be a link."""
        if message.guild is None or message.author.bot or not isinstance(message.author, discord.Member):
            return False
        if message.type not in POST_TYPES:
            return False
        channel = message.channel
        newsroom = await self.newsroom_channel(message.guild.id)
        if isinstance(channel, discord.Thread):
            if channel.parent_id != newsroom or message.id != channel.id:
                return False
        elif newsroom != channel.id:
            return False
        return channel.permissions_for(message.author).manage_messages

    async def takes(self, message: discord.Message) -> bool:
        """Whether this cog answers the message (with ✅ or ❌): a moderator's newsroom post with a file,
        a link or article-length text; a mention of the bot in such a post is no question."""
        return await self.is_moderators_post(message) and looks_like_article(message)

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self, message_id: int) -> AsyncIterator[None]:
        """The events of one post in turn: an edit or a deletion waits until the post is stored."""
        entry = self._post_locks.setdefault(message_id, _PostLock())
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if not entry.users:
                del self._post_locks[message_id]

    async def _record(self, guild_id: int, message_id: int) -> PostRecord | None:
        value = await asyncio.to_thread(
            self.bot.store.get_setting, str(guild_id), POST_KEY.format(message_id)
        )
        return PostRecord.loads(value) if value else None

    async def _keep_record(self, guild_id: int, message_id: int, record: PostRecord | None) -> None:
        await asyncio.to_thread(
            self.bot.store.set_setting,
            str(guild_id),
            POST_KEY.format(message_id),
            record.dumps() if record else None,
        )

    @commands.Cog.listener("on_message")
    async def index_newsroom_post(self, message: discord.Message) -> None:
        # The post's turn is taken before anything is awaited: an edit or a deletion dispatched
        # while the newsroom channel is read from the database must wait for the post to be stored.
        async with self._one_at_a_time(message.id):
            if await self.is_moderators_post(message):
                await self._store_post(message, None)

    @commands.Cog.listener("on_raw_message_edit")
    async def update_newsroom_post(self, payload: discord.RawMessageUpdateEvent) -> None:
        """A moderator's edit of a newsroom post: its article is read again and updated in place (a
        text post keeps its link, so its article keeps its id). A post that was refused, or was an
        ordinary short message, and now holds an article is added. Updates that leave what the
        article is read from alone (Discord's link previews, pins, the words around a link) do
        nothing; so does an edit the bot cannot read (no Message Content intent, no mention)."""
        message = payload.message
        if not await self.is_moderators_post(message) or not self._can_read(message):
            return
        assert message.guild is not None  # a newsroom post is a server's
        source = post_source(message)
        async with self._one_at_a_time(message.id):
            try:
                record = await self._record(message.guild.id, message.id)
            except Exception as exc:
                await handle_message_error(message, exc)
                return
            if record is not None:
                if record.source == source:
                    return
            elif source is None:
                return  # still an ordinary short message
            elif payload.cached_message is not None:
                if post_source(payload.cached_message) == source:
                    return  # stored or refused as it is now, moments ago (its record comes next)
            elif message.edited_at is None:
                return  # never edited: Discord's own update (a link preview) of an older message
            log.info("newsroom post %s was edited; reading it again", message.id)
            await self._store_post(message, record)

    def _can_read(self, message: discord.Message) -> bool:
        """Without the Message Content intent Discord blanks a post unless it mentions the bot: an
        edit of such a post shows nothing, and must not read as the article having gone."""
        return self.bot.settings.message_content or (
            self.bot.user is not None and self.bot.user in message.mentions
        )

    async def _store_post(self, message: discord.Message, record: PostRecord | None) -> None:
        """Store (or, for an edited post, store again) a newsroom post's article, and say how it went."""
        assert message.guild is not None
        guild_id, source = message.guild.id, post_source(message)
        try:
            article = await article_from_message(message, self.bot.settings.fetch)
            if article is None:  # an ordinary short message, not (or no longer) an article
                if record is not None:
                    await self._drop(message, record)
                return
            result = await asyncio.to_thread(self.bot.store.add, article, str(guild_id))
        except ClippingsError as exc:
            reason = fit_sentence(str(exc), REASON_LIMIT)
            kept = record.article if record else None
            if kept:
                reason = KEPT_NOTE.format(reason=reason)
            try:
                await self._keep_record(
                    guild_id,
                    message.id,
                    PostRecord(source, kept, bool(record and record.owned), post_channel(message)),
                )
            except Exception:
                log.exception("could not record the refusal of newsroom post %s", message.id)
            await self._react(message, "❌", reason)
            return
        except Exception:  # a bug: discord.py would only log it, and the post would look ignored
            log.exception("unexpected error storing newsroom post %s", message.id)
            await self._react(message, "❌", APOLOGY)
            return
        stored = result.article.id
        same = record is not None and record.article == stored
        owned = result.status == "added" or (same and record is not None and record.owned)
        try:
            if record is not None and record.article and record.owned and not same:
                await self._remove(guild_id, record.article, f"newsroom post {message.id} now gives another")
            await self._keep_record(
                guild_id, message.id, PostRecord(source, stored, owned, post_channel(message))
            )
        except Exception:
            log.exception("unexpected error recording newsroom post %s", message.id)
        log.info("newsroom post %s stored as article %s (%s)", message.id, stored, result.status)
        await self._react(message, "✅")

    async def _drop(self, message: discord.Message, record: PostRecord) -> None:
        """An edited post no longer holds an article: its article goes, and so does the ✅."""
        assert message.guild is not None
        if record.article and record.owned:
            await self._remove(
                message.guild.id, record.article, f"newsroom post {message.id} no longer holds it"
            )
        await self._keep_record(message.guild.id, message.id, None)
        await self._unreact(message, "✅")

    async def _remove(self, guild_id: int, article_id: str, why: str) -> None:
        try:
            removed = await asyncio.to_thread(self.bot.store.remove, str(guild_id), article_id)
        except NotFound:
            log.info("article %s was already removed (%s)", article_id, why)
            return
        log.info("removed article %s %r: %s", removed.id, removed.title, why)

    @commands.Cog.listener("on_raw_message_delete")
    async def forget_deleted_post(self, payload: discord.RawMessageDeleteEvent) -> None:
        if payload.guild_id is not None:
            await self._forget(payload.guild_id, payload.message_id)

    @commands.Cog.listener("on_raw_thread_delete")
    async def forget_deleted_forum_post(self, payload: discord.RawThreadDeleteEvent) -> None:
        """A deleted forum post (its thread) goes with its starter message, whose id it shares;
        Discord sends no message deletion for it. The thread of a text channel's message shares that
        message's id too, but the message stays: only a forum's threads count. When the whole forum
        is deleted, its posts' articles stay, as a deleted newsroom channel's do."""
        guild = self.bot.get_guild(payload.guild_id)
        if guild is not None and isinstance(guild.get_channel(payload.parent_id), discord.ForumChannel):
            await self._forget(payload.guild_id, payload.thread_id)

    @commands.Cog.listener("on_thread_update")
    async def retitle_renamed_forum_post(self, before: discord.Thread, after: discord.Thread) -> None:
        """A renamed forum post retitles its article: a text post is titled by the post's name. A
        link or file post keeps the title of its page or file, and a refused post stays refused."""
        if before.name == after.name or not isinstance(after.parent, discord.ForumChannel):
            return
        async with self._one_at_a_time(after.id):
            try:
                record = await self._record(after.guild.id, after.id)
                if record is None or not record.article or not (record.source or "").startswith("text:"):
                    return
                message = await after.fetch_message(after.id)  # the post's starter message
            except discord.NotFound:
                return  # deleted meanwhile: its deletion takes the article
            # Its record says a moderator's post was stored; a fetched message names no member to check again.
            if not self._can_read(message):
                return
            log.info("newsroom forum post %s was renamed; retitling its article", after.id)
            await self._store_post(message, record)

    @commands.Cog.listener("on_raw_bulk_message_delete")
    async def forget_deleted_posts(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        if payload.guild_id is not None:
            for message_id in sorted(payload.message_ids):
                await self._forget(payload.guild_id, message_id)

    async def _forget(self, guild_id: int, message_id: int) -> None:
        """A deleted message: if it was a stored newsroom post (in whichever channel), its article is
        removed. There is no message left to react to or reply to: the removal is logged."""
        async with self._one_at_a_time(message_id):
            try:
                record = await self._record(guild_id, message_id)
                if record is None:
                    return
                if record.article and record.owned:
                    await self._remove(guild_id, record.article, f"newsroom post {message_id} was deleted")
                await self._keep_record(guild_id, message_id, None)
            except Exception:  # a bug: no one to apologise to, so it is logged with its traceback
                log.exception("unexpected error following the deletion of newsroom post %s", message_id)

    async def _react(self, message: discord.Message, emoji: str, reason: str | None = None) -> None:
        """The ✅ or ❌ (an edited post loses the other one), then the reason; the reason still goes
        out where the bot may not react."""
        try:
            await message.add_reaction(emoji)
        except discord.HTTPException:
            log.warning("could not react %s to newsroom post %s", emoji, message.id, exc_info=True)
        await self._unreact(message, "❌" if emoji == "✅" else "✅")
        if not reason:
            return
        try:
            await reply_to(message, reason)
        except discord.HTTPException:
            log.warning("could not answer newsroom post %s", message.id, exc_info=True)

    async def _unreact(self, message: discord.Message, emoji: str) -> None:
        """Take back the bot's own ✅ or ❌, when the post shows it."""
        if not any(reaction.me and str(reaction.emoji) == emoji for reaction in message.reactions):
            return
        assert self.bot.user is not None
        try:
            await message.remove_reaction(emoji, self.bot.user)
        except discord.HTTPException:
            log.warning("could not take back %s from newsroom post %s", emoji, message.id, exc_info=True)
