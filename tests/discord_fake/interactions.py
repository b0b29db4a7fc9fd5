"""Interactions: the record of one (FakeInteraction), the callback and webhook routes, and the builders tests use to send them."""

from __future__ import annotations

import asyncio
import copy
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .constants import (
    _ALLOWED_CALLBACKS,
    _MESSAGE_FIELDS,
    _SELECT_TYPES,
    EPHEMERAL,
    LOADING,
    CallbackType,
    ChannelType,
    InteractionType,
    Perm,
)
from .errors import (
    ApiError,
    FakeDiscordError,
    InteractionNotAllowed,
    _not_found,
)
from .models import (
    FakeChannel,
    FakeGuild,
    FakeRole,
    FakeUser,
    RecordedRequest,
    _id_of,
)
from .validation import (
    validate_autocomplete,
    validate_message_body,
    validate_modal,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

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
        #: ``fake.clock()`` when the INTERACTION_CREATE frame was written.
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
        return self.fake.clock() - self.created_at > deadline

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


class InteractionsMixin:
    """Interaction callbacks and webhooks (REST side), and payload builders/senders (test side)."""

    # -- REST: interaction callbacks & webhooks --------------------------------------------------

    def _interaction_for(self, iid: str | None, token: str) -> FakeInteraction:
        inter = self._by_token.get(token)
        if inter is None or (iid is not None and inter.id != int(iid)):
            raise _not_found(10062, "interaction")
        return inter

    async def _r_callback(self, rec: RecordedRequest, iid: str, token: str) -> tuple[int, Any]:
        inter = self._interaction_for(iid, token)
        latency = self.clock() - inter.created_at if inter.created_at is not None else 0.0
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
        if inter.created_at is not None and self.clock() - inter.created_at > self.token_lifetime:
            raise ApiError(401, 50027, "Invalid Webhook Token")
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
        if channel.is_thread and channel.archived:
            # Discord's clients offer no slash commands in an archived thread.
            raise InteractionNotAllowed(f"#{channel.name} is an archived thread; unarchive it first")
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
            if target_ch.is_thread:
                data["thread_metadata"] = target_ch.thread_metadata()
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
            yield from InteractionsMixin._walk_components(comp.get("components") or [])
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
        inter.created_at = self.clock()
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
