"""The gateway: sessions, connections, IDENTIFY/RESUME, heartbeats and event dispatch."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import secrets
from typing import Any

from aiohttp import WSMsgType, web

from .constants import (
    Intent,
)
from .errors import (
    FakeDiscordError,
)

_log = logging.getLogger(__name__)

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


class GatewayMixin:
    """The websocket side of the fake."""

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
        while True:
            while session.pending and session.conn is conn:
                frame, future = session.pending[0]
                try:
                    await conn.send(frame)
                except Exception:
                    return  # connection died; frame stays queued for a RESUME
                session.pending.popleft()
                if future is not None and not future.done():
                    future.set_result(self.clock())
            if session.conn is not conn or conn.ws.closed:
                return
            session.wakeup.clear()
            await session.wakeup.wait()
