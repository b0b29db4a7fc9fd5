"""The message model (creation, edits, mentions, attachments, echoes) and user-side activity."""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .constants import (
    EPHEMERAL,
    IS_COMPONENTS_V2,
    LOADING,
    SUPPRESS_EMBEDS,
    SUPPRESS_NOTIFICATIONS,
    Intent,
    InteractionType,
    Perm,
)
from .errors import (
    ApiError,
    FakeDiscordError,
)
from .gateway import _Session
from .models import (
    FakeChannel,
    FakeUser,
    UploadedFile,
    _id_of,
    _now_iso,
)

if TYPE_CHECKING:
    from .interactions import FakeInteraction


class MessagesMixin:
    """Stored messages and what users do to them."""

    # -- message model ---------------------------------------------------------------------------

    def _resolve_mentions(
        self,
        channel: FakeChannel,
        content: str,
        allowed: dict | None,
        referenced: dict | None,
        author_id: int | None = None,
    ) -> tuple[list[dict], list[str], bool]:
        """Users/roles/everyone that this content actually pings. A reply pings the replied-to
        message's author too (``replied_user``), unless that is the replying author themself: so a
        member's reply to the bot lists the bot in ``mentions`` although the content names nobody."""
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
            if ref_author not in user_ids and ref_author != author_id:
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
        message_id: int | None = None,
    ) -> dict:
        mid = message_id or self._snowflake()
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
            channel, content, body.get("allowed_mentions"), referenced, author.id
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
        if ref and (referenced is not None or ref.get("type", 0) != 0):
            # A reply to a message that is gone (fail_if_not_exists false) goes out as a plain message.
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
            if channel.is_thread:
                channel.message_count += 1
                channel.total_message_sent += 1
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
        if guild is not None and not intents & Intent.MESSAGE_CONTENT:
            self._blank_content(data)
            if data.get("referenced_message"):  # the replied-to message follows the same rule
                self._blank_content(data["referenced_message"])
        return data

    def _blank_content(self, data: dict) -> None:
        """Without the Message Content intent a server's message reaches the bot without its
        content, unless the bot wrote it or is in its ``mentions`` (a ``<@id>`` in the content, or
        a reply to the bot's message with the ping on)."""
        author_id = int(data["author"]["id"])
        mentioned = any(int(m["id"]) == self.bot_user.id for m in data.get("mentions", []))
        if author_id != self.bot_user.id and not mentioned:
            data.update(content="", embeds=[], attachments=[], components=[])

    def _echo_message(self, event: str, channel: FakeChannel, msg: dict) -> None:
        intent = Intent.GUILD_MESSAGES if channel.guild_id else Intent.DIRECT_MESSAGES
        self._echo(event, self._gateway_message(channel, msg, self._session), intent)

    # -- user-side activity -----------------------------------------------------------------------

    async def send_user_message(
        self,
        channel: Any,
        author: Any,
        content: str = "",
        *,
        reply_to: Any = None,
        mention_author: bool = True,
        attachments: Sequence[dict] = (),
        embeds: Sequence[dict] = (),
        message_type: int = 0,
        timeout: float | None = None,
    ) -> dict:
        """A user posts a message: stores it and dispatches MESSAGE_CREATE
        (if the bot's intents include GUILD_MESSAGES / DIRECT_MESSAGES and it
        may view the channel; content is blanked without MESSAGE_CONTENT
        unless the bot is mentioned or it's a DM). ``message_type`` other than 0 stands for the
        system message Discord posts for the user's action, authored by the user (18: a thread was
        created, its ``content`` the thread's name; 6: a message was pinned; 4: the channel was
        renamed, ``content`` its new name). In a thread, see :meth:`_before_thread_message`
        (an archived thread is unarchived first; a locked one refuses). ``<@id>``, ``<@&id>`` and ``@everyone`` in ``content`` become
        mentions. ``reply_to`` makes it a reply (``message_reference`` and ``referenced_message``);
        ``mention_author`` is the client's "@ON" switch (on by default, as in Discord's client): on,
        the replied-to author is pinged and listed in ``mentions``, bot included.
        Returns the stored message once the event was written."""
        ch = self._channel(channel)
        user = self._user(author)
        guild = self._guild_of(ch)
        if guild is not None and user.id not in guild.members:
            raise FakeDiscordError(f"{user.username} is not a member of {guild.name}")
        if ch.is_thread:
            await self._before_thread_message(ch, user, content, timeout)
        if message_type and reply_to is not None:
            raise FakeDiscordError("a system message replies to nothing")
        body: dict[str, Any] = {"content": content, "embeds": list(embeds)}
        if reply_to is not None:
            body["message_reference"] = {"message_id": str(_id_of(reply_to)), "channel_id": str(ch.id)}
            body["allowed_mentions"] = {
                "parse": ["users", "roles", "everyone"],
                "replied_user": mention_author,
            }
        msg = self._create_message(ch, user, body, echo=False, msg_type=message_type)
        msg["attachments"] = [copy.deepcopy(a) for a in attachments]
        session = await self.wait_for(self._live_session, timeout, "a gateway connection")
        intent = Intent.GUILD_MESSAGES if guild else Intent.DIRECT_MESSAGES
        if session.intents & intent and self._bot_sees(ch):
            await self.dispatch("MESSAGE_CREATE", self._gateway_message(ch, msg, session), timeout=timeout)
        return msg

    def _bot_sees(self, channel: FakeChannel) -> bool:
        """Discord sends the bot a channel's message events only if it may view the channel."""
        return bool(self._bot_perms(channel) & Perm.VIEW_CHANNEL)

    async def _dispatch_user_event(
        self, channel: FakeChannel, event: str, data: Callable[[_Session], Any], timeout: float | None
    ) -> None:
        """Dispatch a user's change to a message (built for the live session's intents) when the
        bot's intents ask for the channel's messages."""
        session = await self.wait_for(self._live_session, timeout, "a gateway connection")
        intent = Intent.GUILD_MESSAGES if channel.guild_id else Intent.DIRECT_MESSAGES
        if session.intents & intent and self._bot_sees(channel):
            await self.dispatch(event, data(session), timeout=timeout)

    def _user_message(self, message: Any) -> dict:
        msg = self.get_message(_id_of(message))
        if msg is None:
            raise FakeDiscordError("unknown message")
        return msg

    async def edit_user_message(
        self,
        message: Any,
        content: str | None = None,
        *,
        attachments: Sequence[dict] | None = None,
        timeout: float | None = None,
    ) -> dict:
        """Its author edits a message: the new ``content`` (None keeps it) and ``attachments`` (only
        removing is possible on Discord; None keeps them), ``edited_timestamp`` set, and a
        MESSAGE_UPDATE carrying the whole message, as Discord sends it (discord.py 2.5+ parses it
        as a full message). Returns the stored message."""
        msg = self._user_message(message)
        channel = self.channels[int(msg["channel_id"])]
        if content is not None:
            msg["content"] = content
            mentions, roles, everyone = self._resolve_mentions(channel, content, None, None)
            msg.update(mentions=mentions, mention_roles=roles, mention_everyone=everyone)
        if attachments is not None:
            msg["attachments"] = [copy.deepcopy(a) for a in attachments]
        msg["edited_timestamp"] = _now_iso()
        self._notify()
        await self._dispatch_user_event(
            channel, "MESSAGE_UPDATE", lambda s: self._gateway_message(channel, msg, s), timeout
        )
        return msg

    async def unfurl_links(
        self, message: Any, embeds: Sequence[dict], *, timeout: float | None = None
    ) -> dict:
        """Discord adds link previews (``embeds``, e.g. ``{"type": "link", "url": ...}``) to a
        message by updating it: a MESSAGE_UPDATE with the whole message whose content and
        ``edited_timestamp`` are unchanged. Returns the stored message."""
        msg = self._user_message(message)
        channel = self.channels[int(msg["channel_id"])]
        msg["embeds"] = [copy.deepcopy(e) for e in embeds]
        self._notify()
        await self._dispatch_user_event(
            channel, "MESSAGE_UPDATE", lambda s: self._gateway_message(channel, msg, s), timeout
        )
        return msg

    async def delete_user_message(self, message: Any, *, timeout: float | None = None) -> None:
        """A member (its author or a moderator) deletes a message: MESSAGE_DELETE with its id,
        channel and server only, as Discord sends it."""
        msg = self._user_message(message)
        channel = self.channels[int(msg["channel_id"])]
        self._deleted.add(int(msg["id"]))
        self._notify()
        data = {"id": msg["id"], "channel_id": msg["channel_id"]}
        if channel.guild_id:
            data["guild_id"] = str(channel.guild_id)
        await self._dispatch_user_event(channel, "MESSAGE_DELETE", lambda s: data, timeout)

    async def bulk_delete_user_messages(
        self, channel: Any, messages: Sequence[Any], *, timeout: float | None = None
    ) -> None:
        """A moderator (or another bot) deletes several messages of a server's channel at once:
        MESSAGE_DELETE_BULK with their ids, the channel and the server."""
        ch = self._channel(channel)
        if not ch.guild_id:
            raise FakeDiscordError("bulk deletes happen in a server's channel only")
        ids = [str(self._user_message(m)["id"]) for m in messages]
        self._deleted.update(int(i) for i in ids)
        self._notify()
        data = {"ids": ids, "channel_id": str(ch.id), "guild_id": str(ch.guild_id)}
        await self._dispatch_user_event(ch, "MESSAGE_DELETE_BULK", lambda s: data, timeout)

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
