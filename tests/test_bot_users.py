"""What members and moderators meet in everyday use, against the Discord fake: over-long values in
options, links as Discord users paste them, newsroom posts that mention the bot, direct messages."""

from __future__ import annotations

import pytest
from test_bot import EPHEMERAL, bot_world, replying_to, sample

from tests.discord_fake import Perm


@pytest.fixture
async def world(tmp_path):
    async with bot_world(tmp_path) as w:
        yield w


async def test_refusal_of_an_option_too_long_to_quote_whole_names_its_start(world):
    inter = await world.fake.invoke_command(
        "article remove", {"article": "9" * 2100}, user=world.mod, channel=world.general
    )
    message = await inter.wait_followup()
    assert message["flags"] & EPHEMERAL
    assert (
        message["content"] == "'" + "9" * 59 + "…' is not an article id; use `/article list` to see the ids."
    )


async def test_a_long_text_that_is_not_a_link_is_refused_with_its_start(world):
    inter = await world.fake.invoke_command(
        "article add", {"url": "x" * 2100}, user=world.mod, channel=world.general
    )
    message = await inter.wait_followup()
    assert message["content"] == ("x" * 99 + "… is not a web link; give a link that starts with https://.")


DAM_PAGE = (
    "<html><head><title>Dam opens</title></head><body><article><h1>Dam opens</h1><p>"
    + "The new dam opened on Tuesday after ten years of building. " * 4
    + "</p></article></body></html>"
)


async def test_article_add_takes_a_link_in_the_angle_brackets_that_stop_discords_preview(world):
    url = world.fake.serve_bytes("news/dam.html", DAM_PAGE.encode(), "text/html")
    inter = await world.fake.invoke_command(
        "article add", {"url": f"<{url}>"}, user=world.mod, channel=world.general
    )
    message = await inter.wait_followup()
    assert message["content"] == "Added **Dam opens** (article #1, 1 passage)."


async def test_paste_form_takes_a_link_in_angle_brackets(world):
    inter = await world.fake.invoke_command("article add", {}, user=world.mod, channel=world.general)
    await inter.wait_response()
    ids = [c["components"][0]["custom_id"] for c in inter.modal["components"]]
    values = [
        "Harbour news",
        " <https://news.example/harbour> ",
        "The harbour reopened on Monday after the storm passed.",
    ]
    submit = await world.fake.submit_modal(inter, dict(zip(ids, values, strict=True)), user=world.mod)
    message = await submit.wait_followup()
    assert message["content"] == "Added **Harbour news** (article #1, 1 passage)."
    assert world.store.list_articles(str(world.guild.id))[0].url == "https://news.example/harbour"


async def set_newsroom(world) -> None:
    inter = await world.fake.invoke_command(
        "newsroom set", {"channel": world.news}, user=world.mod, channel=world.general
    )
    await inter.wait_followup()


@pytest.fixture
async def newsroom(world):
    """The world with #news as its newsroom, and the bot without the Message Content intent: so
    moderators mention the bot in their posts, as /newsroom set tells them."""
    await set_newsroom(world)
    return world


async def test_newsroom_link_post_that_mentions_the_bot_is_indexed_and_not_answered(newsroom):
    url = newsroom.fake.serve_bytes("news/dam.html", DAM_PAGE.encode(), "text/html")
    posted = await newsroom.fake.send_user_message(
        newsroom.news, newsroom.mod, f"{newsroom.fake.bot_user.mention} {url}"
    )
    await newsroom.fake.wait_for(lambda: newsroom.fake.reactions_on(posted), description="a reaction")
    await newsroom.runner.wait_idle()
    assert newsroom.fake.reactions_on(posted) == {"✅": [newsroom.fake.bot_user.id]}
    assert [m["id"] for m in newsroom.fake.messages_in(newsroom.news)] == [posted["id"]]


async def test_newsroom_file_post_that_mentions_the_bot_is_not_asked_for_a_question(newsroom):
    story = b"The harbour reopened on Monday after the storm passed. " * 5
    attachment = newsroom.fake.add_attachment("harbour.txt", story, "text/plain")
    posted = await newsroom.fake.send_user_message(
        newsroom.news, newsroom.mod, newsroom.fake.bot_user.mention, attachments=[attachment]
    )
    await newsroom.fake.wait_for(lambda: newsroom.fake.reactions_on(posted), description="a reaction")
    await newsroom.runner.wait_idle()
    assert [m["id"] for m in newsroom.fake.messages_in(newsroom.news)] == [posted["id"]]


HARBOUR_STORY = "The harbour reopened on Monday after the storm passed, the mayor said. " * 4


async def stored_post(world, mention: str) -> tuple[str, str]:
    """The title and text stored from a newsroom post of HARBOUR_STORY under a headline, after `mention`."""
    posted = await world.fake.send_user_message(
        world.news, world.mod, f"{mention} Harbour reopens\n{HARBOUR_STORY}"
    )
    await world.fake.wait_for(lambda: world.fake.reactions_on(posted), description="a reaction")
    library = str(world.guild.id)
    stored = world.store.list_articles(library)[0]
    return stored.title, world.store.article_text(library, stored.id)


async def test_newsroom_text_post_that_mentions_the_bot_is_stored_without_the_mention(newsroom):
    assert await stored_post(newsroom, newsroom.fake.bot_user.mention) == (
        "Harbour reopens",
        f"Harbour reopens\n{HARBOUR_STORY.strip()}",
    )


async def test_newsroom_text_post_that_mentions_the_bots_role_is_stored_without_the_mention(tmp_path):
    async with bot_world(tmp_path, message_content=True) as world:  # a role's mention shows no content else
        await set_newsroom(world)
        assert await stored_post(world, world.fake.bot_role(world.guild).mention) == (
            "Harbour reopens",
            f"Harbour reopens\n{HARBOUR_STORY.strip()}",
        )


async def test_newsroom_text_post_is_stored_without_its_markdown(newsroom):
    story = "The harbour **reopened** on Monday after the storm passed, the ||mayor|| said. " * 4
    mention = newsroom.fake.bot_user.mention  # the fixture's bot reads posts that mention it
    posted = await newsroom.fake.send_user_message(
        newsroom.news, newsroom.mod, f"{mention}\n# Harbour reopens\n{story}"
    )
    await newsroom.fake.wait_for(lambda: newsroom.fake.reactions_on(posted), description="a reaction")
    library = str(newsroom.guild.id)
    stored = newsroom.store.list_articles(library)[0]
    assert stored.title == "Harbour reopens"
    assert (
        newsroom.store.article_text(library, stored.id)
        == ("The harbour reopened on Monday after the storm passed, the mayor said. " * 4).strip()
    )


async def test_moderators_question_in_the_newsroom_is_answered(newsroom):
    newsroom.store.add(sample(), "global")
    posted = await newsroom.fake.send_user_message(
        newsroom.news, newsroom.mod, f"{newsroom.fake.bot_user.mention} what did Qin say about weapons"
    )
    reply = await newsroom.fake.wait_for_message(newsroom.news, replying_to(posted), include_existing=True)
    assert reply["content"] == "Results 1–3 for “what did Qin say about weapons”"


async def test_question_in_direct_messages_is_answered_without_a_mention(world):
    world.store.add(sample(), "global")
    dm = world.fake.dm_channel(world.alice)
    posted = await world.fake.send_user_message(dm, world.alice, "what did Qin say about weapons")
    reply = await world.fake.wait_for_message(dm, replying_to(posted), include_existing=True)
    assert reply["content"] == "Results 1–3 for “what did Qin say about weapons”"


async def test_newsroom_refusal_still_says_why_where_the_bot_may_not_react(newsroom):
    newsroom.news.set_permissions(newsroom.fake.bot_role(newsroom.guild), deny=Perm.ADD_REACTIONS)
    url = newsroom.fake.serve_bytes("files/report.pdf", b"%PDF-1.4", "application/pdf")
    with newsroom.fake.expect_errors(50013):
        posted = await newsroom.fake.send_user_message(
            newsroom.news, newsroom.mod, f"{newsroom.fake.bot_user.mention} {url}"
        )
        reply = await newsroom.fake.wait_for_message(
            newsroom.news, replying_to(posted), include_existing=True
        )
    assert (
        reply["content"]
        == f"{url} is application/pdf, not a web page or plain text; save the article's text as a .txt file and add that instead."
    )


async def test_article_add_with_a_blank_title_is_refused_before_fetching(world):
    url = world.fake.serve_bytes("news/dam.html", DAM_PAGE.encode(), "text/html")
    inter = await world.fake.invoke_command(
        "article add", {"url": url, "title": " \u200b "}, user=world.mod, channel=world.general
    )
    response = await inter.wait_response()
    assert (response["type"], response["data"]["flags"]) == (4, EPHEMERAL)
    assert response["data"]["content"] == (
        "The title has nothing to show; give one with letters, or leave it out to keep the article's own."
    )
    assert world.fake.file_requests == []


async def test_paste_form_with_an_invisible_title_takes_the_texts_opening_words(world):
    inter = await world.fake.invoke_command("article add", {}, user=world.mod, channel=world.general)
    await inter.wait_response()
    ids = [c["components"][0]["custom_id"] for c in inter.modal["components"]]
    values = ["\u200b", "", "The harbour reopened on Monday after the storm passed."]
    submit = await world.fake.submit_modal(inter, dict(zip(ids, values, strict=True)), user=world.mod)
    message = await submit.wait_followup()
    assert message["content"] == (
        "Added **The harbour reopened on Monday after the storm passed.** (article #1, 1 passage)."
    )


async def test_mention_without_searchable_words_does_not_count_against_the_cooldown(tmp_path):
    async with bot_world(tmp_path, ask_cooldown=60.0) as world:
        world.store.add(sample(), "global")
        mention = world.fake.bot_user.mention
        wordless = await world.fake.send_user_message(world.general, world.alice, f"{mention} ?!")
        refusal = await world.fake.wait_for_message(
            world.general, replying_to(wordless), include_existing=True
        )
        assert refusal["content"] == "That question has no words to search for; ask with a few key words."
        posted = await world.fake.send_user_message(world.general, world.alice, f"{mention} weapons")
        reply = await world.fake.wait_for_message(world.general, replying_to(posted), include_existing=True)
        assert reply["content"] == "Results 1–2 for “weapons”"
