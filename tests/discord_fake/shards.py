"""Shards for the Discord fake (a module of its own; the rest of the fake is unchanged).

`ShardedFakeDiscord(shard_count=N)` takes one gateway connection per shard, as Discord does for a
sharded bot: IDENTIFY carries ``shard: [id, N]`` (another N closes with 4010, "Invalid shard"), a
session's READY and GUILD_CREATE name only the servers of its shard, ``(guild_id >> 22) % N``, and
every event of a server (interactions, dispatches, echoes of the bot's own actions) goes to the
connection of that server's shard. Events of no server (DMs) go to shard 0. Several bots, each
serving a slice of the shards, can run against one fake.
"""

from __future__ import annotations

import contextvars
from typing import Any

from .server import FakeDiscord


class ShardedFakeDiscord(FakeDiscord):
    def __init__(self, *, shard_count: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shard_count = shard_count
        #: The live session of each shard id (the last IDENTIFY for it).
        self.shard_sessions: dict[int, Any] = {}
        self._guild_of_call: contextvars.ContextVar[int | None] = contextvars.ContextVar(
            "guild_of_call", default=None
        )

    def shard_of(self, guild_id: int | str) -> int:
        return (int(guild_id) >> 22) % self.shard_count

    def guilds_of_shard(self, shard_id: int) -> set[int]:
        return {gid for gid in self.guilds if self.shard_of(gid) == shard_id}

    def _session_of(self, guild_id: int | str | None) -> Any:
        session = self.shard_sessions.get(0 if guild_id is None else self.shard_of(guild_id))
        if session is not None and session.ready and session.conn is not None and not session.conn.ws.closed:
            return session
        return None

    # -- the gateway: one session per shard ---------------------------------------------------

    async def _on_identify(self, conn: Any, d: dict) -> None:
        shard = d.get("shard") or [0, 1]
        if int(shard[1]) != self.shard_count or not 0 <= int(shard[0]) < self.shard_count:
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return
        every = self.guilds
        # The base class announces self.guilds in READY and GUILD_CREATE: only this shard's.
        self.guilds = {gid: g for gid, g in every.items() if self.shard_of(gid) == int(shard[0])}
        try:
            await super()._on_identify(conn, d)
        finally:
            self.guilds = every
        if getattr(conn, "session", None) is not None:
            self.shard_sessions[int(shard[0])] = conn.session

    def _live_session(self) -> Any:
        return self._session_of(self._guild_of_call.get())

    # -- routing every event of a server to its shard -----------------------------------------

    async def send_interaction(self, payload: dict, *, timeout: float | None = None) -> Any:
        token = self._guild_of_call.set(payload.get("guild_id"))
        try:
            return await super().send_interaction(payload, timeout=timeout)
        finally:
            self._guild_of_call.reset(token)

    async def dispatch(self, event: str, data: Any, *, timeout: float | None = None) -> int:
        token = self._guild_of_call.set(data.get("guild_id") if isinstance(data, dict) else None)
        try:
            return await super().dispatch(event, data, timeout=timeout)
        finally:
            self._guild_of_call.reset(token)

    def _echo(self, event: str, data: Any, intent: int) -> Any:
        guild_id = data.get("guild_id") if isinstance(data, dict) else None
        if guild_id is None and event.startswith("GUILD_") and isinstance(data, dict):
            guild_id = data.get("id")
        routed, self._session = self._session, self._session_of(guild_id)
        try:
            return super()._echo(event, data, intent)
        finally:
            self._session = routed
