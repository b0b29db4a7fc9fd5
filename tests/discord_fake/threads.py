"""Threads and forum posts: what members do with them, and the gateway events Discord sends for them.

As on Discord (API v10): a thread is a channel (type 10, 11 or 12) with a ``parent_id``, a
``thread_metadata`` and members; a thread started from a message, and a forum post with its
starter message, share that message's id. A thread has its parent's permissions, and sending in it
takes SEND_MESSAGES_IN_THREADS instead of SEND_MESSAGES; a private thread is seen only by its
members and by those with MANAGE_THREADS. A message sent to an archived thread unarchives it
(THREAD_UPDATE first), unless the thread is locked and the sender lacks MANAGE_THREADS. Whoever
posts in a thread, or is mentioned in a private one, joins it; when the bot joins a thread it gets
THREAD_CREATE and THREAD_MEMBERS_UPDATE. Events about other members' thread membership need the
GUILD_MEMBERS intent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .constants import HAS_THREAD, ChannelType, Intent, Perm
from .errors import ApiError, FakeDiscordError
from .models import FakeChannel, FakeGuild, _id_of, _now_iso

if TYPE_CHECKING:
    from .server import FakeDiscord

_Event = tuple[str, dict, int]


class ThreadsMixin:
    """Threads, forum posts and their events."""

    # -- helpers -------------------------------------------------------------------------------

    def _thread(self: FakeDiscord, thread: Any) -> FakeChannel:
        channel = self._channel(thread)
        if not channel.is_thread:
            raise FakeDiscordError(f"channel {channel.id} is not a thread")
        return channel

    def _thread_guild(self: FakeDiscord, thread: FakeChannel) -> FakeGuild:
        guild = self._guild_of(thread)
        if guild is None:
            raise FakeDiscordError("threads live in a server")
        return guild

    def _bot_views(self: FakeDiscord, channel: FakeChannel) -> bool:
        return bool(self._bot_perms(channel) & Perm.VIEW_CHANNEL)

    def _thread_payload(self: FakeDiscord, thread: FakeChannel, **extra: Any) -> dict:
        return {**thread.to_payload(me=self.bot_user.id), **extra}

    def _register_thread(self: FakeDiscord, thread: FakeChannel) -> None:
        guild = self._thread_guild(thread)
        guild.threads[thread.id] = thread
        self.channels[thread.id] = thread

    def _join_events(self: FakeDiscord, thread: FakeChannel, user_id: int) -> list[_Event]:
        """Make ``user_id`` a member of the thread; the events Discord sends the bot for it."""
        if user_id in thread.thread_members:
            return []
        thread.thread_members[user_id] = _now_iso()
        guild = self._thread_guild(thread)
        added = thread.thread_member_payload(user_id)
        member = guild.members.get(user_id)
        if member is not None:
            added["member"] = member.to_payload()
        update = {
            "id": str(thread.id),
            "guild_id": str(guild.id),
            "member_count": min(len(thread.thread_members), 50),
            "added_members": [added],
            "removed_member_ids": [],
        }
        if user_id == self.bot_user.id:
            # Discord sends THREAD_CREATE whenever the current user is added to a thread.
            return [
                ("THREAD_CREATE", self._thread_payload(thread), Intent.GUILDS),
                ("THREAD_MEMBERS_UPDATE", update, Intent.GUILDS),
            ]
        if not self._bot_views(thread):
            return []
        return [("THREAD_MEMBERS_UPDATE", update, Intent.GUILD_MEMBERS)]

    def _unarchive_events(self: FakeDiscord, thread: FakeChannel) -> list[_Event]:
        thread.archived = False
        thread.archive_timestamp = _now_iso()
        if not self._bot_views(thread):
            return []
        return [("THREAD_UPDATE", self._thread_payload(thread), Intent.GUILDS)]

    async def _send_events(self: FakeDiscord, events: list[_Event], timeout: float | None) -> None:
        """Dispatch events to a bot that connected at least once (it gets them on RESUME if it is
        away); a world built before the bot connects only shows in GUILD_CREATE."""
        if self._session is None:
            return
        for event, data, intent in events:
            session = await self.wait_for(self._live_session, timeout, "a gateway connection")
            if intent and not session.intents & intent:
                continue
            await self.dispatch(event, data, timeout=timeout)

    def _echo_events(self: FakeDiscord, events: list[_Event]) -> None:
        for event, data, intent in events:
            self._echo(event, data, intent)

    # -- the bot's messages in threads (REST) ------------------------------------------------------

    def _before_bot_thread_message(self: FakeDiscord, thread: FakeChannel) -> None:
        """The bot sends to a thread: an archived one is unarchived first, unless it is locked and
        the bot lacks MANAGE_THREADS (400/50083); a locked one takes MANAGE_THREADS (403/160005).
        The bot joins the thread by posting in it."""
        manages = bool(self._bot_perms(thread) & Perm.MANAGE_THREADS)
        if thread.locked and not manages:
            if thread.archived:
                raise ApiError(400, 50083, "Thread is archived")
            raise ApiError(403, 160005, "Thread is locked")
        events = self._unarchive_events(thread) if thread.archived else []
        events += self._join_events(thread, self.bot_user.id)
        self._echo_events(events)

    def _refuse_in_archived(self: FakeDiscord, channel: FakeChannel) -> None:
        """Nothing but deleting messages happens in an archived thread."""
        if channel.is_thread and channel.archived:
            raise ApiError(400, 50083, "Thread is archived")

    # -- members' messages in threads ----------------------------------------------------------

    async def _before_thread_message(
        self: FakeDiscord, thread: FakeChannel, user: Any, content: str, timeout: float | None
    ) -> None:
        """A member posts in a thread: they must see it; a locked thread takes MANAGE_THREADS; an
        archived one is unarchived (THREAD_UPDATE); the poster joins it, and so do the members
        mentioned in a private thread who may view its parent channel."""
        guild = self._thread_guild(thread)
        uid = _id_of(user)
        perms = guild.permissions_for(uid, thread)
        if not perms & Perm.VIEW_CHANNEL:
            raise FakeDiscordError(f"user {uid} cannot view thread {thread.name!r}")
        if thread.locked and not perms & Perm.MANAGE_THREADS:
            raise FakeDiscordError(f"thread {thread.name!r} is locked: only members with Manage Threads post")
        events = self._unarchive_events(thread) if thread.archived else []
        events += self._join_events(thread, uid)
        if thread.type == ChannelType.PRIVATE_THREAD:
            parent = self.channels[thread.parent_id or 0]
            for mentioned in dict.fromkeys(int(x) for x in re.findall(r"<@!?(\d+)>", content)):
                if (
                    mentioned in guild.members
                    and guild.permissions_for(mentioned, parent) & Perm.VIEW_CHANNEL
                ):
                    events += self._join_events(thread, mentioned)
        await self._send_events(events, timeout)

    # -- what members do -----------------------------------------------------------------------

    async def start_thread(
        self: FakeDiscord,
        channel: Any,
        author: Any,
        name: str,
        *,
        message: Any = None,
        private: bool = False,
        invitable: bool = True,
        auto_archive_duration: int = 1440,
        timeout: float | None = None,
    ) -> FakeChannel:
        """A member starts a thread in a text or announcement channel: from ``message`` (the thread
        takes the message's id, and the message its ``thread``), or without one; ``private`` makes a
        private thread (text channels only). THREAD_CREATE (``newly_created``) reaches the bot if it
        may view the thread."""
        parent = self._channel(channel)
        if parent.type not in (ChannelType.GUILD_TEXT, ChannelType.GUILD_ANNOUNCEMENT):
            raise FakeDiscordError(
                "threads start in a text or announcement channel (forums: create_forum_post)"
            )
        if private and (message is not None or parent.type != ChannelType.GUILD_TEXT):
            raise FakeDiscordError("a private thread starts in a text channel, from no message")
        starter = None
        if message is not None:
            starter = self._user_message(message)
            if int(starter["channel_id"]) != parent.id or starter.get("thread"):
                raise FakeDiscordError("a thread starts from a message of its channel that has none yet")
        if private:
            kind = ChannelType.PRIVATE_THREAD
        elif parent.type == ChannelType.GUILD_ANNOUNCEMENT:
            kind = ChannelType.ANNOUNCEMENT_THREAD
        else:
            kind = ChannelType.PUBLIC_THREAD
        uid = _id_of(author)
        now = _now_iso()
        thread = FakeChannel(
            id=int(starter["id"]) if starter else self._snowflake(),
            type=kind,
            name=name,
            guild_id=parent.guild_id,
            parent_id=parent.id,
            owner_id=uid,
            invitable=invitable,
            auto_archive_duration=auto_archive_duration,
            archive_timestamp=now,
            create_timestamp=now,
            thread_members={uid: now},
        )
        self._register_thread(thread)
        if starter is not None:
            starter["thread"] = thread.to_payload()
            starter["flags"] |= HAS_THREAD
        self._notify()
        if self._bot_views(thread):
            await self._send_events(
                [("THREAD_CREATE", self._thread_payload(thread, newly_created=True), Intent.GUILDS)], timeout
            )
        return thread

    async def create_forum_post(
        self: FakeDiscord,
        forum: Any,
        author: Any,
        name: str,
        content: str = "",
        *,
        attachments: Sequence[dict] = (),
        embeds: Sequence[dict] = (),
        tags: Sequence[str] = (),
        timeout: float | None = None,
    ) -> tuple[FakeChannel, dict]:
        """A member posts in a forum channel: a public thread named ``name`` (carrying the forum's
        ``tags``) whose starter message has the thread's id. THREAD_CREATE (``newly_created``), then
        MESSAGE_CREATE of the starter message, reach the bot if it may view the forum. Returns the
        thread and the starter message."""
        parent = self._channel(forum)
        if parent.type != ChannelType.GUILD_FORUM:
            raise FakeDiscordError(f"channel {parent.id} is not a forum channel")
        user = self._user(author)
        guild = self._thread_guild(parent)
        if user.id not in guild.members:
            raise FakeDiscordError(f"{user.username} is not a member of {guild.name}")
        by_name = {t["name"]: int(t["id"]) for t in parent.available_tags}
        unknown = [t for t in tags if t not in by_name]
        if unknown:
            raise FakeDiscordError(f"forum {parent.name!r} has no tags {unknown}")
        now = _now_iso()
        thread = FakeChannel(
            id=self._snowflake(),
            type=ChannelType.PUBLIC_THREAD,
            name=name,
            guild_id=parent.guild_id,
            parent_id=parent.id,
            owner_id=user.id,
            archive_timestamp=now,
            create_timestamp=now,
            thread_members={user.id: now},
            applied_tags=[by_name[t] for t in tags],
        )
        self._register_thread(thread)
        body = {"content": content, "embeds": list(embeds)}
        msg = self._create_message(thread, user, body, echo=False, message_id=thread.id)
        msg["attachments"] = [dict(a) for a in attachments]
        parent.last_message_id = thread.id
        self._notify()
        if self._bot_views(thread) and self._session is not None:
            await self._send_events(
                [("THREAD_CREATE", self._thread_payload(thread, newly_created=True), Intent.GUILDS)], timeout
            )
            session = await self.wait_for(self._live_session, timeout, "a gateway connection")
            if session.intents & Intent.GUILD_MESSAGES:
                await self.dispatch(
                    "MESSAGE_CREATE", self._gateway_message(thread, msg, session), timeout=timeout
                )
        return thread, msg

    async def archive_thread(
        self: FakeDiscord, thread: Any, *, locked: bool = False, timeout: float | None = None
    ) -> None:
        """The thread is archived (by a member, or after its ``auto_archive_duration``); ``locked``
        keeps others than moderators from unarchiving it. THREAD_UPDATE reaches the bot if it may
        view the thread (discord.py then drops it from its cache)."""
        channel = self._thread(thread)
        channel.archived, channel.locked = True, locked
        channel.archive_timestamp = _now_iso()
        self._notify()
        if self._bot_views(channel):
            await self._send_events(
                [("THREAD_UPDATE", self._thread_payload(channel), Intent.GUILDS)], timeout
            )

    async def rename_thread(
        self: FakeDiscord, thread: Any, name: str, *, timeout: float | None = None
    ) -> None:
        """A member renames the thread (a forum post's title): THREAD_UPDATE reaches the bot if it
        may view the thread."""
        channel = self._thread(thread)
        channel.name = name
        self._notify()
        if self._bot_views(channel):
            await self._send_events(
                [("THREAD_UPDATE", self._thread_payload(channel), Intent.GUILDS)], timeout
            )

    async def unarchive_thread(self: FakeDiscord, thread: Any, *, timeout: float | None = None) -> None:
        """A moderator unarchives the thread (and unlocks it): THREAD_UPDATE."""
        channel = self._thread(thread)
        channel.locked = False
        events = self._unarchive_events(channel)
        self._notify()
        await self._send_events(events, timeout)

    async def delete_thread(self: FakeDiscord, thread: Any, *, timeout: float | None = None) -> None:
        """A moderator deletes a thread (a forum post): it leaves the world with its messages, and
        THREAD_DELETE (id, guild, parent, type only) reaches the bot if it could view it; Discord
        sends no MESSAGE_DELETE for the messages."""
        channel = self._thread(thread)
        seen = self._bot_views(channel)
        guild = self._thread_guild(channel)
        del guild.threads[channel.id]
        self.channels.pop(channel.id, None)
        self._deleted.update(
            mid for mid, msg in self._messages.items() if int(msg["channel_id"]) == channel.id
        )
        self._notify()
        if seen:
            data = {
                "id": str(channel.id),
                "guild_id": str(guild.id),
                "parent_id": str(channel.parent_id),
                "type": channel.type,
            }
            await self._send_events([("THREAD_DELETE", data, Intent.GUILDS)], timeout)

    async def add_thread_member(
        self: FakeDiscord, thread: Any, user: Any, *, timeout: float | None = None
    ) -> None:
        """Someone adds ``user`` to the thread: THREAD_MEMBERS_UPDATE (and THREAD_CREATE first when
        it is the bot; about other members, only with the GUILD_MEMBERS intent)."""
        channel = self._thread(thread)
        events = self._join_events(channel, _id_of(user))
        self._notify()
        await self._send_events(events, timeout)

    async def remove_thread_member(
        self: FakeDiscord, thread: Any, user: Any, *, timeout: float | None = None
    ) -> None:
        """``user`` leaves (or is removed from) the thread: THREAD_MEMBERS_UPDATE."""
        channel = self._thread(thread)
        uid = _id_of(user)
        seen = self._bot_views(channel)
        if channel.thread_members.pop(uid, None) is None:
            return
        self._notify()
        if not seen:
            return
        update = {
            "id": str(channel.id),
            "guild_id": str(channel.guild_id),
            "member_count": min(len(channel.thread_members), 50),
            "removed_member_ids": [str(uid)],
        }
        intent = Intent.GUILDS if uid == self.bot_user.id else Intent.GUILD_MEMBERS
        await self._send_events([("THREAD_MEMBERS_UPDATE", update, intent)], timeout)

    async def sync_threads(
        self: FakeDiscord, guild: Any, channels: Sequence[Any] | None = None, *, timeout: float | None = None
    ) -> None:
        """THREAD_LIST_SYNC, which Discord sends when the bot gains access to channels: the active
        threads it may view in ``channels`` (every channel when None, without ``channel_ids``),
        with its thread member objects."""
        g = guild if isinstance(guild, FakeGuild) else self.guilds[_id_of(guild)]
        wanted = None if channels is None else {_id_of(c) for c in channels}
        threads = [
            t
            for t in g.threads.values()
            if not t.archived and self._bot_views(t) and (wanted is None or t.parent_id in wanted)
        ]
        data: dict[str, Any] = {
            "guild_id": str(g.id),
            "threads": [self._thread_payload(t) for t in threads],
            "members": [
                t.thread_member_payload(self.bot_user.id)
                for t in threads
                if self.bot_user.id in t.thread_members
            ],
        }
        if wanted is not None:
            data["channel_ids"] = [str(c) for c in wanted]
        await self._send_events([("THREAD_LIST_SYNC", data, Intent.GUILDS)], timeout)
