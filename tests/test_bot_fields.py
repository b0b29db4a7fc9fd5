"""The field rules and article identity through the bot's /article add (issue 12 case 9, issue 15
point 1), against the Discord fake."""

from __future__ import annotations

from test_bot import EPHEMERAL, bot_world

PAGE = (
    "<html><head><title>Dam opens</title></head><body><article><h1>Dam opens</h1><p>"
    + "The new dam opened on Tuesday after {years} years of building. " * 4
    + "</p></article></body></html>"
)


async def test_article_add_of_a_link_that_is_not_http_is_refused(tmp_path):
    async with bot_world(tmp_path) as world:
        inter = await world.fake.invoke_command(
            "article add", {"url": "javascript:alert(1)"}, user=world.mod, channel=world.general
        )
        message = await inter.wait_followup()
        assert message["flags"] & EPHEMERAL
        assert (
            message["content"]
            == "javascript:alert(1) is not a web link; give a link that starts with https://."
        )
        assert world.store.count_articles(str(world.guild.id)) == 0


async def test_article_add_says_updated_when_a_page_is_re_fetched(tmp_path):
    async with bot_world(tmp_path) as world:
        url = world.fake.serve_bytes(
            "news/dam.html", PAGE.format(years=10).encode(), "text/html; charset=utf-8"
        )
        inter = await world.fake.invoke_command(
            "article add", {"url": url}, user=world.mod, channel=world.general
        )
        assert (await inter.wait_followup())["content"] == "Added **Dam opens** (article #1, 1 passage)."
        world.fake.serve_bytes("news/dam.html", PAGE.format(years=11).encode(), "text/html; charset=utf-8")
        inter = await world.fake.invoke_command(
            "article add", {"url": url}, user=world.mod, channel=world.general
        )
        assert (await inter.wait_followup())["content"] == "Updated **Dam opens** (article #1, 1 passage)."
        assert world.store.count_articles(str(world.guild.id)) == 1


async def test_article_add_with_a_title_of_control_characters_stores_it_on_one_line(tmp_path):
    async with bot_world(tmp_path) as world:
        url = world.fake.serve_bytes(
            "news/dam.html", PAGE.format(years=10).encode(), "text/html; charset=utf-8"
        )
        inter = await world.fake.invoke_command(
            "article add", {"url": url, "title": "Dam\topens\x07now"}, user=world.mod, channel=world.general
        )
        assert (await inter.wait_followup())["content"] == "Added **Dam opens now** (article #1, 1 passage)."


async def test_article_add_of_a_link_with_a_capitalised_scheme_adds_the_page(tmp_path):
    # Phone keyboards capitalise the first letter of the field: "Http://..." is still a web link.
    async with bot_world(tmp_path) as world:
        url = world.fake.serve_bytes(
            "news/dam.html", PAGE.format(years=10).encode(), "text/html; charset=utf-8"
        )
        assert url.startswith("http://")
        inter = await world.fake.invoke_command(
            "article add", {"url": "H" + url[1:]}, user=world.mod, channel=world.general
        )
        assert (await inter.wait_followup())["content"] == "Added **Dam opens** (article #1, 1 passage)."
        assert world.store.list_articles(str(world.guild.id))[0].url == url
