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
