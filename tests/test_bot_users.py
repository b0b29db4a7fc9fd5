"""What members and moderators meet in everyday use, against the Discord fake: over-long values in
options, links as Discord users paste them, newsroom posts that mention the bot, direct messages."""

from __future__ import annotations

import pytest
from test_bot import EPHEMERAL, bot_world


@pytest.fixture
async def world(tmp_path):
    async with bot_world(tmp_path) as w:
        yield w


async def test_refusal_of_an_option_too_long_to_quote_whole_still_reaches_the_moderator(world):
    inter = await world.fake.invoke_command(
        "article remove", {"article": "9" * 2100}, user=world.mod, channel=world.general
    )
    message = await inter.wait_followup()
    assert message["flags"] & EPHEMERAL
    assert message["content"] == "'" + "9" * 1998 + "…"


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
