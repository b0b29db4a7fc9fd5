"""REST routes: HTTP plumbing, users/app/guilds, application commands, channels and messages."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from .constants import (
    API_PREFIX,
    EPHEMERAL,
    ChannelType,
    Intent,
    Perm,
)
from .errors import (
    ApiError,
    _missing_permissions,
    _not_found,
)
from .models import (
    CommandSync,
    FakeChannel,
    FakeGuild,
    RecordedRequest,
    UploadedFile,
    _id_of,
)
from .validation import (
    validate_commands,
    validate_message_body,
)

_log = logging.getLogger(__name__)


class RestMixin:
    """Routing and the REST endpoints other than interactions."""

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

    def refuse_command_sync(self, error: ApiError) -> None:
        """Answer the next bulk overwrite of application commands (global or a server's) with
        ``error`` and keep the commands registered before, as Discord does with a payload it
        rejects for a rule the fake does not check."""
        self.command_sync_refusals.append(error)

    def refuse_next(self, count: int) -> None:
        """Drop the next ``count`` connections (REST or gateway) without an answer, as a network
        that is down does: discord.py sees the server disconnect."""
        self.refusals_left = count

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.rel_url.raw_path
        if self.refusals_left > 0:
            self.refusals_left -= 1
            self.refused.append(f"{request.method} {raw_path}")
            self._notify()
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # aiohttp ends the handler quietly; nothing is sent
        if raw_path == "/gateway" and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._gateway(request)
        if not raw_path.startswith(API_PREFIX + "/"):
            blob = self._blobs.get(unquote(raw_path))
            found = blob is not None and request.method in ("GET", "HEAD")
            file_rec = RecordedRequest(
                method=request.method,
                path=unquote(raw_path),
                query=dict(request.rel_url.query),
                json=None,
                files=[],
                headers=dict(request.headers),
                status=200 if found else 404,
                response=None if found else {"message": "404: Not Found", "code": 0},
                time=asyncio.get_running_loop().time(),
            )
            self.file_requests.append(file_rec)
            self._check_client_error(file_rec)
            self._notify()
            if blob is not None and found:
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
        self._check_client_error(rec)
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
        guild = self._guild_or_404(gid)
        if self.bot_user.id not in guild.members:
            # As Discord answers for a server the app was not invited to (applications.commands).
            raise ApiError(403, 50001, "Missing Access")
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
            if self.command_sync_refusals:
                raise self.command_sync_refusals.pop(0)
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
        return 200, channel.to_payload(self.users, me=self.bot_user.id)

    @staticmethod
    def _send_permission(channel: FakeChannel) -> int:
        """Sending in a thread takes Send Messages in Threads; Send Messages does not count there."""
        return Perm.SEND_MESSAGES_IN_THREADS if channel.is_thread else Perm.SEND_MESSAGES

    @staticmethod
    def _refuse_non_text(channel: FakeChannel) -> None:
        if channel.type in (ChannelType.GUILD_FORUM, ChannelType.GUILD_CATEGORY):
            raise ApiError(400, 50008, "Cannot send messages in a non-text channel")

    async def _r_typing(self, rec: RecordedRequest, cid: str) -> tuple[int, Any]:
        channel = self._channel_or_404(cid)
        self._refuse_non_text(channel)
        self._require(channel, Perm.VIEW_CHANNEL | self._send_permission(channel))
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
        self._refuse_non_text(channel)
        needed = Perm.VIEW_CHANNEL | self._send_permission(channel)
        if rec.files:
            needed |= Perm.ATTACH_FILES
        if body.get("message_reference") and body["message_reference"].get("type", 0) == 0:
            needed |= Perm.READ_MESSAGE_HISTORY
        if body.get("embeds") and not body.get("content") and not rec.files:
            needed |= Perm.EMBED_LINKS  # an embed-only message without Embed Links is refused
        self._require(channel, needed)
        validate_message_body(body, has_files=bool(rec.files))
        if body.get("embeds") and not self._bot_perms(channel) & Perm.EMBED_LINKS:
            # With content, Discord sends the message and drops its embeds without a word.
            body = {**body, "embeds": []}
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
        if channel.is_thread:
            self._before_bot_thread_message(channel)
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
        self._refuse_in_archived(channel)
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
        self._refuse_in_archived(channel)
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


def _json(status: int, data: Any) -> web.Response:
    if data is None:
        return web.Response(status=status)
    # Exactly "application/json": discord.py treats "...; charset=utf-8" as text.
    return web.Response(
        status=status, body=json.dumps(data).encode(), headers={"Content-Type": "application/json"}
    )
