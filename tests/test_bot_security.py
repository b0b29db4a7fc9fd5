"""Issue 6 for the bot: no one let in, nothing leaked, and the bot survives drops and SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import REPO
from test_bot import EPHEMERAL, bot_world, sample

from bot.logs import RedactToken
from index import Article
from tests.discord_fake import FakeDiscord

MODERATORS_ONLY = (
    "Only moderators (with the Manage Messages permission) can do that; ask one of them to do it."
)


@pytest.fixture
async def world(tmp_path):
    async with bot_world(tmp_path) as w:
        yield w


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("article add", {"url": "https://example.com/a"}),
        ("article add", {}),
        ("article remove", {"article": "1"}),
        ("article list", {}),
        ("article show", {"article": "1"}),
        ("newsroom clear", {}),
    ],
)
async def test_moderator_commands_refuse_members_even_when_exposed(world, command, options):
    world.store.add(sample(), str(world.guild.id))
    inter = await world.fake.invoke_command(
        command, options, user=world.alice, channel=world.general, check_permissions=False
    )
    response = await inter.wait_response()
    assert (response["type"], response["data"]["flags"], response["data"]["content"]) == (
        4,
        EPHEMERAL,
        MODERATORS_ONLY,
    )
    assert world.store.count_articles(str(world.guild.id)) == 1


async def test_autocomplete_gives_members_nothing(world):
    world.store.add(sample(), str(world.guild.id))
    payload = world.fake.build_command_payload(
        "article show",
        {"article": ""},
        user=world.alice,
        channel=world.general,
        focused="article",
        check_permissions=False,
    )
    typing = await world.fake.send_interaction(payload)
    await typing.wait_response()
    assert typing.choices == []


async def test_add_as_article_stores_in_the_invoking_server_only(world):
    text = "Harbour news. " + "The harbour reopened on Monday after the long winter storm passed by. " * 4
    posted = await world.fake.send_user_message(world.general, world.alice, text)
    inter = await world.fake.invoke_message_command("Add as article", posted, user=world.mod)
    await inter.wait_followup()
    assert (
        world.store.count_articles(str(world.guild.id)),
        world.store.count_articles(str(world.other_guild.id)),
    ) == (1, 0)
    assert world.store.count_articles("global") == 0


async def test_masked_links_in_quotes_are_not_links(world):
    world.store.add(
        Article("Links", "Read [the full report](https://evil.test/steal) about the harbour."), "global"
    )
    inter = await world.fake.invoke_command(
        "ask", {"question": "harbour report"}, user=world.alice, channel=world.general
    )
    message = await inter.wait_followup()
    assert message["embeds"][0]["description"] == (
        "> Read \\[the full **report**\\](https://evil.test/steal) about the **harbour**."
    )


# `python -m bot` as users run it, in a child process pointed at the fake (SIGTERM goes to the child).
BOT_PROCESS = """
import sys
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

Route.BASE = sys.argv[1]
DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sys.argv[2])
from bot.__main__ import main

sys.exit(main())
"""


@contextlib.asynccontextmanager
async def bot_process(
    fake: FakeDiscord, tmp_path: Path, **env: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "CLIPPINGS_"))}
    environment.update(PYTHONPATH=str(REPO), DISCORD_TOKEN=fake.token, CLIPPINGS_DB=str(tmp_path / "bot.db"))
    environment.update(env)
    with (tmp_path / "bot.log").open("wb") as log:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            BOT_PROCESS,
            fake.api_base,
            fake.gateway_url,
            cwd=tmp_path,
            env=environment,
            stdout=log,
            stderr=log,
        )
        try:
            await fake.wait_until_connected(timeout=60)
            yield child
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()


async def test_token_never_appears_in_logs(tmp_path):
    secret = "MTIzNDU2.RECOGNISABLE-fake-token.for-tests"
    async with (
        FakeDiscord(token=secret) as fake,
        bot_process(fake, tmp_path, CLIPPINGS_LOG_LEVEL="DEBUG") as child,
    ):
        await fake.wait_for_heartbeats(1)
        child.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(child.wait(), 30) == 0
    logged = (tmp_path / "bot.log").read_text()
    assert "DEBUG discord.gateway" in logged and "database closed" in logged
    assert secret not in logged


async def test_sigterm_closes_the_database_cleanly(tmp_path):
    async with FakeDiscord() as fake, bot_process(fake, tmp_path) as child:
        await fake.wait_for(lambda: (tmp_path / "bot.db-wal").exists(), description="the WAL file")
        child.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(child.wait(), 30) == 0
    assert "database closed" in (tmp_path / "bot.log").read_text()
    assert not (tmp_path / "bot.db-wal").exists()  # SQLite checkpoints and removes the WAL on a clean close


async def test_bot_resumes_after_the_gateway_drops_and_keeps_answering(world):
    world.store.add(sample(), "global")
    await world.fake.drop_connection(4000)
    await world.fake.wait_for(lambda: world.fake.resume_count == 1, description="a RESUME")
    await world.fake.wait_until_connected()
    inter = await world.fake.invoke_command(
        "ask", {"question": "weapons"}, user=world.alice, channel=world.general
    )
    message = await inter.wait_followup()
    assert message["embeds"][0]["description"].startswith("> The foreign minister")
    heartbeats = world.fake.heartbeat_count
    await world.fake.wait_for_heartbeats(heartbeats + 1)


async def test_bot_reconnects_after_a_session_is_invalidated(world):
    world.store.add(sample(), "global")
    identifies = world.fake.identify_count
    await world.fake.invalidate_session(resumable=False)
    await world.fake.wait_for(
        lambda: world.fake.identify_count == identifies + 1, timeout=15, description="a new IDENTIFY"
    )
    await world.fake.wait_until_connected()
    inter = await world.fake.invoke_command(
        "ask", {"question": "weapons"}, user=world.alice, channel=world.general
    )
    assert (await inter.wait_followup())["embeds"]


async def test_a_moderator_who_lost_the_role_cannot_submit_the_add_modal(world):
    inter = await world.fake.invoke_command("article add", {}, user=world.mod, channel=world.general)
    await inter.wait_response()
    ids = [row["components"][0]["custom_id"] for row in inter.modal["components"]]
    values = dict(
        zip(ids, ["Harbour news", "", "The harbour reopened on Monday after the storm."], strict=True)
    )
    world.guild.member(world.mod).role_ids.clear()  # the Mods role is taken away meanwhile
    submit = await world.fake.submit_modal(inter, values, user=world.mod)
    response = await submit.wait_response()
    assert (response["data"]["flags"], response["data"]["content"]) == (EPHEMERAL, MODERATORS_ONLY)
    assert world.store.count_articles(str(world.guild.id)) == 0


async def test_a_link_of_another_scheme_is_refused_without_showing_or_logging_its_password(world, caplog):
    caplog.set_level(logging.INFO)
    inter = await world.fake.invoke_command(
        "article add",
        {"url": "ftp://editor:Tr0ub4dor@example.com/story.txt"},
        user=world.mod,
        channel=world.general,
    )
    message = await inter.wait_followup()
    assert (message["content"], message["flags"] & EPHEMERAL) == (
        "ftp://example.com/story.txt is not a web link; give a link that starts with https://.",
        EPHEMERAL,
    )
    assert "Tr0ub4dor" not in caplog.text


def test_the_token_is_masked_in_a_logged_traceback():
    token = "MTIzNDU2.RECOGNISABLE-fake-token.for-tests"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactToken(token))
    logger = logging.getLogger("tests.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError(f"Discord refused the header Authorization: Bot {token}")
        except ValueError:
            logger.exception("unexpected error in %s", "ask")
    finally:
        logger.removeHandler(handler)
    logged = stream.getvalue()
    assert logged.startswith(
        "ERROR tests.redact: unexpected error in ask\nTraceback (most recent call last):\n"
    )
    assert logged.endswith("ValueError: Discord refused the header Authorization: Bot [token]\n")
    assert token not in logged
