"""The bot in threads and forum channels, against the Discord fake: questions asked in public and
private threads and in forum posts are answered there, and a forum channel can be the newsroom,
each post (its starter message) an article."""

from __future__ import annotations

import pytest
from test_bot import (
    BUDGET_POST,
    CORRECTED_POST,
    EPHEMERAL,
    REACTION,
    WEAPONS_QUOTE,
    World,
    bot_world,
    buttons,
    library_texts,
    replying_to,
    sample,
    settled,
    stored_post,
)

from tests.discord_fake import Perm

QUESTION = "what did Qin say about weapons"


@pytest.fixture
async def world(tmp_path):
    async with bot_world(tmp_path) as w:
        w.store.add(sample(), "global")
        yield w


async def mention(world: World, channel, question: str = QUESTION) -> dict:
    """A member's mention of the bot in `channel`, and the bot's reply."""
    posted = await world.fake.send_user_message(
        channel, world.alice, f"{world.fake.bot_user.mention} {question}"
    )
    return await world.fake.wait_for_message(channel, replying_to(posted), include_existing=True)


async def deny(world: World, channel, permissions: int) -> None:
    """Deny `permissions` to everyone and to the bot's role in `channel`, and tell the bot."""
    channel.set_permissions(world.fake.bot_role(world.guild), deny=permissions)
    channel.set_permissions(world.guild.everyone_role, deny=permissions)
    await world.fake.dispatch("CHANNEL_UPDATE", channel.to_payload())


async def known(world: World, channel) -> None:
    """Wait until discord.py cached the channel or thread."""
    guild = world.bot.get_guild(world.guild.id)
    await world.fake.wait_for(lambda: guild.get_channel_or_thread(channel.id), description="the channel")


# -- questions in threads ---------------------------------------------------------------------------


async def test_ask_in_a_thread_is_answered_in_the_thread(world):
    thread = await world.fake.start_thread(world.general, world.alice, "questions")
    inter = await world.fake.invoke_command("ask", {"question": QUESTION}, user=world.alice, channel=thread)
    answer = await inter.wait_followup()
    assert answer["channel_id"] == str(thread.id)
    assert answer["embeds"][0]["description"].startswith(WEAPONS_QUOTE)


async def test_mention_in_a_public_thread_is_answered_in_the_thread(world):
    thread = await world.fake.start_thread(world.general, world.alice, "questions")
    reply = await mention(world, thread)
    assert reply["embeds"][0]["description"].startswith(WEAPONS_QUOTE)


async def test_mention_in_a_private_thread_is_answered_in_the_thread(world):
    thread = await world.fake.start_thread(world.general, world.alice, "secret", private=True)
    reply = await mention(world, thread)
    assert reply["embeds"][0]["description"].startswith(WEAPONS_QUOTE)


async def test_mention_in_an_archived_thread_is_answered_in_the_thread(world):
    thread = await world.fake.start_thread(world.general, world.alice, "old questions")
    await world.fake.archive_thread(thread)
    reply = await mention(world, thread)
    assert reply["embeds"][0]["description"].startswith(WEAPONS_QUOTE)
    assert not thread.archived


async def test_mention_in_a_thread_is_answered_where_only_sending_in_threads_is_allowed(world):
    await deny(world, world.general, Perm.SEND_MESSAGES)
    thread = await world.fake.start_thread(world.general, world.alice, "questions")
    reply = await mention(world, thread)
    assert reply["embeds"][0]["description"].startswith(WEAPONS_QUOTE)


async def test_mention_in_a_thread_without_embed_links_says_what_to_allow(world):
    await deny(world, world.general, Perm.EMBED_LINKS)
    thread = await world.fake.start_thread(world.general, world.alice, "questions")
    reply = await mention(world, thread)
    assert reply["content"] == (
        "I can't show quotes in this channel without the Embed Links permission; a moderator can allow it"
        " for my role here."
    )


async def test_context_button_in_a_thread_shows_the_passages_to_the_asker(world):
    thread = await world.fake.start_thread(world.general, world.alice, "questions")
    inter = await world.fake.invoke_command("ask", {"question": QUESTION}, user=world.alice, channel=thread)
    answer = await inter.wait_followup()
    click = await world.fake.click_button(answer, buttons(answer)["Context 1"], user=world.alice)
    shown = await click.wait_followup()
    assert (shown["channel_id"], shown["flags"] & EPHEMERAL) == (str(thread.id), EPHEMERAL)
    assert WEAPONS_QUOTE[2:].replace("**", "") in shown["embeds"][0]["description"].replace("**", "")


async def test_mention_in_a_forum_post_is_answered_in_the_post(world):
    forum = world.guild.add_forum_channel("help")
    thread, _ = await world.fake.create_forum_post(forum, world.alice, "Qin", "A question about Qin.")
    reply = await mention(world, thread)
    assert reply["embeds"][0]["description"].startswith(WEAPONS_QUOTE)


# -- a forum channel as the newsroom -------------------------------------------------------------


@pytest.fixture
async def forum_newsroom(tmp_path):
    async with bot_world(tmp_path, message_content=True) as world:
        forum = world.guild.add_forum_channel("articles", tags=["local"])
        await known(world, forum)
        inter = await world.fake.invoke_command(
            "newsroom set", {"channel": forum}, user=world.mod, channel=world.general
        )
        message = await inter.wait_followup()
        assert message["content"] == (
            f"Articles that moderators post in <#{forum.id}> will be added to this server's library."
        )
        world.news = forum
        yield world


async def forum_post(world: World, content: str = BUDGET_POST, name: str = "Library budget approved"):
    thread, starter = await world.fake.create_forum_post(world.news, world.mod, name, content)
    await world.fake.wait_for(lambda: world.fake.reactions_on(starter), description="a reaction")
    assert world.fake.reactions_on(starter) == {"✅": [world.fake.bot_user.id]}
    return thread, starter


async def test_newsroom_forum_post_becomes_an_article_titled_by_the_post(forum_newsroom):
    await forum_post(forum_newsroom)
    articles = forum_newsroom.store.list_articles(str(forum_newsroom.guild.id))
    assert [a.title for a in articles] == ["Library budget approved"]
    assert library_texts(forum_newsroom) == [BUDGET_POST.strip()]


async def test_newsroom_forum_reply_is_not_an_article(forum_newsroom):
    thread, _ = await forum_post(forum_newsroom)
    reply = await forum_newsroom.fake.send_user_message(thread, forum_newsroom.mod, CORRECTED_POST)
    await settled(forum_newsroom)
    assert forum_newsroom.fake.reactions_on(reply) == {}
    assert library_texts(forum_newsroom) == [BUDGET_POST.strip()]


async def test_newsroom_forum_post_edit_updates_its_article(forum_newsroom):
    _, starter = await forum_post(forum_newsroom)
    requests = len(forum_newsroom.fake.requests)
    await forum_newsroom.fake.edit_user_message(starter, CORRECTED_POST)
    await forum_newsroom.fake.wait_for_request("PUT", REACTION, after=requests)
    assert library_texts(forum_newsroom) == [CORRECTED_POST.strip()]


async def test_renamed_newsroom_forum_post_retitles_its_article(forum_newsroom):
    thread, _ = await forum_post(forum_newsroom)
    await forum_newsroom.fake.rename_thread(thread, "Library budget approved 7-2")
    guild = str(forum_newsroom.guild.id)
    await forum_newsroom.fake.wait_for(
        lambda: forum_newsroom.store.list_articles(guild)[0].title == "Library budget approved 7-2",
        description="the article retitled",
    )
    assert library_texts(forum_newsroom) == [BUDGET_POST.strip()]


async def test_newsroom_forum_starter_message_deleted_removes_its_article(forum_newsroom):
    _, starter = await forum_post(forum_newsroom)
    await forum_newsroom.fake.delete_user_message(starter)
    await settled(forum_newsroom)
    assert forum_newsroom.store.count_articles(str(forum_newsroom.guild.id)) == 0


async def test_newsroom_forum_post_deleted_removes_its_article(forum_newsroom):
    thread, starter = await forum_post(forum_newsroom)
    await forum_newsroom.fake.delete_thread(thread)
    await settled(forum_newsroom)
    assert forum_newsroom.store.count_articles(str(forum_newsroom.guild.id)) == 0
    guild = str(forum_newsroom.guild.id)
    assert forum_newsroom.store.get_setting(guild, f"newsroom_post:{starter['id']}") is None


async def test_deleting_the_newsroom_forum_keeps_its_posts_articles(forum_newsroom):
    await forum_post(forum_newsroom)
    forum_newsroom.guild.delete_channel(forum_newsroom.news)
    await settled(forum_newsroom)
    assert library_texts(forum_newsroom) == [BUDGET_POST.strip()]
    assert forum_newsroom.store.get_setting(str(forum_newsroom.guild.id), "newsroom_channel") is None


async def test_deleting_the_newsroom_forum_forgets_its_posts(forum_newsroom):
    _, starter = await forum_post(forum_newsroom)
    forum_newsroom.guild.delete_channel(forum_newsroom.news)
    await settled(forum_newsroom)
    guild = str(forum_newsroom.guild.id)
    assert forum_newsroom.store.get_setting(guild, f"newsroom_post:{starter['id']}") is None


async def test_newsroom_set_refuses_a_forum_where_the_bot_may_not_send_in_threads(world):
    forum = world.guild.add_forum_channel("articles")
    await known(world, forum)
    await deny(world, forum, Perm.SEND_MESSAGES_IN_THREADS)
    inter = await world.fake.invoke_command(
        "newsroom set", {"channel": forum}, user=world.mod, channel=world.general
    )
    response = await inter.wait_response()
    assert (response["data"]["content"], response["data"]["flags"]) == (
        f"I need Send Messages in Threads in <#{forum.id}> to follow its posts; allow it for my role there,"
        " then run /newsroom set again.",
        EPHEMERAL,
    )


# -- a text newsroom whose posts have threads ------------------------------------------------------


@pytest.fixture
async def newsroom(tmp_path):
    async with bot_world(tmp_path, message_content=True) as world:
        inter = await world.fake.invoke_command(
            "newsroom set", {"channel": world.news}, user=world.mod, channel=world.general
        )
        await inter.wait_followup()
        yield world


async def test_newsroom_reply_in_a_posts_thread_is_not_an_article(newsroom):
    posted = await stored_post(newsroom)
    thread = await newsroom.fake.start_thread(newsroom.news, newsroom.mod, "Budget", message=posted)
    reply = await newsroom.fake.send_user_message(thread, newsroom.mod, CORRECTED_POST)
    await settled(newsroom)
    assert newsroom.fake.reactions_on(reply) == {}
    assert library_texts(newsroom) == [BUDGET_POST.strip()]


async def test_deleting_the_thread_of_a_newsroom_post_keeps_its_article(newsroom):
    posted = await stored_post(newsroom)
    thread = await newsroom.fake.start_thread(newsroom.news, newsroom.mod, "Budget", message=posted)
    await known(newsroom, thread)
    await newsroom.fake.delete_thread(thread)
    await settled(newsroom)
    assert library_texts(newsroom) == [BUDGET_POST.strip()]
