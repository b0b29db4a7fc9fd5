"""Sharded bot processes: each serves a slice of Discord's shards (CLIPPINGS_SHARDS of
CLIPPINGS_SHARD_COUNT) through discord.py's AutoShardedBot (bot.client.ShardedClippingsBot), so
several processes, on one machine or several, share the work of one bot over one PostgreSQL
database. This module only reads the settings (it imports no client)."""

from __future__ import annotations

from collections.abc import Mapping


class ShardError(ValueError):
    """A malformed shard setting; the message says how to fix it."""


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard Discord sends a server's events to."""
    return (guild_id >> 22) % shard_count


def parse_shards(values: Mapping[str, str | None]) -> tuple[tuple[int, ...] | None, int | None]:
    """(shard ids, shard count) from CLIPPINGS_SHARDS ("0-3", "0,2", "4-7,9") and
    CLIPPINGS_SHARD_COUNT; (None, None) when neither is set (one unsharded connection)."""
    raw_ids = (values.get("CLIPPINGS_SHARDS") or "").strip()
    raw_count = (values.get("CLIPPINGS_SHARD_COUNT") or "").strip()
    if not raw_ids and not raw_count:
        return None, None
    if not raw_count.isdigit() or int(raw_count) < 1:
        raise ShardError(
            f"CLIPPINGS_SHARD_COUNT must be the total number of shards (a whole number, 1 or more), not {raw_count!r}."
        )
    count = int(raw_count)
    if not raw_ids:
        return tuple(range(count)), count
    ids: list[int] = []
    for part in raw_ids.split(","):
        first, _, last = part.strip().partition("-")
        if not first.isdigit() or (last and not last.isdigit()) or (last and int(last) < int(first)):
            raise ShardError(f"CLIPPINGS_SHARDS must list shard ids such as 0-3 or 0,2,5, not {raw_ids!r}.")
        ids.extend(range(int(first), int(last or first) + 1))
    if max(ids) >= count:
        raise ShardError(
            f"CLIPPINGS_SHARDS names shard {max(ids)}, but shard ids go from 0 to {count - 1}"
            f" (CLIPPINGS_SHARD_COUNT={count}); fix one of them."
        )
    return tuple(sorted(set(ids))), count
