"""The bot, driven through discord.py's real client against the Discord fake on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import subprocess
import sys
import threading
import types
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import discord
import pytest
from conftest import BRIDGE_URL, REPO, RERANK_EXTRA, SAMPLE, WEAPONS

from bot.__main__ import Supervisor, serve
from bot.client import ClippingsBot
from bot.ingest import links_in
from bot.settings import Settings, SettingsError, load_settings
from index import MAX_QUESTION_CHARS, Article, FetchSettings, Store, read_path
from tests.discord_fake import (
    ApiError,
    BotFailure,
    FakeClock,
    FakeDiscord,
    FakeUser,
    InteractionNotAllowed,
    Perm,
    run_bot,
)

EPHEMERAL = 64
WEAPONS_QUOTE = "> The foreign minister went on to **say** that China did not provide **weapons** to Russia"


@dataclasses.dataclass
class World:
    fake: FakeDiscord
    store: Store
    bot: ClippingsBot
    guild: object
    general: object
    news: object
    alice: FakeUser
    mod: FakeUser
    other_guild: object
    other_general: object
    other_mod: FakeUser
    runner: object = None


def sample() -> Article:
    return next(iter(read_path(str(SAMPLE))))


def settings_for(fake: FakeDiscord, db: Path, **overrides) -> Settings:
    values = {
        "token": fake.token,
        "db_path": str(db),
        "ask_cooldown": 0.0,
        "fetch": FetchSettings(allow_private=True),
        "guild_ready_timeout": 0.05,
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def bot_world(
    tmp_path: Path,
    fail_on_errors: bool = True,
    encoder=None,
    fake_options: dict | None = None,
    settings: Callable[[FakeDiscord], Settings] | None = None,
    **overrides,
) -> AsyncIterator[World]:
    store = Store(tmp_path / "bot.db", encoder=encoder)
    try:
        async with FakeDiscord(**(fake_options or {})) as fake:
            guild = fake.add_guild("Daily Planet")
            general = guild.add_text_channel("general")
            news = guild.add_text_channel("news")
            mods = guild.add_role("Mods", permissions=Perm.MANAGE_MESSAGES)
            alice, mod = fake.add_user("alice"), fake.add_user("mod")
            guild.add_member(alice)
            guild.add_member(mod, roles=[mods])
            other = fake.add_guild("Daily Bugle")
            other_general = other.add_text_channel("general")
            other_mods = other.add_role("Mods", permissions=Perm.MANAGE_MESSAGES)
            other_mod = fake.add_user("jonah")
            other.add_member(other_mod, roles=[other_mods])
            chosen = settings(fake) if settings else settings_for(fake, tmp_path / "bot.db", **overrides)
            bot = ClippingsBot(chosen, store)
            async with run_bot(
                fake, bot, logger_names=("discord", "bot"), fail_on_errors=fail_on_errors
            ) as runner:
                yield World(
                    fake,
                    store,
                    bot,
                    guild,
                    general,
                    news,
                    alice,
                    mod,
                    other,
                    other_general,
                    other_mod,
                    runner,
                )
    finally:
        store.close()


@pytest.fixture
async def world(tmp_path):
    async with bot_world(tmp_path) as w:
        yield w


def buttons(message: dict) -> dict[str, str]:
    """Button labels to custom ids."""
    return {c["label"]: c["custom_id"] for row in message.get("components", []) for c in row["components"]}


async def ask(world: World, question: str, user=None, channel=None, **options) -> dict:
    inter = await world.fake.invoke_command(
        "ask", {"question": question, **options}, user=user or world.alice, channel=channel or world.general
    )
    await inter.wait_response()
    return await inter.wait_followup()


def replying_to(message: dict):
    return lambda m: (m.get("message_reference") or {}).get("message_id") == message["id"]


async def reply_in_general(world: World, content: str) -> dict:
    """The bot's reply to Alice's message of `content` in #general."""
    posted = await world.fake.send_user_message(world.general, world.alice, content)
    return await world.fake.wait_for_message(world.general, replying_to(posted), include_existing=True)


def message_bodies(fake: FakeDiscord) -> list[dict]:
    """Every message the bot sent or edited: followups, edits, channel messages and type-4 replies."""
    bodies = []
    for request in fake.requests:
        body = request.json if isinstance(request.json, dict) else None
        if body is None or request.method not in ("POST", "PATCH"):
            continue
        if "/callback" in request.path:
            if body.get("type") == 4:
                bodies.append(body["data"])
        elif "/webhooks/" in request.path or request.path.endswith("/messages"):
            bodies.append(body)
    return bodies


# -- startup and sync ------------------------------------------------------------------------


async def test_startup_syncs_every_command_globally(world):
    syncs = world.fake.command_syncs
    assert len(syncs) == 1 and syncs[0].guild_id is None
    assert sorted(c["name"] for c in world.fake.registered_commands()) == [
        "Add as article",
        "article",
        "ask",
        "help",
        "newsroom",
    ]


async def test_restart_with_unchanged_commands_does_not_sync(tmp_path):
    store = Store(tmp_path / "bot.db")
    async with FakeDiscord() as fake:
        fake.add_guild("Dev")
        for _ in range(2):
            bot = ClippingsBot(settings_for(fake, tmp_path / "bot.db"), store)
            async with run_bot(fake, bot, logger_names=("discord", "bot")):
                pass
        assert len(fake.command_syncs) == 1
    store.close()


async def test_dev_guild_gets_the_commands_instantly(tmp_path):
    store = Store(tmp_path / "bot.db")
    async with FakeDiscord() as fake:
        guild = fake.add_guild("Dev")
        bot = ClippingsBot(settings_for(fake, tmp_path / "bot.db", dev_guild=guild.id), store)
        async with run_bot(fake, bot, logger_names=("discord", "bot")):
            assert [s.guild_id for s in fake.command_syncs] == [guild.id]
    store.close()


# -- /ask ---------------------------------------------------------------------------------------


async def test_ask_quotes_the_weapons_passage_first(world):
    world.store.add(sample(), "global")
    inter = await world.fake.invoke_command(
        "ask", {"question": "what did Qin say about weapons"}, user=world.alice, channel=world.general
    )
    assert (await inter.wait_response())["type"] == 5  # deferred at once
    message = await inter.wait_followup()
    first = message["embeds"][0]
    assert first["description"].startswith(WEAPONS_QUOTE)
    assert first["title"] == "China Solicits For Peace Inorder To Settle Ukraine War"
    assert first["footer"]["text"] == "passage 5 of 7 · article #1"
    assert message["content"] == "Results 1–3 for “what did Qin say about weapons”"
    assert not inter.late


async def test_ask_with_the_learned_ranker_quotes_the_weapons_passage_first(tmp_path):
    pytest.importorskip("onnxruntime", reason=RERANK_EXTRA)
    from index import load_encoder

    async with bot_world(tmp_path, encoder=load_encoder(), learned=True) as world:
        world.store.add(sample(), "global")
        message = await ask(world, "what did Qin say about weapons")
    assert message["embeds"][0]["description"].startswith(WEAPONS_QUOTE)


async def test_learned_setting_without_the_extra_ends_with_one_sentence(tmp_path, capsys, monkeypatch):
    from index.rank import semantic

    monkeypatch.setattr(semantic, "MODEL_PACKAGE", "no_such_model_package")
    code = await serve(Settings(token="unused", db_path=str(tmp_path / "bot.db"), learned=True))
    assert (code, capsys.readouterr().err) == (
        1,
        "The learned ranker needs the rerank extra: pip install 'clippings-bot[rerank]'.\n",
    )


async def test_every_reply_disables_mentions(world):
    world.store.add(sample(), "global")
    message = await ask(world, "Qin", results=1)
    click = await world.fake.click_button(message, buttons(message)["More"], user=world.alice)
    await click.wait_response()
    posted = await world.fake.send_user_message(
        world.general, world.alice, f"{world.fake.bot_user.mention} Qin weapons peace"
    )
    await world.fake.wait_for_message(world.general, replying_to(posted), include_existing=True)
    # Requests are recorded once answered, which can be just after the message shows up.
    await world.fake.wait_for(
        lambda: len(message_bodies(world.fake)) >= 3, description="the answer, the edit and the reply"
    )
    bodies = message_bodies(world.fake)
    assert [b.get("allowed_mentions") for b in bodies] == [{"parse": []}] * len(bodies)


async def test_quote_with_everyone_pings_nobody(world):
    world.store.add(
        Article("Ping", "Someone wrote @everyone come to the town hall meeting tonight."), "global"
    )
    message = await ask(world, "town hall meeting")
    assert (
        message["embeds"][0]["description"]
        == "> Someone wrote @everyone come to the **town** **hall** **meeting** tonight."
    )
    followup = world.fake.requests_to("POST", f"/webhooks/{world.fake.application_id}")[-1].json
    assert followup["allowed_mentions"] == {"parse": []}
    assert message["mention_everyone"] is False


async def test_answer_shows_a_title_full_of_markdown_as_written(world):
    world.store.add(
        Article("||Secret|| **plan** for <@123>", "The harbour plan was announced by the mayor today."),
        "global",
    )
    message = await ask(world, "harbour plan")
    assert message["embeds"][0]["title"] == r"\|\|Secret\|\| \*\*plan\*\* for \<@123>"


async def test_more_shows_the_next_results_in_place(world):
    world.store.add(sample(), "global")
    message = await ask(world, "Qin", results=1)
    assert message["content"] == "Result 1 for “Qin”"
    click = await world.fake.click_button(message, buttons(message)["More"], user=world.alice)
    await click.wait_response()
    await world.fake.wait_for(
        lambda: message["content"] == "Result 2 for “Qin”", description="the page to change"
    )
    assert message["embeds"][0]["footer"]["text"] != ""


async def test_more_disappears_on_the_last_page(world):
    world.store.add(Article("One", "Only one passage mentions the harbour here."), "global")
    message = await ask(world, "harbour")
    assert "More" not in buttons(message)


async def test_context_quotes_the_passages_around(world):
    world.store.add(sample(), "global")
    message = await ask(world, "what did Qin say about weapons", results=1)
    click = await world.fake.click_button(message, buttons(message)["Context 1"], user=world.alice)
    followup = await click.wait_followup()
    assert followup["flags"] & EPHEMERAL
    description = followup["embeds"][0]["description"]
    assert description.startswith("*passage 4*\n> China recently presented")
    assert "▶ *passage 5*\n> The foreign minister went on to say" in description
    assert "*passage 6*\n> “This is absolutely unacceptable,”" in description


async def test_another_member_cannot_press_the_buttons(world):
    world.store.add(sample(), "global")
    message = await ask(world, "Qin", results=1)
    click = await world.fake.click_button(message, buttons(message)["More"], user=world.mod)
    response = await click.wait_response()
    assert response["type"] == 4 and response["data"]["flags"] == EPHEMERAL
    assert (
        response["data"]["content"]
        == "Only the person who asked can use these buttons; ask your own question with /ask."
    )
    assert message["content"] == "Result 1 for “Qin”"


# -- buttons across restarts ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def restartable(tmp_path: Path) -> AsyncIterator[tuple[FakeDiscord, Store, object, FakeUser]]:
    """One fake Discord and one database that outlive the bot runs started with `start_bot`."""
    store = Store(tmp_path / "bot.db")
    try:
        async with FakeDiscord() as fake:
            guild = fake.add_guild("Daily Planet")
            general = guild.add_text_channel("general")
            alice = fake.add_user("alice")
            guild.add_member(alice)
            yield fake, store, general, alice
    finally:
        store.close()


def start_bot(fake: FakeDiscord, store: Store, tmp_path: Path):
    bot = ClippingsBot(settings_for(fake, tmp_path / "bot.db"), store)
    return run_bot(fake, bot, logger_names=("discord", "bot"))


async def test_more_works_after_a_restart(tmp_path):
    async with restartable(tmp_path) as (fake, store, general, alice):
        store.add(sample(), "global")
        async with start_bot(fake, store, tmp_path):
            inter = await fake.invoke_command(
                "ask", {"question": "Qin", "results": 1}, user=alice, channel=general
            )
            message = await inter.wait_followup()
        async with start_bot(fake, store, tmp_path):
            click = await fake.click_button(message, buttons(message)["More"], user=alice)
            assert (await click.wait_response())["type"] == 6  # deferred update, no failed interaction
            await fake.wait_for(lambda: message["content"] == "Result 2 for “Qin”", description="page 2")
        assert "More" in buttons(message)


async def test_context_works_after_a_restart(tmp_path):
    async with restartable(tmp_path) as (fake, store, general, alice):
        store.add(sample(), "global")
        async with start_bot(fake, store, tmp_path):
            question = {"question": "what did Qin say about weapons", "results": 1}
            message = await (
                await fake.invoke_command("ask", question, user=alice, channel=general)
            ).wait_followup()
        async with start_bot(fake, store, tmp_path):
            click = await fake.click_button(message, buttons(message)["Context 1"], user=alice)
            followup = await click.wait_followup()
    assert followup["flags"] & EPHEMERAL
    assert "▶ *passage 5*\n> The foreign minister went on to say" in followup["embeds"][0]["description"]


async def test_context_of_a_removed_article_has_expired(tmp_path):
    async with restartable(tmp_path) as (fake, store, general, alice):
        store.add(sample(), "global")
        async with start_bot(fake, store, tmp_path):
            question = {"question": "what did Qin say about weapons", "results": 1}
            message = await (
                await fake.invoke_command("ask", question, user=alice, channel=general)
            ).wait_followup()
        store.remove("global", 1)
        async with start_bot(fake, store, tmp_path):
            click = await fake.click_button(message, buttons(message)["Context 1"], user=alice)
            followup = await click.wait_followup()
    assert (followup["content"], followup["flags"] & EPHEMERAL) == (
        "This answer has expired; ask again with /ask.",
        EPHEMERAL,
    )


COUNCIL = "\n\n".join(f"Paragraph {i} is about the town council and its budget line {i}." for i in range(8))


async def test_context_of_an_article_updated_in_place_has_expired(world):
    world.store.add(
        Article("Bridge", f"The bridge reopens on Monday.\n\n{COUNCIL}", url=BRIDGE_URL), "global"
    )
    message = await ask(world, "when does the bridge reopen", results=1)
    assert message["embeds"][0]["description"].startswith("> **The** **bridge** reopens on Monday.")
    updated = world.store.add(
        Article("Bridge", f"{COUNCIL}\n\nThe bridge reopens on Friday.", url=BRIDGE_URL), "global"
    )
    assert (updated.status, updated.article.id) == ("updated", "1")  # same id, other passages
    click = await world.fake.click_button(message, buttons(message)["Context 1"], user=world.alice)
    followup = await click.wait_followup()
    assert (followup["content"], followup["flags"] & EPHEMERAL) == (
        "This answer has expired; ask again with /ask.",
        EPHEMERAL,
    )


async def test_context_button_from_before_it_carried_its_passage_still_shows_the_passages(world):
    world.store.add(sample(), "global")
    message = await ask(world, "what did Qin say about weapons", results=1)
    button = next(c for row in message["components"] for c in row["components"] if c["label"] == "Context 1")
    button["custom_id"] = button["custom_id"].rsplit(":", 1)[
        0
    ]  # ask:ctx:<asker>:1:1:4, as older answers carry
    click = await world.fake.click_button(message, button["custom_id"], user=world.alice)
    followup = await click.wait_followup()
    assert "▶ *passage 5*\n> The foreign minister went on to say" in followup["embeds"][0]["description"]


async def test_more_on_an_answer_it_cannot_read_back_has_expired(world):
    world.store.add(sample(), "global")
    message = await ask(world, "Qin", results=1)
    message["content"] = "Result 1 for “Qin and something else”"  # not the question its button was made for
    click = await world.fake.click_button(message, buttons(message)["More"], user=world.alice)
    response = await click.wait_response()
    assert (response["type"], response["data"]["content"], response["data"]["flags"]) == (
        4,
        "This answer has expired; ask again with /ask.",
        EPHEMERAL,
    )


async def test_buttons_of_answers_from_before_the_upgrade_say_they_expired(world):
    world.store.add(sample(), "global")
    message = await ask(world, "Qin", results=1)
    old_id = "0123456789abcdef0123456789abcdef"  # discord.py's random ids, as older answers carry
    message["components"][0]["components"][0]["custom_id"] = old_id
    click = await world.fake.click_button(message, old_id, user=world.alice)
    response = await click.wait_response()
    assert response["data"]["content"] == "This answer has expired; ask again with /ask."


@contextlib.contextmanager
def loop_time_from(clock: FakeClock) -> Iterator[None]:
    """Make this event loop's timers (the bot's included) follow the fake's clock."""
    loop = asyncio.get_running_loop()
    loop.time = clock  # shadows BaseEventLoop.time on this loop only
    try:
        yield
    finally:
        del loop.time


CLOCK_STEP = 25.0
"""Under discord.py's 60 s gateway receive timeout: heartbeats arrive between steps, as in real time."""


async def let_time_pass(fake: FakeDiscord, seconds: float) -> None:
    while seconds > 0:
        step = min(CLOCK_STEP, seconds)
        fake.clock.advance(step)
        seconds -= step
        await fake.wait_for_heartbeats(fake.heartbeat_count + 2)


async def test_answer_buttons_work_after_the_token_expires_without_using_it(tmp_path):
    async with bot_world(tmp_path, fake_options={"heartbeat_interval": 0.05}) as world:
        world.store.add(sample(), "global")
        fake = world.fake
        with loop_time_from(fake.clock):
            inter = await fake.invoke_command(
                "ask", {"question": "Qin", "results": 1}, user=world.alice, channel=world.general
            )
            message = await inter.wait_followup()
            # Past the answer's 15-minute token: the press answers through its own interaction.
            await let_time_pass(fake, 15 * 60 + CLOCK_STEP)
            assert fake.clock() - inter.created_at > fake.token_lifetime
            click = await fake.click_button(message, buttons(message)["More"], user=world.alice)
            await click.wait_response()
            await fake.wait_for(lambda: message["content"] == "Result 2 for “Qin”", description="page 2")
        with_old_token = fake.requests_to("PATCH", f"^/webhooks/{fake.application_id}/{inter.token}/")
        assert with_old_token == []


async def test_a_refused_error_reply_fails_the_test(tmp_path, monkeypatch):
    release = threading.Event()

    def search_outliving_the_token(*args, **kwargs):
        release.wait(5)
        raise RuntimeError("disk on fire")

    with pytest.raises(BotFailure, match="code 50027"):
        async with bot_world(tmp_path, fail_on_errors=False) as world:
            monkeypatch.setattr(world.store, "search", search_outliving_the_token)
            inter = await world.fake.invoke_command(
                "ask", {"question": "weapons"}, user=world.alice, channel=world.general
            )
            await inter.wait_response()
            world.fake.clock.advance(15 * 60 + 1)
            release.set()
            await world.fake.wait_for_request(
                "POST", f"^/webhooks/{world.fake.application_id}/{inter.token}$"
            )
    release.set()


async def test_bidi_controls_in_a_question_are_not_echoed(world):
    world.store.add(sample(), "global")
    message = await ask(world, "what did Qin say about \u202eweapons\u202c")
    assert message["content"] == "Results 1–3 for “what did Qin say about weapons”"


async def test_bidi_controls_in_a_mention_question_are_not_echoed(world):
    world.store.add(sample(), "global")
    asked = await world.fake.send_user_message(
        world.general, world.alice, f"{world.fake.bot_user.mention} what did Qin say about \u202eweapons"
    )
    reply = await world.fake.wait_for_message(world.general, replying_to(asked), include_existing=True)
    assert reply["content"] == "Results 1–3 for “what did Qin say about weapons”"


async def test_unexpected_error_answering_a_mention_gets_an_apology_and_a_logged_traceback(
    tmp_path, monkeypatch
):
    async with bot_world(tmp_path, fail_on_errors=False) as world:

        def broken(*args, **kwargs):
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(world.store, "search", broken)
        asked = await world.fake.send_user_message(
            world.general, world.alice, f"{world.fake.bot_user.mention} weapons"
        )
        reply = await world.fake.wait_for_message(world.general, replying_to(asked), include_existing=True)
        assert (
            reply["content"]
            == "Sorry, something went wrong on my side. It has been logged; please try again later."
        )
        assert any("RuntimeError: disk on fire" in e for e in world.runner.take_errors())


async def test_unexpected_error_storing_a_newsroom_post_gets_a_cross_and_an_apology(tmp_path, monkeypatch):
    async with bot_world(tmp_path, message_content=True, fail_on_errors=False) as world:
        inter = await world.fake.invoke_command(
            "newsroom set", {"channel": world.news}, user=world.mod, channel=world.general
        )
        await inter.wait_followup()

        def broken(*args, **kwargs):
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(world.store, "add", broken)
        attachment = world.fake.add_attachment("qin.txt", SAMPLE.read_bytes(), "text/plain")
        posted = await world.fake.send_user_message(world.news, world.mod, "", attachments=[attachment])
        reply = await world.fake.wait_for_message(world.news, replying_to(posted), include_existing=True)
        assert world.fake.reactions_on(posted) == {"❌": [world.fake.bot_user.id]}
        assert (
            reply["content"]
            == "Sorry, something went wrong on my side. It has been logged; please try again later."
        )
        assert any("RuntimeError: disk on fire" in e for e in world.runner.take_errors())


async def test_unexpected_error_gets_an_apology_and_a_logged_traceback(tmp_path, monkeypatch, caplog):
    async with bot_world(tmp_path, fail_on_errors=False) as world:

        def broken(*args, **kwargs):
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(world.store, "search", broken)
        message = await ask(world, "weapons")
        assert (
            message["content"]
            == "Sorry, something went wrong on my side. It has been logged; please try again later."
        )
        errors = world.runner.take_errors()
        assert any("RuntimeError: disk on fire" in e for e in errors)


async def test_nothing_found_says_what_was_searched(world):
    world.store.add(sample(), "global")
    message = await ask(world, "volcano iceland")
    assert message["content"] == (
        "No passage matches “volcano iceland” in 1 article (this server's articles and the global library)."
        " Try fewer or different words, or ask about a recent article: China Solicits For Peace Inorder To Settle Ukraine War."
    )


async def test_greeting_gets_the_private_help_text_and_no_passages(world):
    world.store.add(sample(), "global")
    message = await ask(world, "hello!")
    assert message["flags"] & EPHEMERAL
    assert message["embeds"] == []
    assert message["content"].startswith("**What I answer**: questions about the news articles added here.")
    assert "This server has 0 articles; I also read the global library (1 article)." in message["content"]


async def test_what_can_you_do_as_a_mention_gets_the_help_text(world):
    posted = await world.fake.send_user_message(
        world.general, world.alice, f"{world.fake.bot_user.mention} what can you do?"
    )
    reply = await world.fake.wait_for_message(world.general, replying_to(posted), include_existing=True)
    assert reply["content"].startswith("**What I answer**: questions about the news articles added here.")
    assert "**Who adds articles**: moderators" in reply["content"]
    assert reply["embeds"] == []


async def test_question_with_no_answer_gets_one_sentence_and_no_quote(world):
    world.store.add(sample(), "global")
    message = await ask(world, "what is the capital of Australia")
    assert message["embeds"] == []
    assert message["content"] == (
        "I couldn't find an answer to “what is the capital of Australia” in this server's articles and"
        " the global library (1 article searched). The closest passages are not an answer; you can"
        " still look at them with the button below."
    )
    assert list(buttons(message)) == ["Closest passages (not an answer)"]


async def test_mention_with_no_answer_gets_the_sentence_as_a_reply(world):
    world.store.add(sample(), "global")
    posted = await world.fake.send_user_message(
        world.general, world.alice, f"{world.fake.bot_user.mention} who painted the Mona Lisa"
    )
    reply = await world.fake.wait_for_message(world.general, replying_to(posted), include_existing=True)
    assert reply["content"].startswith("I couldn't find an answer to “who painted the Mona Lisa” in")
    assert (reply["embeds"], list(buttons(reply))) == ([], ["Closest passages (not an answer)"])


async def test_closest_passages_button_shows_them_privately_labelled_as_not_an_answer(world):
    world.store.add(sample(), "global")
    message = await ask(world, "what is the capital of Australia")
    click = await world.fake.click_button(
        message, buttons(message)["Closest passages (not an answer)"], user=world.alice
    )
    followup = await click.wait_followup()
    assert followup["flags"] & EPHEMERAL
    assert followup["content"] == (
        "Closest passages for “what is the capital of Australia”: not an answer, only the nearest text found"
    )
    assert len(followup["embeds"]) == 3
    assert message["embeds"] == []  # the public reply still quotes nothing


async def test_another_member_cannot_see_the_closest_passages(world):
    world.store.add(sample(), "global")
    message = await ask(world, "what is the capital of Australia")
    click = await world.fake.click_button(
        message, buttons(message)["Closest passages (not an answer)"], user=world.mod
    )
    response = await click.wait_response()
    assert response["data"]["content"] == (
        "Only the person who asked can use these buttons; ask your own question with /ask."
    )
    assert "embeds" not in response["data"] or response["data"]["embeds"] == []


async def test_question_without_words_gets_a_private_sentence(world):
    inter = await world.fake.invoke_command(
        "ask", {"question": "?!"}, user=world.alice, channel=world.general
    )
    response = await inter.wait_response()
    assert (response["type"], response["data"]["flags"]) == (4, EPHEMERAL)
    assert (
        response["data"]["content"] == "That question has no words to search for; ask with a few key words."
    )


async def test_ask_with_only_a_link_is_asked_for_in_words_privately(world):
    inter = await world.fake.invoke_command(
        "ask",
        {"question": "https://news.example/2023/03/07/qin.html"},
        user=world.alice,
        channel=world.general,
    )
    response = await inter.wait_response()
    assert (response["type"], response["data"]["flags"]) == (4, EPHEMERAL)
    assert response["data"]["content"] == (
        "A link alone is no question; ask in words what you want to know about it."
    )


async def test_mention_with_only_a_link_is_asked_for_in_words(world):
    reply = await reply_in_general(world, f"{world.fake.bot_user.mention} <https://news.example/qin.html>")
    assert reply["content"] == "A link alone is no question; ask in words what you want to know about it."


async def test_cooldown_refuses_a_quick_second_question(tmp_path):
    async with bot_world(tmp_path, ask_cooldown=60.0) as world:
        world.store.add(sample(), "global")
        await ask(world, "weapons")
        inter = await world.fake.invoke_command(
            "ask", {"question": "peace"}, user=world.alice, channel=world.general
        )
        response = await inter.wait_response()
        assert response["data"]["flags"] == EPHEMERAL
        assert response["data"]["content"].startswith("You're asking quickly! Please wait")


async def test_private_answer_is_ephemeral(world):
    world.store.add(sample(), "global")
    message = await ask(world, "weapons", private=True)
    assert message["flags"] & EPHEMERAL


async def test_mention_gets_the_same_answer_as_a_reply(world):
    world.store.add(sample(), "global")
    posted = await world.fake.send_user_message(
        world.general, world.alice, f"{world.fake.bot_user.mention} what did Qin say about weapons"
    )
    reply = await world.fake.wait_for_message(world.general, replying_to(posted), include_existing=True)
    assert reply["embeds"][0]["description"].startswith(WEAPONS_QUOTE)
    assert world.fake.intents & (1 << 15) == 0  # no message-content intent needed


@pytest.fixture
async def reading(tmp_path):
    """A bot with the Message Content intent: it reads every message, so one it leaves unanswered
    was left by its own rule, not because Discord sent it without content."""
    async with bot_world(tmp_path, message_content=True) as world:
        yield world


def replies_to(world: World, posted: dict) -> list[dict]:
    return [m for m in world.fake.messages_in(world.general) if replying_to(posted)(m)]


async def test_reply_pinging_the_bot_under_its_answer_is_answered_with_the_passage(world):
    world.store.add(sample(), "global")
    answer = await ask(world, "Qin peace")
    posted = await world.fake.send_user_message(
        world.general, world.alice, "what did Qin say about weapons", reply_to=answer
    )
    reply = await world.fake.wait_for_message(world.general, replying_to(posted), include_existing=True)
    assert reply["content"] == "Results 1–3 for “what did Qin say about weapons”"
    assert reply["embeds"][0]["description"].startswith(WEAPONS_QUOTE)


async def test_reply_to_the_bot_without_the_ping_is_ignored(reading):
    reading.store.add(sample(), "global")
    answer = await ask(reading, "Qin peace")
    posted = await reading.fake.send_user_message(
        reading.general,
        reading.alice,
        "what did Qin say about weapons",
        reply_to=answer,
        mention_author=False,
    )
    await settled(reading)
    assert replies_to(reading, posted) == []


async def test_reply_pinging_the_bot_with_thanks_gets_the_help_text_as_a_mention_does(world):
    mentioned = await world.fake.send_user_message(
        world.general, world.alice, f"{world.fake.bot_user.mention} thanks"
    )
    help_text = await world.fake.wait_for_message(
        world.general, replying_to(mentioned), include_existing=True
    )
    posted = await world.fake.send_user_message(world.general, world.alice, "thanks", reply_to=help_text)
    reply = await world.fake.wait_for_message(world.general, replying_to(posted), include_existing=True)
    assert reply["content"] == help_text["content"]
    assert reply["content"].startswith("**What I answer**: questions about the news articles added here.")
    assert reply["embeds"] == []


async def test_reply_to_another_members_message_without_mentioning_the_bot_is_ignored(reading):
    reading.store.add(sample(), "global")
    question = await reading.fake.send_user_message(
        reading.general, reading.mod, "anyone read the Qin story?"
    )
    posted = await reading.fake.send_user_message(
        reading.general, reading.alice, "what did Qin say about weapons", reply_to=question
    )
    await settled(reading)
    assert replies_to(reading, posted) == []


async def test_reply_to_another_members_message_mentioning_the_bot_is_answered(world):
    world.store.add(sample(), "global")
    question = await world.fake.send_user_message(world.general, world.mod, "anyone read the Qin story?")
    posted = await world.fake.send_user_message(
        world.general,
        world.alice,
        f"{world.fake.bot_user.mention} what did Qin say about weapons",
        reply_to=question,
    )
    reply = await world.fake.wait_for_message(world.general, replying_to(posted), include_existing=True)
    assert reply["embeds"][0]["description"].startswith(WEAPONS_QUOTE)


async def mention_where_replies_are_refused(world: World, question: str) -> dict:
    """The bot's answer to a mention in #general, where it may send but not read the history
    (which a reply needs)."""
    world.store.add(sample(), "global")
    world.general.set_permissions(world.fake.bot_role(world.guild), deny=Perm.READ_MESSAGE_HISTORY)
    with world.fake.expect_errors(403):
        await world.fake.send_user_message(
            world.general, world.alice, f"{world.fake.bot_user.mention} {question}"
        )
        return await world.fake.wait_for_message(world.general, lambda m: m["author"]["bot"])


async def test_mention_where_replies_are_refused_answers_in_the_channel(world):
    answer = await mention_where_replies_are_refused(world, "what did Qin say about weapons")
    assert answer["content"] == f"{world.alice.mention} Results 1–3 for “what did Qin say about weapons”"
    assert answer["embeds"][0]["description"].startswith(WEAPONS_QUOTE)


async def test_more_works_on_an_answer_sent_to_the_channel_instead_of_a_reply(world):
    answer = await mention_where_replies_are_refused(world, "Qin weapons peace")
    click = await world.fake.click_button(answer, buttons(answer)["More"], user=world.alice)
    assert (await click.wait_response())["type"] == 6  # the next page, in place


async def test_mention_where_the_bot_may_not_send_is_a_warning_not_an_unexpected_error(world, caplog):
    world.store.add(sample(), "global")
    world.general.set_permissions(world.fake.bot_role(world.guild), deny=Perm.SEND_MESSAGES)
    with world.fake.expect_errors(403):
        posted = await world.fake.send_user_message(
            world.general, world.alice, f"{world.fake.bot_user.mention} what did Qin say about weapons"
        )
        assert await world.runner.wait_idle()
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.name.startswith("bot.")]
    assert logged[-1] == (
        "WARNING",
        f"cannot answer message {posted['id']} in channel {world.general.id}: the bot may not send"
        " messages there (403 Forbidden (error code: 50013): Missing Permissions)",
    )
    assert [level for level, _ in logged] == ["WARNING", "WARNING"]  # the reply, then the answer


async def test_mention_where_the_bot_may_not_embed_says_so_instead_of_an_answer_without_quotes(world):
    world.store.add(sample(), "global")
    world.general.set_permissions(world.guild.everyone_role, deny=Perm.EMBED_LINKS)  # as many servers do
    await world.fake.dispatch("CHANNEL_UPDATE", world.general.to_payload())
    posted = await world.fake.send_user_message(
        world.general, world.alice, f"{world.fake.bot_user.mention} what did Qin say about weapons"
    )
    reply = await world.fake.wait_for_message(world.general, replying_to(posted), include_existing=True)
    assert (reply["content"], reply["embeds"]) == (
        "I can't show quotes in this channel without the Embed Links permission; a moderator can allow"
        " it for my role here.",
        [],
    )


async def test_mention_that_also_mentions_a_member_quotes_the_passage(world):
    world.store.add(sample(), "global")
    reply = await reply_in_general(
        world, f"{world.fake.bot_user.mention} {world.mod.mention} what did Qin say about weapons"
    )
    assert reply["content"] == "Results 1–3 for “what did Qin say about weapons”"
    assert reply["embeds"][0]["description"].startswith(WEAPONS_QUOTE)


async def test_mention_of_the_bots_role_is_answered_as_a_mention_of_the_bot(tmp_path):
    async with bot_world(tmp_path, message_content=True) as world:
        world.store.add(sample(), "global")
        role = world.fake.bot_role(world.guild)
        reply = await reply_in_general(world, f"{role.mention} what did Qin say about weapons")
        assert reply["content"] == "Results 1–3 for “what did Qin say about weapons”"


async def test_mention_with_everyone_in_the_question_quotes_the_passage(world):
    world.store.add(sample(), "global")
    reply = await reply_in_general(
        world, f"@everyone {world.fake.bot_user.mention} what did Qin say about weapons"
    )
    assert reply["content"] == "Results 1–3 for “what did Qin say about weapons”"
    assert reply["embeds"][0]["description"].startswith(WEAPONS_QUOTE)


async def test_mention_with_a_pasted_link_quotes_the_passage_and_echoes_no_link(world):
    world.store.add(sample(), "global")
    reply = await reply_in_general(
        world,
        f"{world.fake.bot_user.mention} what did Qin say about weapons https://news.example/2023/03/07/qin.html",
    )
    assert reply["content"] == "Results 1–3 for “what did Qin say about weapons”"
    assert reply["embeds"][0]["description"].startswith(WEAPONS_QUOTE)


async def test_ask_with_a_member_channel_and_emoji_in_the_question_quotes_the_passage(world):
    world.store.add(sample(), "global")
    message = await ask(
        world, f"what did {world.mod.mention} Qin say <#{world.general.id}> about weapons <:flag_ua:123>"
    )
    assert message["content"] == "Results 1–3 for “what did Qin say about weapons”"
    assert message["embeds"][0]["description"].startswith(WEAPONS_QUOTE)


async def test_mention_deleted_before_its_answer_still_gets_the_answer_in_the_channel(world, monkeypatch):
    world.store.add(sample(), "global")
    searching, deleted = threading.Event(), threading.Event()
    search = world.store.search

    def search_after_the_deletion(*args, **kwargs):
        searching.set()
        deleted.wait(5)
        return search(*args, **kwargs)

    monkeypatch.setattr(world.store, "search", search_after_the_deletion)
    posted = await world.fake.send_user_message(
        world.general, world.alice, f"{world.fake.bot_user.mention} what did Qin say about weapons"
    )
    await asyncio.to_thread(searching.wait, 5)
    await world.fake.delete_user_message(posted)
    deleted.set()
    answer = await world.fake.wait_for_message(world.general, lambda m: m["author"]["bot"])
    assert answer["content"] == "Results 1–3 for “what did Qin say about weapons”"
    assert answer["embeds"][0]["description"].startswith(WEAPONS_QUOTE)
    assert "message_reference" not in answer


async def test_over_long_mention_question_is_refused_with_the_limit(world):
    world.store.add(sample(), "global")
    question = "what did Qin say " * 20  # 340 characters: /ask would not take it either
    posted = await world.fake.send_user_message(
        world.general, world.alice, f"{world.fake.bot_user.mention} {question}"
    )
    reply = await world.fake.wait_for_message(world.general, replying_to(posted), include_existing=True)
    assert reply["content"] == "That question is 339 characters long; ask it again in at most 300 characters."
    assert reply["embeds"] == []


async def test_ask_option_takes_the_shared_longest_question_and_discord_refuses_a_longer_one(world):
    world.store.add(sample(), "global")
    question = ("what did Qin say about weapons " * 10)[:MAX_QUESTION_CHARS]
    answer = await ask(world, question)
    assert question.strip() in answer["content"]  # answered (or told there is no answer), not refused
    with pytest.raises(InteractionNotAllowed):
        await world.fake.invoke_command(
            "ask", {"question": "w" * (MAX_QUESTION_CHARS + 1)}, user=world.alice, channel=world.general
        )


async def test_more_reads_back_a_mention_question_of_the_longest_length_full_of_markdown(world):
    world.store.add(sample(), "global")
    question = ("[China] [Russia] [peace] " * 12)[:300]  # escaping doubles its brackets
    posted = await world.fake.send_user_message(
        world.general, world.alice, f"{world.fake.bot_user.mention} {question}"
    )
    reply = await world.fake.wait_for_message(world.general, replying_to(posted), include_existing=True)
    click = await world.fake.click_button(reply, buttons(reply)["More"], user=world.alice)
    assert (await click.wait_response())["type"] == 6


async def test_dm_searches_only_the_global_library(world):
    world.store.add(Article("Local", "The guild library holds the lighthouse story."), str(world.guild.id))
    world.store.add(Article("Public", "The global library holds the lighthouse keeper."), "global")
    dm = world.fake.dm_channel(world.alice)
    message = await ask(world, "lighthouse", channel=dm)
    assert [e["title"] for e in message["embeds"]] == ["Public"]


async def test_over_long_results_fit_within_discord_limits(world):
    heavy = " ".join(["**Weapons** _talk_ [link](https://x.test) ~~gone~~ `code` |spoiler|"] * 60)
    for n in range(5):
        world.store.add(Article(f"{'Long title ' * 30}{n}", heavy + f" number {n}."), "global")
    message = await ask(world, "weapons", results=5)
    assert 1 <= len(message["embeds"]) <= 5
    assert world.fake.error_responses == []


# -- moderators -----------------------------------------------------------------------------


def default_settings(fake: FakeDiscord, db: Path) -> Settings:
    return Settings(token=fake.token, db_path=str(db), ask_cooldown=0.0, guild_ready_timeout=0.05)


def settings_from_environment(fake: FakeDiscord, db: Path) -> Settings:
    loaded = load_settings(None, {"DISCORD_TOKEN": fake.token, "CLIPPINGS_DB": str(db)})
    return dataclasses.replace(loaded, ask_cooldown=0.0, guild_ready_timeout=0.05)


@pytest.mark.parametrize("make_settings", [default_settings, settings_from_environment])
async def test_article_add_refuses_local_addresses_privately_without_fetching(tmp_path, make_settings):
    async with bot_world(tmp_path, settings=lambda fake: make_settings(fake, tmp_path / "bot.db")) as world:
        fake = world.fake
        served = fake.serve_bytes("news/dam.html", b"<html><body>secret</body></html>", "text/html")
        refusals = {
            served: "127.0.0.1 is a private or local address; only public web pages can be added.",
            served.replace("127.0.0.1", "localhost"): (
                "localhost points to a private or local address; only public web pages can be added."
            ),
            "http://10.0.0.1/news/dam.html": (
                "10.0.0.1 is a private or local address; only public web pages can be added."
            ),
            "http://169.254.169.254/latest/meta-data/": (
                "169.254.169.254 is a private or local address; only public web pages can be added."
            ),
        }
        replies = []
        for url in refusals:
            inter = await fake.invoke_command(
                "article add", {"url": url}, user=world.mod, channel=world.general
            )
            message = await inter.wait_followup()
            replies.append((message["content"], bool(message["flags"] & EPHEMERAL)))
        assert replies == [(sentence, True) for sentence in refusals.values()]
        assert fake.file_requests == []
        assert world.store.count_articles(str(world.guild.id)) == 0


async def test_article_add_by_link(world):
    page = (
        "<html><head><title>Dam opens</title></head><body><article><h1>Dam opens</h1><p>"
        + "The new dam opened on Tuesday after ten years of building. " * 4
        + "</p></article></body></html>"
    )
    url = world.fake.serve_bytes("news/dam.html", page.encode(), "text/html; charset=utf-8")
    inter = await world.fake.invoke_command(
        "article add", {"url": url}, user=world.mod, channel=world.general
    )
    message = await inter.wait_followup()
    assert message["flags"] & EPHEMERAL
    assert message["content"] == "Added **Dam opens** (article #1, 1 passage)."
    assert world.store.count_articles(str(world.guild.id)) == 1


async def test_article_add_by_file(world):
    attachment = world.fake.add_attachment("qin.txt", SAMPLE.read_bytes(), "text/plain")
    inter = await world.fake.invoke_command(
        "article add", {"file": attachment}, user=world.mod, channel=world.general
    )
    message = await inter.wait_followup()
    assert (
        message["content"]
        == "Added **China Solicits For Peace Inorder To Settle Ukraine War** (article #1, 7 passages)."
    )


async def test_article_add_of_an_unsupported_file_says_why(world):
    attachment = world.fake.add_attachment("photo.png", b"\x89PNG", "image/png")
    inter = await world.fake.invoke_command(
        "article add", {"file": attachment}, user=world.mod, channel=world.general
    )
    message = await inter.wait_followup()
    assert (
        message["content"]
        == "photo.png is not a .txt, .md or .html file; attach the article as one of those."
    )
    assert world.store.count_articles(str(world.guild.id)) == 0


async def test_article_add_without_link_or_file_opens_a_modal(world):
    inter = await world.fake.invoke_command("article add", {}, user=world.mod, channel=world.general)
    await inter.wait_response()
    assert inter.modal["title"] == "Add an article"
    ids = [c["components"][0]["custom_id"] for c in inter.modal["components"]]
    values = dict(
        zip(ids, ["Harbour news", "", "The harbour reopened on Monday after the storm passed."], strict=True)
    )
    submit = await world.fake.submit_modal(inter, values, user=world.mod)
    message = await submit.wait_followup()
    assert message["content"] == "Added **Harbour news** (article #1, 1 passage)."
    assert world.store.search("harbour", [str(world.guild.id)]).hits[0].passage.text == (
        "The harbour reopened on Monday after the storm passed."
    )


async def test_member_cannot_add_even_if_the_server_exposes_the_command(world):
    inter = await world.fake.invoke_command(
        "article add",
        {"url": "https://example.com/a"},
        user=world.alice,
        channel=world.general,
        check_permissions=False,
    )
    response = await inter.wait_response()
    assert response["data"]["flags"] == EPHEMERAL
    assert (
        response["data"]["content"]
        == "Only moderators (with the Manage Messages permission) can do that; ask one of them to do it."
    )
    assert world.store.count_articles(str(world.guild.id)) == 0


async def test_article_remove_with_autocomplete(world):
    stored = world.store.add(sample(), str(world.guild.id)).article
    typing = await world.fake.autocomplete(
        "article remove", {"article": "peace"}, "article", user=world.mod, channel=world.general
    )
    await typing.wait_response()
    assert typing.choices == [
        {"name": "China Solicits For Peace Inorder To Settle Ukraine War (#1)", "value": stored.id}
    ]
    inter = await world.fake.invoke_command(
        "article remove", {"article": stored.id}, user=world.mod, channel=world.general
    )
    message = await inter.wait_followup()
    assert (
        message["content"]
        == "Removed **China Solicits For Peace Inorder To Settle Ukraine War** (article #1, 7 passages)."
    )
    assert world.store.count_articles(str(world.guild.id)) == 0


async def test_member_cannot_remove(world):
    stored = world.store.add(sample(), str(world.guild.id)).article
    inter = await world.fake.invoke_command(
        "article remove",
        {"article": stored.id},
        user=world.alice,
        channel=world.general,
        check_permissions=False,
    )
    response = await inter.wait_response()
    assert (
        response["data"]["content"]
        == "Only moderators (with the Manage Messages permission) can do that; ask one of them to do it."
    )
    assert world.store.count_articles(str(world.guild.id)) == 1


def add_stories(store: Store, library: str, count: int) -> None:
    for n in range(count):
        store.add(Article(f"Story {n}", f"Story number {n} is about the harbour."), library)


async def article_list(fake: FakeDiscord, user: FakeUser, channel) -> dict:
    inter = await fake.invoke_command("article list", {}, user=user, channel=channel)
    return await inter.wait_followup()


def footer(message: dict) -> str:
    return message["embeds"][0]["footer"]["text"]


LIST_PAGE_2 = "`#2` Story 1 · 1 passage\n`#1` Story 0 · 1 passage"


async def test_article_list_pages_with_buttons(world):
    add_stories(world.store, str(world.guild.id), 12)
    message = await article_list(world.fake, world.mod, world.general)
    assert footer(message) == "page 1 of 2"
    assert message["embeds"][0]["description"].startswith("`#12` Story 11")
    click = await world.fake.click_button(message, buttons(message)["Next"], user=world.mod)
    assert (await click.wait_response())["type"] == 6  # deferred update: the page is read from the store
    await world.fake.wait_for(lambda: footer(message) == "page 2 of 2", description="page 2")
    assert message["embeds"][0]["description"] == LIST_PAGE_2


async def test_article_list_previous_goes_back_to_the_first_page(world):
    add_stories(world.store, str(world.guild.id), 12)
    message = await article_list(world.fake, world.mod, world.general)
    click = await world.fake.click_button(message, buttons(message)["Next"], user=world.mod)
    await click.wait_response()
    await world.fake.wait_for(lambda: footer(message) == "page 2 of 2", description="page 2")
    click = await world.fake.click_button(message, buttons(message)["Previous"], user=world.mod)
    await click.wait_response()
    await world.fake.wait_for(lambda: footer(message) == "page 1 of 2", description="page 1")
    assert message["embeds"][0]["description"].startswith("`#12` Story 11")


async def test_article_list_next_works_after_the_old_view_timeout(tmp_path, monkeypatch):
    async with bot_world(tmp_path, fake_options={"heartbeat_interval": 0.05}) as world:
        add_stories(world.store, str(world.guild.id), 12)
        fake = world.fake
        # Views time out on time.monotonic: make it follow the fake's clock too.
        monkeypatch.setattr(discord.ui.view, "time", types.SimpleNamespace(monotonic=fake.clock))
        with loop_time_from(fake.clock):
            message = await article_list(fake, world.mod, world.general)
            await let_time_pass(fake, 5 * 60 + CLOCK_STEP)
            click = await fake.click_button(message, buttons(message)["Next"], user=world.mod)
            assert (await click.wait_response())["type"] == 6
            await fake.wait_for(lambda: footer(message) == "page 2 of 2", description="page 2")
        assert message["embeds"][0]["description"] == LIST_PAGE_2


async def test_article_list_next_works_after_a_restart(tmp_path):
    async with restartable(tmp_path) as (fake, store, general, _alice):
        guild = fake.guilds[general.guild_id]
        mod = fake.add_user("mod")
        guild.add_member(mod, roles=[guild.add_role("Mods", permissions=Perm.MANAGE_MESSAGES)])
        add_stories(store, str(guild.id), 12)
        async with start_bot(fake, store, tmp_path):
            message = await article_list(fake, mod, general)
        async with start_bot(fake, store, tmp_path):
            click = await fake.click_button(message, buttons(message)["Next"], user=mod)
            assert (await click.wait_response())["type"] == 6
            await fake.wait_for(lambda: footer(message) == "page 2 of 2", description="page 2")
    assert message["embeds"][0]["description"] == LIST_PAGE_2


async def test_article_list_page_shows_the_articles_as_they_are_at_the_press(world):
    library = str(world.guild.id)
    add_stories(world.store, library, 12)
    message = await article_list(world.fake, world.mod, world.general)
    world.store.remove(library, 2)
    click = await world.fake.click_button(message, buttons(message)["Next"], user=world.mod)
    await click.wait_response()
    await world.fake.wait_for(lambda: footer(message) == "page 2 of 2", description="page 2")
    assert (message["embeds"][0]["title"], message["embeds"][0]["description"]) == (
        "Articles (11)",
        "`#1` Story 0 · 1 passage",
    )


async def test_article_list_page_past_the_end_shows_the_last_page(world):
    library = str(world.guild.id)
    add_stories(world.store, library, 12)
    message = await article_list(world.fake, world.mod, world.general)
    for article_id in (12, 11, 10):
        world.store.remove(library, article_id)
    click = await world.fake.click_button(message, buttons(message)["Next"], user=world.mod)
    await click.wait_response()
    await world.fake.wait_for(lambda: footer(message) == "page 1 of 1", description="the last page")
    assert (message["embeds"][0]["title"], buttons(message)) == ("Articles (9)", {})


def private_reply(response: dict) -> str | None:
    """The text of an interaction's immediate reply if only its presser sees it, else None."""
    data = response["data"]
    return data["content"] if (response["type"], data.get("flags")) == (4, EPHEMERAL) else None


async def test_article_list_page_is_refused_to_another_member(world):
    add_stories(world.store, str(world.guild.id), 12)
    message = await article_list(world.fake, world.mod, world.general)
    # Only the moderator sees the private list: the press of another member is forged.
    payload = world.fake.build_component_payload(message, buttons(message)["Next"], user=world.mod)
    payload["member"] = world.guild.member(world.alice).to_payload()
    response = await (await world.fake.send_interaction(payload)).wait_response()
    assert (
        private_reply(response)
        == "Only the moderator who asked for this list can page through it; run /article list for your own."
    )
    assert footer(message) == "page 1 of 2"


async def test_article_list_page_is_refused_to_its_moderator_once_no_longer_one(world):
    add_stories(world.store, str(world.guild.id), 12)
    message = await article_list(world.fake, world.mod, world.general)
    world.guild.member(world.mod).role_ids.clear()
    click = await world.fake.click_button(message, buttons(message)["Next"], user=world.mod)
    response = await click.wait_response()
    assert (
        private_reply(response)
        == "Only moderators (with the Manage Messages permission) can do that; ask one of them to do it."
    )
    assert footer(message) == "page 1 of 2"


async def test_article_list_buttons_from_before_the_upgrade_say_they_expired(world):
    add_stories(world.store, str(world.guild.id), 12)
    message = await article_list(world.fake, world.mod, world.general)
    message["components"][0]["components"][1]["custom_id"] = "article-list:next"  # the old fixed id
    click = await world.fake.click_button(message, "article-list:next", user=world.mod)
    response = await click.wait_response()
    assert private_reply(response) == "This list has expired; run /article list again."


async def test_article_show(world):
    stored = world.store.add(sample(), str(world.guild.id)).article
    inter = await world.fake.invoke_command(
        "article show", {"article": stored.id}, user=world.mod, channel=world.general
    )
    embed = (await inter.wait_followup())["embeds"][0]
    assert embed["title"] == "China Solicits For Peace Inorder To Settle Ukraine War"
    assert embed["description"].startswith("> Qin Gang, China’s Foreign Minister has called for peace talks")


async def test_add_as_article_context_menu_stores_the_message_text(world):
    text = (
        "City council news. "
        + "The council voted to expand the bus network across the northern districts. " * 4
    )
    posted = await world.fake.send_user_message(world.general, world.alice, text)
    inter = await world.fake.invoke_message_command("Add as article", posted, user=world.mod)
    message = await inter.wait_followup()
    assert message["content"].startswith("Added **City council news.")
    hit = world.store.search("bus network", [str(world.guild.id)]).hits[0]
    assert hit.article.url.endswith(f"/{world.general.id}/{posted['id']}")


async def test_add_as_article_is_refused_to_members(world):
    posted = await world.fake.send_user_message(world.general, world.alice, "x" * 300)
    payload = world.fake.build_context_menu_payload(
        "Add as article", posted, user=world.alice, check_permissions=False
    )
    inter = await world.fake.send_interaction(payload)
    response = await inter.wait_response()
    assert (
        response["data"]["content"]
        == "Only moderators (with the Manage Messages permission) can do that; ask one of them to do it."
    )


# -- isolation ------------------------------------------------------------------------------


async def test_servers_never_see_each_others_articles(world):
    stored = world.store.add(sample(), str(world.guild.id)).article
    message = await ask(world, "weapons", user=world.other_mod, channel=world.other_general)
    assert message["content"].startswith("No passage matches “weapons” in 0 articles")
    typing = await world.fake.autocomplete(
        "article remove", {"article": "peace"}, "article", user=world.other_mod, channel=world.other_general
    )
    await typing.wait_response()
    assert typing.choices == []
    for command in ("article remove", "article show"):
        inter = await world.fake.invoke_command(
            command, {"article": stored.id}, user=world.other_mod, channel=world.other_general
        )
        followup = await inter.wait_followup()
        assert followup["content"] == "There is no article 1 here; use `/article list` to see the ids."
    assert world.store.count_articles(str(world.guild.id)) == 1


# -- newsroom -------------------------------------------------------------------------------


@pytest.fixture
async def newsroom(tmp_path):
    async with bot_world(tmp_path, message_content=True) as world:
        inter = await world.fake.invoke_command(
            "newsroom set", {"channel": world.news}, user=world.mod, channel=world.general
        )
        message = await inter.wait_followup()
        assert message["flags"] & EPHEMERAL
        assert message["content"].startswith(f"Articles that moderators post in <#{world.news.id}>")
        yield world


@pytest.mark.parametrize(
    "post",
    [lambda url: f"New story: {url}", lambda url: "H" + url[1:]],
    ids=["a link in a sentence", "a link with a capitalised scheme"],
)
async def test_newsroom_link_post_is_indexed(newsroom, post):
    page = (
        "<html><body><article><h1>Bridge</h1><p>"
        + "The bridge closed for repairs on Friday. " * 4
        + "</p></article></body></html>"
    )
    url = newsroom.fake.serve_bytes("news/bridge.html", page.encode(), "text/html")
    posted = await newsroom.fake.send_user_message(newsroom.news, newsroom.mod, post(url))
    await newsroom.fake.wait_for(lambda: newsroom.fake.reactions_on(posted), description="a reaction")
    assert newsroom.fake.reactions_on(posted) == {"✅": [newsroom.fake.bot_user.id]}
    assert newsroom.store.search("bridge repairs", [str(newsroom.guild.id)]).hits[0].article.url == url


async def test_newsroom_attachment_post_is_indexed(newsroom):
    attachment = newsroom.fake.add_attachment("qin.txt", SAMPLE.read_bytes(), "text/plain")
    posted = await newsroom.fake.send_user_message(newsroom.news, newsroom.mod, "", attachments=[attachment])
    await newsroom.fake.wait_for(lambda: newsroom.fake.reactions_on(posted), description="a reaction")
    assert newsroom.fake.reactions_on(posted) == {"✅": [newsroom.fake.bot_user.id]}
    hit = newsroom.store.search("what did Qin say about weapons", [str(newsroom.guild.id)]).hits[0]
    assert hit.passage.text.startswith(WEAPONS)


async def test_newsroom_post_by_a_member_is_ignored(newsroom):
    attachment = newsroom.fake.add_attachment("qin.txt", SAMPLE.read_bytes(), "text/plain")
    posted = await newsroom.fake.send_user_message(
        newsroom.news, newsroom.alice, "", attachments=[attachment]
    )
    marker = await newsroom.fake.send_user_message(
        newsroom.general, newsroom.alice, f"{newsroom.fake.bot_user.mention} weapons"
    )
    await newsroom.fake.wait_for_message(newsroom.general, replying_to(marker), include_existing=True)
    assert newsroom.fake.reactions_on(posted) == {}
    assert newsroom.store.count_articles(str(newsroom.guild.id)) == 0


@pytest.mark.parametrize(
    "message_type", [18, 6, 4], ids=["a thread created", "a pinned message", "a renamed channel"]
)
async def test_newsroom_system_message_with_a_link_is_not_an_article(newsroom, message_type):
    url = newsroom.fake.serve_bytes("news/bridge.html", BRIDGE_PAGE.encode(), "text/html")
    notice = await newsroom.fake.send_user_message(
        newsroom.news, newsroom.mod, url, message_type=message_type
    )
    await settled(newsroom)
    assert newsroom.fake.reactions_on(notice) == {}
    assert newsroom.store.count_articles(str(newsroom.guild.id)) == 0


async def test_newsroom_reply_with_a_link_is_indexed(newsroom):
    url = newsroom.fake.serve_bytes("news/bridge.html", BRIDGE_PAGE.encode(), "text/html")
    earlier = await newsroom.fake.send_user_message(newsroom.news, newsroom.mod, "Bridge story coming.")
    posted = await newsroom.fake.send_user_message(newsroom.news, newsroom.mod, url, reply_to=earlier)
    await newsroom.fake.wait_for(lambda: newsroom.fake.reactions_on(posted), description="a reaction")
    assert newsroom.fake.reactions_on(posted) == {"✅": [newsroom.fake.bot_user.id]}


async def test_newsroom_refusal_gets_a_cross_and_a_reason(newsroom):
    url = newsroom.fake.serve_bytes("files/report.pdf", b"%PDF-1.4", "application/pdf")
    posted = await newsroom.fake.send_user_message(newsroom.news, newsroom.mod, url)
    reply = await newsroom.fake.wait_for_message(newsroom.news, replying_to(posted), include_existing=True)
    assert newsroom.fake.reactions_on(posted) == {"❌": [newsroom.fake.bot_user.id]}
    assert (
        reply["content"]
        == f"{url} is application/pdf, not a web page or plain text; save the article's text as a .txt file and add that instead."
    )


async def test_newsroom_link_with_a_malformed_host_name_gets_a_cross_and_a_reason(newsroom):
    posted = await newsroom.fake.send_user_message(newsroom.news, newsroom.mod, "http://xn--.example/")
    reply = await newsroom.fake.wait_for_message(newsroom.news, replying_to(posted), include_existing=True)
    assert newsroom.fake.reactions_on(posted) == {"❌": [newsroom.fake.bot_user.id]}
    assert reply["content"] == "http://xn--.example/ is not a valid link; check it."


BRIDGE_PAGE = (
    "<html><head><title>Bridge closes</title></head><body><article><h1>Bridge closes</h1><p>"
    + "The bridge closes next month for repairs to its deck. " * 4
    + "</p></article></body></html>"
)
PHOTO = b"\xff\xd8\xff\xe0" + b"0" * 100


async def test_newsroom_link_post_with_a_photo_is_indexed(newsroom):
    url = newsroom.fake.serve_bytes("news/bridge.html", BRIDGE_PAGE.encode(), "text/html")
    photo = newsroom.fake.add_attachment("bridge.jpg", PHOTO, "image/jpeg")
    posted = await newsroom.fake.send_user_message(
        newsroom.news, newsroom.mod, f"Bridge closes next month: {url}", attachments=[photo]
    )
    await newsroom.fake.wait_for(lambda: newsroom.fake.reactions_on(posted), description="a reaction")
    assert newsroom.fake.reactions_on(posted) == {"✅": [newsroom.fake.bot_user.id]}
    assert newsroom.store.search("bridge deck repairs", [str(newsroom.guild.id)]).hits[0].article.url == url


async def test_newsroom_text_file_after_a_photo_is_indexed(newsroom):
    photo = newsroom.fake.add_attachment("qin.jpg", PHOTO, "image/jpeg")
    attachment = newsroom.fake.add_attachment("qin.txt", SAMPLE.read_bytes(), "text/plain")
    posted = await newsroom.fake.send_user_message(
        newsroom.news, newsroom.mod, "", attachments=[photo, attachment]
    )
    await newsroom.fake.wait_for(lambda: newsroom.fake.reactions_on(posted), description="a reaction")
    assert newsroom.fake.reactions_on(posted) == {"✅": [newsroom.fake.bot_user.id]}
    hit = newsroom.store.search("what did Qin say about weapons", [str(newsroom.guild.id)]).hits[0]
    assert hit.passage.text.startswith(WEAPONS)


async def test_newsroom_article_text_with_a_photo_is_indexed(newsroom):
    text = "Harbour news. " + "The harbour reopened on Monday after the long winter storm passed by. " * 4
    photo = newsroom.fake.add_attachment("harbour.jpg", PHOTO, "image/jpeg")
    posted = await newsroom.fake.send_user_message(newsroom.news, newsroom.mod, text, attachments=[photo])
    await newsroom.fake.wait_for(lambda: newsroom.fake.reactions_on(posted), description="a reaction")
    assert newsroom.fake.reactions_on(posted) == {"✅": [newsroom.fake.bot_user.id]}
    hit = newsroom.store.search("harbour storm", [str(newsroom.guild.id)]).hits[0]
    assert hit.article.url.endswith(f"/{newsroom.news.id}/{posted['id']}")


async def test_newsroom_photo_alone_gets_a_cross_and_what_to_post(newsroom):
    photo = newsroom.fake.add_attachment("bridge.jpg", PHOTO, "image/jpeg")
    posted = await newsroom.fake.send_user_message(newsroom.news, newsroom.mod, "Look!", attachments=[photo])
    reply = await newsroom.fake.wait_for_message(newsroom.news, replying_to(posted), include_existing=True)
    assert newsroom.fake.reactions_on(posted) == {"❌": [newsroom.fake.bot_user.id]}
    assert reply["content"] == (
        "bridge.jpg is not a .txt, .md or .html file; attach the article as one of those or post its link."
    )
    assert newsroom.store.count_articles(str(newsroom.guild.id)) == 0


async def test_newsroom_link_with_parentheses_is_indexed(newsroom):
    url = newsroom.fake.serve_bytes("wiki/Bridge_(London)", BRIDGE_PAGE.encode(), "text/html")
    posted = await newsroom.fake.send_user_message(newsroom.news, newsroom.mod, f"Background (see {url}).")
    await newsroom.fake.wait_for(lambda: newsroom.fake.reactions_on(posted), description="a reaction")
    assert newsroom.fake.reactions_on(posted) == {"✅": [newsroom.fake.bot_user.id]}
    assert newsroom.store.search("bridge deck repairs", [str(newsroom.guild.id)]).hits[0].article.url == url


def test_links_keep_a_closing_parenthesis_the_link_opened():
    assert links_in("See https://x.test/wiki/Bridge_(London) today") == [
        "https://x.test/wiki/Bridge_(London)"
    ]


def test_links_drop_a_closing_parenthesis_the_link_never_opened():
    assert links_in("(see https://x.test/wiki/Bridge_(London))") == ["https://x.test/wiki/Bridge_(London)"]


def test_links_keep_a_closing_square_bracket_the_link_opened():
    assert links_in("[https://x.test/list?ids[]] and https://x.test/q?a[0]") == [
        "https://x.test/list?ids[]",
        "https://x.test/q?a[0]",
    ]


def test_links_drop_trailing_punctuation():
    assert links_in('Read https://news.test/a. Then https://news.test/b, "https://news.test/c"!') == [
        "https://news.test/a",
        "https://news.test/b",
        "https://news.test/c",
    ]


def test_links_drop_markdown_around_them():
    assert links_in("**https://news.test/bridge** _https://news.test/b_ ||https://news.test/c||") == [
        "https://news.test/bridge",
        "https://news.test/b",
        "https://news.test/c",
    ]


def test_links_drop_code_and_strike_through_around_them():
    assert links_in("`https://news.test/a` ~~https://news.test/b~~ ***https://news.test/c_(d)***") == [
        "https://news.test/a",
        "https://news.test/b",
        "https://news.test/c_(d)",
    ]


def test_links_in_angle_brackets_are_found_without_them():
    assert links_in("No embed: <https://news.test/bridge>.") == ["https://news.test/bridge"]


def test_masked_link_target_is_found_without_its_parenthesis():
    assert links_in("Read [the story](https://news.test/bridge).") == ["https://news.test/bridge"]


def test_a_bare_scheme_is_no_link():
    assert links_in("Links start with https://) or **http://**") == []


# -- newsroom: edits and deletions ---------------------------------------------------------

BUDGET_POST = (
    "Library budget. The council approved a budget of 12 million pounds for the new library on Tuesday. "
    + "Work on the building starts in the spring and should end before the winter comes. " * 2
)
CORRECTED_POST = BUDGET_POST.replace("12 million", "15 million")
REACTION = r"/reactions/.+/@me$"


async def stored_post(world: World, content: str = BUDGET_POST, channel=None) -> dict:
    """A moderator's newsroom post, once the bot reacted ✅ to it."""
    posted = await world.fake.send_user_message(channel or world.news, world.mod, content)
    await world.fake.wait_for(lambda: world.fake.reactions_on(posted), description="a reaction")
    assert world.fake.reactions_on(posted) == {"✅": [world.fake.bot_user.id]}
    return posted


async def settled(world: World) -> None:
    """Wait until the bot handled every event sent so far: a mention's answer comes after them
    (discord.py reads the gateway in order), and then no handler is left running."""
    marker = await world.fake.send_user_message(
        world.general, world.alice, f"{world.fake.bot_user.mention} weapons"
    )
    await world.fake.wait_for_message(world.general, replying_to(marker), include_existing=True)
    assert await world.runner.wait_idle()


def library_texts(world: World) -> list[str]:
    library = str(world.guild.id)
    return [world.store.article_text(library, a.id) for a in world.store.list_articles(library)]


async def test_newsroom_edit_updates_the_quoted_text(newsroom):
    posted = await stored_post(newsroom)
    article = newsroom.store.list_articles(str(newsroom.guild.id))[0]
    requests = len(newsroom.fake.requests)
    await newsroom.fake.edit_user_message(posted, CORRECTED_POST)
    await newsroom.fake.wait_for_request("PUT", REACTION, after=requests)
    answer = await ask(newsroom, "what budget did the council approve for the library")
    quotes = [embed["description"] for embed in answer["embeds"]]
    assert quotes == [
        "> **Library** **budget**. **The** **council** approved a **budget** of 15 million pounds **for**"
        " **the** new **library** on Tuesday. Work on **the** building starts in **the** spring and should"
        " end before **the** winter comes. Work on **the** building starts in **the** spring and should end"
        " before **the** winter comes."
    ]
    assert newsroom.store.search("12 million pounds", [str(newsroom.guild.id)]).hits[0].passage.text == (
        CORRECTED_POST.strip()
    )
    assert [a.id for a in newsroom.store.list_articles(str(newsroom.guild.id))] == [article.id]
    assert library_texts(newsroom) == [CORRECTED_POST.strip()]


async def test_newsroom_edit_of_a_post_older_than_the_message_cache_updates_its_article(newsroom):
    posted = await stored_post(newsroom)
    newsroom.bot._connection._messages.clear()  # the post has left discord.py's message cache
    requests = len(newsroom.fake.requests)
    await newsroom.fake.edit_user_message(posted, CORRECTED_POST)
    await newsroom.fake.wait_for_request("PUT", REACTION, after=requests)
    assert library_texts(newsroom) == [CORRECTED_POST.strip()]


async def test_newsroom_delete_removes_the_article(newsroom):
    posted = await stored_post(newsroom)
    await newsroom.fake.delete_user_message(posted)
    await settled(newsroom)
    assert newsroom.store.count_articles(str(newsroom.guild.id)) == 0
    assert newsroom.store.get_setting(str(newsroom.guild.id), f"newsroom_post:{posted['id']}") is None


async def test_newsroom_bulk_delete_removes_the_articles(newsroom):
    first = await stored_post(newsroom)
    second = await stored_post(newsroom, CORRECTED_POST.replace("Library", "Museum"))
    kept = await stored_post(newsroom, BUDGET_POST.replace("Library", "Bridge"))
    await newsroom.fake.bulk_delete_user_messages(newsroom.news, [first, second])
    await settled(newsroom)
    assert library_texts(newsroom) == [BUDGET_POST.replace("Library", "Bridge").strip()]
    assert newsroom.fake.reactions_on(kept) == {"✅": [newsroom.fake.bot_user.id]}


async def test_newsroom_delete_of_a_link_post_keeps_an_article_the_library_had_before(newsroom):
    url = newsroom.fake.serve_bytes("news/bridge.html", BRIDGE_PAGE.encode(), "text/html")
    library = str(newsroom.guild.id)
    before = newsroom.store.add(read_link_article(url), library).article
    posted = await stored_post(newsroom, f"Worth a read: {url}")
    await newsroom.fake.delete_user_message(posted)
    await settled(newsroom)
    assert [a.id for a in newsroom.store.list_articles(library)] == [before.id]


def read_link_article(url: str) -> Article:
    return Article("Bridge closes", "The bridge closes next month for repairs to its deck. " * 4, url=url)


async def test_newsroom_delete_of_a_link_post_removes_the_article_it_added(newsroom):
    url = newsroom.fake.serve_bytes("news/bridge.html", BRIDGE_PAGE.encode(), "text/html")
    posted = await stored_post(newsroom, f"Worth a read: {url}")
    await newsroom.fake.delete_user_message(posted)
    await settled(newsroom)
    assert newsroom.store.count_articles(str(newsroom.guild.id)) == 0


async def test_newsroom_edit_by_a_member_does_nothing(newsroom):
    posted = await newsroom.fake.send_user_message(newsroom.news, newsroom.alice, "Library budget soon.")
    await newsroom.fake.edit_user_message(posted, BUDGET_POST)
    await settled(newsroom)
    assert newsroom.store.count_articles(str(newsroom.guild.id)) == 0
    assert newsroom.fake.reactions_on(posted) == {}


async def test_newsroom_edit_outside_the_newsroom_does_nothing(newsroom):
    posted = await newsroom.fake.send_user_message(newsroom.general, newsroom.mod, "Library budget soon.")
    await newsroom.fake.edit_user_message(posted, BUDGET_POST)
    await settled(newsroom)
    assert newsroom.store.count_articles(str(newsroom.guild.id)) == 0
    assert newsroom.fake.reactions_on(posted) == {}


async def test_newsroom_link_preview_does_nothing(newsroom):
    url = newsroom.fake.serve_bytes("news/bridge.html", BRIDGE_PAGE.encode(), "text/html")
    posted = await stored_post(newsroom, f"Worth a read: {url}")
    fetches, requests = len(newsroom.fake.file_requests), len(newsroom.fake.requests)
    await newsroom.fake.unfurl_links(posted, [{"type": "link", "url": url, "title": "Bridge closes"}])
    await settled(newsroom)
    assert len(newsroom.fake.file_requests) == fetches
    assert newsroom.fake.requests_to("PUT", REACTION)[-1] is newsroom.fake.requests[requests - 1]
    assert newsroom.fake.messages_in(newsroom.news) == [posted]


async def test_newsroom_link_preview_of_a_post_older_than_the_message_cache_does_nothing(newsroom):
    url = newsroom.fake.serve_bytes("news/bridge.html", BRIDGE_PAGE.encode(), "text/html")
    posted = await stored_post(newsroom, f"Worth a read: {url}")
    await newsroom.fake.edit_user_message(posted, f"Worth a read, on the bridge: {url}")
    await settled(newsroom)
    newsroom.bot._connection._messages.clear()
    fetches = len(newsroom.fake.file_requests)
    await newsroom.fake.unfurl_links(posted, [{"type": "link", "url": url, "title": "Bridge closes"}])
    await settled(newsroom)
    assert len(newsroom.fake.file_requests) == fetches
    assert newsroom.fake.messages_in(newsroom.news) == [posted]


async def test_newsroom_short_post_edited_into_an_article_is_added(newsroom):
    posted = await newsroom.fake.send_user_message(newsroom.news, newsroom.mod, "Library budget: story soon.")
    await newsroom.fake.edit_user_message(posted, BUDGET_POST)
    await newsroom.fake.wait_for(lambda: newsroom.fake.reactions_on(posted), description="a reaction")
    assert newsroom.fake.reactions_on(posted) == {"✅": [newsroom.fake.bot_user.id]}
    assert library_texts(newsroom) == [BUDGET_POST.strip()]


async def test_newsroom_refused_edit_keeps_the_earlier_version_and_says_why(newsroom):
    posted = await stored_post(newsroom)
    url = newsroom.fake.serve_bytes("files/report.pdf", b"%PDF-1.4", "application/pdf")
    await newsroom.fake.edit_user_message(posted, url)
    reply = await newsroom.fake.wait_for_message(newsroom.news, replying_to(posted), include_existing=True)
    assert reply["content"] == (
        f"The library keeps this post's earlier version: {url} is application/pdf, not a web page or"
        " plain text; save the article's text as a .txt file and add that instead."
    )
    await newsroom.fake.wait_for(lambda: "✅" not in newsroom.fake.reactions_on(posted), description="no ✅")
    assert newsroom.fake.reactions_on(posted) == {"❌": [newsroom.fake.bot_user.id]}
    assert library_texts(newsroom) == [BUDGET_POST.strip()]


async def test_newsroom_post_edited_into_a_short_message_loses_its_article(newsroom):
    posted = await stored_post(newsroom)
    await newsroom.fake.edit_user_message(posted, "Story withdrawn.")
    await newsroom.fake.wait_for(lambda: not newsroom.fake.reactions_on(posted), description="no ✅")
    assert newsroom.store.count_articles(str(newsroom.guild.id)) == 0


async def test_newsroom_post_deleted_while_the_newsroom_setting_is_read_leaves_no_article(
    tmp_path, monkeypatch
):
    # The bot has just started: the newsroom channel is read from the database on the first post,
    # slowly (a PostgreSQL server across a network), and the post is deleted meanwhile.
    async with bot_world(tmp_path, message_content=True) as world:
        world.store.set_setting(str(world.guild.id), "newsroom_channel", str(world.news.id))
        get_setting = world.store.get_setting

        def slow_get_setting(library: str, key: str) -> str | None:
            if key == "newsroom_channel":
                threading.Event().wait(0.3)
            return get_setting(library, key)

        monkeypatch.setattr(world.store, "get_setting", slow_get_setting)
        with world.fake.expect_errors(10008):  # the ✅ of a post deleted already
            posted = await world.fake.send_user_message(world.news, world.mod, BUDGET_POST)
            await world.fake.delete_user_message(posted)
            await settled(world)
        assert world.store.count_articles(str(world.guild.id)) == 0


async def test_newsroom_clear_stops_indexing(newsroom):
    inter = await newsroom.fake.invoke_command(
        "newsroom clear", {}, user=newsroom.mod, channel=newsroom.general
    )
    message = await inter.wait_followup()
    assert message["content"] == "The newsroom channel is cleared; posts are no longer indexed."
    assert newsroom.store.get_setting(str(newsroom.guild.id), "newsroom_channel") is None


NEWSROOM_HINT = (
    " A moderator can also pick a newsroom channel with `/newsroom set`, whose posts become articles."
)


async def help_reply(world: World) -> str:
    inter = await world.fake.invoke_command("help", {}, user=world.alice, channel=world.general)
    return (await inter.wait_followup())["content"]


async def test_deleting_the_newsroom_channel_clears_the_setting(newsroom):
    newsroom.guild.delete_channel(newsroom.news)
    await settled(newsroom)
    assert newsroom.store.get_setting(str(newsroom.guild.id), "newsroom_channel") is None
    text = await help_reply(newsroom)
    assert NEWSROOM_HINT in text
    assert f"<#{newsroom.news.id}>" not in text


async def test_deleting_the_newsroom_channel_is_logged(newsroom, caplog):
    caplog.set_level(logging.INFO, logger="bot.cogs.newsroom")
    newsroom.guild.delete_channel(newsroom.news)
    await settled(newsroom)
    assert (
        f"newsroom channel {newsroom.news.id} (#news) of server {newsroom.guild.id} was deleted;"
        " the newsroom setting is cleared"
    ) in [r.getMessage() for r in caplog.records if r.name == "bot.cogs.newsroom"]


async def test_deleting_the_newsroom_channel_keeps_its_articles(newsroom):
    await stored_post(newsroom)
    newsroom.guild.delete_channel(newsroom.news)
    await settled(newsroom)
    assert library_texts(newsroom) == [BUDGET_POST.strip()]


async def test_deleting_the_newsroom_channel_forgets_its_posts(newsroom):
    posted = await stored_post(newsroom)
    newsroom.guild.delete_channel(newsroom.news)
    await settled(newsroom)
    assert newsroom.store.get_setting(str(newsroom.guild.id), f"newsroom_post:{posted['id']}") is None


async def test_a_malformed_post_record_does_not_stop_forgetting_the_others(newsroom):
    posted = await stored_post(newsroom)
    newsroom.store.set_setting(str(newsroom.guild.id), "newsroom_post:1", "not a record")
    newsroom.guild.delete_channel(newsroom.news)
    await settled(newsroom)
    assert newsroom.store.get_setting(str(newsroom.guild.id), f"newsroom_post:{posted['id']}") is None


async def test_deleting_a_former_newsroom_channel_forgets_its_posts(newsroom):
    posted = await stored_post(newsroom)
    inter = await newsroom.fake.invoke_command(
        "newsroom clear", {}, user=newsroom.mod, channel=newsroom.general
    )
    await inter.wait_followup()
    newsroom.guild.delete_channel(newsroom.news)
    await settled(newsroom)
    assert newsroom.store.get_setting(str(newsroom.guild.id), f"newsroom_post:{posted['id']}") is None
    assert library_texts(newsroom) == [BUDGET_POST.strip()]


async def test_deleting_another_channel_keeps_the_newsroom_posts_records(newsroom):
    posted = await stored_post(newsroom)
    newsroom.guild.delete_channel(newsroom.guild.add_text_channel("sports"))
    await settled(newsroom)
    assert newsroom.store.get_setting(str(newsroom.guild.id), f"newsroom_post:{posted['id']}") is not None


async def test_deleting_another_channel_keeps_the_newsroom(newsroom):
    sports = newsroom.guild.add_text_channel("sports")
    newsroom.guild.delete_channel(sports)
    await settled(newsroom)
    assert newsroom.store.get_setting(str(newsroom.guild.id), "newsroom_channel") == str(newsroom.news.id)
    assert f" Articles that moderators post in <#{newsroom.news.id}> are added too." in await help_reply(
        newsroom
    )


async def test_help_shows_a_newsroom_channel_the_server_does_not_have_as_none(world):
    world.store.set_setting(str(world.guild.id), "newsroom_channel", str(world.other_general.id))
    text = await help_reply(world)
    assert NEWSROOM_HINT in text
    assert f"<#{world.other_general.id}>" not in text


async def test_help_shows_a_newsroom_channel_deleted_while_the_bot_was_offline_as_none(tmp_path):
    async with restartable(tmp_path) as (fake, store, general, alice):
        guild = fake.guilds[general.guild_id]
        news = guild.add_text_channel("news")
        store.set_setting(str(guild.id), "newsroom_channel", str(news.id))
        async with start_bot(fake, store, tmp_path):
            inter = await fake.invoke_command("help", {}, user=alice, channel=general)
            before = (await inter.wait_followup())["content"]
        guild.delete_channel(news)
        async with start_bot(fake, store, tmp_path):
            inter = await fake.invoke_command("help", {}, user=alice, channel=general)
            after = (await inter.wait_followup())["content"]
    assert f" Articles that moderators post in <#{news.id}> are added too." in before
    assert NEWSROOM_HINT in after
    assert f"<#{news.id}>" not in after


async def test_newsroom_clear_of_a_deleted_channel_says_none_was_set_and_drops_its_id(world):
    world.store.set_setting(str(world.guild.id), "newsroom_channel", str(world.other_general.id))
    inter = await world.fake.invoke_command("newsroom clear", {}, user=world.mod, channel=world.general)
    message = await inter.wait_followup()
    assert message["content"] == "No newsroom channel was set."
    assert world.store.get_setting(str(world.guild.id), "newsroom_channel") is None


async def test_newsroom_set_to_a_channel_the_bot_cannot_see_is_refused(world):
    world.news.set_permissions(world.fake.bot_role(world.guild), deny=Perm.VIEW_CHANNEL)
    await world.fake.dispatch("CHANNEL_UPDATE", world.news.to_payload())
    inter = await world.fake.invoke_command(
        "newsroom set", {"channel": world.news}, user=world.mod, channel=world.general
    )
    response = await inter.wait_response()
    assert (response["data"]["content"], response["data"]["flags"]) == (
        f"I need View Channel, Send Messages and Add Reactions in <#{world.news.id}> to follow its posts;"
        " allow them for my role there, then run /newsroom set again.",
        EPHEMERAL,
    )
    assert world.store.get_setting(str(world.guild.id), "newsroom_channel") is None


async def test_member_cannot_set_the_newsroom(world):
    inter = await world.fake.invoke_command(
        "newsroom set",
        {"channel": world.news},
        user=world.alice,
        channel=world.general,
        check_permissions=False,
    )
    response = await inter.wait_response()
    assert (
        response["data"]["content"]
        == "Only moderators (with the Manage Messages permission) can do that; ask one of them to do it."
    )
    assert world.store.get_setting(str(world.guild.id), "newsroom_channel") is None


# -- starting ------------------------------------------------------------------------------


def run_bot_process(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m bot` started in `folder` with `env` (and this checkout on the path)."""
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=folder,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
    )


def test_missing_token_ends_with_one_sentence(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    result = run_bot_process(tmp_path, env)
    assert result.returncode == 2
    assert (
        result.stderr
        == "DISCORD_TOKEN is not set; put the bot token in .env or the environment (see .env.example).\n"
    )


def test_learned_ranker_is_off_unless_set():
    assert (
        load_settings(None, {"DISCORD_TOKEN": "t"}).learned,
        load_settings(None, {"DISCORD_TOKEN": "t", "CLIPPINGS_LEARNED": "1"}).learned,
    ) == (False, True)


def test_settings_come_from_env_file_and_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DISCORD_TOKEN=from-file\nCLIPPINGS_DB=file.db\nCLIPPINGS_DEV_GUILD=42\n")
    settings = load_settings(env_file, {"CLIPPINGS_DB": "env.db"})
    assert (settings.token, settings.db_path, settings.dev_guild) == ("from-file", "env.db", 42)
    assert "from-file" not in repr(settings)


async def test_rejected_token_ends_with_one_sentence(tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "RECOGNISABLE.fake.TOKEN-for-tests"
    async with FakeDiscord() as fake:
        with fake.patch_discord(), fake.expect_errors(401):
            code = await serve(settings_for(fake, tmp_path / "bot.db", token=secret))
    assert code == 1
    assert (
        capsys.readouterr().err
        == "Discord rejected DISCORD_TOKEN; copy the bot token again from the developer portal.\n"
    )
    assert secret not in caplog.text


def test_token_with_a_control_character_ends_with_one_sentence_and_exit_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "CLIPPINGS_"))}
    (tmp_path / ".env").write_text('DISCORD_TOKEN="SECRETtok\\nabc"\n')
    result = run_bot_process(tmp_path, env)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "DISCORD_TOKEN has a space, line break or other character that a bot token never has;"
        " copy the token again from the developer portal (Bot > Reset Token).\n"
    )


DEV_GUILD_REFUSED = (
    "The bot is not in server {} (CLIPPINGS_DEV_GUILD), so it cannot sync its commands there; invite it"
    " there with the applications.commands scope, or clear CLIPPINGS_DEV_GUILD.\n"
)


async def test_dev_guild_discord_does_not_know_ends_with_one_sentence_and_exit_2(tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    unknown = 123456789012345678
    async with FakeDiscord() as fake:
        fake.add_guild("Dev")
        with fake.patch_discord(), fake.expect_errors(10004) as refused:
            code = await serve(settings_for(fake, tmp_path / "bot.db", dev_guild=unknown))
    assert code == 2
    assert [(r.status, r.response["code"]) for r in refused] == [(404, 10004)]
    assert capsys.readouterr().err == DEV_GUILD_REFUSED.format(unknown)
    assert "Traceback" not in caplog.text


async def test_dev_guild_the_bot_was_not_invited_to_ends_with_one_sentence_and_exit_2(
    tmp_path, capsys, caplog
):
    caplog.set_level(logging.DEBUG)
    async with FakeDiscord() as fake:
        elsewhere = fake.add_guild("Someone else's server")
        del elsewhere.members[fake.bot_user.id]  # the bot was never invited there
        with fake.patch_discord(), fake.expect_errors(50001) as refused:
            code = await serve(settings_for(fake, tmp_path / "bot.db", dev_guild=elsewhere.id))
    assert code == 2
    assert [(r.status, r.response["code"]) for r in refused] == [(403, 50001)]
    assert capsys.readouterr().err == DEV_GUILD_REFUSED.format(elsewhere.id)
    assert "Traceback" not in caplog.text


TOO_LONG = {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 100 or fewer in length."}]}


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            ApiError(400, 50035, "Invalid Form Body", {"0": {"description": TOO_LONG}}),
            "400 Bad Request, error code 50035: Invalid Form Body; In command 'ask' defined in function"
            " 'AskCog.ask'; description: Must be 100 or fewer in length",
        ),
        (
            ApiError(400, 30032, "Maximum number of application commands reached (100)"),
            "400 Bad Request, error code 30032: Maximum number of application commands reached (100)",
        ),
    ],
    ids=["invalid-form-body", "too-many-commands"],
)
async def test_commands_discord_refuses_end_with_one_sentence_naming_its_error_and_exit_1(
    tmp_path, capsys, caplog, error, said
):
    caplog.set_level(logging.DEBUG)
    async with FakeDiscord() as fake:
        fake.refuse_command_sync(error)
        with fake.patch_discord(), fake.expect_errors(error.code) as refused:
            code = await serve(settings_for(fake, tmp_path / "bot.db"))
    assert code == 1
    assert [(r.method, r.status) for r in refused] == [("PUT", 400)]
    assert capsys.readouterr().err == (
        f"Discord refused the bot's slash commands ({said}); upgrade Clippings, or report this line to"
        " its developers.\n"
    )
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(
    ("setting", "value", "sentence"),
    [
        (
            "CLIPPINGS_LOG_LEVEL",
            "verbose",
            "CLIPPINGS_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not 'VERBOSE';"
            " fix it in .env or the environment.",
        ),
        (
            "CLIPPINGS_MAX_FETCH_BYTES",
            "0",
            "CLIPPINGS_MAX_FETCH_BYTES must be a number of bytes, a whole number from 1 to 1073741824,"
            " not '0'; fix it in .env or the environment.",
        ),
        (
            "CLIPPINGS_ASK_COOLDOWN",
            "soon",
            "CLIPPINGS_ASK_COOLDOWN must be a number of seconds, 0 or more (such as 5 or 2.5), not 'soon';"
            " fix it in .env or the environment.",
        ),
    ],
)
def test_bad_setting_is_one_sentence(setting, value, sentence):
    with pytest.raises(SettingsError) as refused:
        load_settings(None, {"DISCORD_TOKEN": "t", setting: value})
    assert str(refused.value) == sentence


# -- /help ----------------------------------------------------------------------------------------


async def test_help_is_private_and_counts_this_servers_articles(world):
    world.store.add(sample(), str(world.guild.id))
    world.store.add(Article("Harbour", "The harbour reopened on Monday after the storm."), "global")
    inter = await world.fake.invoke_command("help", {}, user=world.alice, channel=world.general)
    message = await inter.wait_followup()
    assert message["flags"] & EPHEMERAL
    assert (
        "**Articles**: This server has 1 article; I also read the global library (1 article)."
        in (message["content"])
    )
    assert "moderators (members with the Manage Messages permission)" in message["content"]


async def test_help_names_the_newsroom_channel_once_set(world):
    world.store.set_setting(str(world.guild.id), "newsroom_channel", str(world.news.id))
    inter = await world.fake.invoke_command("help", {}, user=world.alice, channel=world.general)
    message = await inter.wait_followup()
    assert f"Articles that moderators post in <#{world.news.id}> are added too." in message["content"]


# -- staying up -----------------------------------------------------------------------------------


async def serve_until_ready(fake: FakeDiscord, settings: Settings) -> tuple[asyncio.Task, Supervisor]:
    handed = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(settings, handed))
    supervisor = await handed
    await fake.wait_for(
        lambda: task.done() or (supervisor.bot is not None and supervisor.bot.is_ready()),
        description="the bot to be ready",
    )
    assert not task.done()
    return task, supervisor


def tries(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot" and "trying again" in r.getMessage()]


async def test_bot_tries_again_with_growing_delays_until_discord_answers(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="bot")
    async with FakeDiscord() as fake:
        fake.add_guild("Dev")
        fake.refuse_next(6)  # aiohttp tries a GET twice, so this is three failed logins
        settings = settings_for(fake, tmp_path / "bot.db", reconnect_delay=0.01, reconnect_max_delay=0.02)
        with fake.patch_discord():
            task, supervisor = await serve_until_ready(fake, settings)
            supervisor.stop()
            code = await task
    assert (code, len(fake.refused), fake.identify_count) == (0, 6, 1)
    assert [m.split("; ")[1] for m in tries(caplog)] == [
        "trying again in 0.01 s (try 1)",
        "trying again in 0.02 s (try 2)",
        "trying again in 0.02 s (try 3)",
    ]
    assert all(m.startswith("Could not reach Discord (ServerDisconnectedError") for m in tries(caplog))


async def test_bot_comes_back_after_losing_the_network_later(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="bot")
    async with FakeDiscord() as fake:
        fake.add_guild("Dev")
        settings = settings_for(fake, tmp_path / "bot.db", reconnect_delay=0.01, reconnect_max_delay=1.0)
        with fake.patch_discord():
            task, supervisor = await serve_until_ready(fake, settings)
            first = supervisor.bot
            fake.refuse_next(4)  # the resume, then the next login (aiohttp tries each GET twice)
            await fake.drop_connection(4000)
            await fake.wait_for(
                lambda: supervisor.bot is not first and supervisor.bot.is_ready(),
                description="a new connection",
            )
            supervisor.stop()
            code = await task
    assert (code, len(fake.refused), fake.identify_count) == (0, 4, 2)
    assert [m.split(" (")[0] for m in tries(caplog)] == [
        "Lost the connection to Discord",
        "Could not reach Discord",
    ]
    assert [m.split("; ")[1] for m in tries(caplog)] == [
        "trying again in 0.01 s (try 1)",
        "trying again in 0.02 s (try 2)",
    ]


async def test_rejected_token_is_not_tried_again(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="bot")
    async with FakeDiscord() as fake:
        with fake.patch_discord(), fake.expect_errors(401):
            code = await serve(settings_for(fake, tmp_path / "bot.db", token="wrong", reconnect_delay=0.01))
        logins = fake.requests_to("GET", "/users/@me")
    assert (code, len(logins), tries(caplog)) == (1, 1, [])


async def test_refused_message_content_intent_is_not_tried_again(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="bot")
    async with FakeDiscord(privileged_intents=0) as fake:
        settings = settings_for(fake, tmp_path / "bot.db", message_content=True, reconnect_delay=0.01)
        with fake.patch_discord():
            code = await serve(settings)
    assert (code, tries(caplog)) == (1, [])
    assert capsys.readouterr().err == (
        "Discord refused the Message Content intent; enable it in the developer portal or set"
        " CLIPPINGS_MESSAGE_CONTENT=0.\n"
    )
