"""The fake's world: users, roles, channels, members, guilds, and records of requests."""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .constants import (
    DISCORD_EPOCH_MS,
    ChannelType,
    Intent,
    Perm,
)
from .errors import (
    FakeDiscordError,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

# --------------------------------------------------------------------------
# Snowflakes / helpers
# --------------------------------------------------------------------------


class _Snowflakes:
    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = (ms << 22) | (1 << 17)  # worker 1
        if value <= self._last:
            value = self._last + 1
        self._last = value
        return value


def _now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat()


def _id_of(obj: Any) -> int:
    """Snowflake of a fake object, a payload dict, a discord.py object or an int."""
    if obj is None:
        raise FakeDiscordError("expected an object or id, got None")
    if isinstance(obj, bool):
        raise FakeDiscordError(f"not an id: {obj!r}")
    if isinstance(obj, int):
        return obj
    if isinstance(obj, str):
        return int(obj)
    if isinstance(obj, FakeMember):
        return obj.user.id
    if isinstance(obj, Mapping):
        return int(obj["id"])
    return int(obj.id)


# --------------------------------------------------------------------------
# World model
# --------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class FakeUser:
    """A Discord user (human or bot)."""

    id: int
    username: str
    bot: bool = False
    global_name: str | None = None

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def to_payload(self) -> dict:
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
            "flags": 0,
        }


@dataclasses.dataclass(eq=False)
class FakeRole:
    """A guild role. The @everyone role has the guild's id."""

    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0
    managed: bool = False
    mentionable: bool = False
    bot_id: int | None = None

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"

    def to_payload(self) -> dict:
        data = {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {
                "primary_color": 0,
                "secondary_color": None,
                "tertiary_color": None,
            },
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclasses.dataclass(eq=False)
class FakeChannel:
    """A guild channel or DM channel."""

    id: int
    type: int
    name: str | None
    guild_id: int | None = None
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    overwrites: list[dict] = dataclasses.field(default_factory=list)
    recipient_ids: list[int] = dataclasses.field(default_factory=list)
    last_message_id: int | None = None
    # Threads (types 10, 11, 12): who started it, its thread_metadata, its members and counts.
    owner_id: int | None = None
    archived: bool = False
    locked: bool = False
    invitable: bool = True
    auto_archive_duration: int = 1440
    archive_timestamp: str = dataclasses.field(default_factory=_now_iso)
    create_timestamp: str | None = None
    #: Thread members: user id -> join timestamp.
    thread_members: dict[int, str] = dataclasses.field(default_factory=dict)
    message_count: int = 0
    total_message_sent: int = 0
    #: Forum posts: ids of the forum's tags applied to the post (None: not a forum post).
    applied_tags: list[int] | None = None
    #: Forum channels: the tags a post can carry (``{"id", "name", "moderated", "emoji_id", "emoji_name"}``).
    available_tags: list[dict] = dataclasses.field(default_factory=list)

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    @property
    def is_thread(self) -> bool:
        return self.type in ChannelType.THREADS

    def thread_member_payload(self, user_id: int) -> dict:
        """A thread member object (the thread's id, the user's, when they joined)."""
        return {
            "id": str(self.id),
            "user_id": str(user_id),
            "join_timestamp": self.thread_members[user_id],
            "flags": 0,
        }

    def thread_metadata(self) -> dict:
        data: dict[str, Any] = {
            "archived": self.archived,
            "auto_archive_duration": self.auto_archive_duration,
            "archive_timestamp": self.archive_timestamp,
            "locked": self.locked,
            "create_timestamp": self.create_timestamp,
        }
        if self.type == ChannelType.PRIVATE_THREAD:
            data["invitable"] = self.invitable
        return data

    def set_permissions(self, target: Any, *, allow: int = 0, deny: int = 0) -> None:
        """Add/replace a permission overwrite for a role or a member/user."""
        kind = 0 if isinstance(target, FakeRole) else 1
        target_id = _id_of(target)
        self.overwrites = [o for o in self.overwrites if int(o["id"]) != target_id]
        self.overwrites.append({"id": str(target_id), "type": kind, "allow": str(allow), "deny": str(deny)})

    def to_payload(self, users: Mapping[int, FakeUser] | None = None, *, me: int | None = None) -> dict:
        """The channel object; for a thread, ``me`` (the bot's id) adds its thread ``member``
        object when it is a member, as Discord does for the current user."""
        if self.is_thread:
            return self._thread_payload(me)
        if self.type == ChannelType.DM:
            recipients = [users[r].to_payload() for r in self.recipient_ids] if users else []
            return {
                "id": str(self.id),
                "type": self.type,
                "recipients": recipients,
                "last_message_id": (str(self.last_message_id) if self.last_message_id else None),
                "flags": 0,
            }
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "name": self.name,
            "position": self.position,
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "permission_overwrites": copy.deepcopy(self.overwrites),
            "nsfw": False,
            "flags": 0,
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if self.type in (ChannelType.GUILD_TEXT, ChannelType.GUILD_ANNOUNCEMENT):
            data["topic"] = self.topic
            data["rate_limit_per_user"] = 0
            data["last_message_id"] = str(self.last_message_id) if self.last_message_id else None
        elif self.type == ChannelType.GUILD_VOICE:
            data.update(bitrate=64000, user_limit=0, rtc_region=None)
        elif self.type == ChannelType.GUILD_FORUM:
            data.update(
                topic=self.topic,
                rate_limit_per_user=0,
                last_message_id=str(self.last_message_id) if self.last_message_id else None,
                available_tags=copy.deepcopy(self.available_tags),
                default_reaction_emoji=None,
                default_thread_rate_limit_per_user=0,
                default_sort_order=None,
                default_forum_layout=0,
                default_auto_archive_duration=1440,
            )
        return data

    def _thread_payload(self, me: int | None) -> dict:
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "parent_id": str(self.parent_id),
            "owner_id": str(self.owner_id),
            "name": self.name,
            "last_message_id": str(self.last_message_id) if self.last_message_id else None,
            "rate_limit_per_user": 0,
            "flags": 0,
            "message_count": self.message_count,
            "member_count": min(len(self.thread_members), 50),
            "total_message_sent": self.total_message_sent,
            "thread_metadata": self.thread_metadata(),
        }
        if self.applied_tags is not None:
            data["applied_tags"] = [str(t) for t in self.applied_tags]
        if me is not None and me in self.thread_members:
            data["member"] = self.thread_member_payload(me)
        return data


@dataclasses.dataclass(eq=False)
class FakeMember:
    """A user's membership in a guild. ``extra_permissions`` are OR-ed into the
    permissions computed from roles (a shortcut instead of creating a role)."""

    guild_id: int
    user: FakeUser
    role_ids: list[int] = dataclasses.field(default_factory=list)
    nick: str | None = None
    extra_permissions: int = 0
    joined_at: str = dataclasses.field(default_factory=_now_iso)

    @property
    def id(self) -> int:
        return self.user.id

    def to_payload(self, *, with_user: bool = True, permissions: int | None = None) -> dict:
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.role_ids],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.to_payload()
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


class FakeGuild:
    """A guild in the fake world. Create with :meth:`FakeDiscord.add_guild`.

    Adding roles/channels/members after the bot connected dispatches the
    matching gateway events (GUILD_ROLE_CREATE, CHANNEL_CREATE,
    GUILD_MEMBER_ADD) like Discord would; so does deleting a channel (CHANNEL_DELETE).
    """

    def __init__(self, fake: FakeDiscord, guild_id: int, name: str, owner_id: int) -> None:
        self._fake = fake
        self.id = guild_id
        self.name = name
        self.owner_id = owner_id
        self.roles: dict[int, FakeRole] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.members: dict[int, FakeMember] = {}
        #: Threads (active and archived), apart from ``channels`` as Discord keeps them.
        self.threads: dict[int, FakeChannel] = {}
        self.roles[guild_id] = FakeRole(
            id=guild_id, guild_id=guild_id, name="@everyone", permissions=Perm.DEFAULT_EVERYONE
        )

    @property
    def everyone_role(self) -> FakeRole:
        return self.roles[self.id]

    def add_role(
        self,
        name: str,
        permissions: int = 0,
        *,
        position: int | None = None,
        mentionable: bool = False,
    ) -> FakeRole:
        role = FakeRole(
            id=self._fake._snowflake(),
            guild_id=self.id,
            name=name,
            permissions=permissions,
            position=len(self.roles) if position is None else position,
            mentionable=mentionable,
        )
        self.roles[role.id] = role
        self._fake._echo(
            "GUILD_ROLE_CREATE",
            {"guild_id": str(self.id), "role": role.to_payload()},
            Intent.GUILDS,
        )
        return role

    def add_channel(
        self,
        name: str,
        type: int = ChannelType.GUILD_TEXT,
        *,
        category: FakeChannel | None = None,
        topic: str | None = None,
    ) -> FakeChannel:
        channel = FakeChannel(
            id=self._fake._snowflake(),
            type=type,
            name=name,
            guild_id=self.id,
            position=len(self.channels),
            parent_id=category.id if category else None,
            topic=topic,
        )
        self.channels[channel.id] = channel
        self._fake.channels[channel.id] = channel
        self._fake._echo("CHANNEL_CREATE", channel.to_payload(), Intent.GUILDS)
        return channel

    def add_text_channel(
        self, name: str, *, category: FakeChannel | None = None, topic: str | None = None
    ) -> FakeChannel:
        return self.add_channel(name, ChannelType.GUILD_TEXT, category=category, topic=topic)

    def add_forum_channel(
        self,
        name: str,
        *,
        tags: Sequence[str] = (),
        category: FakeChannel | None = None,
        topic: str | None = None,
    ) -> FakeChannel:
        """A forum channel (type 15) whose ``available_tags`` are named ``tags``; its posts are
        threads (:meth:`FakeDiscord.create_forum_post`)."""
        channel = FakeChannel(
            id=self._fake._snowflake(),
            type=ChannelType.GUILD_FORUM,
            name=name,
            guild_id=self.id,
            position=len(self.channels),
            parent_id=category.id if category else None,
            topic=topic,
            available_tags=[
                {
                    "id": str(self._fake._snowflake()),
                    "name": tag,
                    "moderated": False,
                    "emoji_id": None,
                    "emoji_name": None,
                }
                for tag in tags
            ],
        )
        self.channels[channel.id] = channel
        self._fake.channels[channel.id] = channel
        self._fake._echo("CHANNEL_CREATE", channel.to_payload(), Intent.GUILDS)
        return channel

    def delete_channel(self, channel: Any) -> None:
        """Delete a channel as a member with Manage Channels would: it leaves the world with its
        messages and threads (REST on them answers 404 Unknown Channel) and CHANNEL_DELETE is
        dispatched (Discord sends no MESSAGE_DELETE or THREAD_DELETE for what it held). A bot that
        is not running then never hears of it; one that is disconnected gets the event when it
        RESUMEs."""
        deleted = self.channels.pop(_id_of(channel))
        gone = {deleted.id}
        for thread in [t for t in self.threads.values() if t.parent_id == deleted.id]:
            del self.threads[thread.id]
            gone.add(thread.id)
        for cid in gone:
            self._fake.channels.pop(cid, None)
        self._fake._deleted.update(
            mid for mid, msg in self._fake._messages.items() if int(msg["channel_id"]) in gone
        )
        self._fake._echo("CHANNEL_DELETE", deleted.to_payload(), Intent.GUILDS)

    def add_member(
        self,
        user: FakeUser,
        *,
        roles: Sequence[FakeRole] = (),
        permissions: int = 0,
        nick: str | None = None,
    ) -> FakeMember:
        member = FakeMember(
            guild_id=self.id,
            user=user,
            role_ids=[r.id for r in roles],
            nick=nick,
            extra_permissions=permissions,
        )
        self.members[user.id] = member
        data = member.to_payload()
        data["guild_id"] = str(self.id)
        self._fake._echo("GUILD_MEMBER_ADD", data, Intent.GUILD_MEMBERS)
        return member

    def member(self, user: Any) -> FakeMember | None:
        return self.members.get(_id_of(user))

    def base_permissions(self, user: Any) -> int:
        """Guild-level permissions of a member (roles + extra, admin => all)."""
        uid = _id_of(user)
        if uid == self.owner_id:
            return Perm.ALL
        member = self.members.get(uid)
        if member is None:
            return 0
        perms = self.everyone_role.permissions | member.extra_permissions
        for rid in member.role_ids:
            role = self.roles.get(rid)
            if role is not None:
                perms |= role.permissions
        if perms & Perm.ADMINISTRATOR:
            return Perm.ALL
        return perms

    def permissions_for(self, user: Any, channel: FakeChannel | None = None) -> int:
        """Channel-level permissions, applying overwrites like Discord does. A thread has the
        permissions of its parent channel, except that a private thread is hidden from whoever
        is neither its member nor has Manage Threads there."""
        if channel is not None and channel.is_thread:
            parent = self.channels.get(channel.parent_id or 0)
            perms = self.permissions_for(user, parent) if parent is not None else 0
            if (
                channel.type == ChannelType.PRIVATE_THREAD
                and perms != Perm.ALL
                and _id_of(user) not in channel.thread_members
                and not perms & Perm.MANAGE_THREADS
            ):
                perms &= ~Perm.THREAD_VIEW
            return perms
        perms = self.base_permissions(user)
        if channel is None or perms == Perm.ALL:
            return perms
        uid = _id_of(user)
        member = self.members.get(uid)
        overwrites = {int(o["id"]): o for o in channel.overwrites}
        everyone = overwrites.get(self.id)
        if everyone:
            perms &= ~int(everyone["deny"])
            perms |= int(everyone["allow"])
        allow = deny = 0
        for rid in member.role_ids if member else ():
            ow = overwrites.get(rid)
            if ow and ow["type"] == 0:
                allow |= int(ow["allow"])
                deny |= int(ow["deny"])
        perms &= ~deny
        perms |= allow
        ow = overwrites.get(uid)
        if ow and ow["type"] == 1:
            perms &= ~int(ow["deny"])
            perms |= int(ow["allow"])
        return perms

    def to_payload(self) -> dict:
        """The GUILD_CREATE payload as the bot gets it: ``threads`` holds the active threads it
        may view, with its thread member object where it is one."""
        members = [m.to_payload() for m in self.members.values()]
        bot_id = self._fake.bot_user.id
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "features": [],
            "roles": [r.to_payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "joined_at": _now_iso(),
            "large": False,
            "unavailable": False,
            "member_count": len(members),
            "members": members,
            "channels": [c.to_payload() for c in self.channels.values()],
            "threads": [
                t.to_payload(me=bot_id)
                for t in self.threads.values()
                if not t.archived and self.permissions_for(bot_id, t) & Perm.VIEW_CHANNEL
            ],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }


# --------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------


@dataclasses.dataclass
class UploadedFile:
    """A file part of a multipart request (``files[n]``)."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclasses.dataclass
class RecordedRequest:
    """One HTTP request the bot made to the fake.

    ``json`` is the parsed JSON body, or the parsed ``payload_json`` part of a
    multipart body (``files`` then holds the uploaded files). ``path`` is
    relative to ``/api/v10`` and percent-decoded per segment.
    """

    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[UploadedFile]
    headers: dict[str, str]
    status: int = 0
    response: Any = None
    time: float = 0.0


@dataclasses.dataclass
class CommandSync:
    """A bulk overwrite (PUT) of application commands."""

    application_id: int
    guild_id: int | None
    payload: list[dict]
    response: list[dict]
    status: int
