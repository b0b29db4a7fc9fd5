"""A fake Discord (REST v10 + gateway) server for driving an unmodified discord.py bot.

The fake is an aiohttp web server bound to ``127.0.0.1`` on a random free port.
discord.py is pointed at it by patching two class attributes (``Route.BASE`` and
``DiscordWebSocket.DEFAULT_GATEWAY``); everything else -- login, gateway
handshake, heartbeats, command sync, interaction callbacks, webhook followups,
channel REST -- goes through discord.py's own client code over real sockets.

The fake keeps a small "world" (users, guilds, roles, channels, members,
messages, registered application commands), records every request the bot
makes, validates message/modal/autocomplete bodies against Discord's limits and
answers with Discord-style errors, and gives tests async helpers that build
realistic gateway payloads (slash commands, autocomplete, buttons, selects,
modals, context menus, user messages, reactions).

Quick start
-----------
.. code-block:: python

    import pytest, pytest_asyncio
    from discord_fake import FakeDiscord, Perm, run_bot  # tests/ is on sys.path

    @pytest_asyncio.fixture
    async def fake():
        async with FakeDiscord() as fake:          # starts + stops the server
            yield fake

    @pytest_asyncio.fixture
    async def world(fake):
        guild = fake.add_guild("Test Guild")
        general = guild.add_text_channel("general")
        alice = fake.add_user("alice")
        guild.add_member(alice)
        mods = guild.add_role("Mods", permissions=Perm.MANAGE_MESSAGES)
        bob = fake.add_user("bob")
        guild.add_member(bob, roles=[mods])
        return guild, general, alice, bob

    @pytest_asyncio.fixture
    async def runner(fake, world):
        bot = make_my_bot()                         # any discord.Client / commands.Bot
        # run_bot patches discord.py, starts bot.start(fake.token) in a task,
        # waits for on_ready, and on exit closes the bot and restores the patches.
        # Any exception in the bot task or any ERROR logged under the "discord"
        # logger fails the test (and makes pending waits fail immediately).
        async with run_bot(fake, bot) as runner:
            yield runner

    @pytest.mark.asyncio
    async def test_ping(fake, world, runner):
        guild, general, alice, bob = world
        inter = await fake.invoke_command("ping", user=alice, channel=general)
        response = await inter.wait_response()     # the callback body the bot POSTed
        assert response["type"] == 4
        assert inter.original_message["content"] == "pong"
        assert not inter.late

``run_bot`` sets ``client._connection.guild_ready_timeout`` (default 0.05 s) so
``on_ready`` fires quickly; the whole start/stop cycle takes well under a second.
On exit it first waits (up to 1 s) for discord.py's handler tasks to finish, so
the bot's last reactions are captured. Build the world (guilds, channels,
members) *before* ``run_bot`` if the bot needs it at startup (e.g. to sync
guild commands); later changes are dispatched as gateway events.
``@pytest.mark.asyncio`` / ``pytest_asyncio.fixture`` work in strict and auto mode.

Main API
--------
Objects (``FakeUser``, ``FakeMember``, ``FakeChannel``, ``FakeRole``, message
dicts) and plain snowflake ints are accepted wherever a user/channel/message is
expected. Messages are Discord JSON dicts (ids are strings), kept live: edits by
the bot show up in dicts you already hold.

* :class:`FakeDiscord` -- server + world. ``add_user``, ``add_guild`` ->
  :class:`FakeGuild` (``add_role``, ``add_text_channel``, ``add_channel``,
  ``add_member``, ``member``, ``permissions_for``), ``FakeChannel.set_permissions``
  (overwrites), ``bot_role(guild)``, ``dm_channel(user)``,
  ``add_attachment(filename, bytes)`` / ``serve_bytes`` (served over HTTP, so
  ``Attachment.read()`` works).
* Gateway: ``await dispatch(event, data)`` (any raw DISPATCH), ``drop_connection
  (code=4000)`` (client RESUMEs), ``send_reconnect()``, ``invalidate_session()``,
  ``heartbeats`` / ``heartbeat_count``, ``identifies`` / ``identify_count``,
  ``resumes`` / ``resume_count``, ``intents``, ``wait_for_heartbeats(n)``,
  ``wait_until_connected()``.
* Interactions -- each returns a :class:`FakeInteraction` once the
  INTERACTION_CREATE frame was written: ``invoke_command("article add",
  {...}, user=, channel=)``, ``autocomplete(cmd, options, focused, ...)``,
  ``click_button(message, custom_id, user=)``, ``select(message, custom_id,
  values, user=)``, ``submit_modal(source_interaction, {custom_id: value})``,
  ``invoke_message_command(name, message, user=)``, ``invoke_user_command(name,
  target, user=, channel=)``; low level ``build_command_payload``,
  ``build_component_payload``, ``build_modal_submit_payload``,
  ``build_context_menu_payload`` and ``send_interaction(payload)``. Option
  types come from the command schema the bot synced.
* :class:`FakeInteraction`: ``payload``, ``response`` (accepted callback body),
  ``response_type``, ``callback_attempts``, ``ack_latency``, ``late``,
  ``is_ephemeral``, ``modal``, ``choices``, ``original_message``,
  ``followups``, ``edits``, ``deleted_message_ids``; ``await wait_response()``,
  ``wait_followup(i)``, ``wait_edit(i)``, ``wait_original(predicate)``.
* User activity: ``send_user_message(channel, author, content, reply_to=,
  attachments=)``, ``add_user_reaction(message, user, emoji)``.
* Inspection: ``requests`` (:class:`RecordedRequest`: method, path, query, json,
  files, headers, status, response), ``requests_to(method, path_regex)``,
  ``error_responses``, ``unhandled_requests``, ``command_syncs``
  (:class:`CommandSync`), ``registered_commands(guild)``, ``messages_in(channel,
  include_ephemeral=False)``, ``get_message(id)``, ``reactions_on(message)``,
  ``interactions``, ``late_interactions()``, ``presence_updates``.
* Waiting: ``wait_for(predicate)``, ``wait_for_request(method, path_regex,
  after=index)``, ``wait_for_message(channel, predicate)``. All are woken by
  the fake's state changes (no fixed sleeps), fail immediately with
  :class:`BotFailure` once the bot crashed/logged an error, and raise
  :class:`WaitTimeout` after ``default_timeout`` (5 s).
* :func:`run_bot` / :class:`BotRunner` -- run a client against the fake:
  ``errors``, ``take_errors()``, ``wait_idle()``, ``wait_for_error()``;
  ``fail_on_errors=False`` for tests that provoke errors on purpose.
* :meth:`FakeDiscord.patch_discord` -- the bare patch context manager.
* Validators usable on their own: :func:`validate_message_body`,
  :func:`validate_modal`, :func:`validate_autocomplete`,
  :func:`validate_commands` (raise :class:`ApiError`).

Behaviour modelled after real Discord
-------------------------------------
* ``Authorization: Bot <token>`` is required on REST (401 otherwise) and the
  IDENTIFY token must match (close 4004). Privileged intents not enabled in
  ``FakeDiscord(privileged_intents=...)`` close the gateway with 4014.
* Message-ish bodies are validated (content 2000, embeds 10 / title 256 /
  description 4096 / 25 fields / field name 256 / value 1024 / footer 2048 /
  author 256 / 6000 total, 5 action rows, 5 buttons per row, selects alone in
  a row, button label 80, custom_id 100, select options 25, duplicate
  custom_ids, empty messages); modals (title 45, 1-5 components, text input
  limits); autocomplete (25 choices, name 1-100); command sync payloads.
  Violations answer ``400 {"code": 50035, "message": "Invalid Form Body",
  "errors": {...}}`` exactly like Discord (discord.py raises HTTPException).
* Interaction callbacks: only response types valid for the interaction type
  are accepted; a second callback answers ``400`` code 40060 ("Interaction has
  already been acknowledged."); the ack latency is recorded and a callback
  later than ``ack_deadline`` (3 s) marks the interaction ``late`` (and is
  rejected with 404/10062 when ``enforce_ack_deadline=True``).
* After a type-5 defer, the first followup replaces the "thinking" message
  (same id, keeps the defer's ephemerality), as Discord does.
* Bot permissions are enforced on channel REST (send/reply/attach, reactions,
  deleting/editing others' messages) with 403 code 50013, computed from roles
  and channel overwrites. ``default_member_permissions``, ``contexts`` /
  ``dm_permission`` and VIEW_CHANNEL/USE_APPLICATION_COMMANDS are enforced
  when a test tries to invoke a command (raises :class:`InteractionNotAllowed`),
  since discord.py does not check them itself.
* Messages the bot creates/edits/deletes/reacts to are echoed back over the
  gateway (MESSAGE_CREATE/UPDATE/DELETE, MESSAGE_REACTION_ADD) when the bot's
  intents ask for them; ephemeral messages are never echoed.

* ``mentions`` of a stored bot message list only users that would actually be
  pinged under its ``allowed_mentions`` (replies ping by default only when no
  ``allowed_mentions`` was sent) -- assert on ``requests`` for exact bodies.

Not modelled: rate limits (no 429s), threads/forums, stickers, polls, voice,
zlib compression, more than one shard, attachment size limits, the 15-minute
token lifetime, message-content stripping in REST (only on the gateway),
replaying already-sent events on RESUME (only events queued while
disconnected are delivered).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import dataclasses
import datetime as _dt
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

import yarl
from aiohttp import WSMsgType, web

__all__ = [
    "ApiError",
    "BotFailure",
    "BotRunner",
    "CallbackType",
    "ChannelType",
    "CommandSync",
    "FakeChannel",
    "FakeDiscord",
    "FakeDiscordError",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "Intent",
    "InteractionNotAllowed",
    "InteractionType",
    "Perm",
    "RecordedRequest",
    "UploadedFile",
    "WaitTimeout",
    "run_bot",
    "validate_autocomplete",
    "validate_commands",
    "validate_message_body",
    "validate_modal",
]

_log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1420070400000
DEFAULT_TIMEOUT = 5.0
# Fallback re-check interval of wait_for() for predicates over state the fake
# cannot observe (the bot's caches); fake-side changes wake waiters at once.
_EXTERNAL_POLL = 0.05


# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------


class Perm:
    """Discord permission bits (plain ints, combine with ``|``)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    SEND_MESSAGES_IN_THREADS = 1 << 38
    ALL = (1 << 51) - 1
    #: What a fresh guild's @everyone role gets in this fake.
    DEFAULT_EVERYONE = (
        CREATE_INSTANT_INVITE
        | ADD_REACTIONS
        | VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | USE_EXTERNAL_EMOJIS
        | USE_APPLICATION_COMMANDS
    )
    #: What the bot's managed role gets unless ``FakeDiscord(bot_permissions=...)``.
    DEFAULT_BOT = (
        ADD_REACTIONS
        | VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | USE_EXTERNAL_EMOJIS
    )


class Intent:
    """Gateway intent bits."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    MESSAGE_CONTENT = 1 << 15
    PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT


class ChannelType:
    GUILD_TEXT = 0
    DM = 1
    GUILD_VOICE = 2
    GUILD_CATEGORY = 4
    GUILD_ANNOUNCEMENT = 5


class InteractionType:
    PING = 1
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


class CallbackType:
    CHANNEL_MESSAGE = 4
    DEFERRED_CHANNEL_MESSAGE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    AUTOCOMPLETE_RESULT = 8
    MODAL = 9


EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_EMBEDS = 1 << 2
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_COMPONENTS_V2 = 1 << 15

_ALLOWED_CALLBACKS = {
    InteractionType.APPLICATION_COMMAND: {4, 5, 9},
    InteractionType.MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
    InteractionType.AUTOCOMPLETE: {8},
    InteractionType.MODAL_SUBMIT: {4, 5, 6, 7},
}

_SELECT_TYPES = {3, 5, 6, 7, 8}


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class FakeDiscordError(Exception):
    """A test used the fake in a way it (or real Discord) cannot support."""


class InteractionNotAllowed(FakeDiscordError):
    """Real Discord would not let this user trigger this interaction at all
    (missing ``default_member_permissions``, command unavailable in DMs,
    disabled button, value not among the select options...)."""


class BotFailure(AssertionError):
    """The bot under test crashed or logged an error (see ``BotRunner``)."""


class WaitTimeout(AssertionError):
    """A ``wait_*`` helper ran out of time."""


class ApiError(Exception):
    """Raised inside request handlers to answer with a Discord-style error."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: dict | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict:
        data: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            data["errors"] = self.errors
        return data


def _not_found(code: int, what: str) -> ApiError:
    return ApiError(404, code, f"Unknown {what}")


def _missing_permissions() -> ApiError:
    return ApiError(403, 50013, "Missing Permissions")


class _FormErrors:
    """Collects Discord's nested ``errors`` tree for a 50035 response."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: Sequence[str | int], code: str, message: str) -> None:
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def __bool__(self) -> bool:
        return bool(self.tree)

    def raise_if_any(self) -> None:
        if self.tree:
            raise ApiError(400, 50035, "Invalid Form Body", self.tree)


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

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    def set_permissions(self, target: Any, *, allow: int = 0, deny: int = 0) -> None:
        """Add/replace a permission overwrite for a role or a member/user."""
        kind = 0 if isinstance(target, FakeRole) else 1
        target_id = _id_of(target)
        self.overwrites = [o for o in self.overwrites if int(o["id"]) != target_id]
        self.overwrites.append({"id": str(target_id), "type": kind, "allow": str(allow), "deny": str(deny)})

    def to_payload(self, users: Mapping[int, FakeUser] | None = None) -> dict:
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
    GUILD_MEMBER_ADD) like Discord would.
    """

    def __init__(self, fake: FakeDiscord, guild_id: int, name: str, owner_id: int) -> None:
        self._fake = fake
        self.id = guild_id
        self.name = name
        self.owner_id = owner_id
        self.roles: dict[int, FakeRole] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.members: dict[int, FakeMember] = {}
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
        """Channel-level permissions, applying overwrites like Discord does."""
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
        members = [m.to_payload() for m in self.members.values()]
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
            "threads": [],
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


# --------------------------------------------------------------------------
# Validation (Discord's documented limits)
# --------------------------------------------------------------------------


def _check_str(
    errs: _FormErrors,
    path: Sequence[str | int],
    value: Any,
    maximum: int,
    minimum: int = 0,
    *,
    required: bool = False,
) -> None:
    if value is None:
        if required:
            errs.add(path, "BASE_TYPE_REQUIRED", "This field is required")
        return
    if not isinstance(value, str):
        errs.add(path, "BASE_TYPE_STRING", "Must be a string.")
        return
    n = len(value)
    if minimum > 0 and (n < minimum or n > maximum):
        errs.add(
            path,
            "BASE_TYPE_BAD_LENGTH",
            f"Must be between {minimum} and {maximum} in length.",
        )
    elif n > maximum:
        errs.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {maximum} or fewer in length.")


def _check_count(
    errs: _FormErrors, path: Sequence[str | int], items: Any, maximum: int, minimum: int = 0
) -> None:
    if not isinstance(items, list):
        errs.add(path, "BASE_TYPE_ARRAY", "Must be an array.")
        return
    if minimum > 0 and (len(items) < minimum or len(items) > maximum):
        errs.add(
            path,
            "BASE_TYPE_BAD_LENGTH",
            f"Must be between {minimum} and {maximum} in length.",
        )
    elif len(items) > maximum:
        errs.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {maximum} or fewer in length.")


def _validate_embeds(errs: _FormErrors, embeds: Any) -> None:
    _check_count(errs, ["embeds"], embeds, 10)
    if not isinstance(embeds, list):
        return
    total = 0
    for i, embed in enumerate(embeds):
        p: list[str | int] = ["embeds", i]
        if not isinstance(embed, dict):
            errs.add(p, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        _check_str(errs, [*p, "title"], embed.get("title"), 256)
        _check_str(errs, [*p, "description"], embed.get("description"), 4096)
        total += len(embed.get("title") or "") + len(embed.get("description") or "")
        fields = embed.get("fields") or []
        _check_count(errs, [*p, "fields"], fields, 25)
        for j, field in enumerate(fields if isinstance(fields, list) else []):
            fp = [*p, "fields", j]
            _check_str(errs, [*fp, "name"], field.get("name"), 256, 1, required=True)
            _check_str(errs, [*fp, "value"], field.get("value"), 1024, 1, required=True)
            total += len(field.get("name") or "") + len(field.get("value") or "")
        footer = embed.get("footer")
        if footer:
            _check_str(errs, [*p, "footer", "text"], footer.get("text"), 2048, required=True)
            total += len(footer.get("text") or "")
        author = embed.get("author")
        if author:
            _check_str(errs, [*p, "author", "name"], author.get("name"), 256, required=True)
            total += len(author.get("name") or "")
    if total > 6000:
        errs.add(["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")


def _validate_interactive(
    errs: _FormErrors, comp: dict, path: list[str | int], custom_ids: list[str]
) -> None:
    ctype = comp.get("type")
    if ctype == 2:  # button
        style = comp.get("style")
        if style not in (1, 2, 3, 4, 5, 6):
            errs.add([*path, "style"], "BASE_TYPE_CHOICES", "Value must be one of (1, 2, 3, 4, 5, 6).")
        _check_str(errs, [*path, "label"], comp.get("label"), 80)
        if not comp.get("label") and not comp.get("emoji"):
            errs.add(path, "BUTTON_COMPONENT_LABEL_OR_EMOJI_REQUIRED", "A label or emoji is required")
        if style == 5:
            _check_str(errs, [*path, "url"], comp.get("url"), 512, 1, required=True)
            if "custom_id" in comp:
                errs.add(
                    [*path, "custom_id"],
                    "BUTTON_COMPONENT_CUSTOM_ID_NOT_ALLOWED",
                    "A custom id cannot be set on link buttons",
                )
        elif style != 6:
            _check_str(errs, [*path, "custom_id"], comp.get("custom_id"), 100, 1, required=True)
            if isinstance(comp.get("custom_id"), str):
                custom_ids.append(comp["custom_id"])
    elif ctype in _SELECT_TYPES:
        _check_str(errs, [*path, "custom_id"], comp.get("custom_id"), 100, 1, required=True)
        if isinstance(comp.get("custom_id"), str):
            custom_ids.append(comp["custom_id"])
        _check_str(errs, [*path, "placeholder"], comp.get("placeholder"), 150)
        min_values = comp.get("min_values", 1)
        max_values = comp.get("max_values", 1)
        if not isinstance(min_values, int) or not 0 <= min_values <= 25:
            errs.add([*path, "min_values"], "NUMBER_TYPE_MAX", "int value should be <= 25 and >= 0.")
        if not isinstance(max_values, int) or not 1 <= max_values <= 25:
            errs.add([*path, "max_values"], "NUMBER_TYPE_MAX", "int value should be <= 25 and >= 1.")
        if ctype == 3:
            options = comp.get("options")
            _check_count(errs, [*path, "options"], options, 25, 1)
            for k, opt in enumerate(options if isinstance(options, list) else []):
                op = [*path, "options", k]
                _check_str(errs, [*op, "label"], opt.get("label"), 100, 1, required=True)
                _check_str(errs, [*op, "value"], opt.get("value"), 100, 1, required=True)
                _check_str(errs, [*op, "description"], opt.get("description"), 100)
            if isinstance(options, list) and isinstance(max_values, int) and max_values > len(options):
                errs.add(
                    [*path, "max_values"],
                    "SELECT_COMPONENT_MAX_VALUES_TOO_HIGH",
                    "max_values must be less than or equal to the number of options",
                )
    elif ctype == 4:
        _validate_text_input(errs, comp, path)
        if isinstance(comp.get("custom_id"), str):
            custom_ids.append(comp["custom_id"])


def _validate_text_input(errs: _FormErrors, comp: dict, path: list[str | int]) -> None:
    _check_str(errs, [*path, "custom_id"], comp.get("custom_id"), 100, 1, required=True)
    if comp.get("style") not in (1, 2):
        errs.add([*path, "style"], "BASE_TYPE_CHOICES", "Value must be one of (1, 2).")
    _check_str(errs, [*path, "label"], comp.get("label"), 45)
    _check_str(errs, [*path, "placeholder"], comp.get("placeholder"), 100)
    _check_str(errs, [*path, "value"], comp.get("value"), 4000)
    for key, lo in (("min_length", 0), ("max_length", 1)):
        v = comp.get(key)
        if v is not None and (not isinstance(v, int) or not lo <= v <= 4000):
            errs.add([*path, key], "NUMBER_TYPE_MAX", f"int value should be <= 4000 and >= {lo}.")


def _validate_action_row(errs: _FormErrors, row: dict, path: list[str | int], custom_ids: list[str]) -> None:
    children = row.get("components")
    _check_count(errs, [*path, "components"], children, 5, 1)
    if not isinstance(children, list):
        return
    if any(c.get("type") in _SELECT_TYPES for c in children) and len(children) > 1:
        errs.add(
            [*path, "components"],
            "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
            "The specified component exceeds the maximum width",
        )
    for j, child in enumerate(children):
        if child.get("type") not in (2, 3, 4, 5, 6, 7, 8):
            errs.add(
                [*path, "components", j, "type"],
                "UNION_TYPE_CHOICES",
                'Value of field "type" must be one of (2, 3, 4, 5, 6, 7, 8).',
            )
            continue
        _validate_interactive(errs, child, [*path, "components", j], custom_ids)


def _validate_components_v2(
    errs: _FormErrors, comps: list, path: list[str | int], custom_ids: list[str], counter: list[int]
) -> None:
    for i, comp in enumerate(comps):
        p = [*path, i]
        counter[0] += 1
        ctype = comp.get("type")
        if ctype == 1:
            counter[0] += len(comp.get("components") or [])
            _validate_action_row(errs, comp, p, custom_ids)
        elif ctype == 10:
            _check_str(errs, [*p, "content"], comp.get("content"), 4000, 1, required=True)
        elif ctype in (9, 17):
            _validate_components_v2(
                errs, comp.get("components") or [], [*p, "components"], custom_ids, counter
            )
            accessory = comp.get("accessory")
            if accessory:
                counter[0] += 1
                _validate_interactive(errs, accessory, [*p, "accessory"], custom_ids)
        elif ctype in (2, *_SELECT_TYPES):
            _validate_interactive(errs, comp, p, custom_ids)


def _validate_components(errs: _FormErrors, comps: Any, flags: int) -> None:
    if not isinstance(comps, list):
        errs.add(["components"], "BASE_TYPE_ARRAY", "Must be an array.")
        return
    custom_ids: list[str] = []
    if flags & IS_COMPONENTS_V2:
        counter = [0]
        _validate_components_v2(errs, comps, ["components"], custom_ids, counter)
        if counter[0] > 40:
            errs.add(["components"], "BASE_TYPE_MAX_LENGTH", "Must be 40 or fewer in length.")
    else:
        _check_count(errs, ["components"], comps, 5)
        for i, row in enumerate(comps):
            if row.get("type") != 1:
                errs.add(
                    ["components", i, "type"],
                    "UNION_TYPE_CHOICES",
                    'Value of field "type" must be one of (1,).',
                )
                continue
            _validate_action_row(errs, row, ["components", i], custom_ids)
    dupes = [cid for cid, n in collections.Counter(custom_ids).items() if n > 1]
    if dupes:
        errs.add(
            ["components"],
            "COMPONENT_CUSTOM_ID_DUPLICATED",
            f"Component custom id cannot be duplicated: {dupes[0]}",
        )


def validate_message_body(body: Mapping[str, Any], *, partial: bool = False, has_files: bool = False) -> None:
    """Validate a create/edit message body like Discord; raises :class:`ApiError`.

    ``partial`` is for edits (no "empty message" check).
    """
    errs = _FormErrors()
    flags = body.get("flags") or 0
    if "content" in body:
        _check_str(errs, ["content"], body.get("content"), 2000)
    if body.get("embeds") is not None:
        _validate_embeds(errs, body["embeds"])
    if body.get("components") is not None:
        _validate_components(errs, body["components"], flags)
    if flags & IS_COMPONENTS_V2 and (body.get("content") or body.get("embeds")):
        errs.add(
            ["content"],
            "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
            "The 'content' and 'embeds' fields cannot be used when using MessageFlags.IS_COMPONENTS_V2",
        )
    am = body.get("allowed_mentions")
    if am is not None:
        parse = am.get("parse") or []
        for kind in ("users", "roles"):
            if kind in parse and am.get(kind):
                errs.add(
                    ["allowed_mentions"],
                    "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                    f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
                )
            _check_count(errs, ["allowed_mentions", kind], am.get(kind) or [], 100)
    errs.raise_if_any()
    if not partial:
        empty = (
            not body.get("content")
            and not body.get("embeds")
            and not body.get("components")
            and not body.get("sticker_ids")
            and not body.get("poll")
            and not has_files
        )
        if empty:
            raise ApiError(400, 50006, "Cannot send an empty message")


def validate_modal(data: Mapping[str, Any]) -> None:
    """Validate a modal (callback type 9 ``data``); raises :class:`ApiError`."""
    errs = _FormErrors()
    p: list[str | int] = ["data"]
    _check_str(errs, [*p, "custom_id"], data.get("custom_id"), 100, 1, required=True)
    _check_str(errs, [*p, "title"], data.get("title"), 45, 1, required=True)
    comps = data.get("components")
    _check_count(errs, [*p, "components"], comps, 5, 1)
    custom_ids: list[str] = []
    for i, comp in enumerate(comps if isinstance(comps, list) else []):
        cp = [*p, "components", i]
        ctype = comp.get("type")
        if ctype == 1:
            children = comp.get("components") or []
            _check_count(errs, [*cp, "components"], children, 1, 1)
            for j, child in enumerate(children):
                if child.get("type") != 4:
                    errs.add(
                        [*cp, "components", j, "type"],
                        "UNION_TYPE_CHOICES",
                        'Value of field "type" must be one of (4,).',
                    )
                else:
                    _validate_text_input(errs, child, [*cp, "components", j])
                    _check_str(
                        errs, [*cp, "components", j, "label"], child.get("label"), 45, 1, required=True
                    )
                    custom_ids.append(child.get("custom_id"))
        elif ctype == 18:
            _check_str(errs, [*cp, "label"], comp.get("label"), 45, 1, required=True)
            _check_str(errs, [*cp, "description"], comp.get("description"), 100)
            inner = comp.get("component") or {}
            if inner.get("type") == 4:
                _validate_text_input(errs, inner, [*cp, "component"])
                custom_ids.append(inner.get("custom_id"))
            elif inner.get("type") in (*_SELECT_TYPES, 19, 21, 22, 23):
                if inner.get("type") in _SELECT_TYPES:
                    _validate_interactive(errs, inner, [*cp, "component"], custom_ids)
            else:
                errs.add([*cp, "component", "type"], "UNION_TYPE_CHOICES", "Invalid component type.")
        elif ctype == 10:
            _check_str(errs, [*cp, "content"], comp.get("content"), 4000, 1, required=True)
        else:
            errs.add([*cp, "type"], "UNION_TYPE_CHOICES", 'Value of field "type" must be one of (1, 10, 18).')
    dupes = [cid for cid, n in collections.Counter(custom_ids).items() if n > 1]
    if dupes:
        errs.add(
            [*p, "components"], "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated"
        )
    errs.raise_if_any()


def validate_autocomplete(data: Mapping[str, Any]) -> None:
    """Validate autocomplete choices (callback type 8 ``data``)."""
    errs = _FormErrors()
    choices = data.get("choices")
    _check_count(errs, ["data", "choices"], choices, 25)
    for i, choice in enumerate(choices if isinstance(choices, list) else []):
        _check_str(errs, ["data", "choices", i, "name"], choice.get("name"), 100, 1, required=True)
        value = choice.get("value")
        if isinstance(value, str):
            _check_str(errs, ["data", "choices", i, "value"], value, 100)
        elif not isinstance(value, (int, float)) or isinstance(value, bool):
            errs.add(["data", "choices", i, "value"], "BASE_TYPE_REQUIRED", "This field is required")
    errs.raise_if_any()


_COMMAND_NAME_RE = re.compile(r"^[-_'\w]{1,32}$")


def _validate_command_options(errs: _FormErrors, options: Any, path: list[str | int]) -> None:
    _check_count(errs, path, options, 25)
    if not isinstance(options, list):
        return
    seen_optional = False
    names: list[str] = []
    for i, opt in enumerate(options):
        p = [*path, i]
        name = opt.get("name")
        if not isinstance(name, str) or not _COMMAND_NAME_RE.match(name) or name != name.lower():
            errs.add([*p, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        names.append(name)
        _check_str(errs, [*p, "description"], opt.get("description"), 100, 1, required=True)
        otype = opt.get("type")
        if otype in (1, 2):
            _validate_command_options(errs, opt.get("options") or [], [*p, "options"])
            continue
        if opt.get("required"):
            if seen_optional:
                errs.add(
                    [*p, "required"],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = opt.get("choices")
        if choices:
            _check_count(errs, [*p, "choices"], choices, 25)
            for j, choice in enumerate(choices):
                _check_str(errs, [*p, "choices", j, "name"], choice.get("name"), 100, 1, required=True)
            if opt.get("autocomplete"):
                errs.add(
                    [*p, "autocomplete"],
                    "AUTOCOMPLETE_AND_CHOICES_MUTUALLY_EXCLUSIVE",
                    "Autocomplete cannot be used with choices",
                )
    if len(set(names)) != len(names):
        errs.add(path, "APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS", "Option names must be unique")


def validate_commands(commands: Any) -> None:
    """Validate a bulk-overwrite command list like Discord."""
    errs = _FormErrors()
    if not isinstance(commands, list):
        errs.add([], "BASE_TYPE_ARRAY", "Must be an array.")
        errs.raise_if_any()
    seen: set[tuple[str, int]] = set()
    counts: collections.Counter[int] = collections.Counter()
    for i, cmd in enumerate(commands):
        ctype = cmd.get("type", 1)
        counts[ctype] += 1
        name = cmd.get("name")
        _check_str(errs, [i, "name"], name, 32, 1, required=True)
        if ctype == 1:
            if not isinstance(name, str) or not _COMMAND_NAME_RE.match(name) or name != name.lower():
                errs.add([i, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
            _check_str(errs, [i, "description"], cmd.get("description"), 100, 1, required=True)
            _validate_command_options(errs, cmd.get("options") or [], [i, "options"])
        elif cmd.get("description"):
            errs.add(
                [i, "description"],
                "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                "Context menu commands cannot have description",
            )
        if (name, ctype) in seen:
            errs.add(
                [i, "name"], "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"
            )
        seen.add((name, ctype))
    for ctype, limit in ((1, 100), (2, 15), (3, 15)):
        if counts[ctype] > limit:
            errs.add(
                [],
                "APPLICATION_COMMAND_TOO_MANY",
                f"Maximum number of type {ctype} commands reached ({limit})",
            )
    errs.raise_if_any()


# --------------------------------------------------------------------------
# Interactions
# --------------------------------------------------------------------------


class FakeInteraction:
    """An interaction the fake delivered to the bot, and what the bot did with it.

    Message dicts returned here are the fake's live message objects (edits by
    the bot show up in them); treat them as read-only.
    """

    def __init__(self, fake: FakeDiscord, payload: dict) -> None:
        self.fake = fake
        self.payload = payload
        self.id = int(payload["id"])
        self.token: str = payload["token"]
        self.type: int = payload["type"]
        #: ``loop.time()`` when the INTERACTION_CREATE frame was written.
        self.created_at: float | None = None
        #: The accepted callback body (``{"type": ..., "data": ...}``).
        self.response: dict | None = None
        #: Every callback POST, accepted or not: dicts with ``body``,
        #: ``status``, ``error`` (response body or None) and ``latency``.
        self.callback_attempts: list[dict] = []
        #: Seconds between delivery and the accepted callback.
        self.ack_latency: float | None = None
        self.original_message_id: int | None = None
        self.followup_ids: list[int] = []
        #: Edits via the interaction webhook: dicts with ``message_id``, ``body``.
        self.edits: list[dict] = []
        self.deleted_message_ids: list[int] = []
        self._loading_pending = False

    # -- introspection -------------------------------------------------------

    @property
    def channel_id(self) -> int | None:
        cid = self.payload.get("channel_id")
        return int(cid) if cid else None

    @property
    def guild_id(self) -> int | None:
        gid = self.payload.get("guild_id")
        return int(gid) if gid else None

    @property
    def user_id(self) -> int:
        user = self.payload["member"]["user"] if "member" in self.payload else self.payload["user"]
        return int(user["id"])

    @property
    def acknowledged(self) -> bool:
        return self.response is not None

    @property
    def response_type(self) -> int | None:
        return self.response["type"] if self.response else None

    @property
    def response_data(self) -> dict:
        return (self.response or {}).get("data") or {}

    @property
    def is_ephemeral(self) -> bool:
        """Whether the response message (reply or defer) is ephemeral."""
        msg = self.original_message
        if msg is not None and self.response_type in (4, 5):
            return bool(msg["flags"] & EPHEMERAL)
        return bool(self.response_data.get("flags", 0) & EPHEMERAL)

    @property
    def late(self) -> bool:
        """True if the bot acknowledged after ``ack_deadline``, or has not
        acknowledged and the deadline already passed."""
        deadline = self.fake.ack_deadline
        if self.ack_latency is not None:
            return self.ack_latency > deadline
        if self.created_at is None:
            return False
        return asyncio.get_running_loop().time() - self.created_at > deadline

    @property
    def modal(self) -> dict | None:
        """The modal the bot opened (callback type 9 data), if any."""
        return self.response_data if self.response_type == CallbackType.MODAL else None

    @property
    def choices(self) -> list[dict] | None:
        """Autocomplete choices the bot returned (callback type 8), if any."""
        if self.response_type == CallbackType.AUTOCOMPLETE_RESULT:
            return self.response_data.get("choices", [])
        return None

    @property
    def original_message(self) -> dict | None:
        """Current state of the @original message (reply, defer, or the
        component message for types 6/7); None if none or deleted."""
        if self.original_message_id is None:
            return None
        return self.fake.get_message(self.original_message_id)

    @property
    def followups(self) -> list[dict]:
        """Messages created by followups, in order (deleted ones omitted).
        The first followup after a defer is the original message itself."""
        msgs = (self.fake.get_message(mid) for mid in self.followup_ids)
        return [m for m in msgs if m is not None]

    # -- waiting ---------------------------------------------------------------

    async def wait_response(self, timeout: float | None = None) -> dict:
        """Wait for the accepted callback and return its body."""
        await self.fake.wait_for(
            lambda: self.response is not None,
            timeout,
            f"a callback for interaction {self.id}",
        )
        assert self.response is not None
        return self.response

    async def wait_followup(self, index: int = 0, timeout: float | None = None) -> dict:
        """Wait until followup number ``index`` (0-based) exists; return it."""
        await self.fake.wait_for(
            lambda: len(self.followup_ids) > index,
            timeout,
            f"followup #{index} for interaction {self.id}",
        )
        msg = self.fake._messages[self.followup_ids[index]]
        return msg

    async def wait_edit(self, index: int = 0, timeout: float | None = None) -> dict:
        """Wait for webhook edit number ``index``; return ``{"message_id", "body"}``."""
        await self.fake.wait_for(
            lambda: len(self.edits) > index,
            timeout,
            f"edit #{index} for interaction {self.id}",
        )
        return self.edits[index]

    async def wait_original(
        self,
        predicate: Callable[[dict], bool] | None = None,
        timeout: float | None = None,
    ) -> dict:
        """Wait until @original exists (and satisfies ``predicate``); return it."""

        def ready() -> bool:
            msg = self.original_message
            return msg is not None and (predicate is None or predicate(msg))

        await self.fake.wait_for(ready, timeout, f"original message of interaction {self.id}")
        msg = self.original_message
        assert msg is not None
        return msg

    def __repr__(self) -> str:
        return f"<FakeInteraction id={self.id} type={self.type} response_type={self.response_type}>"


# --------------------------------------------------------------------------
# Gateway internals
# --------------------------------------------------------------------------


class _Conn:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.lock = asyncio.Lock()
        self.session: _Session | None = None
        self.writer: asyncio.Task | None = None

    async def send(self, frame: dict) -> None:
        async with self.lock:
            await self.ws.send_str(json.dumps(frame))


class _Session:
    def __init__(self, session_id: str, identify: dict) -> None:
        self.id = session_id
        self.identify = identify
        self.intents: int = identify.get("intents", 0)
        self.seq = 0
        self.pending: collections.deque[tuple[dict, asyncio.Future | None]] = collections.deque()
        self.wakeup = asyncio.Event()
        self.conn: _Conn | None = None
        self.ready = False

    def enqueue(self, event: str, data: Any, future: asyncio.Future | None = None) -> int:
        self.seq += 1
        self.pending.append(({"op": 0, "t": event, "s": self.seq, "d": data}, future))
        self.wakeup.set()
        return self.seq


# --------------------------------------------------------------------------
# The fake server
# --------------------------------------------------------------------------

_MESSAGE_FIELDS = ("content", "embeds", "components", "allowed_mentions", "flags", "attachments")


class FakeDiscord:
    """Fake Discord REST + gateway server. Use as ``async with FakeDiscord() as fake``.

    Args:
        token: the bot token the fake accepts.
        bot_name: username of the bot user (the application id equals its id).
        bot_permissions: permissions of the bot's managed role in every guild.
        heartbeat_interval: seconds, sent in HELLO.
        ack_deadline: seconds an interaction may wait for its callback.
        enforce_ack_deadline: answer late callbacks with 404/10062 like Discord.
        privileged_intents: which privileged intents are "enabled in the
            developer portal"; identifying with others closes with 4014.
        echo_events: dispatch MESSAGE_CREATE/UPDATE/DELETE/REACTION_ADD for
            what the bot does through REST.
        default_timeout: default for all ``wait_*`` helpers.
    """

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        bot_name: str = "Clippings",
        bot_permissions: int = Perm.DEFAULT_BOT,
        heartbeat_interval: float = 1.0,
        ack_deadline: float = 3.0,
        enforce_ack_deadline: bool = False,
        privileged_intents: int = Intent.PRIVILEGED,
        echo_events: bool = True,
        default_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.token = token
        self.heartbeat_interval = heartbeat_interval
        self.ack_deadline = ack_deadline
        self.enforce_ack_deadline = enforce_ack_deadline
        self.privileged_intents = privileged_intents
        self.echo_events = echo_events
        self.default_timeout = default_timeout
        self.bot_permissions = bot_permissions

        self._snowflake = _Snowflakes()
        self.users: dict[int, FakeUser] = {}
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.bot_user = self.add_user(bot_name, bot=True)
        self.owner = self.add_user("app-owner")
        self.application_id = self.bot_user.id

        #: Every request, in completion order.
        self.requests: list[RecordedRequest] = []
        #: Requests for routes the fake does not implement (answered 404).
        self.unhandled_requests: list[RecordedRequest] = []
        #: Every bulk command overwrite, in order.
        self.command_syncs: list[CommandSync] = []
        #: Interactions by id.
        self.interactions: dict[int, FakeInteraction] = {}
        #: IDENTIFY ``d`` payloads received, in order.
        self.identifies: list[dict] = []
        #: RESUME ``d`` payloads received, in order.
        self.resumes: list[dict] = []
        #: PRESENCE_UPDATE (op 3) ``d`` payloads received.
        self.presence_updates: list[dict] = []
        #: ``loop.time()`` of every heartbeat received (across connections).
        self.heartbeats: list[float] = []
        #: Bugs inside the fake itself (answered 400 so discord.py doesn't retry).
        self.internal_errors: list[BaseException] = []

        self._commands: dict[int | None, dict[tuple[str, int], dict]] = {}
        self._messages: dict[int, dict] = {}
        self._message_order: list[int] = []
        self._deleted: set[int] = set()
        self._reaction_users: dict[tuple[int, str], list[int]] = {}
        self._by_token: dict[str, FakeInteraction] = {}
        self._blobs: dict[str, tuple[bytes, str]] = {}
        self._dm_channels: dict[int, FakeChannel] = {}
        self._sessions: dict[str, _Session] = {}
        self._session: _Session | None = None
        self._conns: list[_Conn] = []
        self._failures: list[str] = []
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self._routes = self._build_routes()

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Start the HTTP/websocket server on 127.0.0.1 and a free port."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._changed = asyncio.Event()

    async def stop(self) -> None:
        """Close websockets and stop the server."""
        for conn in list(self._conns):
            if conn.writer:
                conn.writer.cancel()
            if not conn.ws.closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.ws.close(code=1001), 0.5)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise FakeDiscordError("FakeDiscord is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """Value for ``DiscordWebSocket.DEFAULT_GATEWAY`` (also resume URL)."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    @contextlib.contextmanager
    def patch_discord(self) -> Iterator[None]:
        """Point discord.py (process-wide) at this fake; restores on exit."""
        from discord.gateway import DiscordWebSocket
        from discord.http import Route

        old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
        Route.BASE = self.api_base
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            Route.BASE = old_base
            DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    # -- waiting -----------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def report_failure(self, description: str) -> None:
        """Record a bot failure: pending and future ``wait_*`` calls raise
        :class:`BotFailure` (used by :class:`BotRunner`)."""
        self._failures.append(description)
        self._notify()

    @property
    def failures(self) -> list[str]:
        return list(self._failures)

    def clear_failures(self) -> list[str]:
        """Forget recorded bot failures (for tests that expect an error)."""
        out, self._failures = self._failures, []
        return out

    async def wait_for(
        self,
        predicate: Callable[[], Any],
        timeout: float | None = None,
        description: str = "condition",
    ) -> Any:
        """Wait until ``predicate()`` is truthy; return its value.

        The predicate is re-checked on every state change of the fake (a
        request, a frame, a heartbeat...), and additionally every 50 ms so
        predicates over the bot's own state (``bot.get_guild(...)``) work too.
        Raises :class:`BotFailure` as soon as the bot crashed/logged an
        error, :class:`WaitTimeout` on timeout."""
        timeout = self.default_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._failures:
                raise BotFailure(f"bot failed while waiting for {description}:\n" + "\n".join(self._failures))
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = "\n".join(f"  {r.method} {r.path} -> {r.status}" for r in self.requests[-10:])
                raise WaitTimeout(
                    f"timed out after {timeout}s waiting for {description}; last requests:\n{recent}"
                )
            event = self._changed
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, _EXTERNAL_POLL))

    async def wait_for_request(
        self,
        method: str | None = None,
        path: str | None = None,
        *,
        after: int = 0,
        timeout: float | None = None,
    ) -> RecordedRequest:
        """Wait for a request with ``method`` whose path matches the regex
        ``path`` (``re.search``), among ``requests[after:]``."""

        def find() -> RecordedRequest | None:
            for req in self.requests[after:]:
                if method and req.method != method.upper():
                    continue
                if path and not re.search(path, req.path):
                    continue
                return req
            return None

        return await self.wait_for(find, timeout, f"request {method or '*'} {path or '*'}")

    def requests_to(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """Recorded requests filtered by method and path regex."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper()) and (path is None or re.search(path, r.path))
        ]

    @property
    def error_responses(self) -> list[RecordedRequest]:
        """Requests the fake answered with a 4xx/5xx."""
        return [r for r in self.requests if r.status >= 400]

    async def wait_for_message(
        self,
        channel: Any = None,
        predicate: Callable[[dict], bool] | None = None,
        *,
        timeout: float | None = None,
        include_existing: bool = False,
    ) -> dict:
        """Wait for a message (created after this call unless
        ``include_existing``) in ``channel`` matching ``predicate``."""
        start = 0 if include_existing else len(self._message_order)
        cid = None if channel is None else _id_of(channel)

        def find() -> dict | None:
            for mid in self._message_order[start:]:
                msg = self._messages[mid]
                if cid is not None and int(msg["channel_id"]) != cid:
                    continue
                if predicate is None or predicate(msg):
                    return msg
            return None

        return await self.wait_for(find, timeout, f"a message in channel {cid}")

    async def wait_for_heartbeats(self, count: int, timeout: float | None = None) -> None:
        """Wait until at least ``count`` heartbeats were received in total."""
        await self.wait_for(lambda: len(self.heartbeats) >= count, timeout, f"{count} heartbeats")

    async def wait_until_connected(self, timeout: float | None = None) -> None:
        """Wait for a live, identified/resumed gateway connection."""
        await self.wait_for(self._live_session, timeout, "a gateway connection")

    @property
    def heartbeat_count(self) -> int:
        return len(self.heartbeats)

    @property
    def identify_count(self) -> int:
        return len(self.identifies)

    @property
    def resume_count(self) -> int:
        return len(self.resumes)

    @property
    def intents(self) -> int:
        """Intents of the current gateway session (0 if none)."""
        return self._session.intents if self._session else 0

    # -- world building -----------------------------------------------------------

    def add_user(self, username: str, *, bot: bool = False, global_name: str | None = None) -> FakeUser:
        user = FakeUser(id=self._snowflake(), username=username, bot=bot, global_name=global_name)
        self.users[user.id] = user
        return user

    def add_guild(self, name: str = "Test Guild", *, owner: FakeUser | None = None) -> FakeGuild:
        """Create a guild that the bot is a member of (with a managed bot role
        carrying ``bot_permissions``). Dispatches GUILD_CREATE if connected."""
        owner = owner or self.owner
        guild = FakeGuild(self, self._snowflake(), name, owner.id)
        self.guilds[guild.id] = guild
        bot_role = FakeRole(
            id=self._snowflake(),
            guild_id=guild.id,
            name=self.bot_user.username,
            permissions=self.bot_permissions,
            position=1,
            managed=True,
            bot_id=self.bot_user.id,
        )
        guild.roles[bot_role.id] = bot_role
        guild.members[owner.id] = FakeMember(guild.id, owner)
        guild.members[self.bot_user.id] = FakeMember(guild.id, self.bot_user, role_ids=[bot_role.id])
        self._echo("GUILD_CREATE", guild.to_payload(), Intent.GUILDS)
        return guild

    def bot_role(self, guild: FakeGuild) -> FakeRole:
        """The bot's managed role in ``guild`` (edit ``.permissions`` freely)."""
        return next(r for r in guild.roles.values() if r.bot_id == self.bot_user.id)

    def dm_channel(self, user: Any) -> FakeChannel:
        """The DM channel between the bot and ``user`` (created on demand)."""
        uid = _id_of(user)
        channel = self._dm_channels.get(uid)
        if channel is None:
            channel = FakeChannel(
                id=self._snowflake(),
                type=ChannelType.DM,
                name=None,
                recipient_ids=[uid],
            )
            self._dm_channels[uid] = channel
            self.channels[channel.id] = channel
        return channel

    def add_attachment(
        self,
        filename: str,
        data: bytes,
        content_type: str | None = "application/octet-stream",
        *,
        description: str | None = None,
    ) -> dict:
        """Register bytes served by the fake and return an attachment payload
        (usable in slash-command attachment options and user messages)."""
        att_id = self._snowflake()
        url = self.serve_bytes(
            f"attachments/{att_id}/{filename}", data, content_type or "application/octet-stream"
        )
        payload = {
            "id": str(att_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }
        if description is not None:
            payload["description"] = description
        return payload

    def serve_bytes(self, path: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Serve ``data`` at ``http://127.0.0.1:PORT/<path>``; return the URL."""
        path = path.lstrip("/")
        self._blobs["/" + path] = (data, content_type)
        return f"{self.base_url}/{path}"

    def _guild_of(self, channel: FakeChannel) -> FakeGuild | None:
        return self.guilds.get(channel.guild_id) if channel.guild_id else None

    def _channel(self, channel: Any) -> FakeChannel:
        if isinstance(channel, FakeChannel):
            return channel
        cid = _id_of(channel)
        try:
            return self.channels[cid]
        except KeyError:
            raise FakeDiscordError(f"unknown channel {cid}") from None

    def _user(self, user: Any) -> FakeUser:
        if isinstance(user, FakeUser):
            return user
        if isinstance(user, FakeMember):
            return user.user
        uid = _id_of(user)
        try:
            return self.users[uid]
        except KeyError:
            raise FakeDiscordError(f"unknown user {uid}") from None

    # -- inspection -----------------------------------------------------------------

    def get_message(self, message_id: Any) -> dict | None:
        """A stored message (live dict) or None if unknown/deleted."""
        mid = _id_of(message_id)
        if mid in self._deleted:
            return None
        return self._messages.get(mid)

    def messages_in(self, channel: Any, *, include_ephemeral: bool = False) -> list[dict]:
        """Messages in a channel in creation order, without deleted ones and
        (by default) without ephemeral ones -- what channel members see."""
        cid = _id_of(channel)
        out = []
        for mid in self._message_order:
            if mid in self._deleted:
                continue
            msg = self._messages[mid]
            if int(msg["channel_id"]) != cid:
                continue
            if not include_ephemeral and msg["flags"] & EPHEMERAL:
                continue
            out.append(msg)
        return out

    def registered_commands(self, guild: Any = None) -> list[dict]:
        """Commands currently registered globally (``guild=None``) or for a guild."""
        key = None if guild is None else _id_of(guild)
        return list(self._commands.get(key, {}).values())

    def late_interactions(self) -> list[FakeInteraction]:
        return [i for i in self.interactions.values() if i.late]

    # -- gateway: public --------------------------------------------------------------

    def _live_session(self) -> _Session | None:
        s = self._session
        if s is not None and s.ready and s.conn is not None and not s.conn.ws.closed:
            return s
        return None

    async def dispatch(self, event: str, data: Any, *, timeout: float | None = None) -> int:
        """Send a DISPATCH frame (e.g. ``"MESSAGE_CREATE"``) to the bot, waiting
        for a live session first; returns once written. Returns the sequence."""
        session = await self.wait_for(self._live_session, timeout, "a gateway connection")
        future = asyncio.get_running_loop().create_future()
        seq = session.enqueue(event, data, future)
        await asyncio.wait_for(future, self.default_timeout if timeout is None else timeout)
        return seq

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the bot's websocket from the server side with ``code``
        (4000 -> discord.py reconnects and RESUMEs)."""
        session = self._session
        if session is None or session.conn is None:
            raise FakeDiscordError("no live gateway connection to drop")
        conn = session.conn
        await conn.ws.close(code=code, message=b"fake drop")

    async def send_reconnect(self) -> None:
        """Send op 7 RECONNECT (the client resumes on a new connection)."""
        session = self._live_session()
        if session is None or session.conn is None:
            raise FakeDiscordError("no live gateway connection")
        await session.conn.send({"op": 7, "d": None, "s": None, "t": None})

    async def invalidate_session(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION (the client re-IDENTIFYs unless resumable)."""
        session = self._session
        if session is None or session.conn is None:
            raise FakeDiscordError("no live gateway connection")
        if not resumable:
            self._sessions.pop(session.id, None)
        await session.conn.send({"op": 9, "d": resumable, "s": None, "t": None})

    def _echo(self, event: str, data: Any, intent: int) -> asyncio.Future | None:
        """Queue an event for the bot if it subscribed to ``intent``; return a
        future resolved when it is written (None if not queued)."""
        session = self._session
        if not self.echo_events or session is None or not session.ready:
            return None
        if intent and not session.intents & intent:
            return None
        try:
            future: asyncio.Future | None = asyncio.get_running_loop().create_future()
        except RuntimeError:
            future = None
        session.enqueue(event, data, future)
        return future

    # -- gateway: server side -------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, compress=False)
        await ws.prepare(request)
        conn = _Conn(ws)
        self._conns.append(conn)
        try:
            await conn.send(
                {
                    "op": 10,
                    "d": {"heartbeat_interval": int(self.heartbeat_interval * 1000)},
                    "s": None,
                    "t": None,
                }
            )
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    frame = json.loads(msg.data)
                    await self._on_gateway_frame(conn, frame)
                except Exception as exc:  # pragma: no cover - fake bug
                    self.internal_errors.append(exc)
                    _log.exception("fake gateway failed handling %r", msg.data)
        finally:
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
                session.wakeup.set()
            if conn.writer is not None:
                conn.writer.cancel()
            with contextlib.suppress(ValueError):
                self._conns.remove(conn)
            self._notify()
        return ws

    async def _on_gateway_frame(self, conn: _Conn, frame: dict) -> None:
        op = frame.get("op")
        d = frame.get("d")
        if op == 1:
            self.heartbeats.append(asyncio.get_running_loop().time())
            await conn.send({"op": 11, "d": None, "s": None, "t": None})
            self._notify()
        elif op == 2:
            await self._on_identify(conn, d or {})
        elif op == 6:
            await self._on_resume(conn, d or {})
        elif op == 3:
            self.presence_updates.append(d)
            self._notify()
        elif op == 8:
            self._on_request_members(conn, d or {})
        else:
            _log.debug("fake gateway ignoring op %s", op)

    async def _on_identify(self, conn: _Conn, d: dict) -> None:
        if d.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return
        intents = int(d.get("intents", 0))
        if intents & Intent.PRIVILEGED & ~self.privileged_intents:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        self.identifies.append(d)
        session = _Session(secrets.token_hex(16), d)
        self._sessions[session.id] = session
        self._session = session
        session.conn = conn
        conn.session = session
        ready = {
            "v": 10,
            "user": {**self.bot_user.to_payload(), "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
            "session_id": session.id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": self._application_flags()},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
        }
        if "shard" in d:
            ready["shard"] = d["shard"]
        session.enqueue("READY", ready)
        if intents & Intent.GUILDS:
            for guild in self.guilds.values():
                session.enqueue("GUILD_CREATE", guild.to_payload())
        session.ready = True
        conn.writer = asyncio.create_task(self._writer(conn, session))
        self._notify()

    async def _on_resume(self, conn: _Conn, d: dict) -> None:
        session = self._sessions.get(d.get("session_id", ""))
        if session is None or d.get("token") != self.token:
            await conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        self.resumes.append(d)
        old = session.conn
        session.conn = conn
        conn.session = session
        self._session = session
        if old is not None and not old.ws.closed:
            with contextlib.suppress(Exception):
                await old.ws.close(code=4000)
        session.enqueue("RESUMED", {})
        conn.writer = asyncio.create_task(self._writer(conn, session))
        self._notify()

    def _on_request_members(self, conn: _Conn, d: dict) -> None:
        session = conn.session
        guild = self.guilds.get(int(d.get("guild_id", 0)))
        if session is None or guild is None:
            return
        members = list(guild.members.values())
        if d.get("user_ids"):
            wanted = {int(u) for u in d["user_ids"]}
            members = [m for m in members if m.id in wanted]
        elif d.get("query"):
            q = d["query"].lower()
            members = [m for m in members if m.user.username.lower().startswith(q)]
        limit = d.get("limit") or 0
        if limit:
            members = members[:limit]
        chunk = {
            "guild_id": str(guild.id),
            "members": [m.to_payload() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if d.get("nonce"):
            chunk["nonce"] = d["nonce"]
        session.enqueue("GUILD_MEMBERS_CHUNK", chunk)

    def _application_flags(self) -> int:
        flags = 0
        if self.privileged_intents & Intent.GUILD_PRESENCES:
            flags |= 1 << 12
        if self.privileged_intents & Intent.GUILD_MEMBERS:
            flags |= 1 << 14
        if self.privileged_intents & Intent.MESSAGE_CONTENT:
            flags |= 1 << 18
        return flags

    async def _writer(self, conn: _Conn, session: _Session) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while session.pending and session.conn is conn:
                frame, future = session.pending[0]
                try:
                    await conn.send(frame)
                except Exception:
                    return  # connection died; frame stays queued for a RESUME
                session.pending.popleft()
                if future is not None and not future.done():
                    future.set_result(loop.time())
            if session.conn is not conn or conn.ws.closed:
                return
            session.wakeup.clear()
            await session.wakeup.wait()

    # -- HTTP plumbing ------------------------------------------------------------------------

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., Any], bool]]:
        snow = r"(\d+)"
        part = r"([^/]+)"
        table: list[tuple[str, str, Callable[..., Any], bool]] = [
            # (method, path regex, handler, needs bot auth)
            ("GET", r"/users/@me", self._r_me, True),
            ("GET", rf"/users/{snow}", self._r_get_user, True),
            ("POST", r"/users/@me/channels", self._r_create_dm, True),
            ("GET", r"/oauth2/applications/@me", self._r_appinfo, True),
            ("GET", r"/applications/@me", self._r_appinfo, True),
            ("GET", r"/gateway", self._r_gateway, False),
            ("GET", r"/gateway/bot", self._r_gateway_bot, True),
            ("GET", rf"/applications/{snow}/commands", self._r_get_commands, True),
            ("PUT", rf"/applications/{snow}/commands", self._r_put_commands, True),
            ("POST", rf"/applications/{snow}/commands", self._r_upsert_command, True),
            ("GET", rf"/applications/{snow}/commands/{snow}", self._r_get_command, True),
            ("PATCH", rf"/applications/{snow}/commands/{snow}", self._r_edit_command, True),
            ("DELETE", rf"/applications/{snow}/commands/{snow}", self._r_delete_command, True),
            ("GET", rf"/applications/{snow}/guilds/{snow}/commands", self._r_get_commands, True),
            ("PUT", rf"/applications/{snow}/guilds/{snow}/commands", self._r_put_commands, True),
            ("POST", rf"/applications/{snow}/guilds/{snow}/commands", self._r_upsert_command, True),
            ("GET", rf"/applications/{snow}/guilds/{snow}/commands/{snow}", self._r_get_command, True),
            ("PATCH", rf"/applications/{snow}/guilds/{snow}/commands/{snow}", self._r_edit_command, True),
            ("DELETE", rf"/applications/{snow}/guilds/{snow}/commands/{snow}", self._r_delete_command, True),
            ("GET", rf"/guilds/{snow}", self._r_get_guild, True),
            ("GET", rf"/guilds/{snow}/channels", self._r_guild_channels, True),
            ("GET", rf"/guilds/{snow}/roles", self._r_guild_roles, True),
            ("GET", rf"/guilds/{snow}/members/{snow}", self._r_guild_member, True),
            ("GET", rf"/channels/{snow}", self._r_get_channel, True),
            ("POST", rf"/channels/{snow}/typing", self._r_typing, True),
            ("GET", rf"/channels/{snow}/messages", self._r_history, True),
            ("POST", rf"/channels/{snow}/messages", self._r_send_message, True),
            ("GET", rf"/channels/{snow}/messages/{snow}", self._r_get_message, True),
            ("PATCH", rf"/channels/{snow}/messages/{snow}", self._r_edit_message, True),
            ("DELETE", rf"/channels/{snow}/messages/{snow}", self._r_delete_message, True),
            ("PUT", rf"/channels/{snow}/messages/{snow}/reactions/{part}/@me", self._r_add_reaction, True),
            (
                "DELETE",
                rf"/channels/{snow}/messages/{snow}/reactions/{part}/@me",
                self._r_remove_reaction,
                True,
            ),
            ("POST", rf"/interactions/{snow}/{part}/callback", self._r_callback, False),
            ("POST", rf"/webhooks/{snow}/{part}", self._r_followup, False),
            ("GET", rf"/webhooks/{snow}/{part}/messages/{part}", self._r_webhook_get, False),
            ("PATCH", rf"/webhooks/{snow}/{part}/messages/{part}", self._r_webhook_edit, False),
            ("DELETE", rf"/webhooks/{snow}/{part}/messages/{part}", self._r_webhook_delete, False),
        ]
        return [(m, re.compile(f"^{p}$"), h, a) for m, p, h, a in table]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.rel_url.raw_path
        if raw_path == "/gateway" and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._gateway(request)
        if not raw_path.startswith(API_PREFIX + "/"):
            blob = self._blobs.get(unquote(raw_path))
            if blob is not None and request.method in ("GET", "HEAD"):
                return web.Response(body=blob[0], headers={"Content-Type": blob[1]})
            return _json(404, {"message": "404: Not Found", "code": 0})

        rel_raw = raw_path[len(API_PREFIX) :]
        segments = [unquote(s) for s in rel_raw.split("/")]
        path = "/".join(segments)
        body, files = await self._read_body(request)
        rec = RecordedRequest(
            method=request.method,
            path=path,
            query=dict(request.rel_url.query),
            json=body,
            files=files,
            headers=dict(request.headers),
            time=asyncio.get_running_loop().time(),
        )
        # Match on the raw path so encoded slashes in a segment can't confuse us.
        status, data = 404, {"message": "404: Not Found", "code": 0}
        matched = False
        for method, pattern, handler, needs_auth in self._routes:
            m = pattern.match(rel_raw)
            if not m or method != request.method:
                continue
            matched = True
            args = [unquote(g) for g in m.groups()]
            try:
                if needs_auth and request.headers.get("Authorization") != f"Bot {self.token}":
                    raise ApiError(401, 0, "401: Unauthorized")
                status, data = await handler(rec, *args)
            except ApiError as exc:
                status, data = exc.status, exc.body()
            except Exception as exc:  # a bug in the fake; don't let discord.py retry a 500
                self.internal_errors.append(exc)
                _log.exception("fake failed handling %s %s", request.method, path)
                self.report_failure(f"fake internal error on {request.method} {path}: {exc!r}")
                status, data = 400, {"message": f"fake internal error: {exc!r}", "code": 0}
            break
        rec.status, rec.response = status, copy.deepcopy(data)
        self.requests.append(rec)
        if not matched:
            self.unhandled_requests.append(rec)
        self._notify()
        return _json(status, data)

    async def _read_body(self, request: web.Request) -> tuple[Any, list[UploadedFile]]:
        if not request.can_read_body:
            return None, []
        ctype = request.content_type
        if ctype == "multipart/form-data":
            payload: Any = None
            files: list[UploadedFile] = []
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                data = await part.read()  # type: ignore[union-attr]
                if part.name == "payload_json":  # type: ignore[union-attr]
                    payload = json.loads(data.decode())
                else:
                    files.append(
                        UploadedFile(
                            field=part.name or "",  # type: ignore[union-attr]
                            filename=part.filename,  # type: ignore[union-attr]
                            content_type=part.headers.get("Content-Type"),  # type: ignore[union-attr]
                            data=bytes(data),
                        )
                    )
            return payload, files
        raw = await request.read()
        if not raw:
            return None, []
        try:
            return json.loads(raw), []
        except ValueError:
            return raw.decode(errors="replace"), []

    # -- REST: users / app / gateway / guilds ---------------------------------------------------

    async def _r_me(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, {**self.bot_user.to_payload(), "verified": True, "mfa_enabled": False, "locale": "en-US"}

    async def _r_get_user(self, rec: RecordedRequest, uid: str) -> tuple[int, Any]:
        user = self.users.get(int(uid))
        if user is None:
            raise _not_found(10013, "User")
        return 200, user.to_payload()

    async def _r_create_dm(self, rec: RecordedRequest) -> tuple[int, Any]:
        recipient = int((rec.json or {}).get("recipient_id", 0))
        if recipient not in self.users:
            raise _not_found(10013, "User")
        return 200, self.dm_channel(recipient).to_payload(self.users)

    async def _r_appinfo(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, {
            "id": str(self.application_id),
            "name": self.bot_user.username,
            "icon": None,
            "description": "",
            "summary": "",
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "bot": self.bot_user.to_payload(),
            "owner": self.owner.to_payload(),
            "team": None,
            "verify_key": "0" * 64,
            "flags": self._application_flags(),
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": len(self.guilds),
        }

    async def _r_gateway(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url}

    async def _r_gateway_bot(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, {
            "url": self.gateway_url,
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
        }

    def _guild_or_404(self, gid: str | int) -> FakeGuild:
        guild = self.guilds.get(int(gid))
        if guild is None:
            raise _not_found(10004, "Guild")
        return guild

    async def _r_get_guild(self, rec: RecordedRequest, gid: str) -> tuple[int, Any]:
        data = self._guild_or_404(gid).to_payload()
        for key in ("members", "channels", "threads", "presences", "voice_states", "joined_at", "large"):
            data.pop(key, None)
        return 200, data

    async def _r_guild_channels(self, rec: RecordedRequest, gid: str) -> tuple[int, Any]:
        return 200, [c.to_payload() for c in self._guild_or_404(gid).channels.values()]

    async def _r_guild_roles(self, rec: RecordedRequest, gid: str) -> tuple[int, Any]:
        return 200, [r.to_payload() for r in self._guild_or_404(gid).roles.values()]

    async def _r_guild_member(self, rec: RecordedRequest, gid: str, uid: str) -> tuple[int, Any]:
        member = self._guild_or_404(gid).members.get(int(uid))
        if member is None:
            raise _not_found(10007, "Member")
        return 200, member.to_payload()

    # -- REST: application commands -------------------------------------------------------------

    def _check_app(self, app_id: str) -> None:
        if int(app_id) != self.application_id:
            raise ApiError(403, 50001, "Missing Access")

    def _normalize_command(self, cmd: dict, guild_id: int | None, existing: dict | None) -> dict:
        out = copy.deepcopy(cmd)
        out.setdefault("type", 1)
        out.setdefault("description", "")
        out["id"] = existing["id"] if existing else str(self._snowflake())
        out["application_id"] = str(self.application_id)
        out["version"] = str(self._snowflake())
        dmp = out.get("default_member_permissions")
        out["default_member_permissions"] = None if dmp is None else str(dmp)
        out.setdefault("nsfw", False)
        if guild_id is not None:
            out["guild_id"] = str(guild_id)
        else:
            out.setdefault("dm_permission", True)
        return out

    def _command_scope(self, app_id: str, gid: str | None) -> int | None:
        self._check_app(app_id)
        if gid is None:
            return None
        self._guild_or_404(gid)
        return int(gid)

    async def _r_get_commands(
        self, rec: RecordedRequest, app_id: str, gid: str | None = None
    ) -> tuple[int, Any]:
        scope = self._command_scope(app_id, gid)
        return 200, copy.deepcopy(list(self._commands.get(scope, {}).values()))

    async def _r_put_commands(
        self, rec: RecordedRequest, app_id: str, gid: str | None = None
    ) -> tuple[int, Any]:
        scope = self._command_scope(app_id, gid)
        payload = rec.json if isinstance(rec.json, list) else []
        try:
            validate_commands(rec.json)
        except ApiError as exc:
            self.command_syncs.append(
                CommandSync(self.application_id, scope, copy.deepcopy(payload), [], exc.status)
            )
            raise
        old = self._commands.get(scope, {})
        new: dict[tuple[str, int], dict] = {}
        for cmd in payload:
            key = (cmd["name"], cmd.get("type", 1))
            new[key] = self._normalize_command(cmd, scope, old.get(key))
        self._commands[scope] = new
        response = copy.deepcopy(list(new.values()))
        self.command_syncs.append(
            CommandSync(self.application_id, scope, copy.deepcopy(payload), response, 200)
        )
        return 200, response

    async def _r_upsert_command(
        self, rec: RecordedRequest, app_id: str, gid: str | None = None
    ) -> tuple[int, Any]:
        scope = self._command_scope(app_id, gid)
        cmd = rec.json or {}
        validate_commands([cmd])
        registry = self._commands.setdefault(scope, {})
        key = (cmd["name"], cmd.get("type", 1))
        existing = registry.get(key)
        registry[key] = self._normalize_command(cmd, scope, existing)
        return (200 if existing else 201), copy.deepcopy(registry[key])

    def _find_command_by_id(self, scope: int | None, cid: str) -> tuple[tuple[str, int], dict]:
        for key, cmd in self._commands.get(scope, {}).items():
            if cmd["id"] == cid:
                return key, cmd
        raise _not_found(10063, "application command")

    async def _r_get_command(self, rec: RecordedRequest, app_id: str, *ids: str) -> tuple[int, Any]:
        gid, cid = (None, ids[0]) if len(ids) == 1 else ids
        _, cmd = self._find_command_by_id(self._command_scope(app_id, gid), cid)
        return 200, copy.deepcopy(cmd)

    async def _r_edit_command(self, rec: RecordedRequest, app_id: str, *ids: str) -> tuple[int, Any]:
        gid, cid = (None, ids[0]) if len(ids) == 1 else ids
        scope = self._command_scope(app_id, gid)
        _, cmd = self._find_command_by_id(scope, cid)
        merged = {**cmd, **(rec.json or {})}
        validate_commands([{k: v for k, v in merged.items() if k not in ("id", "application_id", "version")}])
        cmd.update(rec.json or {})
        return 200, copy.deepcopy(cmd)

    async def _r_delete_command(self, rec: RecordedRequest, app_id: str, *ids: str) -> tuple[int, Any]:
        gid, cid = (None, ids[0]) if len(ids) == 1 else ids
        scope = self._command_scope(app_id, gid)
        key, _ = self._find_command_by_id(scope, cid)
        del self._commands[scope][key]
        return 204, None

    # -- REST: channels & messages --------------------------------------------------------------

    def _channel_or_404(self, cid: str | int) -> FakeChannel:
        channel = self.channels.get(int(cid))
        if channel is None:
            raise _not_found(10003, "Channel")
        return channel

    def _bot_perms(self, channel: FakeChannel) -> int:
        guild = self._guild_of(channel)
        if guild is None:  # DMs
            return (
                Perm.VIEW_CHANNEL
                | Perm.SEND_MESSAGES
                | Perm.READ_MESSAGE_HISTORY
                | Perm.ADD_REACTIONS
                | Perm.ATTACH_FILES
                | Perm.EMBED_LINKS
            )
        return guild.permissions_for(self.bot_user, channel)

    def _require(self, channel: FakeChannel, perms: int) -> None:
        if self._bot_perms(channel) & perms != perms:
            if not self._bot_perms(channel) & Perm.VIEW_CHANNEL:
                raise ApiError(403, 50001, "Missing Access")
            raise _missing_permissions()

    def _message_or_404(self, channel: FakeChannel, mid: str | int) -> dict:
        msg = self.get_message(int(mid))
        if msg is None or int(msg["channel_id"]) != channel.id or msg["flags"] & EPHEMERAL:
            raise _not_found(10008, "Message")
        return msg

    async def _r_get_channel(self, rec: RecordedRequest, cid: str) -> tuple[int, Any]:
        channel = self._channel_or_404(cid)
        if channel.guild_id:
            self._require(channel, Perm.VIEW_CHANNEL)
        return 200, channel.to_payload(self.users)

    async def _r_typing(self, rec: RecordedRequest, cid: str) -> tuple[int, Any]:
        self._require(self._channel_or_404(cid), Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
        return 204, None

    async def _r_history(self, rec: RecordedRequest, cid: str) -> tuple[int, Any]:
        channel = self._channel_or_404(cid)
        self._require(channel, Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        limit = max(1, min(100, int(rec.query.get("limit", 50))))
        msgs = self.messages_in(channel)
        if "before" in rec.query:
            msgs = [m for m in msgs if int(m["id"]) < int(rec.query["before"])]
        if "after" in rec.query:
            msgs = [m for m in msgs if int(m["id"]) > int(rec.query["after"])]
            return 200, list(reversed(msgs[:limit]))
        if "around" in rec.query:
            around = int(rec.query["around"])
            older = [m for m in msgs if int(m["id"]) <= around][-((limit + 1) // 2) :]
            newer = [m for m in msgs if int(m["id"]) > around][: limit // 2]
            return 200, list(reversed(older + newer))
        return 200, list(reversed(msgs[-limit:]))

    async def _r_send_message(self, rec: RecordedRequest, cid: str) -> tuple[int, Any]:
        channel = self._channel_or_404(cid)
        body = rec.json or {}
        needed = Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES
        if rec.files:
            needed |= Perm.ATTACH_FILES
        if body.get("message_reference") and body["message_reference"].get("type", 0) == 0:
            needed |= Perm.READ_MESSAGE_HISTORY
        self._require(channel, needed)
        validate_message_body(body, has_files=bool(rec.files))
        if body.get("flags", 0) & EPHEMERAL:
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "flags": {
                        "_errors": [
                            {
                                "code": "MESSAGE_FLAGS_INVALID",
                                "message": "Ephemeral flag is only valid for interactions",
                            }
                        ]
                    }
                },
            )
        msg = self._create_message(channel, self.bot_user, body, rec.files)
        return 200, msg

    async def _r_get_message(self, rec: RecordedRequest, cid: str, mid: str) -> tuple[int, Any]:
        channel = self._channel_or_404(cid)
        self._require(channel, Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        return 200, self._message_or_404(channel, mid)

    async def _r_edit_message(self, rec: RecordedRequest, cid: str, mid: str) -> tuple[int, Any]:
        channel = self._channel_or_404(cid)
        msg = self._message_or_404(channel, mid)
        body = rec.json or {}
        if int(msg["author"]["id"]) != self.bot_user.id or msg.get("webhook_id"):
            if set(body) - {"flags"}:
                raise ApiError(403, 50005, "Cannot edit a message authored by another user")
            self._require(channel, Perm.MANAGE_MESSAGES)
        validate_message_body(body, partial=True)
        self._apply_edit(msg, body, rec.files)
        return 200, msg

    async def _r_delete_message(self, rec: RecordedRequest, cid: str, mid: str) -> tuple[int, Any]:
        channel = self._channel_or_404(cid)
        msg = self._message_or_404(channel, mid)
        if int(msg["author"]["id"]) != self.bot_user.id:
            if channel.guild_id is None:
                raise ApiError(403, 50003, "Cannot execute action on a DM channel")
            self._require(channel, Perm.MANAGE_MESSAGES)
        self._delete_message(msg)
        return 204, None

    @staticmethod
    def _parse_emoji(raw: str) -> dict:
        if ":" in raw:
            name, _, eid = raw.rpartition(":")
            animated = name.startswith("a:")
            emoji = {"id": eid, "name": name[2:] if animated else name}
            if animated:
                emoji["animated"] = True
            return emoji
        return {"id": None, "name": raw}

    @staticmethod
    def _emoji_key(emoji: dict) -> str:
        return emoji["id"] or emoji["name"]

    def _add_reaction(self, msg: dict, user_id: int, emoji: dict) -> bool:
        key = (int(msg["id"]), self._emoji_key(emoji))
        users = self._reaction_users.setdefault(key, [])
        if user_id in users:
            return False
        users.append(user_id)
        self._sync_reactions(msg)
        return True

    def _sync_reactions(self, msg: dict) -> None:
        mid = int(msg["id"])
        reactions = []
        emojis = {self._emoji_key(r["emoji"]): r["emoji"] for r in msg.get("reactions", [])}
        for (rmid, key), users in self._reaction_users.items():
            if rmid != mid or not users:
                continue
            emoji = emojis.get(key) or self._parse_emoji(key)
            reactions.append(
                {
                    "emoji": emoji,
                    "count": len(users),
                    "count_details": {"burst": 0, "normal": len(users)},
                    "me": self.bot_user.id in users,
                    "me_burst": False,
                    "burst_colors": [],
                }
            )
        msg["reactions"] = reactions

    def reactions_on(self, message: Any) -> dict[str, list[int]]:
        """``{emoji name or id: [user ids]}`` for a message."""
        mid = _id_of(message)
        return {key: list(users) for (m, key), users in self._reaction_users.items() if m == mid and users}

    async def _r_add_reaction(
        self, rec: RecordedRequest, cid: str, mid: str, raw_emoji: str
    ) -> tuple[int, Any]:
        channel = self._channel_or_404(cid)
        msg = self._message_or_404(channel, mid)
        emoji = self._parse_emoji(raw_emoji)
        existing = self._reaction_users.get((int(msg["id"]), self._emoji_key(emoji)))
        needed = Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY
        if not existing:
            needed |= Perm.ADD_REACTIONS
        self._require(channel, needed)
        if not emoji["name"] and not emoji["id"]:
            raise ApiError(400, 10014, "Unknown Emoji")
        if self._add_reaction(msg, self.bot_user.id, emoji):
            self._echo_reaction("MESSAGE_REACTION_ADD", channel, msg, self.bot_user.id, emoji)
        return 204, None

    async def _r_remove_reaction(
        self, rec: RecordedRequest, cid: str, mid: str, raw_emoji: str
    ) -> tuple[int, Any]:
        channel = self._channel_or_404(cid)
        msg = self._message_or_404(channel, mid)
        emoji = self._parse_emoji(raw_emoji)
        users = self._reaction_users.get((int(msg["id"]), self._emoji_key(emoji)), [])
        if self.bot_user.id in users:
            users.remove(self.bot_user.id)
            self._sync_reactions(msg)
            self._echo_reaction("MESSAGE_REACTION_REMOVE", channel, msg, self.bot_user.id, emoji)
        return 204, None

    def _echo_reaction(
        self, event: str, channel: FakeChannel, msg: dict, user_id: int, emoji: dict
    ) -> asyncio.Future | None:
        data: dict[str, Any] = {
            "user_id": str(user_id),
            "channel_id": str(channel.id),
            "message_id": msg["id"],
            "emoji": emoji,
            "burst": False,
            "type": 0,
        }
        guild = self._guild_of(channel)
        if guild is not None:
            data["guild_id"] = str(guild.id)
            member = guild.members.get(user_id)
            if member is not None and event == "MESSAGE_REACTION_ADD":
                data["member"] = member.to_payload()
            if event == "MESSAGE_REACTION_ADD":
                data["message_author_id"] = msg["author"]["id"]
        intent = Intent.GUILD_MESSAGE_REACTIONS if guild else Intent.DIRECT_MESSAGE_REACTIONS
        return self._echo(event, data, intent)

    # -- message model ---------------------------------------------------------------------------

    def _resolve_mentions(
        self,
        channel: FakeChannel,
        content: str,
        allowed: dict | None,
        referenced: dict | None,
    ) -> tuple[list[dict], list[str], bool]:
        """Users/roles/everyone that this content actually pings."""
        guild = self._guild_of(channel)
        user_ids = [int(x) for x in re.findall(r"<@!?(\d+)>", content)]
        role_ids = [int(x) for x in re.findall(r"<@&(\d+)>", content)]
        everyone = bool(re.search(r"@(everyone|here)", content))
        if allowed is None:
            # No allowed_mentions at all: everything pings, replies included.
            parse = ["users", "roles", "everyone"]
            allowed = {"replied_user": True}
        else:
            parse = allowed.get("parse") or []
        allowed_users = {int(u) for u in allowed.get("users") or []}
        allowed_roles = {int(r) for r in allowed.get("roles") or []}
        if "users" not in parse:
            user_ids = [u for u in user_ids if u in allowed_users]
        if "roles" not in parse:
            role_ids = [r for r in role_ids if r in allowed_roles]
        if "everyone" not in parse:
            everyone = False
        if referenced is not None and allowed.get("replied_user", False):
            ref_author = int(referenced["author"]["id"])
            if ref_author not in user_ids and ref_author != self.bot_user.id:
                user_ids.append(ref_author)
        mentions = []
        for uid in dict.fromkeys(user_ids):
            user = self.users.get(uid)
            if user is None:
                continue
            data = user.to_payload()
            if guild is not None and uid in guild.members:
                data["member"] = guild.members[uid].to_payload(with_user=False)
            mentions.append(data)
        if guild is not None:
            role_ids = [r for r in role_ids if r in guild.roles]
        return mentions, [str(r) for r in dict.fromkeys(role_ids)], everyone

    def _build_attachments(
        self, body: Mapping[str, Any], files: list[UploadedFile], existing: list[dict]
    ) -> list[dict]:
        by_index: dict[int, UploadedFile] = {}
        for f in files:
            m = re.match(r"files\[(\d+)\]", f.field)
            by_index[int(m.group(1)) if m else len(by_index)] = f
        result: list[dict] = []
        declared = body.get("attachments")
        keep = {a["id"]: a for a in existing}
        used: set[int] = set()
        for att in declared or []:
            att_id = att.get("id")
            if str(att_id) in keep:
                result.append(keep[str(att_id)])
                continue
            try:
                index = int(att_id)
            except (TypeError, ValueError):
                continue
            upload = by_index.get(index)
            if upload is not None:
                used.add(index)
                result.append(self._store_upload(upload, att))
        if declared is None:
            result.extend(existing)
        for index, upload in sorted(by_index.items()):
            if index not in used:
                result.append(self._store_upload(upload, {}))
        return result

    def _store_upload(self, upload: UploadedFile, meta: Mapping[str, Any]) -> dict:
        filename = meta.get("filename") or upload.filename or "file"
        att = self.add_attachment(
            filename, upload.data, upload.content_type, description=meta.get("description")
        )
        return att

    def _create_message(
        self,
        channel: FakeChannel,
        author: FakeUser,
        body: Mapping[str, Any],
        files: list[UploadedFile] = (),  # type: ignore[assignment]
        *,
        webhook_id: int | None = None,
        interaction: FakeInteraction | None = None,
        msg_type: int = 0,
        extra_flags: int = 0,
        echo: bool = True,
    ) -> dict:
        mid = self._snowflake()
        referenced = None
        ref = body.get("message_reference")
        if ref and ref.get("type", 0) == 0 and ref.get("message_id"):
            referenced = self.get_message(int(ref["message_id"]))
            if referenced is None and ref.get("fail_if_not_exists", True):
                raise ApiError(
                    400,
                    50035,
                    "Invalid Form Body",
                    {
                        "message_reference": {
                            "_errors": [
                                {"code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "message": "Unknown message"}
                            ]
                        }
                    },
                )
        content = body.get("content") or ""
        mentions, role_mentions, everyone = self._resolve_mentions(
            channel, content, body.get("allowed_mentions"), referenced
        )
        flags = (
            int(body.get("flags") or 0)
            & (SUPPRESS_EMBEDS | EPHEMERAL | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2)
        ) | extra_flags
        msg: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(channel.id),
            "author": author.to_payload(),
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": everyone,
            "mentions": mentions,
            "mention_roles": role_mentions,
            "attachments": self._build_attachments(body, list(files), []),
            "embeds": [{"type": "rich", **e} for e in body.get("embeds") or []],
            "components": copy.deepcopy(body.get("components") or []),
            "reactions": [],
            "pinned": False,
            "type": 19 if referenced is not None else msg_type,
            "flags": flags,
        }
        if "nonce" in body:
            msg["nonce"] = body["nonce"]
        if webhook_id is not None:
            msg["webhook_id"] = str(webhook_id)
            msg["application_id"] = str(self.application_id)
        if interaction is not None:
            meta: dict[str, Any] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": self.users[interaction.user_id].to_payload(),
                "authorizing_integration_owners": interaction.payload.get(
                    "authorizing_integration_owners", {}
                ),
            }
            if interaction.type == InteractionType.APPLICATION_COMMAND:
                meta["name"] = interaction.payload["data"]["name"]
                meta["command_type"] = interaction.payload["data"].get("type", 1)
            if interaction.type == InteractionType.MESSAGE_COMPONENT:
                meta["interacted_message_id"] = interaction.payload["message"]["id"]
            msg["interaction_metadata"] = meta
        if ref:
            msg["message_reference"] = {
                "type": ref.get("type", 0),
                "message_id": str(ref.get("message_id")),
                "channel_id": str(ref.get("channel_id") or channel.id),
            }
            if channel.guild_id:
                msg["message_reference"]["guild_id"] = str(channel.guild_id)
            if referenced is not None:
                msg["referenced_message"] = {k: v for k, v in referenced.items() if k != "referenced_message"}
        self._messages[mid] = msg
        self._message_order.append(mid)
        if not flags & EPHEMERAL:
            channel.last_message_id = mid
            if echo:
                self._echo_message("MESSAGE_CREATE", channel, msg)
        self._notify()
        return msg

    def _apply_edit(
        self, msg: dict, body: Mapping[str, Any], files: list[UploadedFile], *, echo: bool = True
    ) -> None:
        channel = self.channels[int(msg["channel_id"])]
        if "content" in body:
            msg["content"] = body.get("content") or ""
        if "embeds" in body:
            msg["embeds"] = [{"type": "rich", **e} for e in body.get("embeds") or []]
        if "components" in body:
            msg["components"] = copy.deepcopy(body.get("components") or [])
        if "attachments" in body or files:
            msg["attachments"] = self._build_attachments(body, files, msg["attachments"])
        if "flags" in body and body["flags"] is not None:
            keep = msg["flags"] & ~(SUPPRESS_EMBEDS | IS_COMPONENTS_V2)
            msg["flags"] = keep | (int(body["flags"]) & (SUPPRESS_EMBEDS | IS_COMPONENTS_V2))
        if "content" in body or "allowed_mentions" in body:
            mentions, roles, everyone = self._resolve_mentions(
                channel, msg["content"], body.get("allowed_mentions"), None
            )
            msg.update(mentions=mentions, mention_roles=roles, mention_everyone=everyone)
        if msg["flags"] & LOADING:
            msg["flags"] &= ~LOADING
        else:
            msg["edited_timestamp"] = _now_iso()
        if echo and not msg["flags"] & EPHEMERAL:
            self._echo_message("MESSAGE_UPDATE", channel, msg)
        self._notify()

    def _delete_message(self, msg: dict) -> None:
        mid = int(msg["id"])
        self._deleted.add(mid)
        channel = self.channels[int(msg["channel_id"])]
        if not msg["flags"] & EPHEMERAL:
            data = {"id": msg["id"], "channel_id": msg["channel_id"]}
            if channel.guild_id:
                data["guild_id"] = str(channel.guild_id)
            intent = Intent.GUILD_MESSAGES if channel.guild_id else Intent.DIRECT_MESSAGES
            self._echo("MESSAGE_DELETE", data, intent)
        self._notify()

    def _gateway_message(self, channel: FakeChannel, msg: dict, session: _Session | None) -> dict:
        data = copy.deepcopy(msg)
        guild = self._guild_of(channel)
        if guild is not None:
            data["guild_id"] = str(guild.id)
            author_id = int(msg["author"]["id"])
            if not msg.get("webhook_id") and author_id in guild.members:
                data["member"] = guild.members[author_id].to_payload(with_user=False)
        intents = session.intents if session else 0
        if not intents & Intent.MESSAGE_CONTENT:
            author_id = int(msg["author"]["id"])
            mentioned = any(int(m["id"]) == self.bot_user.id for m in msg.get("mentions", []))
            if guild is not None and author_id != self.bot_user.id and not mentioned:
                data.update(content="", embeds=[], attachments=[], components=[])
        return data

    def _echo_message(self, event: str, channel: FakeChannel, msg: dict) -> None:
        intent = Intent.GUILD_MESSAGES if channel.guild_id else Intent.DIRECT_MESSAGES
        self._echo(event, self._gateway_message(channel, msg, self._session), intent)

    # -- REST: interaction callbacks & webhooks --------------------------------------------------

    def _interaction_for(self, iid: str | None, token: str) -> FakeInteraction:
        inter = self._by_token.get(token)
        if inter is None or (iid is not None and inter.id != int(iid)):
            raise _not_found(10062, "interaction")
        return inter

    async def _r_callback(self, rec: RecordedRequest, iid: str, token: str) -> tuple[int, Any]:
        inter = self._interaction_for(iid, token)
        loop = asyncio.get_running_loop()
        latency = loop.time() - inter.created_at if inter.created_at is not None else 0.0
        attempt: dict[str, Any] = {"body": rec.json, "status": 0, "error": None, "latency": latency}
        inter.callback_attempts.append(attempt)
        try:
            status, data = self._handle_callback(inter, rec, latency)
        except ApiError as exc:
            attempt["status"], attempt["error"] = exc.status, exc.body()
            raise
        attempt["status"] = status
        return status, data

    def _handle_callback(
        self, inter: FakeInteraction, rec: RecordedRequest, latency: float
    ) -> tuple[int, Any]:
        if inter.response is not None:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        if self.enforce_ack_deadline and latency > self.ack_deadline:
            raise _not_found(10062, "interaction")
        body = rec.json or {}
        ctype = body.get("type")
        if ctype not in _ALLOWED_CALLBACKS.get(inter.type, set()) or (
            ctype in (6, 7) and "message" not in inter.payload
        ):
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "type": {
                        "_errors": [
                            {
                                "code": "INTERACTION_RESPONSE_TYPE_INVALID",
                                "message": "Interaction response type is invalid for this interaction",
                            }
                        ]
                    }
                },
            )
        data = body.get("data") or {}
        if ctype == 4:
            validate_message_body(data, has_files=bool(rec.files))
        elif ctype == 7:
            validate_message_body(data, partial=True)
        elif ctype == 8:
            validate_autocomplete(data)
        elif ctype == 9:
            validate_modal(data)

        channel = self.channels.get(inter.channel_id or 0)
        message: dict | None = None
        if ctype in (4, 5):
            if channel is None:
                raise _not_found(10003, "Channel")
            msg_type = 0
            if inter.type == InteractionType.APPLICATION_COMMAND:
                msg_type = 20 if inter.payload["data"].get("type", 1) == 1 else 23
            message = self._create_message(
                channel,
                self.bot_user,
                data if ctype == 4 else {"flags": data.get("flags", 0)},
                rec.files if ctype == 4 else [],
                webhook_id=self.application_id,
                interaction=inter,
                msg_type=msg_type,
                extra_flags=LOADING if ctype == 5 else 0,
            )
            inter.original_message_id = int(message["id"])
            inter._loading_pending = ctype == 5
        elif ctype in (6, 7):
            source = self.get_message(int(inter.payload["message"]["id"]))
            if source is None:
                raise _not_found(10008, "Message")
            inter.original_message_id = int(source["id"])
            if ctype == 7:
                self._apply_edit(source, data, rec.files)
            message = source
        inter.response = copy.deepcopy(body)
        inter.ack_latency = latency
        self._notify()

        if rec.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        result: dict[str, Any] = {
            "interaction": {
                "id": str(inter.id),
                "type": inter.type,
                "response_message_loading": ctype == 5,
                "response_message_ephemeral": bool(message and message["flags"] & EPHEMERAL),
            },
            "resource": {"type": ctype},
        }
        if message is not None and ctype in (4, 5, 7):
            result["interaction"]["response_message_id"] = message["id"]
            result["resource"]["message"] = message
        return 200, result

    def _webhook_interaction(self, app_id: str, token: str) -> FakeInteraction:
        if int(app_id) != self.application_id:
            raise _not_found(10015, "Webhook")
        inter = self._by_token.get(token)
        if inter is None:
            raise _not_found(10015, "Webhook")
        if inter.response is None:
            raise _not_found(10015, "Webhook")
        return inter

    def _webhook_message(self, inter: FakeInteraction, mid: str) -> dict:
        if mid == "@original":
            msg = inter.original_message
        elif int(mid) == inter.original_message_id or int(mid) in inter.followup_ids:
            msg = self.get_message(int(mid))
        else:
            msg = None
        if msg is None:
            raise _not_found(10008, "Message")
        return msg

    async def _r_followup(self, rec: RecordedRequest, app_id: str, token: str) -> tuple[int, Any]:
        inter = self._webhook_interaction(app_id, token)
        if inter.response_type in (8, 9):
            raise _not_found(10015, "Webhook")
        body = rec.json or {}
        validate_message_body(body, has_files=bool(rec.files))
        channel = self.channels[inter.channel_id or 0]
        if inter._loading_pending and inter.original_message is not None:
            # Discord: the first followup after a defer replaces the loading message.
            inter._loading_pending = False
            msg = inter.original_message
            edit = {k: body[k] for k in _MESSAGE_FIELDS if k in body and k != "flags"}
            edit.setdefault("content", body.get("content"))
            self._apply_edit(msg, edit, rec.files)
        else:
            msg = self._create_message(
                channel, self.bot_user, body, rec.files, webhook_id=self.application_id, interaction=inter
            )
        inter.followup_ids.append(int(msg["id"]))
        self._notify()
        return 200, msg

    async def _r_webhook_get(
        self, rec: RecordedRequest, app_id: str, token: str, mid: str
    ) -> tuple[int, Any]:
        inter = self._webhook_interaction(app_id, token)
        return 200, self._webhook_message(inter, mid)

    async def _r_webhook_edit(
        self, rec: RecordedRequest, app_id: str, token: str, mid: str
    ) -> tuple[int, Any]:
        inter = self._webhook_interaction(app_id, token)
        msg = self._webhook_message(inter, mid)
        body = rec.json or {}
        validate_message_body(body, partial=True)
        if msg["flags"] & LOADING and int(msg["id"]) == inter.original_message_id:
            inter._loading_pending = False
        self._apply_edit(msg, body, rec.files)
        inter.edits.append({"message_id": int(msg["id"]), "body": copy.deepcopy(body)})
        self._notify()
        return 200, msg

    async def _r_webhook_delete(
        self, rec: RecordedRequest, app_id: str, token: str, mid: str
    ) -> tuple[int, Any]:
        inter = self._webhook_interaction(app_id, token)
        msg = self._webhook_message(inter, mid)
        self._delete_message(msg)
        inter.deleted_message_ids.append(int(msg["id"]))
        return 204, None

    # -- user-side activity -----------------------------------------------------------------------

    async def send_user_message(
        self,
        channel: Any,
        author: Any,
        content: str = "",
        *,
        reply_to: Any = None,
        attachments: Sequence[dict] = (),
        embeds: Sequence[dict] = (),
        timeout: float | None = None,
    ) -> dict:
        """A user posts a message: stores it and dispatches MESSAGE_CREATE
        (if the bot's intents include GUILD_MESSAGES / DIRECT_MESSAGES; content
        is blanked without MESSAGE_CONTENT unless the bot is mentioned or it's
        a DM). ``<@id>``, ``<@&id>`` and ``@everyone`` in ``content`` become
        mentions. Returns the stored message once the event was written."""
        ch = self._channel(channel)
        user = self._user(author)
        guild = self._guild_of(ch)
        if guild is not None and user.id not in guild.members:
            raise FakeDiscordError(f"{user.username} is not a member of {guild.name}")
        body: dict[str, Any] = {"content": content, "embeds": list(embeds)}
        if reply_to is not None:
            body["message_reference"] = {"message_id": str(_id_of(reply_to)), "channel_id": str(ch.id)}
        msg = self._create_message(ch, user, body, echo=False)
        msg["attachments"] = [copy.deepcopy(a) for a in attachments]
        session = await self.wait_for(self._live_session, timeout, "a gateway connection")
        intent = Intent.GUILD_MESSAGES if guild else Intent.DIRECT_MESSAGES
        if session.intents & intent:
            await self.dispatch("MESSAGE_CREATE", self._gateway_message(ch, msg, session), timeout=timeout)
        return msg

    async def add_user_reaction(
        self, message: Any, user: Any, emoji: str, *, timeout: float | None = None
    ) -> None:
        """A user reacts (``"👍"`` or ``"name:id"``); dispatches MESSAGE_REACTION_ADD."""
        msg = self.get_message(_id_of(message))
        if msg is None:
            raise FakeDiscordError("unknown message")
        uid = _id_of(user)
        channel = self.channels[int(msg["channel_id"])]
        parsed = self._parse_emoji(emoji)
        if self._add_reaction(msg, uid, parsed):
            await self.wait_for(self._live_session, timeout, "a gateway connection")
            future = self._echo_reaction("MESSAGE_REACTION_ADD", channel, msg, uid, parsed)
            if future is not None:
                await asyncio.wait_for(future, self.default_timeout if timeout is None else timeout)

    # -- interactions: payload builders -----------------------------------------------------------

    def _interaction_base(
        self,
        itype: int,
        data: dict,
        user: Any,
        channel: Any,
        *,
        locale: str = "en-US",
    ) -> dict:
        ch = self._channel(channel)
        u = self._user(user)
        guild = self._guild_of(ch)
        payload: dict[str, Any] = {
            "id": str(self._snowflake()),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "token": "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48),
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "channel_id": str(ch.id),
        }
        if guild is not None:
            member = guild.members.get(u.id)
            if member is None:
                raise FakeDiscordError(f"{u.username} is not a member of {guild.name}")
            perms = guild.permissions_for(u, ch)
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member=member.to_payload(permissions=perms),
                channel={**ch.to_payload(), "permissions": str(perms)},
                app_permissions=str(guild.permissions_for(self.bot_user, ch)),
                authorizing_integration_owners={"0": str(guild.id)},
                context=0,
            )
        else:
            if ch.type != ChannelType.DM or u.id not in ch.recipient_ids:
                raise FakeDiscordError("DM interactions need the user's DM channel (fake.dm_channel(user))")
            payload.update(
                user=u.to_payload(),
                channel=ch.to_payload(self.users),
                app_permissions=str(self._bot_perms(ch)),
                authorizing_integration_owners={"0": "0"},
                context=1,
            )
        return payload

    def _find_command(self, name: str, ctype: int, channel: FakeChannel) -> dict:
        if channel.guild_id is not None:
            cmd = self._commands.get(channel.guild_id, {}).get((name, ctype))
            if cmd is not None:
                return cmd
        cmd = self._commands.get(None, {}).get((name, ctype))
        if cmd is None:
            where = f"guild {channel.guild_id}" if channel.guild_id else "DMs"
            raise FakeDiscordError(
                f"command {name!r} (type {ctype}) is not registered for {where}; did the bot sync its tree?"
            )
        return cmd

    def _check_command_allowed(self, cmd: dict, user: FakeUser, channel: FakeChannel) -> None:
        guild = self._guild_of(channel)
        if guild is None:
            contexts = cmd.get("contexts")
            allowed = (1 in contexts) if contexts is not None else cmd.get("dm_permission", True) is not False
            if not allowed:
                raise InteractionNotAllowed(f"command {cmd['name']!r} is not available in DMs")
            return
        contexts = cmd.get("contexts")
        if contexts is not None and 0 not in contexts:
            raise InteractionNotAllowed(f"command {cmd['name']!r} is not available in guilds")
        perms = guild.permissions_for(user, channel)
        needed = Perm.VIEW_CHANNEL | Perm.USE_APPLICATION_COMMANDS
        if perms & needed != needed:
            raise InteractionNotAllowed(f"{user.username} cannot use application commands in #{channel.name}")
        dmp = cmd.get("default_member_permissions")
        if dmp is not None and perms != Perm.ALL:
            required = int(dmp)
            if required == 0 or perms & required != required:
                raise InteractionNotAllowed(
                    f"{user.username} lacks default_member_permissions={dmp} for {cmd['name']!r}"
                )

    def _resolve_value(
        self,
        otype: int,
        value: Any,
        resolved: dict,
        guild: FakeGuild | None,
        user: FakeUser,
        channel: FakeChannel,
    ) -> Any:
        if otype == 3:
            return str(value)
        if otype == 4:
            if isinstance(value, bool) or not isinstance(value, int):
                raise FakeDiscordError(f"integer option expects int, got {value!r}")
            return value
        if otype == 5:
            return bool(value)
        if otype == 10:
            return float(value)
        if otype in (6, 9) and not isinstance(value, FakeRole):
            target = self._user(value)
            resolved.setdefault("users", {})[str(target.id)] = target.to_payload()
            if guild is not None and target.id in guild.members:
                member = guild.members[target.id]
                resolved.setdefault("members", {})[str(target.id)] = member.to_payload(
                    with_user=False, permissions=guild.permissions_for(target, channel)
                )
            return str(target.id)
        if otype in (8, 9):
            if guild is None:
                raise FakeDiscordError("role options need a guild")
            role = value if isinstance(value, FakeRole) else guild.roles[_id_of(value)]
            resolved.setdefault("roles", {})[str(role.id)] = role.to_payload()
            return str(role.id)
        if otype == 7:
            target_ch = self._channel(value)
            data = {
                "id": str(target_ch.id),
                "name": target_ch.name,
                "type": target_ch.type,
                "parent_id": str(target_ch.parent_id) if target_ch.parent_id else None,
                "permissions": str(guild.permissions_for(user, target_ch) if guild else 0),
            }
            if target_ch.guild_id:
                data["guild_id"] = str(target_ch.guild_id)
            resolved.setdefault("channels", {})[str(target_ch.id)] = data
            return str(target_ch.id)
        if otype == 11:
            if isinstance(value, Mapping):
                att = dict(value)
            else:
                raise FakeDiscordError("attachment options expect a payload from fake.add_attachment()")
            resolved.setdefault("attachments", {})[att["id"]] = att
            return att["id"]
        raise FakeDiscordError(f"unsupported option type {otype}")

    def _build_options(
        self,
        schema: list[dict],
        values: Mapping[str, Any],
        resolved: dict,
        guild: FakeGuild | None,
        user: FakeUser,
        channel: FakeChannel,
        focused: str | None,
    ) -> list[dict]:
        by_name = {o["name"]: o for o in schema}
        unknown = set(values) - set(by_name)
        if unknown:
            raise FakeDiscordError(f"unknown options {sorted(unknown)}; command has {sorted(by_name)}")
        if focused is not None and focused not in values:
            raise FakeDiscordError(f"focused option {focused!r} must be in options")
        out = []
        for opt in schema:
            name = opt["name"]
            otype = opt["type"]
            if name not in values:
                if opt.get("required") and focused is None:
                    raise InteractionNotAllowed(f"required option {name!r} missing")
                continue
            value = values[name]
            if name == focused:
                if not opt.get("autocomplete"):
                    raise InteractionNotAllowed(f"option {name!r} does not have autocomplete enabled")
                out.append({"name": name, "type": otype, "value": str(value), "focused": True})
                continue
            converted = self._resolve_value(otype, value, resolved, guild, user, channel)
            choices = opt.get("choices")
            if choices and converted not in [c["value"] for c in choices]:
                raise InteractionNotAllowed(f"{value!r} is not one of the choices for {name!r}")
            if otype in (4, 10):
                if opt.get("min_value") is not None and converted < opt["min_value"]:
                    raise InteractionNotAllowed(f"{name!r} below min_value")
                if opt.get("max_value") is not None and converted > opt["max_value"]:
                    raise InteractionNotAllowed(f"{name!r} above max_value")
            if otype == 3:
                if opt.get("min_length") is not None and len(converted) < opt["min_length"]:
                    raise InteractionNotAllowed(f"{name!r} shorter than min_length")
                if opt.get("max_length") is not None and len(converted) > opt["max_length"]:
                    raise InteractionNotAllowed(f"{name!r} longer than max_length")
            if (
                otype == 7
                and opt.get("channel_types")
                and self._channel(value).type not in opt["channel_types"]
            ):
                raise InteractionNotAllowed(f"channel type not allowed for {name!r}")
            out.append({"name": name, "type": otype, "value": converted})
        return out

    def build_command_payload(
        self,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: Any,
        channel: Any,
        focused: str | None = None,
        check_permissions: bool = True,
        locale: str = "en-US",
    ) -> dict:
        """Build an APPLICATION_COMMAND (or AUTOCOMPLETE if ``focused``)
        payload for a registered chat-input command. ``command`` is the full
        path, e.g. ``"article add"``; ``options`` maps option names to values
        (ints/strs/bools/floats, FakeUser/FakeMember, FakeChannel, FakeRole,
        attachment payloads from :meth:`add_attachment`, or raw ids)."""
        ch = self._channel(channel)
        u = self._user(user)
        guild = self._guild_of(ch)
        root, *path = command.split()
        cmd = self._find_command(root, 1, ch)
        if check_permissions:
            self._check_command_allowed(cmd, u, ch)
        resolved: dict[str, Any] = {}
        top: list[dict] = []
        container = top
        schema = cmd.get("options") or []
        for part in path:
            sub = next((o for o in schema if o["name"] == part and o["type"] in (1, 2)), None)
            if sub is None:
                raise FakeDiscordError(f"{command!r}: no subcommand/group {part!r}")
            node: dict[str, Any] = {"name": part, "type": sub["type"], "options": []}
            container.append(node)
            container = node["options"]
            schema = sub.get("options") or []
        if any(o["type"] in (1, 2) for o in schema):
            raise FakeDiscordError(f"{command!r} is a group; name a subcommand")
        container.extend(self._build_options(schema, options or {}, resolved, guild, u, ch, focused))
        data: dict[str, Any] = {"id": cmd["id"], "name": cmd["name"], "type": 1}
        if top:
            data["options"] = top
        if resolved:
            data["resolved"] = resolved
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        itype = InteractionType.AUTOCOMPLETE if focused else InteractionType.APPLICATION_COMMAND
        return self._interaction_base(itype, data, u, ch, locale=locale)

    def build_context_menu_payload(
        self,
        name: str,
        target: Any,
        *,
        user: Any,
        channel: Any = None,
        check_permissions: bool = True,
    ) -> dict:
        """Build a message (``target`` is a stored message) or user (``target``
        is a user) context-menu payload; ``channel`` defaults to the
        message's channel."""
        u = self._user(user)
        resolved: dict[str, Any] = {}
        if isinstance(target, Mapping) and "channel_id" in target:
            ctype = 3
            msg = self.get_message(int(target["id"])) or dict(target)
            ch = self._channel(channel if channel is not None else int(msg["channel_id"]))
            resolved["messages"] = {msg["id"]: copy.deepcopy(msg)}
            target_id = msg["id"]
        else:
            ctype = 2
            if channel is None:
                raise FakeDiscordError("user commands need a channel")
            ch = self._channel(channel)
            target_id = self._resolve_value(6, target, resolved, self._guild_of(ch), u, ch)
        cmd = self._find_command(name, ctype, ch)
        if check_permissions:
            self._check_command_allowed(cmd, u, ch)
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": name,
            "type": ctype,
            "target_id": target_id,
            "resolved": resolved,
        }
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return self._interaction_base(InteractionType.APPLICATION_COMMAND, data, u, ch)

    @staticmethod
    def _walk_components(components: Sequence[dict]) -> Iterator[dict]:
        for comp in components:
            yield comp
            yield from FakeDiscord._walk_components(comp.get("components") or [])
            if comp.get("accessory"):
                yield comp["accessory"]
            if comp.get("component"):
                yield comp["component"]

    def _component_message(self, message: Any) -> dict:
        msg = self.get_message(_id_of(message))
        if msg is None:
            raise FakeDiscordError("unknown or deleted message")
        return msg

    def build_component_payload(
        self,
        message: Any,
        custom_id: str,
        *,
        user: Any,
        values: Sequence[Any] | None = None,
    ) -> dict:
        """Build a MESSAGE_COMPONENT payload for a button (``values=None``) or
        select on a stored message; checks the component exists, is enabled,
        and that select values are valid like Discord's client would."""
        msg = self._component_message(message)
        comp = next(
            (
                c
                for c in self._walk_components(msg.get("components") or [])
                if c.get("custom_id") == custom_id
            ),
            None,
        )
        if comp is None:
            raise InteractionNotAllowed(f"message {msg['id']} has no component with custom_id {custom_id!r}")
        if comp.get("disabled"):
            raise InteractionNotAllowed(f"component {custom_id!r} is disabled")
        ch = self.channels[int(msg["channel_id"])]
        u = self._user(user)
        if msg["flags"] & EPHEMERAL:
            meta = msg.get("interaction_metadata") or {}
            if meta and int(meta["user"]["id"]) != u.id:
                raise InteractionNotAllowed("only the invoking user can see an ephemeral message")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": comp["type"]}
        if "id" in comp:
            data["id"] = comp["id"]
        ctype = comp["type"]
        if ctype == 2:
            if values is not None:
                raise FakeDiscordError("buttons take no values")
            if comp.get("style") in (5, 6):
                raise InteractionNotAllowed("link/premium buttons do not create interactions")
        elif ctype in _SELECT_TYPES:
            values = list(values or [])
            lo, hi = comp.get("min_values", 1), comp.get("max_values", 1)
            if not lo <= len(values) <= hi:
                raise InteractionNotAllowed(
                    f"select {custom_id!r} takes {lo}..{hi} values, got {len(values)}"
                )
            if ctype == 3:
                allowed = [o["value"] for o in comp.get("options", [])]
                bad = [v for v in values if v not in allowed]
                if bad:
                    raise InteractionNotAllowed(f"{bad} not among the options of {custom_id!r}")
                data["values"] = list(values)
            else:
                resolved: dict[str, Any] = {}
                guild = self._guild_of(ch)
                otype = {5: 6, 6: 8, 7: 9, 8: 7}[ctype]
                data["values"] = [self._resolve_value(otype, v, resolved, guild, u, ch) for v in values]
                data["resolved"] = resolved
        else:
            raise FakeDiscordError(f"component type {ctype} is not interactive")
        payload = self._interaction_base(InteractionType.MESSAGE_COMPONENT, data, u, ch)
        payload["message"] = copy.deepcopy(msg)
        return payload

    def build_modal_submit_payload(
        self,
        source: FakeInteraction,
        values: Mapping[str, Any],
        *,
        user: Any = None,
    ) -> dict:
        """Build a MODAL_SUBMIT payload answering the modal the bot opened on
        ``source``. ``values`` maps text-input custom_ids to strings (select
        custom_ids to lists). Missing text inputs get their pre-filled value;
        required/min/max length are checked like the Discord client."""
        modal = source.modal
        if modal is None:
            raise FakeDiscordError(f"{source!r} did not respond with a modal")
        u = self._user(user if user is not None else source.user_id)
        ch = self._channel(source.channel_id)
        guild = self._guild_of(ch)
        resolved: dict[str, Any] = {}
        seen: set[str] = set()

        def leaf(comp: dict) -> dict:
            cid = comp.get("custom_id")
            out: dict[str, Any] = {"type": comp["type"], "custom_id": cid}
            if "id" in comp:
                out["id"] = comp["id"]
            if comp["type"] == 4:
                value = values.get(cid, comp.get("value") or "")
                if not isinstance(value, str):
                    raise FakeDiscordError(f"text input {cid!r} takes a str")
                required = comp.get("required", True)
                if required and not value:
                    raise InteractionNotAllowed(f"text input {cid!r} is required")
                if value and comp.get("min_length") is not None and len(value) < comp["min_length"]:
                    raise InteractionNotAllowed(f"text input {cid!r} shorter than min_length")
                if comp.get("max_length") is not None and len(value) > comp["max_length"]:
                    raise InteractionNotAllowed(f"text input {cid!r} longer than max_length")
                out["value"] = value
            elif comp["type"] in _SELECT_TYPES:
                chosen = list(values.get(cid, []))
                if comp["type"] == 3:
                    out["values"] = [str(v) for v in chosen]
                else:
                    otype = {5: 6, 6: 8, 7: 9, 8: 7}[comp["type"]]
                    out["values"] = [self._resolve_value(otype, v, resolved, guild, u, ch) for v in chosen]
            seen.add(cid)
            return out

        components = []
        for comp in modal.get("components", []):
            if comp["type"] == 1:
                row = {"type": 1, "components": [leaf(c) for c in comp.get("components", [])]}
                if "id" in comp:
                    row["id"] = comp["id"]
                components.append(row)
            elif comp["type"] == 18:
                label: dict[str, Any] = {"type": 18, "component": leaf(comp["component"])}
                if "id" in comp:
                    label["id"] = comp["id"]
                components.append(label)
            elif "id" in comp:
                components.append({"type": comp["type"], "id": comp["id"]})
        unknown = set(values) - seen
        if unknown:
            raise FakeDiscordError(f"modal has no inputs {sorted(unknown)}")
        data: dict[str, Any] = {"custom_id": modal["custom_id"], "components": components}
        if resolved:
            data["resolved"] = resolved
        payload = self._interaction_base(InteractionType.MODAL_SUBMIT, data, u, ch)
        if "message" in source.payload:
            current = self.get_message(int(source.payload["message"]["id"]))
            payload["message"] = copy.deepcopy(current or source.payload["message"])
        return payload

    # -- interactions: sending ------------------------------------------------------------------------

    async def send_interaction(self, payload: dict, *, timeout: float | None = None) -> FakeInteraction:
        """Deliver an INTERACTION_CREATE (missing id/token/version/
        application_id/attachment_size_limit are filled in) and return its
        :class:`FakeInteraction` once the frame was written."""
        payload = dict(payload)
        payload.setdefault("id", str(self._snowflake()))
        payload.setdefault("token", "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48))
        payload.setdefault("version", 1)
        payload.setdefault("application_id", str(self.application_id))
        payload.setdefault("attachment_size_limit", 10 * 1024 * 1024)
        payload.setdefault("entitlements", [])
        inter = FakeInteraction(self, payload)
        self.interactions[inter.id] = inter
        self._by_token[inter.token] = inter
        session = await self.wait_for(self._live_session, timeout, "a gateway connection")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        # The clock starts when the frame goes out, like Discord's 3 s window.
        session.enqueue("INTERACTION_CREATE", payload, future)
        inter.created_at = loop.time()
        inter.created_at = await asyncio.wait_for(
            future, self.default_timeout if timeout is None else timeout
        )
        self._notify()
        return inter

    async def invoke_command(
        self,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: Any,
        channel: Any,
        check_permissions: bool = True,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user runs slash command ``command`` (e.g. ``"article add"``).
        Raises :class:`InteractionNotAllowed` where Discord would not let
        them (``default_member_permissions``, DM availability, choices...)."""
        payload = self.build_command_payload(
            command, options, user=user, channel=channel, check_permissions=check_permissions, locale=locale
        )
        return await self.send_interaction(payload)

    async def autocomplete(
        self,
        command: str,
        options: Mapping[str, Any],
        focused: str,
        *,
        user: Any,
        channel: Any,
    ) -> FakeInteraction:
        """A user types into option ``focused`` (its value is sent as a
        string, like Discord does); the bot's choices end up in ``.choices``."""
        payload = self.build_command_payload(command, options, user=user, channel=channel, focused=focused)
        return await self.send_interaction(payload)

    async def click_button(self, message: Any, custom_id: str, *, user: Any) -> FakeInteraction:
        """A user clicks the button ``custom_id`` on a stored message."""
        return await self.send_interaction(self.build_component_payload(message, custom_id, user=user))

    async def select(
        self, message: Any, custom_id: str, values: Sequence[Any], *, user: Any
    ) -> FakeInteraction:
        """A user picks ``values`` in the select menu ``custom_id``."""
        return await self.send_interaction(
            self.build_component_payload(message, custom_id, user=user, values=values)
        )

    async def submit_modal(
        self, source: FakeInteraction, values: Mapping[str, Any], *, user: Any = None
    ) -> FakeInteraction:
        """A user submits the modal opened in response to ``source``."""
        return await self.send_interaction(self.build_modal_submit_payload(source, values, user=user))

    async def invoke_message_command(self, name: str, message: Any, *, user: Any) -> FakeInteraction:
        """A user runs message context-menu command ``name`` on a stored message."""
        msg = message if isinstance(message, Mapping) else self._component_message(message)
        return await self.send_interaction(self.build_context_menu_payload(name, msg, user=user))

    async def invoke_user_command(
        self, name: str, target: Any, *, user: Any, channel: Any
    ) -> FakeInteraction:
        """A user runs user context-menu command ``name`` on ``target``."""
        return await self.send_interaction(
            self.build_context_menu_payload(name, target, user=user, channel=channel)
        )


def _json(status: int, data: Any) -> web.Response:
    if data is None:
        return web.Response(status=status)
    # Exactly "application/json": discord.py treats "...; charset=utf-8" as text.
    return web.Response(
        status=status, body=json.dumps(data).encode(), headers={"Content-Type": "application/json"}
    )


# --------------------------------------------------------------------------
# Running a bot against the fake
# --------------------------------------------------------------------------


# Names discord.py gives to tasks running user code (events, app commands, views, modals).
_HANDLER_TASK_PREFIXES = (
    "discord.py: ",
    "CommandTree-invoker",
    "discord-ui-view-dispatch",
    "discord-ui-modal",
)


class _ErrorLogHandler(logging.Handler):
    def __init__(self, runner: BotRunner) -> None:
        super().__init__(level=logging.ERROR)
        self.runner = runner

    def emit(self, record: logging.LogRecord) -> None:
        self.runner._on_error_record(record)


class BotRunner:
    """Runs a discord.py client against a :class:`FakeDiscord`.

    Use :func:`run_bot`. While running, ``errors`` collects every ERROR-level
    record from the ``discord`` loggers (unhandled exceptions in events,
    commands, views, modals) and a crash of the client task. Unless
    ``fail_on_errors=False`` these make pending/future ``fake.wait_*`` calls
    raise :class:`BotFailure` immediately and make the ``async with`` block
    raise on exit. Call :meth:`take_errors` in tests that expect errors.
    """

    def __init__(
        self,
        fake: FakeDiscord,
        client: Any,
        *,
        token: str | None = None,
        ready_timeout: float = 5.0,
        guild_ready_timeout: float | None = 0.05,
        fail_on_errors: bool = True,
        logger_names: Sequence[str] = ("discord",),
    ) -> None:
        self.fake = fake
        self.client = client
        self.token = token or fake.token
        self.ready_timeout = ready_timeout
        self.guild_ready_timeout = guild_ready_timeout
        self.fail_on_errors = fail_on_errors
        self.logger_names = logger_names
        self.errors: list[str] = []
        self.task: asyncio.Task | None = None
        self._handler = _ErrorLogHandler(self)
        self._patch: contextlib.ExitStack | None = None

    def _on_error_record(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self._record(f"[{record.name}] {text}")

    def _record(self, text: str) -> None:
        self.errors.append(text)
        if self.fail_on_errors:
            self.fake.report_failure(text)

    def take_errors(self) -> list[str]:
        """Return and forget the errors captured so far."""
        out, self.errors = self.errors, []
        self.fake.clear_failures()
        return out

    async def wait_for_error(self, timeout: float | None = None) -> str:
        """Wait for the bot to log an error (run with ``fail_on_errors=False``)."""
        await self.fake.wait_for(lambda: self.errors, timeout, "a bot error")
        return self.errors[-1]

    def _on_task_done(self, task: asyncio.Task) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            import traceback

            self._record("client task crashed:\n" + "".join(traceback.format_exception(exc)))
        else:
            self.fake._notify()

    async def start(self) -> None:
        self._patch = contextlib.ExitStack()
        self._patch.enter_context(self.fake.patch_discord())
        for name in self.logger_names:
            logging.getLogger(name).addHandler(self._handler)
        identifies_before = self.fake.identify_count
        self.task = asyncio.create_task(self.client.start(self.token), name="fake-discord-bot")
        self.task.add_done_callback(self._on_task_done)
        task = self.task
        try:
            if self.guild_ready_timeout is not None:
                # ConnectionState exists from construction; login happens in start().
                self.client._connection.guild_ready_timeout = self.guild_ready_timeout
            try:
                await self.fake.wait_for(
                    lambda: self.fake.identify_count > identifies_before or task.done(),
                    self.ready_timeout,
                    "the bot to IDENTIFY",
                )
            except BotFailure:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    self.take_errors()
                    raise task.exception() from None  # e.g. discord.LoginFailure
                raise
            if task.done():
                task.result()
                raise BotFailure("client.start() returned before the bot was ready")
            ready = asyncio.ensure_future(self.client.wait_until_ready())
            done, _ = await asyncio.wait(
                {ready, task}, timeout=self.ready_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if ready not in done:
                ready.cancel()
                if task.done():
                    task.result()
                raise WaitTimeout("bot did not become ready")
        except BaseException:
            await self.stop(raise_errors=False)
            raise

    @staticmethod
    def _handler_tasks() -> list[asyncio.Task]:
        current = asyncio.current_task()
        return [
            t
            for t in asyncio.all_tasks()
            if t is not current and not t.done() and t.get_name().startswith(_HANDLER_TASK_PREFIXES)
        ]

    async def wait_idle(self, timeout: float = 1.0) -> bool:
        """Wait until discord.py has no event/command/view/modal handler tasks
        running (e.g. the bot finished reacting to the last event). Returns
        False if some were still running after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await asyncio.sleep(0)  # let freshly dispatched events create their tasks
            tasks = self._handler_tasks()
            if not tasks:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.wait(tasks, timeout=remaining)

    async def stop(self, *, raise_errors: bool = True, drain: float = 1.0) -> None:
        """Let running handlers finish (up to ``drain`` s), close the client,
        unpatch discord.py; raise :class:`BotFailure` if errors were seen."""
        try:
            if drain and self.task is not None and not self.task.done():
                await self.wait_idle(drain)
            if not self.client.is_closed():
                await asyncio.wait_for(self.client.close(), 5)
            if self.task is not None and not self.task.done():
                try:
                    await asyncio.wait_for(asyncio.shield(self.task), 2)
                except TimeoutError:
                    self.task.cancel()
                    with contextlib.suppress(BaseException):
                        await self.task
        finally:
            for name in self.logger_names:
                logging.getLogger(name).removeHandler(self._handler)
            if self._patch is not None:
                self._patch.close()
                self._patch = None
        if raise_errors and self.errors and self.fail_on_errors:
            raise BotFailure("bot reported errors:\n" + "\n".join(self.errors))

    async def __aenter__(self) -> BotRunner:
        await self.start()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self.stop(raise_errors=exc_type is None)


@contextlib.asynccontextmanager
async def run_bot(fake: FakeDiscord, client: Any, **kwargs: Any) -> AsyncIterator[BotRunner]:
    """``async with run_bot(fake, client) as runner:`` -- patch discord.py,
    start the client, wait for on_ready; close everything on exit.
    Keyword arguments go to :class:`BotRunner`."""
    runner = BotRunner(fake, client, **kwargs)
    async with runner:
        yield runner
