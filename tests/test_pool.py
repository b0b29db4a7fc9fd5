"""Answering in worker processes (bot/pool.py): the same answers, each member's in order."""

from __future__ import annotations

import asyncio
import os

import pytest
from conftest import SAMPLE

from bot.client import ClippingsBot
from bot.pool import WORKER_NICENESS, MemberOrder, SearchPool
from bot.settings import Settings, SettingsError, load_settings
from index import NoSearchableWords, Store, read_path
from tests.discord_fake import FakeDiscord, run_bot

WEAPONS_QUOTE = "> The foreign minister went on to **say** that China did not provide **weapons** to Russia"


async def test_ask_answered_by_worker_processes_quotes_an_article_added_after_they_started(tmp_path):
    db = tmp_path / "bot.db"
    store = Store(db)
    try:
        async with FakeDiscord() as fake:
            guild = fake.add_guild("Daily Planet")
            general = guild.add_text_channel("general")
            alice = fake.add_user("alice")
            guild.add_member(alice)
            settings = Settings(
                token=fake.token,
                db_path=str(db),
                ask_cooldown=0.0,
                guild_ready_timeout=0.05,
                search_workers=2,
            )
            bot = ClippingsBot(settings, store)
            async with run_bot(fake, bot, logger_names=("discord", "bot")):
                assert bot.search_pool is not None and bot.pool_started is not None
                await asyncio.wait_for(bot.pool_started, 120)
                assert bot.search_pool.ready and bot.search_pool.size == 2
                store.add(next(iter(read_path(str(SAMPLE)))), "global")  # the workers follow the change log
                inter = await fake.invoke_command(
                    "ask", {"question": "what did Qin say about weapons"}, user=alice, channel=general
                )
                assert (await inter.wait_response())["type"] == 5
                message = await inter.wait_followup()
            assert bot.search_pool is None  # closed with the bot
    finally:
        store.close()
    assert message["embeds"][0]["description"].startswith(WEAPONS_QUOTE)
    assert message["embeds"][0]["footer"]["text"] == "passage 5 of 7 · article #1"


async def test_pool_answers_as_the_store_does_and_raises_its_errors(tmp_path):
    db = tmp_path / "a.db"
    with Store(db) as store:
        store.add(next(iter(read_path(str(SAMPLE)))), "global")
        expected = store.search("how did Qin describe the conflict in Ukraine", ["global"], k=5)
    pool = SearchPool(str(db), 1)
    await pool.start()
    try:
        got = await pool.search("how did Qin describe the conflict in Ukraine", ["global"], 5)
        with pytest.raises(NoSearchableWords):
            await pool.search("?!", ["global"])
        again = await pool.search("how did Qin describe the conflict in Ukraine", ["global"], 5)
    finally:
        await pool.close()
    assert [(h.article.id, h.passage.index) for h in got.hits] == [
        (h.article.id, h.passage.index) for h in expected.hits
    ]
    assert again.hits == got.hits


async def test_member_order_keeps_each_members_answers_in_the_order_asked():
    order = MemberOrder()
    done: list[str] = []

    async def answer(member: int, name: str, seconds: float) -> None:
        async with order.turn(member):
            await asyncio.sleep(seconds)
            done.append(name)

    first = asyncio.create_task(answer(1, "alice first", 0.2))
    await asyncio.sleep(0)
    second = asyncio.create_task(answer(1, "alice second", 0.0))
    other = asyncio.create_task(answer(2, "bob", 0.05))
    await asyncio.gather(first, second, other)
    assert done == ["bob", "alice first", "alice second"]


def test_search_workers_setting_defaults_to_the_bots_own_process():
    assert load_settings(None, {"DISCORD_TOKEN": "t"}).search_workers == 0
    assert load_settings(None, {"DISCORD_TOKEN": "t", "CLIPPINGS_SEARCH_WORKERS": "3"}).search_workers == 3
    with pytest.raises(SettingsError, match="CLIPPINGS_SEARCH_WORKERS must be"):
        load_settings(None, {"DISCORD_TOKEN": "t", "CLIPPINGS_SEARCH_WORKERS": "-1"})


async def test_workers_run_below_the_bots_priority(tmp_path):
    db = tmp_path / "a.db"
    Store(db).close()
    pool = SearchPool(str(db), 1)
    await pool.start()
    try:
        worker = pool._workers[0].process
        assert worker.pid is not None
        niceness = os.getpriority(os.PRIO_PROCESS, worker.pid)
    finally:
        await pool.close()
    assert niceness == min(os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS, 19)
