"""Sharded bot processes: shard settings, and two bots serving different shard slices of one Discord
(the fake, with shards) over one PostgreSQL database, each answering only its own servers."""

from __future__ import annotations

import asyncio

import pytest
from conftest import SAMPLE

from bot.client import ClippingsBot, ShardedClippingsBot, make_bot, shard_of
from bot.settings import Settings, SettingsError, load_settings
from index import FetchSettings, Store, read_path
from tests.discord_fake import FakeUser, run_bot
from tests.discord_fake.shards import ShardedFakeDiscord

WEAPONS_QUOTE = "> The foreign minister went on to **say** that China did not provide **weapons** to Russia"


def settings(**values: str) -> Settings:
    return load_settings(None, {"DISCORD_TOKEN": "t", **values})


def test_a_range_of_shards_is_read_with_the_shard_count():
    loaded = settings(CLIPPINGS_SHARDS="0-3,6", CLIPPINGS_SHARD_COUNT="8")
    assert (loaded.shard_ids, loaded.shard_count) == ((0, 1, 2, 3, 6), 8)


def test_no_shard_settings_keep_one_unsharded_connection():
    loaded = settings()
    assert (loaded.shard_ids, loaded.shard_count) == (None, None)
    assert type(make_bot(loaded, None)) is ClippingsBot  # type: ignore[arg-type]


def test_shards_without_a_count_are_refused_with_what_to_set():
    with pytest.raises(SettingsError) as refused:
        settings(CLIPPINGS_SHARDS="0-3")
    assert str(refused.value) == (
        "CLIPPINGS_SHARDS is set to '0-3' but CLIPPINGS_SHARD_COUNT is not; set it to the total number of"
        " shards of every bot process."
    )


def test_a_shard_beyond_the_count_is_refused():
    with pytest.raises(SettingsError, match="names shard 4, but shard ids go from 0 to 3"):
        settings(CLIPPINGS_SHARDS="2-4", CLIPPINGS_SHARD_COUNT="4")


def test_a_shard_slice_makes_an_auto_sharded_bot_of_those_shards():
    bot = make_bot(settings(CLIPPINGS_SHARDS="2-3", CLIPPINGS_SHARD_COUNT="4"), None)  # type: ignore[arg-type]
    assert isinstance(bot, ShardedClippingsBot)
    assert (bot.shard_ids, bot.shard_count) == ([2, 3], 4)


async def no_identify_wait(shard_id: int, *, initial: bool = False) -> None:
    """discord.py waits 5 s between shards' IDENTIFYs (Discord's rate limit); the fake has none."""


async def test_two_bots_with_different_shard_slices_each_answer_only_their_own_servers(postgres_url):
    async with ShardedFakeDiscord(shard_count=4) as fake:
        # Servers until both slices have one (a snowflake's shard comes from its millisecond).
        guilds = []
        while {shard_of(g.id, 4) // 2 for g in guilds} != {0, 1}:
            guilds.append(fake.add_guild(f"Server {len(guilds)}"))
            await asyncio.sleep(0.003)
        first = next(g for g in guilds if shard_of(g.id, 4) < 2)
        second = next(g for g in guilds if shard_of(g.id, 4) >= 2)
        alice: FakeUser = fake.add_user("alice")
        channels = {}
        for guild in (first, second):
            guild.add_member(alice)
            channels[guild.id] = guild.add_text_channel("general")
        with Store(postgres_url) as cli:  # the articles come from another process, the CLI
            cli.add(next(iter(read_path(str(SAMPLE)))), str(first.id))
            cli.add(next(iter(read_path(str(SAMPLE)))), str(second.id))
        stores = [Store(postgres_url), Store(postgres_url)]
        bots = []
        for store, slice_ in zip(stores, ("0-1", "2-3"), strict=True):
            bot = make_bot(
                Settings(
                    token=fake.token,
                    db_path=postgres_url,
                    ask_cooldown=0.0,
                    fetch=FetchSettings(allow_private=True),
                    guild_ready_timeout=0.05,
                    shard_ids=tuple(int(s) for s in slice_.split("-")),
                    shard_count=4,
                ),
                store,
            )
            bot.before_identify_hook = no_identify_wait  # type: ignore[method-assign]
            bots.append(bot)
        try:
            async with (
                run_bot(fake, bots[0], logger_names=("discord", "bot")),
                run_bot(fake, bots[1], logger_names=("discord", "bot")),
            ):
                assert {g.id for g in bots[0].guilds} == {g.id for g in guilds if shard_of(g.id, 4) < 2}
                assert {g.id for g in bots[1].guilds} == {g.id for g in guilds if shard_of(g.id, 4) >= 2}
                for guild in (first, second):
                    inter = await fake.invoke_command(
                        "ask",
                        {"question": "what did Qin say about weapons"},
                        user=alice,
                        channel=channels[guild.id],
                    )
                    await inter.wait_response()
                    message = await inter.wait_followup()
                    assert message["embeds"][0]["description"].startswith(WEAPONS_QUOTE)
            assert stores[0].loaded_libraries == sorted([str(first.id), "global"])
            assert stores[1].loaded_libraries == sorted([str(second.id), "global"])
        finally:
            for store in stores:
                store.close()


def test_the_settings_never_show_a_postgresql_password():
    shown = repr(settings(CLIPPINGS_DB="postgresql://clippings:secret@db.internal/clippings"))
    assert "secret" not in shown
    assert "postgresql://clippings:***@db.internal/clippings" in shown
