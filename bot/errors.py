"""One place that turns errors into replies: expected ones get an ephemeral sentence, the rest an apology."""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any

import discord
from discord import app_commands

from index import ClippingsError, NotFound

from .formatting import CONTENT_LIMIT, cooldown_sentence, truncate

log = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on my side. It has been logged; please try again later."


class UserError(ClippingsError):
    """A mistake in how a command was used; the message says what to do instead."""


def _clippings_sentence(error: BaseException | None) -> str | None:
    """A Clippings error's sentence as the bot says it; None for any other error."""
    if isinstance(error, NotFound):
        return error.listing("/article list")  # the CLI's sentence names its own `list`
    if isinstance(error, ClippingsError):
        return str(error)
    return None


def describe(error: BaseException) -> str | None:
    """The sentence to show for an expected error, or None for a bug."""
    if isinstance(error, app_commands.CommandInvokeError | app_commands.TransformerError):
        inner = error.__cause__ if isinstance(error, app_commands.TransformerError) else error.original
        said = _clippings_sentence(inner)
        if said is None and isinstance(error, app_commands.TransformerError):
            said = f"{error.value!r} is not a valid {error.type.name.lower()}; check that option."
        return said
    said = _clippings_sentence(error)
    if said is not None:
        return said
    if isinstance(error, app_commands.CommandOnCooldown):
        return cooldown_sentence(error.retry_after)
    if isinstance(error, app_commands.MissingPermissions):
        return "Only moderators (with the Manage Messages permission) can do that; ask one of them to do it."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "That command works in a server, not in direct messages; use it in a channel of your server."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use that here; ask a moderator of this server if you need it."
    return None


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Reply privately, whether or not the interaction was already answered or deferred; a sentence
    that quotes an over-long value is cut to Discord's 2000 characters rather than refused by it."""
    text = truncate(text, CONTENT_LIMIT)
    try:
        if interaction.response.type == discord.InteractionResponseType.deferred_channel_message:
            # Errors come before the answer: a public "thinking..." message would carry the error to
            # everyone, so it is replaced by a private one.
            with contextlib.suppress(discord.HTTPException):
                await interaction.delete_original_response()
            await interaction.followup.send(text, ephemeral=True)
        elif interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not send an error reply for interaction %s", interaction.id, exc_info=True)


async def reply_to(message: discord.Message, content: str | None = None, **fields: Any) -> discord.Message:
    """Reply to a member's message; where the bot may send but not read the channel's history (which
    a reply needs), send the same message to the channel, after the asker's name (never a ping).
    A message deleted meanwhile (by its author, a moderator or AutoMod) gets its answer all the
    same, without the reply's link: Discord refuses (400) a reply to a message that is gone."""
    reference = message.to_reference(fail_if_not_exists=False)
    try:
        return await message.channel.send(content, reference=reference, **fields)
    except discord.Forbidden:
        log.warning(
            "cannot reply in channel %s (Read Message History denied?); sending instead", message.channel.id
        )
        return await message.channel.send(
            truncate(
                f"{message.author.mention} {content}" if content else message.author.mention, CONTENT_LIMIT
            ),
            allowed_mentions=discord.AllowedMentions.none(),
            **fields,
        )


async def handle_interaction_error(interaction: discord.Interaction, error: BaseException) -> None:
    """The central error handler for commands, buttons, modals and context menus."""
    sentence = describe(error)
    if sentence is None:
        command = interaction.command.qualified_name if interaction.command else interaction.data
        log.error("unexpected error in %s", command, exc_info=error)
        sentence = APOLOGY
    else:
        log.info("refused interaction %s: %s", interaction.id, sentence)
    await send_ephemeral(interaction, sentence)


async def handle_message_error(message: discord.Message, error: BaseException) -> None:
    """The same for a member's message (a mention, a newsroom post): a bug is logged and the member
    gets the apology, never silence. Discord refusing the answer (the bot may not send messages
    in that channel) is no bug: one warning, and no apology, which Discord would refuse too."""
    if isinstance(error, discord.Forbidden):
        log.warning(
            "cannot answer message %s in channel %s: the bot may not send messages there (%s)",
            message.id,
            message.channel.id,
            error,
        )
        return
    log.error("unexpected error answering message %s", message.id, exc_info=error)
    try:
        await reply_to(message, APOLOGY)
    except discord.HTTPException:
        log.warning("could not send the apology for message %s", message.id, exc_info=True)


class ClippingsTree(app_commands.CommandTree):
    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        await handle_interaction_error(interaction, error)


def expired_button(template: str, text: str) -> type[discord.ui.DynamicItem[discord.ui.Button[Any]]]:
    """A button class for the custom ids of buttons from before they kept their state (`template`):
    pressed, it says `text` to the presser alone."""

    class ExpiredButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=template):
        def __init__(self, custom_id: str) -> None:
            super().__init__(discord.ui.Button(label="Expired", custom_id=custom_id))

        @classmethod
        async def from_custom_id(
            cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
        ) -> ExpiredButton:
            return cls(match.string)

        async def callback(self, interaction: discord.Interaction) -> None:
            await send_ephemeral(interaction, text)

    return ExpiredButton
