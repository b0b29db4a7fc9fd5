"""FakeDiscord: the server, its world, waiting helpers; REST, gateway and interactions come from mixins."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import yarl
from aiohttp import web

from .clock import FakeClock
from .constants import (
    _EXTERNAL_POLL,
    ACK_DEADLINE,
    API_PREFIX,
    DEFAULT_TIMEOUT,
    EPHEMERAL,
    TOKEN_LIFETIME,
    ChannelType,
    Intent,
    Perm,
)
from .errors import (
    ApiError,
    BotFailure,
    FakeDiscordError,
    WaitTimeout,
)
from .gateway import GatewayMixin, _Conn, _Session
from .interactions import FakeInteraction, InteractionsMixin
from .messages import MessagesMixin
from .models import (
    CommandSync,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    RecordedRequest,
    _id_of,
    _Snowflakes,
)
from .rest import RestMixin
from .threads import ThreadsMixin


def _describe_error(rec: RecordedRequest) -> str:
    body = rec.response if isinstance(rec.response, dict) else {}
    return (
        f"{rec.method} {rec.path} was answered {rec.status} "
        f"(code {body.get('code')}: {body.get('message')}); "
        "wrap the step in fake.expect_errors(code) if the test expects it"
    )


# --------------------------------------------------------------------------
# The fake server
# --------------------------------------------------------------------------


class FakeDiscord(RestMixin, MessagesMixin, ThreadsMixin, GatewayMixin, InteractionsMixin):
    """Fake Discord REST + gateway server. Use as ``async with FakeDiscord() as fake``.

    Args:
        token: the bot token the fake accepts.
        bot_name: username of the bot user (the application id equals its id).
        bot_permissions: permissions of the bot's managed role in every guild.
        heartbeat_interval: seconds, sent in HELLO.
        ack_deadline: seconds an interaction may wait for its callback.
        enforce_ack_deadline: answer late callbacks with 404/10062 like Discord
            (on by default; off only to study lateness without failing).
        token_lifetime: seconds an interaction token may edit or send followups;
            after it, 401/50027 "Invalid Webhook Token" like Discord.
        clock: the time source for the two limits above (a :class:`FakeClock`
            a test can advance).
        fail_on_client_errors: any 4xx the fake answers to the bot fails the
            test (waits raise :class:`BotFailure`, and leaving ``async with``
            raises), unless the test wraps the step in :meth:`expect_errors`.
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
        ack_deadline: float = ACK_DEADLINE,
        enforce_ack_deadline: bool = True,
        token_lifetime: float = TOKEN_LIFETIME,
        clock: FakeClock | None = None,
        fail_on_client_errors: bool = True,
        privileged_intents: int = Intent.PRIVILEGED,
        echo_events: bool = True,
        default_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.token = token
        self.heartbeat_interval = heartbeat_interval
        self.ack_deadline = ack_deadline
        self.enforce_ack_deadline = enforce_ack_deadline
        self.token_lifetime = token_lifetime
        self.clock = clock or FakeClock()
        self.fail_on_client_errors = fail_on_client_errors
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
        #: Requests for served files (``serve_bytes``/attachments), outside the API.
        self.file_requests: list[RecordedRequest] = []
        #: 4xx answers to the bot that no :meth:`expect_errors` block allowed.
        self.unexpected_errors: list[RecordedRequest] = []
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
        #: How many of the next connections to drop unanswered (see :meth:`refuse_next`).
        self.refusals_left = 0
        #: ``"METHOD path"`` of every dropped connection, in order.
        self.refused: list[str] = []
        #: Errors the next bulk command overwrites are answered with, in order (see
        #: :meth:`refuse_command_sync`).
        self.command_sync_refusals: list[ApiError] = []

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
        self._expected_errors: list[tuple[frozenset[int], list[RecordedRequest]]] = []
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

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        await self.stop()
        if exc_type is None and self.unexpected_errors:
            raise BotFailure(
                "the fake refused the bot's requests, as Discord would:\n"
                + "\n".join(_describe_error(r) for r in self.unexpected_errors)
            )

    # -- client errors -------------------------------------------------------------

    @contextlib.contextmanager
    def expect_errors(self, *codes: int) -> Iterator[list[RecordedRequest]]:
        """Within the block, 4xx answers whose Discord error code or HTTP status is
        in ``codes`` (any 4xx if none is given) are expected and do not fail the
        test. Yields the list of the expected answers seen."""
        entry: tuple[frozenset[int], list[RecordedRequest]] = (frozenset(codes), [])
        self._expected_errors.append(entry)
        try:
            yield entry[1]
        finally:
            self._expected_errors.remove(entry)

    def _check_client_error(self, rec: RecordedRequest) -> None:
        if not 400 <= rec.status < 500:
            return
        code = rec.response.get("code") if isinstance(rec.response, dict) else None
        for codes, seen in reversed(self._expected_errors):
            if not codes or rec.status in codes or code in codes:
                seen.append(rec)
                return
        if self.fail_on_client_errors:
            self.unexpected_errors.append(rec)
            self.report_failure(_describe_error(rec))

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
