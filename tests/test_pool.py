"""Answering in worker processes (bot/pool.py): the same answers, each member's in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Iterable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLE

from bot.client import ClippingsBot
from bot.logs import worker_log_setup
from bot.pool import WORKER_NICENESS, MemberOrder, SearchPool
from bot.settings import Settings, SettingsError, load_settings
from index import NoSearchableWords, Store, WorkerFailed, read_path
from tests.discord_fake import FakeDiscord, run_bot

WEAPONS_QUOTE = "> The foreign minister went on to **say** that China did not provide **weapons** to Russia"
QUESTION = "what did Qin say about weapons"
CLOSED = "Sorry, the bot is restarting and could not finish that search; please ask again in a minute."


def sample_db(folder: Path) -> Path:
    db = folder / "a.db"
    with Store(db) as store:
        store.add(next(iter(read_path(str(SAMPLE)))), "global")
    return db


async def test_pool_workers_log_in_the_bots_format(tmp_path, capfd):
    db = sample_db(tmp_path)
    folder = Path(f"{db}.index")  # someone's file in the cache folder: opening the database warns
    folder.mkdir(exist_ok=True)
    (folder / "notes.txt").write_text("mine")
    pool = SearchPool(str(db), 1, log_setup=worker_log_setup("INFO", "not-a-real-token"))
    await pool.start()
    await pool.close()
    warnings = [
        line for line in capfd.readouterr().err.splitlines() if "is not a Clippings index folder" in line
    ]
    assert len(warnings) == 1
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING index\.engine\.cache: ", warnings[0])


def hang(process: BaseProcess) -> None:
    """Stop a worker process where it stands, as a search that never ends would."""
    assert process.pid is not None
    os.kill(process.pid, signal.SIGSTOP)


def kill(processes: Iterable[BaseProcess]) -> None:
    """Test clean-up: no stopped worker outlives its test, whatever the pool did."""
    for process in processes:
        if process.pid is not None and process.exitcode is None:
            os.kill(process.pid, signal.SIGKILL)


async def until(condition, within: float) -> bool:
    """Whether `condition()` came true within `within` seconds (checked every 50 ms)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


@contextlib.asynccontextmanager
async def pooled_bot(
    store: Store, db_path: str, workers: int, fail_on_errors: bool = True
) -> AsyncIterator[tuple[FakeDiscord, ClippingsBot, Any, Any, Any]]:
    """The bot with `workers` search workers on `db_path`, against a fake Discord with one server,
    its #general and alice: yields the fake, the bot, #general, alice and the bot's runner."""
    async with FakeDiscord() as fake:
        guild = fake.add_guild("Daily Planet")
        general = guild.add_text_channel("general")
        alice = fake.add_user("alice")
        guild.add_member(alice)
        settings = Settings(
            token=fake.token,
            db_path=db_path,
            ask_cooldown=0.0,
            guild_ready_timeout=0.05,
            search_workers=workers,
        )
        bot = ClippingsBot(settings, store)
        async with run_bot(
            fake, bot, logger_names=("discord", "bot"), fail_on_errors=fail_on_errors
        ) as runner:
            yield fake, bot, general, alice, runner


async def test_ask_answered_by_worker_processes_quotes_an_article_added_after_they_started(tmp_path):
    db = tmp_path / "bot.db"
    store = Store(db)
    try:
        async with pooled_bot(store, str(db), 2) as (fake, bot, general, alice, _):
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


async def test_a_question_a_hung_worker_never_answers_fails_after_the_timeout_and_a_fresh_worker_takes_over(
    tmp_path,
):
    pool = SearchPool(str(sample_db(tmp_path)), 1, question_timeout=1.0)
    await pool.start()
    hung = pool._workers[0].process
    try:
        expected = await pool.search(QUESTION, ["global"])
        hang(hung)
        with pytest.raises(WorkerFailed) as failed:
            await asyncio.wait_for(pool.search(QUESTION, ["global"]), 10)
        assert await until(lambda: not hung.is_alive(), 10)
        assert await until(lambda: pool.ready, 60)
        again = await asyncio.wait_for(pool.search(QUESTION, ["global"]), 10)
    finally:
        kill([hung])
        await pool.close()
    assert str(failed.value) == "Sorry, that search took longer than 1 s and was stopped; please try again."
    assert [(h.article.id, h.passage.index) for h in again.hits] == [
        (h.article.id, h.passage.index) for h in expected.hits
    ]


async def test_cancelling_a_question_to_a_hung_worker_leaves_the_loop_free_and_close_ends_every_worker(
    tmp_path,
):
    pool = SearchPool(str(sample_db(tmp_path)), 1)
    await pool.start()
    hung_worker = pool._workers[0]
    hung = hung_worker.process
    # Loop steps another task got between the hung worker leaving the pool (its question
    # abandoned) and its exit status being collected. Stopping it synchronously, as the pool once
    # did (a blocking join: the loop held for 5 s), collects it in the step that abandons the
    # question, leaving none.
    steps_while_stopping = 0
    stopped = asyncio.Event()

    async def other_task() -> None:
        nonlocal steps_while_stopping
        while not stopped.is_set():
            if hung_worker not in pool._workers:
                if hung.exitcode is not None:
                    stopped.set()
                    break
                steps_while_stopping += 1
            await asyncio.sleep(0)  # one step of every loop iteration

    running = asyncio.create_task(other_task())
    started: list[BaseProcess] = [hung]
    try:
        hang(hung)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(pool.search(QUESTION, ["global"]), 0.5)
        await asyncio.wait_for(stopped.wait(), 10)
        started += [worker.process for worker in pool._workers]
        await asyncio.wait_for(pool.close(), 10)
        alive = [process for process in started if process.is_alive()]
    finally:
        running.cancel()
        kill(started)
        await pool.close()
    assert steps_while_stopping > 0
    assert alive == []
    assert len(started) == 2 and hung.exitcode == -signal.SIGKILL


async def test_closing_the_pool_fails_the_questions_it_was_answering_and_those_waiting(tmp_path):
    pool = SearchPool(str(sample_db(tmp_path)), 1)
    await pool.start()
    hung = pool._workers[0].process
    try:
        hang(hung)
        answering = asyncio.create_task(pool.search(QUESTION, ["global"]))
        waiting = asyncio.create_task(pool.search(QUESTION, ["global"]))
        await asyncio.sleep(0)  # the first question is handed to the worker; the second waits for it
        async with asyncio.timeout(10):  # a guard only: close() runs in this step, as the bot's does
            await pool.close()
        done, _ = await asyncio.wait({answering, waiting}, timeout=10)
    finally:
        kill([hung])
        await pool.close()
    assert done == {answering, waiting}
    for task in (answering, waiting):
        error = task.exception()
        assert isinstance(error, WorkerFailed) and str(error) == CLOSED
    assert not hung.is_alive() and not pool.ready
    with pytest.raises(WorkerFailed) as after:
        await pool.search(QUESTION, ["global"])
    assert str(after.value) == CLOSED


async def test_a_question_sent_in_the_loop_step_before_the_pool_closes_fails_with_the_closed_apology(
    tmp_path,
):
    # The race ClippingsBot.close can hit: search() sends the question, then starts reading the
    # answer a loop step later; close() runs in between. It raised a bare OSError ("handle is
    # closed"), which a mention's handler does not catch, so the member got no reply.
    pool = SearchPool(str(sample_db(tmp_path)), 1)
    await pool.start()
    worker = pool._workers[0].process
    try:
        asking = asyncio.create_task(pool.search(QUESTION, ["global"]))
        await asyncio.sleep(0)  # the question is sent; reading its answer has not started
        await pool.close()
        done, _ = await asyncio.wait({asking}, timeout=10)
    finally:
        kill([worker])
        await pool.close()
    assert done == {asking}
    error = asking.exception()
    assert type(error) is WorkerFailed
    assert str(error) == CLOSED
    assert not worker.is_alive() and not pool.ready


async def test_a_worker_that_dies_mid_question_fails_it_and_until_a_replacement_opens_the_database_the_pool_is_not_ready(
    tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="bot.pool")
    folder = tmp_path / "data"
    folder.mkdir()
    pool = SearchPool(str(sample_db(folder)), 1)
    await pool.start()
    dead = pool._workers[0].process
    started: list[BaseProcess] = [dead]
    try:
        hang(dead)
        asking = asyncio.create_task(pool.search(QUESTION, ["global"]))
        await asyncio.sleep(0)  # handed to the worker
        folder.rename(tmp_path / "away")  # the database is briefly unavailable to new workers
        assert dead.pid is not None
        os.kill(dead.pid, signal.SIGKILL)
        with pytest.raises(WorkerFailed) as failed:
            await asyncio.wait_for(asking, 10)

        def failures() -> list[str]:
            return [
                r.getMessage() for r in caplog.records if r.name == "bot.pool" and r.levelno == logging.ERROR
            ]

        assert await until(failures, 60)
        started += [worker.process for worker in pool._workers]
        not_ready = pool.ready
        with pytest.raises(WorkerFailed) as unavailable:  # at once: no worker is there to wait for
            await asyncio.wait_for(pool.search(QUESTION, ["global"]), 10)
        (tmp_path / "away").rename(folder)
        assert await until(lambda: pool.ready, 60)
        started += [worker.process for worker in pool._workers]
        answer = await asyncio.wait_for(pool.search(QUESTION, ["global"]), 10)
    finally:
        kill(started)
        await pool.close()
    assert str(failed.value) == "Sorry, the search process answering that question stopped; please try again."
    assert not_ready is False
    assert str(unavailable.value) == "No search worker is running; the question was not handed over."
    assert failures()[0] == (
        f"a replacement search worker could not start (The folder {folder} does not exist; create it or"
        " choose another --db.); trying again in 1 s"
    )
    assert answer.hits


async def test_workers_that_cannot_start_are_reported_at_once_and_the_bot_answers_itself(tmp_path):
    db = tmp_path / "bot.db"
    missing = tmp_path / "no-such-folder" / "bot.db"
    store = Store(db)
    try:
        store.add(next(iter(read_path(str(SAMPLE)))), "global")
        # The workers' database cannot be opened.
        async with pooled_bot(store, str(missing), 2, fail_on_errors=False) as (
            fake,
            bot,
            general,
            alice,
            runner,
        ):
            assert bot.pool_started is not None
            await asyncio.wait_for(bot.pool_started, 60)
            errors = runner.take_errors()
            inter = await fake.invoke_command("ask", {"question": QUESTION}, user=alice, channel=general)
            message = await inter.wait_followup()
    finally:
        store.close()
    assert errors == [
        f"[bot.client] search workers could not start (The folder {missing.parent} does not exist; create it"
        " or choose another --db.); answering in the bot's process"
    ]
    assert message["embeds"][0]["description"].startswith(WEAPONS_QUOTE)


async def test_a_member_whose_question_a_hung_worker_never_answers_gets_told_so(tmp_path):
    db = sample_db(tmp_path)
    store = Store(db)
    hung: list[BaseProcess] = []
    try:
        async with pooled_bot(store, str(db), 1) as (fake, bot, general, alice, _):
            assert bot.search_pool is not None and bot.pool_started is not None
            await asyncio.wait_for(bot.pool_started, 120)
            bot.search_pool.question_timeout = 1.0
            hung.append(bot.search_pool._workers[0].process)
            hang(hung[0])
            inter = await fake.invoke_command("ask", {"question": QUESTION}, user=alice, channel=general)
            message = await inter.wait_followup(timeout=10)
            assert await until(lambda: bot.search_pool is not None and bot.search_pool.ready, 60)
            hung.append(bot.search_pool._workers[0].process)
            hang(hung[1])
            posted = await fake.send_user_message(general, alice, f"{fake.bot_user.mention} {QUESTION}")
            reply = await fake.wait_for_message(
                general,
                lambda m: (m.get("message_reference") or {}).get("message_id") == posted["id"],
                timeout=10,
                include_existing=True,
            )
    finally:
        kill(hung)
        store.close()
    timed_out = "Sorry, that search took longer than 1 s and was stopped; please try again."
    assert message["content"] == timed_out and message["flags"] & 64
    assert reply["content"] == timed_out


async def test_a_member_whose_question_is_in_flight_when_the_bot_closes_gets_told_so(tmp_path):
    db = sample_db(tmp_path)
    store = Store(db)
    hung: list[BaseProcess] = []
    try:
        async with pooled_bot(store, str(db), 1) as (fake, bot, general, alice, _):
            pool = bot.search_pool
            assert pool is not None and bot.pool_started is not None
            await asyncio.wait_for(bot.pool_started, 120)
            worker = pool._workers[0]
            hung.append(worker.process)
            hang(worker.process)
            inter = await fake.invoke_command("ask", {"question": QUESTION}, user=alice, channel=general)
            assert await until(lambda: worker.receiving is not None, 10)  # handed to the worker
            async with asyncio.timeout(20):  # a guard only: close() runs in this step
                await bot.close()
            message = await inter.wait_followup(timeout=10)
    finally:
        kill(hung)
        store.close()
    assert message["content"] == CLOSED and message["flags"] & 64
    assert not hung[0].is_alive()
